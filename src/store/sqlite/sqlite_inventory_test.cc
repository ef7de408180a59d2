#include "store/sqlite/sqlite_inventory.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <random>
#include <thread>
#include <vector>

#include "store/inventory_conformance.h"
#include "store/sqlite/list_filter_sql.h"
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

// Rows of a query on a raw connection, as "a|b" lines.
std::string rows(const std::filesystem::path& path, const char* sql) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* st = nullptr;
  std::string out;
  if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) {
    out = std::string("error: ") + sqlite3_errmsg(db);
  } else {
    while (sqlite3_step(st) == SQLITE_ROW) {
      for (int i = 0; i < sqlite3_column_count(st); ++i) {
        out += (i ? "|" : "") + std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, i)));
      }
      out += "\n";
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

void exec_raw(const std::filesystem::path& path, const char* sql) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

std::vector<CertRecord> search_records() {
  auto a = testing::record("0A", "01", 5000);
  a.sans = {*x509::parse_san("dns:api.eu.example.com"), *x509::parse_san("dns:*.example.com"),
            *x509::parse_san("email:Ops.Team@Example.COM")};
  auto b = testing::record("0B", "01", 5100);
  b.sans = {*x509::parse_san("ip:2001:db8::1"), *x509::parse_san("ip:10.1.2.3"),
            *x509::parse_san("uri:spiffe://Example.org/ns/web/"),
            *x509::parse_san("uri:https://a.example.com:8443/x?y=z")};
  b.owner = {{"team", "search"}, {"env", "dev"}, {"service", "web"}};
  auto c = testing::record("0C", "01", 5200);
  c.sans = {};
  c.owner = {};
  return {a, b, c};
}

// Migration 15's backfill (SQL) writes the rows insert_one writes (from
// store::name_search_keys): the same keys, the same labels.
TEST(SqliteInventory, Migration15BackfillsTheSearchRowsAsInsertDoes) {
  const auto path = temp_db();
  std::string want_names;
  for (const auto& r : search_records()) {
    for (const auto& k : name_search_keys(r.sans)) want_names += k + "|" + r.serial.hex() + "\n";
  }
  {
    auto inv = std::move(*SqliteInventory::open(path, OpenMode::kCreate, clock()));
    for (const auto& r : search_records()) ASSERT_TRUE(inv->insert(r));
  }
  // The rows hold the serial's bytes (migration 19); hex() is its text.
  const char* names = "SELECT name, hex(serial) FROM cert_names ORDER BY serial, name";
  const char* labels = "SELECT key, value, hex(serial) FROM cert_labels ORDER BY serial, key";
  const std::string inserted_names = rows(path, names);
  const std::string inserted_labels = rows(path, labels);
  // name_search_keys' order is byte order per certificate, as ORDER BY's.
  EXPECT_EQ(inserted_names, want_names);
  EXPECT_EQ(inserted_labels,
            "env|prod|0A\nteam|payments|0A\nenv|dev|0B\nservice|web|0B\nteam|search|0B\n");
  // Migrations 15, 18 and 19 undone (the others kept: only a missing
  // migration runs; 16 landed before 15), then reopened: 15 backfills its
  // (name, serial) rows, 18 re-keys them with issued_at and 19 turns their
  // serials into bytes.
  exec_raw(path,
           "DROP TRIGGER certificates_search_rows_delete; DROP TABLE cert_names; "
           "DROP TABLE cert_labels; DROP INDEX certificates_profile; "
           "DELETE FROM schema_migrations WHERE version IN (15, 18, 19)");
  EXPECT_EQ(rows(path, "SELECT count(*) FROM schema_migrations WHERE version IN (15, 18, 19)"),
            "0\n");
  {
    auto inv = SqliteInventory::open(path, OpenMode::kExisting, clock());
    ASSERT_TRUE(inv);
    EXPECT_EQ(*(*inv)->schema_version(), SqliteInventory::kSchemaVersion);
  }
  EXPECT_EQ(rows(path, names), inserted_names);
  EXPECT_EQ(rows(path, labels), inserted_labels);
  EXPECT_EQ(rows(path, "SELECT version FROM schema_migrations WHERE version IN (15, 16, 18, 19) "
                       "ORDER BY 1"),
            "15\n16\n18\n19\n");
  EXPECT_EQ(rows(path, "SELECT DISTINCT typeof(serial) FROM cert_names UNION "
                       "SELECT DISTINCT typeof(serial) FROM cert_labels"),
            "blob\n");
  // Each row carries its certificate's issued_at (the key's middle part).
  EXPECT_EQ(rows(path, "SELECT count(*) FROM cert_names JOIN certificates AS c "
                       "ON c.serial = hex(cert_names.serial) AND c.issued_at = cert_names.issued_at"),
            std::to_string(std::count(want_names.begin(), want_names.end(), '\n')) + "\n");
  EXPECT_EQ(rows(path, "SELECT count(*) FROM cert_labels JOIN certificates AS c "
                       "ON c.serial = hex(cert_labels.serial) AND "
                       "c.issued_at = cert_labels.issued_at"),
            "5\n");
}

