#include "store/sqlite/sqlite_inventory.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <thread>
#include <vector>

#include "store/inventory_conformance.h"

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

TEST(SqliteTokens, AddFindListRevoke) {
  auto inv = SqliteInventory::open(temp_db(), OpenMode::kCreate, clock());
  ASSERT_TRUE(inv);
  TokenRecord t{0, "admin", "laptop", "ab12", TimePoint{std::chrono::seconds(5)}, false};
  auto id = (*inv)->add_token(t);
  ASSERT_TRUE(id);
  auto found = (*inv)->find_token("ab12");
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->provisioner, "admin");
  EXPECT_FALSE((*found)->revoked);
  EXPECT_FALSE((*(*inv)->find_token("ffff")).has_value());
  ASSERT_TRUE((*inv)->revoke_token(*id));
  EXPECT_TRUE((*(*inv)->find_token("ab12"))->revoked);
  EXPECT_EQ((*inv)->revoke_token(999).error().code, ErrorCode::kNotFound);
  EXPECT_EQ((*inv)->list_tokens()->size(), 1u);
  t.description = "dup";
  EXPECT_FALSE((*inv)->add_token(t));  // same hash
}

TEST(SqliteTokens, OneTimeIdsAreRefusedTheSecondTimeUntilExpired) {
  auto inv = SqliteInventory::open(temp_db(), OpenMode::kCreate, clock());
  ASSERT_TRUE(inv);
  TimePoint now{std::chrono::seconds(1000)};
  ASSERT_TRUE((*inv)->use_token_id("abc", now + std::chrono::seconds(300), now));
  auto again = (*inv)->use_token_id("abc", now + std::chrono::seconds(300), now);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  // After expiry the id is forgotten (the token itself is expired by then).
  EXPECT_TRUE((*inv)->use_token_id("abc", now + std::chrono::seconds(900),
                                   now + std::chrono::seconds(301)));
}

}  // namespace
}  // namespace herald::store

