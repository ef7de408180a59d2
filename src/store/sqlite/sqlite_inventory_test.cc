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

TEST(SqliteInventory, OperatorActionsGoToTheAuditLog) {
  auto inv = SqliteInventory::open(temp_db(), OpenMode::kCreate, clock());
  ASSERT_TRUE(inv);
  ASSERT_TRUE((*inv)->record_audit("trust_import", R"({"name":"a"})"));
  ASSERT_TRUE((*inv)->record_audit("trust_remove", R"({"name":"a"})"));
  ASSERT_TRUE((*inv)->record_audit("trust_import", R"({"name":"b"})"));
  auto imports = (*inv)->audit_entries("trust_import");
  ASSERT_TRUE(imports) << imports.error().describe();
  ASSERT_EQ(imports->size(), 2u);
  EXPECT_EQ((*imports)[0].first, clock().now());
  EXPECT_EQ((*imports)[0].second, R"({"name":"a"})");
  EXPECT_EQ((*imports)[1].second, R"({"name":"b"})");
  // Not revocations: the revocation feed does not see them.
  EXPECT_EQ(*(*inv)->last_revocation_id(), 0);
}

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

  ASSERT_TRUE(inv->acme_insert_order(
      {"o1", "a1", "{\"s\":\"pending\"}", {{"z1", "{\"s\":1}"}, {"z2", "{\"s\":2}"}}, {}, t},
      {}));
  EXPECT_EQ((*inv->acme_authz("z2"))->data, "{\"s\":2}");
  // Both documents change in one transaction...
  ASSERT_TRUE(inv->acme_transact([](AcmeTxn& t) -> Status {
    HERALD_TRY_VOID(t.put_authz({"z1", "{\"s\":9}"}));
    return t.put_order({"o1", "{\"s\":\"ready\"}"});
  }));
  EXPECT_EQ((*inv->acme_order("o1"))->data, "{\"s\":\"ready\"}");
  // One unknown row fails the pair and changes nothing.
  EXPECT_EQ(inv->acme_transact([](AcmeTxn& t) -> Status {
              HERALD_TRY_VOID(t.put_authz({"z2", "{\"s\":7}"}));
              return t.put_order({"nope", "{}"});
            }).error().code,
            ErrorCode::kNotFound);
  EXPECT_EQ((*inv->acme_authz("z2"))->data, "{\"s\":2}");
  EXPECT_EQ(*inv->acme_orders_of("a1", 10), std::vector<std::string>{"o1"});

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
  ASSERT_TRUE(inv->acme_insert_order({"o1", "a1", "{\"s\":\"ready\"}", {{"z1", "{}"}}, {}, t}, {}));
  const auto cert = testing::record("0A01", "0B", 999999);
  // Not if the order changed since it was read as ready (another node finalized it).
  EXPECT_EQ(inv->acme_finalize_order(cert, AcmeRow{"o1", "{\"s\":\"valid\"}"}, "{\"s\":\"old\"}")
                .error()
                .code,
            ErrorCode::kConflict);
  EXPECT_FALSE(*inv->find(cert.serial));
  ASSERT_TRUE(
      inv->acme_finalize_order(cert, AcmeRow{"o1", "{\"s\":\"valid\"}"}, "{\"s\":\"ready\"}"));
  EXPECT_TRUE(*inv->find(cert.serial));
  EXPECT_EQ((*inv->acme_order("o1"))->data, "{\"s\":\"valid\"}");

  // Unknown order: the certificate is not recorded either.
  const auto orphan = testing::record("0A02", "0B", 999999);
  EXPECT_EQ(inv->acme_finalize_order(orphan, AcmeRow{"nope", "{}"}, "{}").error().code,
            ErrorCode::kNotFound);
  EXPECT_FALSE(*inv->find(orphan.serial));
  // A serial already recorded: the order keeps its document.
  ASSERT_TRUE(inv->acme_insert_order({"o2", "a1", "{\"s\":\"ready\"}", {}, {}, t}, {}));
  EXPECT_EQ(inv->acme_finalize_order(cert, AcmeRow{"o2", "{\"s\":\"valid\"}"}, "{\"s\":\"ready\"}")
                .error()
                .code,
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
        if (!inv->acme_insert_order({id, "a1", "{}", {{"z" + id, "{}"}}, {"dns:" + id}, t}, {}))
          ++failures;
        auto two = [&](AcmeTxn& t) -> Status {
          HERALD_TRY_VOID(t.put_order({id, "{\"s\":1}"}));
          return t.put_authz({"z" + id, "{\"s\":2}"});
        };
        if (!inv->acme_transact(two)) ++failures;
        // Unknown rows fail alone, without undoing the others in the batch.
        if (inv->acme_transact([&](AcmeTxn& t) { return t.put_order({"missing-" + id, "{}"}); }))
          ++failures;
        char serial[8];
        std::snprintf(serial, sizeof serial, "%02X%02X", w + 1, i + 1);
        if (!inv->acme_finalize_order(testing::record(serial, "0B", 999999),
                                      AcmeRow{id, "{\"s\":\"valid\"}"}, "{\"s\":1}"))
          ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(*inv->count(), kThreads * kEach);
  EXPECT_EQ(inv->acme_orders_of("a1", 10000)->size(), size_t{kThreads * kEach});
  EXPECT_EQ((*inv->acme_order("o3-7"))->data, "{\"s\":\"valid\"}");
  EXPECT_EQ((*inv->acme_authz("zo3-7"))->data, "{\"s\":2}");
}