// A canonical fingerprint is stored as its 32 bytes (fingerprint_column.h),
// any other text as given. Both read back as written; a sighting and a
// deployment lookup find a certificate by either form (rows written before
// the change hold text); a taken fingerprint is still refused. A new
// database has 16 KiB pages.
TEST(SqliteInventory, FingerprintsAreStoredAsBytesAndFoundInEitherForm) {
  const auto path = temp_db();
  auto a = testing::record("0A", "01", 5000);
  Bytes fa(32);
  for (size_t i = 0; i < fa.size(); ++i) fa[i] = static_cast<uint8_t>(i * 7 + 1);
  a.fingerprint_sha256 = to_hex_colons(fa);
  auto b = testing::record("0B", "01", 5000);  // "FP-0B": not canonical
  auto c = testing::record("0C", "01", 5000);
  c.fingerprint_sha256 = to_hex_colons(Bytes(32, 0xC3));
  {
    auto inv = std::move(*SqliteInventory::open(path, OpenMode::kCreate, clock()));
    for (const auto& r : {a, b, c}) ASSERT_TRUE(inv->insert(r));
    auto dup = testing::record("0D", "01", 5000);
    dup.fingerprint_sha256 = a.fingerprint_sha256;
    auto st = inv->insert(dup);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, ErrorCode::kAlreadyExists);
  }
  EXPECT_EQ(rows(path, "PRAGMA page_size"), "16384\n");
  EXPECT_EQ(rows(path, "SELECT serial, typeof(fingerprint_sha256), length(fingerprint_sha256) "
                       "FROM certificates ORDER BY serial"),
            "0A|blob|32\n0B|text|5\n0C|blob|32\n");
  // c as a row written before the change: its fingerprint as text.
  exec_raw(path, ("UPDATE certificates SET fingerprint_sha256 = '" + c.fingerprint_sha256 +
                  "' WHERE serial = '0C'")
                     .c_str());
  EXPECT_EQ(rows(path, "SELECT typeof(fingerprint_sha256) FROM certificates WHERE serial = '0C'"),
            "text\n");
  auto inv = std::move(*SqliteInventory::open(path, OpenMode::kExisting, clock()));
  for (const auto& r : {a, b, c}) {
    auto found = inv->find(r.serial);
    ASSERT_TRUE(found && *found);
    EXPECT_EQ((**found).fingerprint_sha256, r.fingerprint_sha256);
    auto seen = inv->record_sighting(testing::sighting("10.0.0.1:443", "", r.fingerprint_sha256, 6000));
    ASSERT_TRUE(seen);
    EXPECT_FALSE(seen->foreign) << r.serial.hex();
    auto deployed = inv->deployments_of_serial(r.serial);
    ASSERT_TRUE(deployed);
    ASSERT_EQ(deployed->size(), 1u) << r.serial.hex();
    EXPECT_EQ((*deployed)[0].fingerprint_sha256, r.fingerprint_sha256);
  }
  auto other = inv->record_sighting(
      testing::sighting("10.0.0.2:443", "", to_hex_colons(Bytes(32, 0x11)), 6000));
  ASSERT_TRUE(other);
  EXPECT_TRUE(other->foreign);
  auto none = inv->deployments_of_serial(*Serial::parse("0E"));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

// A certificate deleted (by any path: the trigger of migration 15) takes its
// names and labels along, and no other certificate's.
TEST(SqliteInventory, DeletingACertificateDeletesItsSearchRows) {
  const auto path = temp_db();
  {
    auto inv = std::move(*SqliteInventory::open(path, OpenMode::kCreate, clock()));
    for (const auto& r : search_records()) ASSERT_TRUE(inv->insert(r));
  }
  exec_raw(path, "DELETE FROM certificates WHERE serial = '0B'");
  EXPECT_EQ(rows(path, "SELECT count(*) FROM cert_names WHERE serial = x'0B'"), "0\n");
  EXPECT_EQ(rows(path, "SELECT count(*) FROM cert_labels WHERE serial = x'0B'"), "0\n");
  EXPECT_EQ(rows(path, "SELECT count(*) FROM cert_names WHERE serial = x'0A'"),
            std::to_string(name_search_keys(search_records()[0].sans).size()) + "\n");
  EXPECT_EQ(rows(path, "SELECT count(*) FROM cert_labels WHERE serial = x'0A'"), "2\n");
  // The trigger finds the rows from the sans (migration 18): upper case,
  // an e-mail address, every key.
  exec_raw(path, "DELETE FROM certificates WHERE serial = '0A'");
  EXPECT_EQ(rows(path, "SELECT count(*) FROM cert_names"), "0\n");
  EXPECT_EQ(rows(path, "SELECT count(*) FROM cert_labels"), "0\n");
}

