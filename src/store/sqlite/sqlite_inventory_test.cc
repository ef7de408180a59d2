#include "store/sqlite/sqlite_inventory.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <random>
#include <thread>
#include <vector>

#include "store/inventory_conformance.h"
#include "store/store_conformance.h"

namespace herald::store {
namespace {

std::filesystem::path temp_db() {
  static int n = 0;
  auto dir = std::filesystem::temp_directory_path() /
             ("herald-sqlite-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir / "herald.db";
}

const FakeClock& clock() {
  static FakeClock c{TimePoint{std::chrono::seconds(1000)}};
  return c;
}

testing::InventoryFactory sqlite_factory() {
  return [] {
    return std::unique_ptr<Inventory>(
        std::move(*SqliteInventory::open(temp_db(), OpenMode::kCreate, clock())));
  };
}

using testing::InventoryConformance;
INSTANTIATE_TEST_SUITE_P(Sqlite, InventoryConformance, ::testing::Values(sqlite_factory()));

testing::StoreBackend sqlite_backend() {
  testing::StoreBackend b;
  b.name = "sqlite";
  b.clock = &clock();
  b.fresh = []() -> std::unique_ptr<Store> {
    auto s = SqliteInventory::open(temp_db(), OpenMode::kCreate, clock());
    if (!s) return nullptr;
    return std::move(*s);
  };
  b.another = [](Store& first) -> std::unique_ptr<Store> {
    // describe() is "sqlite:" + the database's path.
    const std::string where = first.describe();
    if (where.rfind("sqlite:", 0) != 0) return nullptr;
    auto s = SqliteInventory::open(where.substr(7), OpenMode::kExisting, clock());
    if (!s) return nullptr;
    return std::move(*s);
  };
  return b;
}

using testing::StoreConformance;
INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance, ::testing::Values(sqlite_backend()));

// SQLite's own: the open-order count of an account reads the partial index
// of open orders, not every order of the account.
TEST(SqliteAcme, OpenOrderCountUsesItsIndex) {
  const auto path = temp_db();
  auto inv = std::move(*SqliteInventory::open(path, OpenMode::kCreate, clock()));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(
                db,
                "EXPLAIN QUERY PLAN SELECT json_extract(data, '$.expires_unix') FROM acme_orders "
                "WHERE account_id = ? AND json_valid(data) AND json_extract(data, '$.status') IN "
                "('pending', 'ready') "
                "AND json_extract(data, '$.expires_unix') > ? ORDER BY json_extract(data, "
                "'$.expires_unix') LIMIT ?",
                -1, &st, nullptr),
            SQLITE_OK);
  std::string plan;
  while (sqlite3_step(st) == SQLITE_ROW)
    plan += reinterpret_cast<const char*>(sqlite3_column_text(st, 3)) + std::string("\n");
  sqlite3_finalize(st);
  sqlite3_close(db);
  EXPECT_NE(plan.find("USING INDEX acme_orders_open"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << plan;
}

TEST(SqliteInventory, MissingDatabaseIsNotFoundUnlessCreating) {
  auto path = temp_db();
  auto r = SqliteInventory::open(path, OpenMode::kExisting, clock());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(SqliteInventory, DatabaseFilesAreOwnerOnly) {
  auto path = temp_db();
  {
    auto inv = SqliteInventory::open(path, OpenMode::kCreate, clock());
    ASSERT_TRUE(inv);
  }
  std::filesystem::permissions(path, std::filesystem::perms::others_read,
                               std::filesystem::perm_options::add);
  auto inv = SqliteInventory::open(path, OpenMode::kExisting, clock());
  ASSERT_TRUE(inv);
  ASSERT_TRUE((*inv)->insert(testing::record("0A", "01", 5000)));
  for (const char* suffix : {"", "-wal"}) {
    auto perms = std::filesystem::status(path.string() + suffix).permissions();
    EXPECT_EQ(perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all),
              std::filesystem::perms::none)
        << suffix;
  }
}

TEST(SqliteInventory, MigratesOnceAndSurvivesReopen) {
  auto path = temp_db();
  {
    auto inv = SqliteInventory::open(path, OpenMode::kCreate, clock());
    ASSERT_TRUE(inv);
    EXPECT_EQ(*(*inv)->schema_version(), SqliteInventory::kSchemaVersion);
    ASSERT_TRUE((*inv)->insert(testing::record("0A", "01", 5000)));
  }
  auto inv = SqliteInventory::open(path, OpenMode::kExisting, clock());
  ASSERT_TRUE(inv);
  EXPECT_EQ(*(*inv)->count(), 1);
  EXPECT_EQ(*(*inv)->schema_version(), SqliteInventory::kSchemaVersion);
}

TEST(SqliteInventory, RefusesNewerSchema) {
  auto path = temp_db();
  { ASSERT_TRUE(SqliteInventory::open(path, OpenMode::kCreate, clock())); }
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db, "INSERT INTO schema_migrations VALUES (99, 0)", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  auto inv = SqliteInventory::open(path, OpenMode::kExisting, clock());
  ASSERT_FALSE(inv);
  EXPECT_NE(inv.error().message.find("newer"), std::string::npos);
}

}  // namespace
}  // namespace herald::store

namespace herald::store {
namespace {




}  // namespace
}  // namespace herald::store

namespace herald::store {
namespace {








// kill -9 at any moment of a stream of finalizes leaves, for every order,
// both its certificate and its "valid" document, or neither: never a
// certificate whose order is still ready, nor a valid order without one.
TEST(SqliteAcme, FinalizeIsAtomicUnderKill9) {
  const auto path = temp_db();
  {
    auto inv = std::move(*SqliteInventory::open(path, OpenMode::kCreate, clock()));
    ASSERT_TRUE(inv->acme_insert_account("a1", "acme", "thumb1", "{}", TimePoint{}));
  }
  constexpr int kOrders = 100000;  // more than a child gets through before its kill
  auto serial_of = [](int i) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "%08X", i + 1);
    return std::string(hex);
  };
  std::mt19937 rng(7);
  int next = 0;  // first order the next child writes
  for (int round = 0; round < 12; ++round) {
    // The child says when its first finalize committed, so the kill always
    // lands mid-stream however busy the machine is (a fixed delay once let
    // a slow start end the round with nothing written).
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(ready[0]);
      auto inv = SqliteInventory::open(path, OpenMode::kExisting, clock());
      if (!inv) ::_exit(3);
      for (int i = next; i < kOrders; ++i) {
        const std::string o = "o" + std::to_string(i);
        if (!(*inv)->acme_insert_order({o, "a1", "ready", {}, {}, TimePoint{}}, {})) ::_exit(4);
        auto cert = testing::record(serial_of(i), "0B", 999999);
        cert.owner = {{"acme_order", o}};
        if (!(*inv)->acme_finalize_order(cert, AcmeRow{o, "valid"}, "ready")) ::_exit(5);
        if (i == next) {
          const char one = 1;
          if (::write(ready[1], &one, 1) != 1) ::_exit(6);
          ::close(ready[1]);
        }
      }
      ::_exit(0);
    }
    ::close(ready[1]);
    char got = 0;
    ASSERT_EQ(::read(ready[0], &got, 1), 1) << "the child ended before its first finalize";
    ::close(ready[0]);
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 80));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child ended by itself: " << status;

    auto inv = std::move(*SqliteInventory::open(path, OpenMode::kExisting, clock()));
    int i = next;
    for (;; ++i) {
      auto order = inv->acme_order("o" + std::to_string(i));
      ASSERT_TRUE(order);
      if (!*order) break;  // the child got no further
      auto cert = inv->find(*Serial::parse(serial_of(i)));
      ASSERT_TRUE(cert);
      if ((*order)->data == "valid") {
        ASSERT_TRUE(*cert) << "order " << i << " is valid without its certificate";
        EXPECT_EQ((*cert)->owner.at("acme_order"), "o" + std::to_string(i));
      } else {
        ASSERT_EQ((*order)->data, "ready");
        ASSERT_FALSE(*cert) << "certificate of order " << i << " recorded, order still ready";
        ASSERT_TRUE(inv->acme_finalize_order(testing::record(serial_of(i), "0B", 999999),
                                             AcmeRow{"o" + std::to_string(i), "valid"}, "ready"));
      }
    }
    ASSERT_GT(i, next) << "round " << round << ": the child wrote nothing before its kill";
    next = i;
  }
}

}  // namespace
}  // namespace herald::store