// Issue 9 item 8: an account may hold only so many pending (or ready,
// unexpired) orders; orders that ended or expired do not count.
TEST(SqliteAcme, PendingOrdersPerAccountAreCapped) {
  const auto path = temp_db();
  auto inv = std::move(*SqliteInventory::open(path, OpenMode::kCreate, clock()));
  const TimePoint t{std::chrono::seconds(100000)};
  ASSERT_TRUE(inv->acme_insert_account("a1", "acme", "thumb1", "{}", t));
  ASSERT_TRUE(inv->acme_insert_account("a2", "acme", "thumb2", "{}", t));
  const AcmeOrderLimits limits{std::chrono::hours(1), 0, 0, 3};
  auto doc = [](const char* status, int64_t expires) {
    return std::string("{\"status\":\"") + status + "\",\"expires_unix\":" +
           std::to_string(expires) + "}";
  };
  const int64_t now = 100000;
  ASSERT_TRUE(inv->acme_insert_order({"p1", "a1", doc("pending", now + 500), {{"zp1", "{}"}}, {}, t}, limits));
  ASSERT_TRUE(inv->acme_insert_order({"p2", "a1", doc("ready", now + 900), {}, {}, t}, limits));
  ASSERT_TRUE(inv->acme_insert_order({"p3", "a1", doc("pending", now + 86400), {}, {}, t}, limits));
  // Neither an expired pending order nor a valid or invalid one counts.
  ASSERT_TRUE(inv->acme_insert_order({"x1", "a1", doc("pending", now - 1), {}, {}, t - std::chrono::hours(23)}, {}));
  ASSERT_TRUE(inv->acme_insert_order({"x2", "a1", doc("valid", now + 500), {}, {}, t}, {}));
  ASSERT_TRUE(inv->acme_insert_order({"x3", "a1", doc("invalid", now + 500), {}, {}, t}, {}));
  auto refused = inv->acme_insert_order({"p4", "a1", doc("pending", now + 86400), {{"zp4", "{}"}}, {"dns:p4"}, t}, limits);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kRateLimited);
  EXPECT_NE(refused.error().message.find("3 pending orders (limit 3)"), std::string::npos)
      << refused.error().message;
  std::string retry;
  for (const auto& [k, v] : refused.error().context)
    if (k == "retry_after") retry = v;
  EXPECT_EQ(retry, "500");  // the first pending order expires then
  EXPECT_FALSE(*inv->acme_order("p4"));
  EXPECT_FALSE(*inv->acme_authz("zp4"));
  // Another account is not affected; an order that ends makes room.
  EXPECT_TRUE(inv->acme_insert_order({"q1", "a2", doc("pending", now + 500), {}, {}, t}, limits));
  ASSERT_TRUE(inv->acme_transact([&](AcmeTxn& txn) { return txn.put_order({"p2", doc("invalid", now + 900)}); }));
  EXPECT_TRUE(inv->acme_insert_order({"p4", "a1", doc("pending", now + 86400), {}, {}, t}, limits));
  // The count reads the partial index of open orders, not every order of the account.
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