// The three plans of list_filter_sql.h (walk notAfter and probe, or start
// from the names' or the first label's set of serials) select the same
// certificates in the same order.
TEST(SqliteInventory, EverySearchPlanListsTheSame) {
  const auto path = temp_db();
  auto inv = std::move(*SqliteInventory::open(path, OpenMode::kCreate, clock()));
  for (const auto& r : search_records()) ASSERT_TRUE(inv->insert(r));
  for (int i = 0; i < 20; ++i) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "%02X", 0x10 + i);
    auto r = testing::record(hex, "01", 4000 + (i % 3) * 500);
    if (i % 2) r.owner = {{"team", "search"}, {"env", "prod"}};
    if (i % 4 == 1) r.sans.push_back(*x509::parse_san("dns:host.example.com"));
    ASSERT_TRUE(inv->insert(r));
  }
  auto conn = sqlite::Connection::open(path, SQLITE_OPEN_READWRITE);
  ASSERT_TRUE(conn);
  ASSERT_TRUE(sqlite_sql::register_search_functions(**conn));
  auto serials = [&](const ListFilter& f, const sqlite_sql::Plan& plan) {
    const auto where = sqlite_sql::filter_sql(f, true, plan);
    const std::string sql = "SELECT serial FROM " + where.from + " WHERE 1=1" + where.clause +
                            " ORDER BY not_after, serial";
    std::lock_guard lock((*conn)->mutex());
    sqlite::Stmt s(**conn, sql);
    EXPECT_TRUE(s.ok()) << sql;
    where.bind(s);
    std::string out;
    while (s.step() == SQLITE_ROW) out += s.text(0) + " ";
    return out;
  };
  auto count = [&](const ListFilter& f, const sqlite_sql::Plan& plan) {
    const auto where = sqlite_sql::filter_sql(f, false, plan);
    const std::string sql = "SELECT count(*) FROM " + where.from + " WHERE 1=1" + where.clause;
    std::lock_guard lock((*conn)->mutex());
    sqlite::Stmt s(**conn, sql);
    EXPECT_TRUE(s.ok()) << sql;
    where.bind(s);
    EXPECT_EQ(s.step(), SQLITE_ROW);
    return s.integer(0);
  };
  using sqlite_sql::Drive;
  std::vector<ListFilter> filters(6);
  filters[0].san_label_prefix = "example.com";
  filters[1].owner = {{"team", "search"}};
  filters[2].san_label_prefix = "Example";
  filters[2].owner = {{"team", "search"}, {"env", "prod"}};
  filters[3].owner = {{"env", "prod"}, {"team", "search"}};
  filters[3].after = std::make_pair(TimePoint{std::chrono::seconds(4500)}, *Serial::parse("11"));
  filters[4].san_label_prefix = "10.0";
  filters[4].profile = "server";
  filters[5].owner = {{"env", "prod"}, {"team", "search"}};
  for (auto& f : filters) {
    f.now = TimePoint{std::chrono::seconds(2000)};
    const std::string walk = serials(f, {});
    const int64_t total = count(f, {});
    EXPECT_FALSE(walk.empty());
    std::vector<sqlite_sql::Plan> plans;
    if (f.san_label_prefix) plans.push_back({Drive::kNames, "", false});
    for (const auto& [k, v] : f.owner) plans.push_back({Drive::kLabel, k, false});
    for (auto p : plans) {
      EXPECT_EQ(serials(f, p), walk);
      EXPECT_EQ(count(f, p), total);
      // Index-only as plan() allows it: no filter that needs the row.
      if (!f.profile && (!f.san_label_prefix || p.drive == Drive::kNames)) {
        p.index_only = true;
        EXPECT_EQ(count(f, p), total);
      }
    }
    auto listed = inv->list(f);
    ASSERT_TRUE(listed);
    std::string got;
    for (const auto& r : *listed) got += r.serial.hex() + " ";
    EXPECT_EQ(got, walk);
    EXPECT_EQ(*inv->count_matching(f), total);
  }
  // A search that matches in notAfter order past a page: the walk is what
  // a listing with a limit uses when the set is large.
  EXPECT_EQ(serials(filters[0], {}), "19 11 1D 0A 15 21 0B ");
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