namespace herald::store {
namespace {

TEST(SqliteAcme, AccountsOrdersAuthzsAndEab) {
  auto inv = std::move(*SqliteInventory::open(temp_db(), OpenMode::kCreate, clock()));
  const TimePoint t{std::chrono::seconds(1000)};
  ASSERT_TRUE(inv->acme_insert_account("a1", "acme", "thumb1", "{\"n\":1}", t));
  EXPECT_EQ(inv->acme_insert_account("a2", "acme", "thumb1", "{}", t).error().code,
            ErrorCode::kAlreadyExists);
  ASSERT_TRUE(inv->acme_insert_account("a2", "other", "thumb1", "{}", t));  // per provisioner
  EXPECT_EQ((*inv->acme_account_by_key("acme", "thumb1"))->id, "a1");
  ASSERT_TRUE(inv->acme_insert_account("a3", "acme", "thumb3", "{}", t));
  EXPECT_EQ(inv->acme_update_account("a3", "thumb1", "{}").error().code,
            ErrorCode::kAlreadyExists);  // keyChange to a key in use
  EXPECT_EQ(inv->acme_update_account("zz", "thumb9", "{}").error().code, ErrorCode::kNotFound);

  ASSERT_TRUE(inv->acme_insert_order("o1", "a1", "{\"s\":\"pending\"}",
                                     {{"z1", "{\"s\":1}"}, {"z2", "{\"s\":2}"}}, t));
  EXPECT_EQ((*inv->acme_authz("z2"))->data, "{\"s\":2}");
  ASSERT_TRUE(inv->acme_update(AcmeRow{"o1", "{\"s\":\"ready\"}"}, AcmeRow{"z1", "{\"s\":9}"}));
  EXPECT_EQ((*inv->acme_order("o1"))->data, "{\"s\":\"ready\"}");
  // One unknown row fails the pair and changes nothing.
  EXPECT_EQ(inv->acme_update(AcmeRow{"nope", "{}"}, AcmeRow{"z2", "{\"s\":7}"}).error().code,
            ErrorCode::kNotFound);
  EXPECT_EQ((*inv->acme_authz("z2"))->data, "{\"s\":2}");
  EXPECT_EQ(*inv->acme_count_orders("a1", t), 1);
  EXPECT_EQ(*inv->acme_count_orders("a1", t + std::chrono::seconds(1)), 0);

  ASSERT_TRUE(inv->acme_insert_eab({"kid1", "acme", "c2VjcmV0", t, ""}));
  ASSERT_TRUE(inv->acme_insert_account_with_eab("a4", "acme", "thumb4", "{}", t, "kid1"));
  EXPECT_EQ((*inv->acme_eab("kid1"))->account_id, "a4");
  EXPECT_EQ(inv->acme_insert_account_with_eab("a5", "acme", "thumb5", "{}", t, "kid1").error().code,
            ErrorCode::kConflict);
  EXPECT_FALSE(*inv->acme_account("a5"));  // nothing created
}

// The certificate and its order's "valid" document commit together or not at all.
TEST(SqliteAcme, FinalizeRecordsCertificateAndOrderAtomically) {
  auto inv = std::move(*SqliteInventory::open(temp_db(), OpenMode::kCreate, clock()));
  const TimePoint t{std::chrono::seconds(1000)};
  ASSERT_TRUE(inv->acme_insert_account("a1", "acme", "thumb1", "{}", t));
  ASSERT_TRUE(inv->acme_insert_order("o1", "a1", "{\"s\":\"ready\"}", {{"z1", "{}"}}, t));
  const auto cert = testing::record("0A01", "0B", 999999);
  ASSERT_TRUE(inv->acme_finalize_order(cert, AcmeRow{"o1", "{\"s\":\"valid\"}"}));
  EXPECT_TRUE(*inv->find(cert.serial));
  EXPECT_EQ((*inv->acme_order("o1"))->data, "{\"s\":\"valid\"}");

  // Unknown order: the certificate is not recorded either.
  const auto orphan = testing::record("0A02", "0B", 999999);
  EXPECT_EQ(inv->acme_finalize_order(orphan, AcmeRow{"nope", "{}"}).error().code,
            ErrorCode::kNotFound);
  EXPECT_FALSE(*inv->find(orphan.serial));
  // A serial already recorded: the order keeps its document.
  ASSERT_TRUE(inv->acme_insert_order("o2", "a1", "{\"s\":\"ready\"}", {}, t));
  EXPECT_EQ(inv->acme_finalize_order(cert, AcmeRow{"o2", "{\"s\":\"valid\"}"}).error().code,
            ErrorCode::kAlreadyExists);
  EXPECT_EQ((*inv->acme_order("o2"))->data, "{\"s\":\"ready\"}");
  EXPECT_EQ(*inv->count(), 1);
}

// ACME writes and certificate inserts from many threads share group commits;
// each lands or fails on its own.
TEST(SqliteAcme, ConcurrentWritesAllLandAndFailuresStayAlone) {
  auto inv = std::move(*SqliteInventory::open(temp_db(), OpenMode::kCreate, clock()));
  const TimePoint t{std::chrono::seconds(1000)};
  ASSERT_TRUE(inv->acme_insert_account("a1", "acme", "thumb1", "{}", t));
  constexpr int kThreads = 8, kEach = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kThreads; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kEach; ++i) {
        const std::string id = "o" + std::to_string(w) + "-" + std::to_string(i);
        if (!inv->acme_insert_order(id, "a1", "{}", {{"z" + id, "{}"}}, t)) ++failures;
        if (!inv->acme_update(AcmeRow{id, "{\"s\":1}"}, AcmeRow{"z" + id, "{\"s\":2}"}))
          ++failures;
        // Unknown rows fail alone, without undoing the others in the batch.
        if (inv->acme_update(AcmeRow{"missing-" + id, "{}"}, std::nullopt)) ++failures;
        char serial[8];
        std::snprintf(serial, sizeof serial, "%02X%02X", w + 1, i + 1);
        if (!inv->acme_finalize_order(testing::record(serial, "0B", 999999),
                                      AcmeRow{id, "{\"s\":\"valid\"}"}))
          ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(*inv->count(), kThreads * kEach);
  EXPECT_EQ(*inv->acme_count_orders("a1", t), kThreads * kEach);
  EXPECT_EQ((*inv->acme_order("o3-7"))->data, "{\"s\":\"valid\"}");
  EXPECT_EQ((*inv->acme_authz("zo3-7"))->data, "{\"s\":2}");
}

}  // namespace
}  // namespace herald::store