// Issue 9 item 8: expired orders go, with their authorizations and the
// identifiers the rate limits count, a bounded batch per call; unexpired and
// recent ones stay.
TEST(SqliteAcme, PurgeDeletesExpiredOrdersInBatches) {
  const auto path = temp_db();
  auto inv = std::move(*SqliteInventory::open(path, OpenMode::kCreate, clock()));
  const TimePoint t0{std::chrono::seconds(1000000)};
  ASSERT_TRUE(inv->acme_insert_account("a1", "acme", "thumb1", "{}", t0));
  auto doc = [](int64_t expires) {
    return "{\"status\":\"pending\",\"expires_unix\":" + std::to_string(expires) + "}";
  };
  const int64_t base = 1000000;
  for (int i = 0; i < 5; ++i) {
    const std::string id = "old" + std::to_string(i);
    ASSERT_TRUE(inv->acme_insert_order(
        {id, "a1", doc(base + 100), {{"z" + id + "a", "{}"}, {"z" + id + "b", "{}"}},
         {"dns:" + id + ".example", "dns:shared.example"}, t0 + std::chrono::seconds(i)},
        {}));
  }
  // Created as long ago, but not expired (a longer lifetime back then).
  ASSERT_TRUE(inv->acme_insert_order({"long", "a1", doc(base + 1000000), {{"zlong", "{}"}}, {"dns:long"}, t0}, {}));
  // Recent: created after the cut-off, even if expired.
  ASSERT_TRUE(inv->acme_insert_order({"new", "a1", doc(base + 100), {{"znew", "{}"}}, {"dns:new"}, t0 + std::chrono::seconds(600)}, {}));
  const TimePoint now = t0 + std::chrono::seconds(1000), cutoff = t0 + std::chrono::seconds(500);
  auto first = inv->acme_purge_expired(now, cutoff, 2);
  ASSERT_TRUE(first) << first.error().describe();
  EXPECT_EQ(first->orders, 2);
  EXPECT_EQ(first->authzs, 4);
  EXPECT_FALSE(*inv->acme_order("old0"));  // oldest first
  EXPECT_FALSE(*inv->acme_order("old1"));
  EXPECT_TRUE(*inv->acme_order("old2"));
  int64_t total = first->orders;
  for (int round = 0; round < 5; ++round) {
    auto more = inv->acme_purge_expired(now, cutoff, 2);
    ASSERT_TRUE(more);
    total += more->orders;
    if (more->orders == 0) break;
  }
  EXPECT_EQ(total, 5);
  for (int i = 0; i < 5; ++i) {
    EXPECT_FALSE(*inv->acme_order("old" + std::to_string(i)));
    EXPECT_FALSE(*inv->acme_authz("zold" + std::to_string(i) + "a"));
  }
  EXPECT_TRUE(*inv->acme_order("long"));
  EXPECT_TRUE(*inv->acme_authz("zlong"));
  EXPECT_TRUE(*inv->acme_order("new"));
  EXPECT_EQ(*inv->acme_orders_of("a1", 100), (std::vector<std::string>{"new", "long"}));
  // The identifiers counted for rate limits went with their orders.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM acme_order_identifiers", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 2);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

// Rate limits hold inside the transaction: racing orders cannot pass
// together, a refusal writes nothing and says when to retry, and the count
// is the store's (it survives a restart and is shared by every node).
TEST(SqliteAcme, OrderRateLimitsAreExactUnderConcurrencyAndDurable) {
  const auto path = temp_db();
  auto inv = std::move(*SqliteInventory::open(path, OpenMode::kCreate, clock()));
  const TimePoint t{std::chrono::seconds(100000)};
  ASSERT_TRUE(inv->acme_insert_account("a1", "acme", "thumb1", "{}", t));
  ASSERT_TRUE(inv->acme_insert_account("a2", "acme", "thumb2", "{}", t));
  const AcmeOrderLimits limits{std::chrono::hours(1), 1000, 5};
  std::atomic<int> ok{0}, limited{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 8; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < 4; ++i) {
        const std::string id = "r" + std::to_string(w) + "-" + std::to_string(i);
        auto s = inv->acme_insert_order(
            {id, w % 2 ? "a1" : "a2", "{}", {{"z" + id, "{}"}}, {"dns:busy.example", "dns:" + id}, t},
            limits);
        if (s) ++ok;
        else if (s.error().code == ErrorCode::kRateLimited) ++limited;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 5);
  EXPECT_EQ(limited.load(), 27);
  EXPECT_EQ(inv->acme_orders_of("a1", 100)->size() + inv->acme_orders_of("a2", 100)->size(), 5u);

  // A refusal names the limit, says when to retry, and leaves nothing behind.
  auto refused = inv->acme_insert_order(
      {"late", "a1", "{}", {{"zlate", "{}"}}, {"dns:busy.example"}, t + std::chrono::minutes(10)},
      limits);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("busy.example"), std::string::npos);
  std::string retry;
  for (const auto& [k, v] : refused.error().context)
    if (k == "retry_after") retry = v;
  EXPECT_EQ(retry, "3000");  // the oldest counted order leaves the window in 50 minutes
  EXPECT_FALSE(*inv->acme_order("late"));
  EXPECT_FALSE(*inv->acme_authz("zlate"));

  // After a reopen the count is still there; once the window has passed it is not.
  inv.reset();
  inv = std::move(*SqliteInventory::open(path, OpenMode::kExisting, clock()));
  EXPECT_EQ(inv->acme_insert_order({"again", "a1", "{}", {}, {"dns:busy.example"}, t}, limits)
                .error()
                .code,
            ErrorCode::kRateLimited);
  EXPECT_TRUE(inv->acme_insert_order(
      {"later", "a1", "{}", {}, {"dns:busy.example"}, t + std::chrono::hours(1) + std::chrono::seconds(1)},
      limits));
  // Per account: a2 may create 2 more with a limit of (its orders so far) + 2.
  const auto a2_count = static_cast<int64_t>(inv->acme_orders_of("a2", 100)->size());
  const AcmeOrderLimits per_account{std::chrono::hours(1), a2_count + 2, 0};
  EXPECT_TRUE(inv->acme_insert_order({"p1", "a2", "{}", {}, {}, t}, per_account));
  EXPECT_TRUE(inv->acme_insert_order({"p2", "a2", "{}", {}, {}, t}, per_account));
  auto over = inv->acme_insert_order({"p3", "a2", "{}", {}, {}, t}, per_account);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, ErrorCode::kRateLimited);
  EXPECT_NE(over.error().message.find("this account created"), std::string::npos);
}

// Two stores on one database file stand for two `herald serve` processes.
// Each settles one of an order's two authorizations at the same moment and
// marks the order ready if the other is valid too: read and write in one
// transaction, so in every round exactly one of them sees both and the order
// never stays pending.
TEST(SqliteAcme, TransactionsDecideRacingResultsAcrossProcesses) {
  const auto path = temp_db();
  auto node_a = std::move(*SqliteInventory::open(path, OpenMode::kCreate, clock()));
  auto node_b = std::move(*SqliteInventory::open(path, OpenMode::kExisting, clock()));
  const TimePoint t{std::chrono::seconds(1000)};
  ASSERT_TRUE(node_a->acme_insert_account("a1", "acme", "thumb1", "{}", t));
  constexpr int kRounds = 100;
  for (int i = 0; i < kRounds; ++i) {
    const std::string o = "o" + std::to_string(i);
    ASSERT_TRUE(node_a->acme_insert_order(
        {o, "a1", "pending", {{o + "x", "pending"}, {o + "y", "pending"}}, {}, t}, {}));
  }
  std::atomic<int> readied{0};
  auto settle_all = [&](SqliteInventory& node, const char* mine, const char* other) {
    for (int i = 0; i < kRounds; ++i) {
      const std::string o = "o" + std::to_string(i);
      auto s = node.acme_transact([&](AcmeTxn& txn) -> Status {
        HERALD_TRY_VOID(txn.put_authz({o + mine, "valid"}));
        HERALD_TRY(auto peer, txn.authz(o + other));
        if (!peer || peer->data != "valid") return {};
        ++readied;
        return txn.put_order({o, "ready"});
      });
      ASSERT_TRUE(s) << s.error().describe();
    }
  };
  std::thread ta([&] { settle_all(*node_a, "x", "y"); });
  std::thread tb([&] { settle_all(*node_b, "y", "x"); });
  ta.join();
  tb.join();
  EXPECT_EQ(readied.load(), kRounds);  // exactly one per order
  for (int i = 0; i < kRounds; ++i)
    EXPECT_EQ((*node_a->acme_order("o" + std::to_string(i)))->data, "ready") << i;
}

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
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      auto inv = SqliteInventory::open(path, OpenMode::kExisting, clock());
      if (!inv) ::_exit(3);
      for (int i = next; i < kOrders; ++i) {
        const std::string o = "o" + std::to_string(i);
        if (!(*inv)->acme_insert_order({o, "a1", "ready", {}, {}, TimePoint{}}, {})) ::_exit(4);
        auto cert = testing::record(serial_of(i), "0B", 999999);
        cert.owner = {{"acme_order", o}};
        if (!(*inv)->acme_finalize_order(cert, AcmeRow{o, "valid"}, "ready")) ::_exit(5);
      }
      ::_exit(0);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 80));
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
