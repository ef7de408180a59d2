#pragma once
// The behaviour every Store adapter must show beyond the inventory (see
// inventory_conformance.h): API tokens and one-time-token ids, the audit
// log, and ACME state, including what several processes on one database
// must see (rate limits exact under concurrency, read-modify-write
// transactions that cannot lose a racing result, finalize atomic). An
// adapter's test file instantiates it with its backend:
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance, ::testing::Values(backend));

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "store/inventory_conformance.h"
#include "store/store.h"

namespace herald::store::testing {

struct StoreBackend {
  std::string name;
  // The clock the stores are opened with.
  const Clock* clock = nullptr;
  // A new, empty database, opened (OpenMode::kCreate).
  std::function<std::unique_ptr<Store>()> fresh;
  // A second store on the database of `first` (OpenMode::kExisting): what
  // another `herald serve` node, or the same one after a restart, sees.
  std::function<std::unique_ptr<Store>(Store& first)> another;
};

inline void PrintTo(const StoreBackend& b, std::ostream* os) { *os << b.name; }

class StoreConformance : public ::testing::TestWithParam<StoreBackend> {
 protected:
  std::unique_ptr<Store> fresh() {
    auto s = GetParam().fresh();
    EXPECT_TRUE(s) << "the backend could not make a store";
    return s;
  }
  std::unique_ptr<Store> another(Store& first) {
    auto s = GetParam().another(first);
    EXPECT_TRUE(s) << "the backend could not open a second store";
    return s;
  }
  const Clock& clock() const { return *GetParam().clock; }
};

TEST_P(StoreConformance, OperatorActionsGoToTheAuditLog) {
  std::optional<std::unique_ptr<Store>> inv = fresh();
  ASSERT_TRUE(*inv);
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

TEST_P(StoreConformance, AddFindListRevoke) {
  std::optional<std::unique_ptr<Store>> inv = fresh();
  ASSERT_TRUE(*inv);
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

TEST_P(StoreConformance, OneTimeIdsAreRefusedTheSecondTimeUntilExpired) {
  std::optional<std::unique_ptr<Store>> inv = fresh();
  ASSERT_TRUE(*inv);
  TimePoint now{std::chrono::seconds(1000)};
  ASSERT_TRUE((*inv)->use_token_id("abc", now + std::chrono::seconds(300), now));
  auto again = (*inv)->use_token_id("abc", now + std::chrono::seconds(300), now);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  // After expiry the id is forgotten (the token itself is expired by then).
  EXPECT_TRUE((*inv)->use_token_id("abc", now + std::chrono::seconds(900),
                                   now + std::chrono::seconds(301)));
}

TEST_P(StoreConformance, AccountsOrdersAuthzsAndEab) {
  auto inv = fresh();
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

// What `herald store migrate` reads and writes as stored.
TEST_P(StoreConformance, MigrationRowsReadAndWriteAsStored) {
  auto inv = fresh();
  const TimePoint t{std::chrono::seconds(1000)};
  // A record alone: no 'issue' entry.
  ASSERT_TRUE(inv->insert_record_only(testing::record("0A", "01", 5000)));
  EXPECT_EQ((*inv->find(*Serial::parse("0A")))->der, testing::record("0A", "01", 5000).der);
  EXPECT_TRUE(inv->audit_records(0, 10)->empty());
  auto dup = inv->insert_record_only(testing::record("0A", "01", 5000));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
  // insert() writes one; rows come back in order, paged by id.
  ASSERT_TRUE(inv->insert(testing::record("0B", "01", 5000)));
  ASSERT_TRUE(inv->record_audit("trust_import", R"({"name":"a"})"));
  auto rows = inv->audit_records(0, 10);
  ASSERT_TRUE(rows) << rows.error().describe();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].action, "issue");
  EXPECT_EQ((*rows)[0].serial, "0B");
  EXPECT_EQ((*rows)[1].action, "trust_import");
  EXPECT_FALSE((*rows)[1].serial.has_value());
  EXPECT_EQ((*rows)[1].detail, R"({"name":"a"})");
  EXPECT_LT((*rows)[0].id, (*rows)[1].id);
  EXPECT_EQ(inv->audit_records((*rows)[0].id, 10)->size(), 1u);
  EXPECT_EQ(inv->audit_records(0, 1)->size(), 1u);
  // Appended rows keep time, action, serial and detail, in order; a
  // revocation event among them reaches the revocation feed.
  const int64_t before = *inv->last_revocation_id();
  ASSERT_TRUE(inv->append_audit_records(
      {{0, TimePoint{std::chrono::seconds(7)}, "issue", "0A", R"({"profile":"server"})"},
       {0, TimePoint{std::chrono::seconds(8)}, "revoke", "0A", R"({"reason":"keyCompromise"})"},
       {0, TimePoint{std::chrono::seconds(9)}, "token_revoke", std::nullopt, "{}"}}));
  auto all = *inv->audit_records(0, 100);
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[2].at, TimePoint{std::chrono::seconds(7)});
  EXPECT_EQ(all[3].action, "revoke");
  EXPECT_EQ(all[3].detail, R"({"reason":"keyCompromise"})");
  EXPECT_EQ(all[4].serial, std::nullopt);
  EXPECT_EQ(*inv->last_revocation_id(), all[3].id);
  EXPECT_GT(all[3].id, before);
  auto events = *inv->revocations_since(before, 10);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].serial.hex(), "0A");
  // Accounts, oldest first, as stored.
  ASSERT_TRUE(inv->acme_insert_account("b", "acme", "thumb-b", R"({"n":2})",
                                       t + std::chrono::seconds(5)));
  ASSERT_TRUE(inv->acme_insert_account("a", "acme", "thumb-a", R"({"n":1})", t));
  auto accounts = inv->acme_accounts();
  ASSERT_TRUE(accounts) << accounts.error().describe();
  ASSERT_EQ(accounts->size(), 2u);
  EXPECT_EQ((*accounts)[0].id, "a");
  EXPECT_EQ((*accounts)[0].provisioner, "acme");
  EXPECT_EQ((*accounts)[0].thumbprint, "thumb-a");
  EXPECT_EQ((*accounts)[0].data, R"({"n":1})");
  EXPECT_EQ((*accounts)[0].created_at, t);
  EXPECT_EQ((*accounts)[1].id, "b");
  // Used one-time-token ids: the unexpired ones only.
  ASSERT_TRUE(inv->use_token_id("j1", t + std::chrono::seconds(100), t));
  ASSERT_TRUE(inv->use_token_id("j2", t + std::chrono::seconds(10), t));
  auto used = inv->used_token_ids(t + std::chrono::seconds(50));
  ASSERT_TRUE(used) << used.error().describe();
  ASSERT_EQ(used->size(), 1u);
  EXPECT_EQ((*used)[0].jti, "j1");
  EXPECT_EQ((*used)[0].expires_at, t + std::chrono::seconds(100));
  EXPECT_EQ(inv->used_token_ids(t)->size(), 2u);
}

// A token revoked through a store is refused by it at once, and by another
// store on the same database within a second (an adapter may keep a token
// check for at most that long).
TEST_P(StoreConformance, RevokedTokenIsRefusedAtOnceHereAndWithinASecondElsewhere) {
  auto a = fresh();
  auto b = another(*a);
  ASSERT_TRUE(a && b);
  auto id = a->add_token({0, "admin", "ci", "cd34", TimePoint{std::chrono::seconds(5)}, false});
  ASSERT_TRUE(id);
  ASSERT_FALSE((*a->find_token("cd34"))->revoked);
  ASSERT_FALSE((*b->find_token("cd34"))->revoked);
  ASSERT_TRUE(a->revoke_token(*id));
  EXPECT_TRUE((*a->find_token("cd34"))->revoked);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1100);
  bool refused = false;
  while (!refused && std::chrono::steady_clock::now() < deadline) {
    refused = (*b->find_token("cd34"))->revoked;
    if (!refused) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(refused) << "another store still accepts the token after 1.1 s";
}

// The certificate and its order's "valid" document commit together or not at all.
TEST_P(StoreConformance, FinalizeRecordsCertificateAndOrderAtomically) {
  auto inv = fresh();
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
TEST_P(StoreConformance, ConcurrentWritesAllLandAndFailuresStayAlone) {
  auto inv = fresh();
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
TEST_P(StoreConformance, PendingOrdersPerAccountAreCapped) {
  auto inv = fresh();
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
}

// Issue 9 item 8: expired orders go, with their authorizations and the
// identifiers the rate limits count, a bounded batch per call; unexpired and
// recent ones stay.
TEST_P(StoreConformance, PurgeDeletesExpiredOrdersInBatches) {
  auto inv = fresh();
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
  // The identifiers counted for rate limits went with their orders: with a
  // day-long window and one order per identifier, a purged order's names are
  // free again while the kept orders' are still counted.
  const AcmeOrderLimits one_each{std::chrono::hours(24), 0, 1};
  EXPECT_TRUE(inv->acme_insert_order({"chk1", "a1", doc(base + 5000), {}, {"dns:old0.example"}, now}, one_each));
  EXPECT_TRUE(inv->acme_insert_order({"chk2", "a1", doc(base + 5000), {}, {"dns:shared.example"}, now}, one_each));
  auto still = inv->acme_insert_order({"chk3", "a1", doc(base + 5000), {}, {"dns:new"}, now}, one_each);
  ASSERT_FALSE(still);
  EXPECT_EQ(still.error().code, ErrorCode::kRateLimited);
}

// Rate limits hold inside the transaction: racing orders cannot pass
// together, a refusal writes nothing and says when to retry, and the count
// is the store's (it survives a restart and is shared by every node).
TEST_P(StoreConformance, OrderRateLimitsAreExactUnderConcurrencyAndDurable) {
  auto inv = fresh();
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
  {
    auto reopened = another(*inv);
    inv.reset();
    inv = std::move(reopened);
  }
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
TEST_P(StoreConformance, TransactionsDecideRacingResultsAcrossProcesses) {
  auto node_a = fresh();
  auto node_b = another(*node_a);
  const TimePoint t{std::chrono::seconds(1000)};
  ASSERT_TRUE(node_a->acme_insert_account("a1", "acme", "thumb1", "{}", t));
  constexpr int kRounds = 100;
  for (int i = 0; i < kRounds; ++i) {
    const std::string o = "o" + std::to_string(i);
    ASSERT_TRUE(node_a->acme_insert_order(
        {o, "a1", "pending", {{o + "x", "pending"}, {o + "y", "pending"}}, {}, t}, {}));
  }
  std::atomic<int> readied{0};
  auto settle_all = [&](Store& node, const char* mine, const char* other) {
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

// A one-time token is single-use across every store on the database (every
// node): a replay on the other node is refused.
TEST_P(StoreConformance, OneTimeIdsAreSingleUseAcrossStores) {
  auto a = fresh();
  auto b = another(*a);
  TimePoint now{std::chrono::seconds(1000)};
  ASSERT_TRUE(a->use_token_id("jti-1", now + std::chrono::seconds(300), now));
  auto replay = b->use_token_id("jti-1", now + std::chrono::seconds(300), now);
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().code, ErrorCode::kConflict);
  // Racing first uses of one id from both stores: exactly one wins.
  std::atomic<int> won{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      Store& s = i % 2 ? *a : *b;
      for (int k = 0; k < 20; ++k) {
        if (s.use_token_id("race-" + std::to_string(k), now + std::chrono::seconds(300), now))
          ++won;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(won.load(), 20);
}

// Revocations made through two stores at once reach a follower of either
// exactly once each, in increasing id order, and CRL numbers stay unique
// and increasing.
TEST_P(StoreConformance, RevocationEventsAndCrlNumbersAcrossStores) {
  auto a = fresh();
  auto b = another(*a);
  constexpr int kEach = 20;
  for (int i = 0; i < 2 * kEach; ++i) {
    char serial[8];
    std::snprintf(serial, sizeof serial, "%04X", 0x100 + i);
    ASSERT_TRUE(a->insert(record(serial, "0B", 999999)));
  }
  std::vector<std::thread> threads;
  std::vector<uint64_t> numbers_a, numbers_b;
  for (int side = 0; side < 2; ++side) {
    threads.emplace_back([&, side] {
      Store& s = side ? *b : *a;
      auto& numbers = side ? numbers_b : numbers_a;
      for (int i = side; i < 2 * kEach; i += 2) {
        char serial[8];
        std::snprintf(serial, sizeof serial, "%04X", 0x100 + i);
        EXPECT_TRUE(s.revoke(*Serial::parse(serial), x509::RevocationReason::kKeyCompromise,
                             TimePoint{std::chrono::seconds(2000)}));
        auto n = s.next_crl_number("issuing");
        EXPECT_TRUE(n);
        if (n) numbers.push_back(*n);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<int64_t> ids;
  int64_t after = 0;
  for (;;) {
    auto page = b->revocations_since(after, 7);
    ASSERT_TRUE(page);
    if (page->empty()) break;
    for (const auto& e : *page) {
      EXPECT_GT(e.id, after);
      after = e.id;
      ids.push_back(e.id);
    }
  }
  EXPECT_EQ(ids.size(), size_t{2 * kEach});
  EXPECT_EQ(*a->last_revocation_id(), after);
  std::vector<uint64_t> all = numbers_a;
  all.insert(all.end(), numbers_b.begin(), numbers_b.end());
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), size_t{2 * kEach});
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], i + 1);
  for (size_t i = 1; i < numbers_a.size(); ++i) EXPECT_GT(numbers_a[i], numbers_a[i - 1]);
  for (size_t i = 1; i < numbers_b.size(); ++i) EXPECT_GT(numbers_b[i], numbers_b[i - 1]);
}

// A shared secret is made once and then the same for every store on the
// database, even when two make it at the same moment.
TEST_P(StoreConformance, SharedSecretIsOneForAllStores) {
  auto a = fresh();
  auto b = another(*a);
  Result<Bytes> from_a, from_b;
  std::thread ta([&] { from_a = a->shared_secret("acme-nonce"); });
  std::thread tb([&] { from_b = b->shared_secret("acme-nonce"); });
  ta.join();
  tb.join();
  ASSERT_TRUE(from_a) << from_a.error().describe();
  ASSERT_TRUE(from_b) << from_b.error().describe();
  EXPECT_EQ(from_a->size(), 32u);
  EXPECT_EQ(*from_a, *from_b);
  EXPECT_EQ(*a->shared_secret("acme-nonce"), *from_a);  // stable
  auto other = a->shared_secret("another");
  ASSERT_TRUE(other);
  EXPECT_NE(*other, *from_a);
}

// A lease has one holder at a time; it is renewed by its holder and taken
// over by another once it has run out.
TEST_P(StoreConformance, LeaseHasOneHolderAtATime) {
  auto a = fresh();
  auto b = another(*a);
  const TimePoint t{std::chrono::seconds(5000)};
  const std::chrono::seconds ttl(10);
  EXPECT_TRUE(*a->acquire_lease("crl", "node-a", t, ttl));
  EXPECT_FALSE(*b->acquire_lease("crl", "node-b", t + std::chrono::seconds(1), ttl));
  EXPECT_TRUE(*b->acquire_lease("purge", "node-b", t, ttl));  // leases are by name
  EXPECT_TRUE(*a->acquire_lease("crl", "node-a", t + std::chrono::seconds(8), ttl));  // renewed
  EXPECT_FALSE(*b->acquire_lease("crl", "node-b", t + std::chrono::seconds(15), ttl));
  // node-a stops renewing: after its lease runs out node-b takes over, and
  // node-a no longer holds it.
  EXPECT_TRUE(*b->acquire_lease("crl", "node-b", t + std::chrono::seconds(18), ttl));
  EXPECT_FALSE(*a->acquire_lease("crl", "node-a", t + std::chrono::seconds(19), ttl));
  // Racing takers of a free lease: exactly one wins.
  std::atomic<int> won{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      Store& s = i % 2 ? *a : *b;
      auto r = s.acquire_lease("race", "node-" + std::to_string(i), t, ttl);
      if (r && *r) ++won;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(won.load(), 1);
}

// The CRL the signing node publishes is what every node reads; a late
// publisher of an older number does not replace a newer one.
TEST_P(StoreConformance, PublishedCrlKeepsTheNewest) {
  auto a = fresh();
  auto b = another(*a);
  EXPECT_FALSE(*a->latest_crl("issuing"));
  const TimePoint t{std::chrono::seconds(7000)};
  StoredCrl crl{"issuing", 5, {0x30, 0x01, 0x05}, t, t + std::chrono::hours(24)};
  ASSERT_TRUE(a->put_crl(crl));
  auto seen = b->latest_crl("issuing");
  ASSERT_TRUE(seen && *seen);
  EXPECT_EQ((*seen)->number, 5u);
  EXPECT_EQ((*seen)->der, crl.der);
  EXPECT_EQ((*seen)->this_update, t);
  EXPECT_EQ((*seen)->next_update, t + std::chrono::hours(24));
  StoredCrl older{"issuing", 4, {0x30, 0x01, 0x04}, t, t};
  ASSERT_TRUE(b->put_crl(older));
  EXPECT_EQ((*a->latest_crl("issuing"))->number, 5u);
  StoredCrl newer{"issuing", 6, {0x30, 0x01, 0x06}, t, t};
  ASSERT_TRUE(b->put_crl(newer));
  EXPECT_EQ((*a->latest_crl("issuing"))->der, newer.der);
  EXPECT_FALSE(*a->latest_crl("intermediate"));  // by CA
  EXPECT_FALSE(*a->latest_crl("issuing", 6));     // nothing newer than what a node serves
  EXPECT_EQ((*a->latest_crl("issuing", 5))->number, 6u);
}

// ---- pre-signed OCSP answers (store/ocsp_answers.h) ------------------------
TEST_P(StoreConformance, OcspAnswersSharedRefreshedAndNeverBackInTime) {
  auto a = fresh();
  auto b = another(*a);
  using std::chrono::seconds;
  const TimePoint t{seconds(10000)};
  ASSERT_TRUE(a->insert(record("0A01", "0B", 50000)));
  ASSERT_TRUE(a->insert(record("0A02", "0B", 50000)));
  ASSERT_TRUE(a->insert(record("0A03", "0C", 50000)));  // another issuer
  ASSERT_TRUE(a->insert(record("0A04", "0B", 9000)));   // expired at t
  auto answer = [&](const char* serial, TimePoint at, CertStatus st, uint8_t tag) {
    OcspAnswer x;
    x.serial = *Serial::parse(serial);
    x.not_after = TimePoint{seconds(50000)};
    x.this_update = at;
    x.next_update = at + seconds(3600);
    x.refresh_at = at + seconds(1800);
    x.status = st;
    if (st == CertStatus::kRevoked) x.reason = 1;
    x.sha1_der = {0x30, 0x01, tag};
    return x;
  };
  EXPECT_FALSE(*a->ocsp_answer(*Serial::parse("0A01")));
  // Stored by one node, read by another, with every field.
  auto first = answer("0A01", t, CertStatus::kValid, 1);
  first.sha256_der = {0x30, 0x01, 0x99};
  ASSERT_TRUE(a->put_ocsp_answers({first}));
  auto seen = b->ocsp_answer(*Serial::parse("0A01"));
  ASSERT_TRUE(seen && *seen) << (seen ? "absent" : seen.error().describe());
  EXPECT_EQ((*seen)->sha1_der, first.sha1_der);
  EXPECT_EQ((*seen)->sha256_der, first.sha256_der);
  EXPECT_EQ((*seen)->this_update, t);
  EXPECT_EQ((*seen)->next_update, t + seconds(3600));
  EXPECT_EQ((*seen)->refresh_at, t + seconds(1800));
  EXPECT_EQ((*seen)->not_after, TimePoint{seconds(50000)});
  EXPECT_EQ((*seen)->status, CertStatus::kValid);
  EXPECT_FALSE((*seen)->reason);
  // An older answer never replaces a newer one; a newer one does.
  ASSERT_TRUE(b->put_ocsp_answers({answer("0A01", t - seconds(10), CertStatus::kValid, 2)}));
  EXPECT_EQ((*a->ocsp_answer(*Serial::parse("0A01")))->sha1_der, first.sha1_der);
  ASSERT_TRUE(b->put_ocsp_answers({answer("0A01", t + seconds(10), CertStatus::kValid, 3)}));
  EXPECT_EQ((*a->ocsp_answer(*Serial::parse("0A01")))->sha1_der, (Bytes{0x30, 0x01, 3}));
  EXPECT_TRUE((*a->ocsp_answer(*Serial::parse("0A01")))->sha256_der.empty());
  // Revoked: a "good" answer signed before the revocation but written after
  // it is refused; the "revoked" one is kept.
  ASSERT_TRUE(a->revoke(*Serial::parse("0A01"), x509::RevocationReason::kKeyCompromise,
                        t + seconds(20)));
  ASSERT_TRUE(b->put_ocsp_answers({answer("0A01", t + seconds(30), CertStatus::kValid, 4)}));
  EXPECT_EQ((*a->ocsp_answer(*Serial::parse("0A01")))->sha1_der, (Bytes{0x30, 0x01, 3}));
  auto revoked = answer("0A01", t + seconds(25), CertStatus::kRevoked, 5);
  ASSERT_TRUE(a->put_ocsp_answers({revoked}));
  auto r = b->ocsp_answer(*Serial::parse("0A01"));
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->status, CertStatus::kRevoked);
  EXPECT_EQ((*r)->reason, 1);
  // A different reason than the certificate's (a hold made permanent since) is refused too.
  auto other_reason = answer("0A01", t + seconds(40), CertStatus::kRevoked, 6);
  other_reason.reason = 6;
  ASSERT_TRUE(a->put_ocsp_answers({other_reason}));
  EXPECT_EQ((*b->ocsp_answer(*Serial::parse("0A01")))->sha1_der, (Bytes{0x30, 0x01, 5}));
  // An answer for a serial not in the inventory is not stored.
  ASSERT_TRUE(a->put_ocsp_answers({answer("0FFF", t, CertStatus::kValid, 7)}));
  EXPECT_FALSE(*b->ocsp_answer(*Serial::parse("0FFF")));

  // The walk over certificates without an answer: unexpired, of the issuer,
  // paged in (notAfter, serial) order.
  auto gaps = b->certificates_without_ocsp_answer(*Serial::parse("0B"), t, std::nullopt, 1);
  ASSERT_TRUE(gaps) << gaps.error().describe();
  std::vector<std::string> missing;
  std::optional<std::pair<TimePoint, Serial>> cursor;
  size_t pages = 0;
  do {
    auto page = b->certificates_without_ocsp_answer(*Serial::parse("0B"), t, cursor, 1);
    ASSERT_TRUE(page) << page.error().describe();
    for (const auto& s : page->missing) missing.push_back(s.hex());
    cursor = page->next;
    ASSERT_LT(++pages, 10u);
  } while (cursor);
  EXPECT_EQ(missing, std::vector<std::string>{"0A02"});  // 0A01 answered, 0A03 not ours, 0A04 expired
  ASSERT_TRUE(a->put_ocsp_answers({answer("0A02", t, CertStatus::kValid, 8)}));
  auto none = b->certificates_without_ocsp_answer(*Serial::parse("0B"), t, std::nullopt, 100);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->missing.empty());
  EXPECT_FALSE(none->next);  // fewer than a page: the walk is done

  // Due for refresh: refresh_at <= now, the most overdue first.
  EXPECT_TRUE(a->ocsp_answers_due(t, 10)->empty());
  auto due = a->ocsp_answers_due(t + seconds(1800), 10);
  ASSERT_TRUE(due);
  ASSERT_EQ(due->size(), 1u);  // 0A02's; 0A01's was signed later
  EXPECT_EQ((*due)[0].serial.hex(), "0A02");
  due = a->ocsp_answers_due(t + seconds(3600), 1);
  ASSERT_TRUE(due);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].serial.hex(), "0A02");
  EXPECT_EQ(*b->count_ocsp_answers(), 2);
  auto latest = b->latest_ocsp_answers(1);
  ASSERT_TRUE(latest);
  ASSERT_EQ(latest->size(), 1u);
  EXPECT_EQ((*latest)[0].serial.hex(), "0A01");  // due last
  EXPECT_EQ((*latest)[0].sha1_der, (Bytes{0x30, 0x01, 5}));
  EXPECT_EQ(b->latest_ocsp_answers(10)->size(), 2u);
  ASSERT_TRUE(b->delete_ocsp_answers({*Serial::parse("0A02"), *Serial::parse("0A01")}));
  EXPECT_EQ(*a->count_ocsp_answers(), 0);
  EXPECT_FALSE(*a->ocsp_answer(*Serial::parse("0A02")));
  ASSERT_TRUE(a->delete_ocsp_answers({}));
}

// ---- dashboard overview (store/overview.h) ------------------------------
TEST_P(StoreConformance, OverviewCountsInTheDatabase) {
  auto s = fresh();
  ASSERT_TRUE(s);
  const int64_t day = 86400;
  const TimePoint now{std::chrono::seconds(100 * day)};
  auto at = [](int64_t t) { return TimePoint{std::chrono::seconds(t)}; };
  // valid: expire in 2, 3, 10 and 40 days; expired: 1; revoked: 2.
  auto put = [&](const char* serial, int64_t not_after, int64_t issued, const char* profile) {
    CertRecord r = record(serial, "01", not_after);
    r.issued_at = at(issued);
    r.profile = profile;
    ASSERT_TRUE(s->insert(r)) << serial;
  };
  put("0A", 100 * day + 2 * day, 99 * day, "server");
  put("0B", 100 * day + 3 * day - 1, 99 * day, "client");
  put("0C", 100 * day + 10 * day, 90 * day, "server");
  put("0D", 100 * day + 40 * day, 50 * day, "server");
  put("0E", 100 * day - 1, 10 * day, "server");  // expired
  put("0F", 100 * day + 5 * day, 99 * day, "server");
  put("10", 100 * day + 6 * day, 20 * day, "server");
  ASSERT_TRUE(s->revoke(*Serial::parse("0F"), x509::RevocationReason::kKeyCompromise,
                        now - std::chrono::hours(2)));
  ASSERT_TRUE(s->revoke(*Serial::parse("10"), x509::RevocationReason::kSuperseded,
                        now - std::chrono::hours(48)));

  auto counts = s->count_by_status(now);
  ASSERT_TRUE(counts) << counts.error().describe();
  EXPECT_EQ(counts->valid, 4);
  EXPECT_EQ(counts->expired, 1);
  EXPECT_EQ(counts->revoked, 2);
  EXPECT_EQ(counts->total(), *s->count());

  EXPECT_EQ(*s->count_revoked_since(now - std::chrono::hours(24)), 1);
  EXPECT_EQ(*s->count_revoked_since(now - std::chrono::hours(72)), 2);
  EXPECT_EQ(*s->count_issued_since(at(99 * day)), 3);
  EXPECT_EQ(*s->count_issued_since(at(0)), 7);

  // Per-day buckets over 12 days: (now, now+1d] ... ; revoked and expired left out.
  auto days = s->expiry_histogram(now, std::chrono::hours(24), 12);
  ASSERT_TRUE(days) << days.error().describe();
  ASSERT_EQ(days->size(), 12u);
  std::vector<int64_t> want(12, 0);
  want[1] = 1;  // 0A at exactly now + 2d: (now+1d, now+2d]
  want[2] = 1;  // 0B
  want[9] = 1;  // 0C at now + 10d
  EXPECT_EQ(*days, want);
  auto weeks = s->expiry_histogram(now, std::chrono::hours(24 * 7), 6);
  ASSERT_TRUE(weeks);
  EXPECT_EQ(*weeks, (std::vector<int64_t>{2, 1, 0, 0, 0, 1}));
  EXPECT_TRUE(s->expiry_histogram(now, std::chrono::hours(24), 0)->empty());

  ListFilter f;
  f.now = now;
  EXPECT_EQ(*s->count_matching(f), 7);
  f.status = "valid";
  EXPECT_EQ(*s->count_matching(f), 4);
  f.profile = "server";
  EXPECT_EQ(*s->count_matching(f), 3);
  f.limit = 1;  // ignored by a count
  f.offset = 2;
  EXPECT_EQ(*s->count_matching(f), 3);
  ListFilter by_san;
  by_san.now = now;
  by_san.san_label_prefix = "0c.internal";
  EXPECT_EQ(*s->count_matching(by_san), 1);
  ListFilter by_owner;
  by_owner.now = now;
  by_owner.owner = {{"team", "payments"}};
  EXPECT_EQ(*s->count_matching(by_owner), 7);
  by_owner.owner = {{"team", "other"}};
  EXPECT_EQ(*s->count_matching(by_owner), 0);
  ListFilter expired;
  expired.now = now;
  expired.status = "expired";
  EXPECT_EQ(*s->count_matching(expired), 1);
  ListFilter revoked;
  revoked.now = now;
  revoked.status = "revoked";
  EXPECT_EQ(*s->count_matching(revoked), 2);
  EXPECT_EQ(*s->count_matching(revoked), static_cast<int64_t>(s->list(revoked)->size()));

  auto trail = s->revocation_history(*Serial::parse("0F"), 10);
  ASSERT_TRUE(trail) << trail.error().describe();
  ASSERT_EQ(trail->size(), 1u);
  EXPECT_EQ((*trail)[0].action, "revoke");
  EXPECT_NE((*trail)[0].detail.find("keyCompromise"), std::string::npos) << (*trail)[0].detail;
  EXPECT_TRUE(s->revocation_history(*Serial::parse("0A"), 10)->empty());
  CertRecord root = record("77", "77", 500 * day);
  root.profile = "root-ca";
  ASSERT_TRUE(s->insert(root));
  CertRecord issuing = record("78", "77", 400 * day);
  issuing.profile = "issuing-ca";
  ASSERT_TRUE(s->insert(issuing));
  auto cas = s->ca_certificates();
  ASSERT_TRUE(cas) << cas.error().describe();
  ASSERT_EQ(cas->size(), 2u);
  EXPECT_EQ((*cas)[0].serial.hex(), "78");  // by notAfter
  EXPECT_EQ((*cas)[1].profile, "root-ca");
  // Another node on the same database counts the same.
  auto other = another(*s);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->count_by_status(now)->revoked, 2);
}
// ---- end of dashboard overview ------------------------------------------

// ---- Deployments seen by `herald scan` (store/deployments.h) -----------
inline Sighting sighting(std::string endpoint, std::string sni, std::string fingerprint,
                         int64_t at_secs) {
  Sighting s;
  s.endpoint = std::move(endpoint);
  s.sni = std::move(sni);
  // record() gives serial S the fingerprint "FP-S"; a certificate's
  // fingerprint fixes its serial, as in a real sighting.
  s.leaf.serial_hex = fingerprint.starts_with("FP-") ? fingerprint.substr(3) : "77";
  s.leaf.fingerprint_sha256 = std::move(fingerprint);
  s.leaf.subject = "CN=web.example";
  s.leaf.issuer = "CN=Someone Else";
  s.leaf.sans = {"dns:web.example", "ip:10.0.0.9"};
  s.leaf.not_before = TimePoint{std::chrono::seconds(100)};
  s.leaf.not_after = TimePoint{std::chrono::seconds(9000)};
  s.leaf.key_algorithm = "rsa-2048";
  s.leaf.key_bits = 2048;
  s.leaf.signature_algorithm = "sha256WithRSAEncryption";
  s.leaf.der = {0x30, 0x03, 0x02, 0x01, 0x77};
  s.chain_der = {s.leaf.der, {0x30, 0x00}};
  s.problems = {{"untrusted_root", "the chain ends at a root not trusted"}};
  s.at = TimePoint{std::chrono::seconds(at_secs)};
  return s;
}

// A sighting is an upsert on (endpoint, sni, leaf): first_seen stays,
// last_seen, chain and problems move; a leaf not in the inventory is foreign
// and kept once as discovered; an inventory leaf is found by its serial.
TEST_P(StoreConformance, DeploymentsUpsertKeepFirstSeenAndTellForeignFromOwn) {
  auto s = fresh();
  ASSERT_TRUE(s);
  auto own = record("0A", "01", 50000);  // fingerprint "FP-0A"
  ASSERT_TRUE(s->insert(own));

  auto first = s->record_sighting(sighting("10.0.0.1:443", "", "FP-0A", 1000));
  ASSERT_TRUE(first) << first.error().describe();
  EXPECT_FALSE(first->foreign);
  EXPECT_TRUE(first->new_deployment);
  auto again = sighting("10.0.0.1:443", "", "FP-0A", 2000);
  again.problems.clear();
  auto second = s->record_sighting(again);
  ASSERT_TRUE(second) << second.error().describe();
  EXPECT_FALSE(second->new_deployment);
  // The same leaf under another SNI name is another deployment.
  ASSERT_TRUE(s->record_sighting(sighting("10.0.0.1:443", "web.example", "FP-0A", 2000)));

  auto mine = s->deployments_of_serial(*Serial::parse("0A"));
  ASSERT_TRUE(mine) << mine.error().describe();
  ASSERT_EQ(mine->size(), 2u);
  for (const auto& d : *mine) {
    EXPECT_FALSE(d.foreign);
    EXPECT_EQ(d.fingerprint_sha256, "FP-0A");
  }
  auto plain = std::find_if(mine->begin(), mine->end(), [](auto& d) { return d.sni.empty(); });
  ASSERT_NE(plain, mine->end());
  EXPECT_EQ(plain->first_seen, TimePoint{std::chrono::seconds(1000)});
  EXPECT_EQ(plain->last_seen, TimePoint{std::chrono::seconds(2000)});
  EXPECT_TRUE(plain->problems.empty());
  ASSERT_EQ(plain->chain_der.size(), 2u);
  EXPECT_EQ(plain->chain_der[0], (Bytes{0x30, 0x03, 0x02, 0x01, 0x77}));
  // An older sighting arriving late does not move last_seen back.
  ASSERT_TRUE(s->record_sighting(sighting("10.0.0.1:443", "", "FP-0A", 500)));
  auto late = s->deployments_of_fingerprint("FP-0A");
  ASSERT_TRUE(late);
  for (const auto& d : *late) {
    if (d.sni.empty()) {
      EXPECT_EQ(d.first_seen, TimePoint{std::chrono::seconds(500)});
      EXPECT_EQ(d.last_seen, TimePoint{std::chrono::seconds(2000)});
    }
  }

  // Foreign: stored once as discovered, whatever the number of sightings.
  auto f1 = s->record_sighting(sighting("[::1]:8443", "", "FP-FOREIGN", 1500));
  ASSERT_TRUE(f1) << f1.error().describe();
  EXPECT_TRUE(f1->foreign);
  ASSERT_TRUE(s->record_sighting(sighting("10.0.0.2:443", "x", "FP-FOREIGN", 3000)));
  auto discovered = s->discovered_certificates(0, 0);
  ASSERT_TRUE(discovered) << discovered.error().describe();
  ASSERT_EQ(discovered->size(), 1u);
  const auto& d = (*discovered)[0];
  EXPECT_EQ(d.fingerprint_sha256, "FP-FOREIGN");
  EXPECT_EQ(d.first_seen, TimePoint{std::chrono::seconds(1500)});
  EXPECT_EQ(d.sans, (std::vector<std::string>{"dns:web.example", "ip:10.0.0.9"}));
  EXPECT_EQ(d.key_bits, 2048);
  EXPECT_EQ(d.not_after, TimePoint{std::chrono::seconds(9000)});
  EXPECT_EQ(d.der, (Bytes{0x30, 0x03, 0x02, 0x01, 0x77}));
  EXPECT_TRUE(s->deployments_of_serial(*Serial::parse("0B"))->empty());

  auto counts = s->deployment_counts();
  ASSERT_TRUE(counts) << counts.error().describe();
  EXPECT_EQ(counts->endpoints, 3);
  EXPECT_EQ(counts->deployments, 4);
  EXPECT_EQ(counts->foreign_certificates, 1);

  // Another node sees the same.
  auto other = another(*s);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->deployments_of_fingerprint("FP-FOREIGN")->size(), 2u);
}

// The inventory listing filtered by deployment: certificates a scan saw
// (foreign sightings do not count), or never saw; the count agrees.
TEST_P(StoreConformance, ListFilterDeployedOrNot) {
  auto s = fresh();
  ASSERT_TRUE(s);
  for (auto serial : {"0A", "0B", "0C"}) ASSERT_TRUE(s->insert(record(serial, "01", 50000)));
  ASSERT_TRUE(s->record_sighting(sighting("10.0.0.1:443", "", "FP-0B", 1000)));
  ASSERT_TRUE(s->record_sighting(sighting("10.0.0.2:443", "", "FP-FOREIGN", 1000)));
  ListFilter f;
  f.now = TimePoint{std::chrono::seconds(2000)};
  auto serials = [&](std::optional<bool> deployed) {
    f.deployed = deployed;
    std::vector<std::string> out;
    auto listed = s->list(f);
    EXPECT_TRUE(listed) << listed.error().describe();
    for (const auto& r : *listed) out.push_back(r.serial.hex());
    EXPECT_EQ(*s->count_matching(f), static_cast<int64_t>(out.size()));
    return out;
  };
  EXPECT_EQ(serials(true), (std::vector<std::string>{"0B"}));
  EXPECT_EQ(serials(false), (std::vector<std::string>{"0A", "0C"}));
  EXPECT_EQ(serials(std::nullopt).size(), 3u);
}

TEST_P(StoreConformance, DeploymentsFilterByLastSeenKindAndPage) {
  auto s = fresh();
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->insert(record("0A", "01", 50000)));
  ASSERT_TRUE(s->record_sighting(sighting("a:443", "", "FP-0A", 1000)));
  ASSERT_TRUE(s->record_sighting(sighting("b:443", "", "FP-X", 2000)));
  ASSERT_TRUE(s->record_sighting(sighting("c:443", "", "FP-Y", 3000)));
  DeploymentFilter all;
  auto everything = s->deployments(all);
  ASSERT_TRUE(everything) << everything.error().describe();
  ASSERT_EQ(everything->size(), 3u);
  EXPECT_EQ((*everything)[0].endpoint, "a:443");  // stalest first
  DeploymentFilter stale;
  stale.not_seen_since = TimePoint{std::chrono::seconds(2500)};
  auto old = s->deployments(stale);
  ASSERT_TRUE(old);
  ASSERT_EQ(old->size(), 2u);
  EXPECT_EQ((*old)[1].endpoint, "b:443");
  DeploymentFilter foreign;
  foreign.kind = DeploymentKind::kForeign;
  EXPECT_EQ(s->deployments(foreign)->size(), 2u);
  DeploymentFilter own;
  own.kind = DeploymentKind::kInventory;
  auto ours = s->deployments(own);
  ASSERT_EQ(ours->size(), 1u);
  EXPECT_EQ((*ours)[0].serial_hex, "0A");
  DeploymentFilter page;
  page.limit = 1;
  page.offset = 1;
  auto second = s->deployments(page);
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ((*second)[0].endpoint, "b:443");
  EXPECT_EQ(s->discovered_certificates(1, 1)->size(), 1u);
  EXPECT_EQ(s->discovered_certificates(0, 5)->size(), 0u);
  // Bad input changes nothing.
  auto bad = s->record_sighting(sighting("", "", "FP-Z", 1));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(s->deployment_counts()->deployments, 3);
}
// ---- end of deployments ------------------------------------------------

// ---- Expiry alerts and webhooks (store/alerts.h) ----------------------
// One claim wins per key, whichever store (node) asks and however many race;
// silences expire; alerts and dead letters list newest first.
TEST_P(StoreConformance, AlertClaimsAreWonOnceAcrossStores) {
  auto a = fresh();
  auto b = another(*a);
  const TimePoint t{std::chrono::seconds(9000)};
  EXPECT_TRUE(*a->claim_alert("expiry:0a:30d", t));
  EXPECT_FALSE(*a->claim_alert("expiry:0a:30d", t));
  EXPECT_FALSE(*b->claim_alert("expiry:0a:30d", t));  // another node, or after a restart
  EXPECT_TRUE(*b->claim_alert("expiry:0a:15d", t));   // by key
  std::atomic<int> won{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      Store& s = i % 2 ? *a : *b;
      auto r = s.claim_alert("expiry:race:7d", t);
      if (r && *r) ++won;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(won.load(), 1);
}

TEST_P(StoreConformance, AlertsSilencesAndDeadLetters) {
  auto a = fresh();
  const TimePoint t{std::chrono::seconds(10000)};
  ASSERT_TRUE(a->record_alert({0, "expiry:0a:30d", "expiry", "0a", t, "log", "delivered"}));
  ASSERT_TRUE(a->record_alert({0, "expiry:0b:30d", "expiry", "0b", t, "ops", "dead_letter"}));
  auto alerts = a->recent_alerts(10);
  ASSERT_TRUE(alerts) << alerts.error().describe();
  ASSERT_EQ(alerts->size(), 2u);
  EXPECT_EQ((*alerts)[0].key, "expiry:0b:30d");  // newest first
  EXPECT_EQ((*alerts)[0].target, "ops");
  EXPECT_EQ((*alerts)[0].result, "dead_letter");
  EXPECT_EQ((*alerts)[1].at, t);
  EXPECT_EQ(a->recent_alerts(1)->size(), 1u);

  Silence by_owner{0, "team", "payments", "", t + std::chrono::hours(1), "migration", "cli:ops",
                   t};
  auto id1 = a->add_silence(by_owner);
  ASSERT_TRUE(id1) << id1.error().describe();
  Silence by_serial{0, "", "", "0c", t + std::chrono::hours(2), "decommissioned", "cli:ops", t};
  auto id2 = a->add_silence(by_serial);
  ASSERT_TRUE(id2);
  EXPECT_NE(*id1, *id2);
  Silence both = by_owner;
  both.serial = "0d";
  EXPECT_EQ(a->add_silence(both).error().code, ErrorCode::kInvalidArgument);
  Silence neither = by_owner;
  neither.owner_key.clear();
  EXPECT_EQ(a->add_silence(neither).error().code, ErrorCode::kInvalidArgument);
  auto active = a->active_silences(t);
  ASSERT_TRUE(active);
  ASSERT_EQ(active->size(), 2u);
  EXPECT_EQ((*active)[0].owner_key, "team");
  EXPECT_EQ((*active)[0].owner_value, "payments");
  EXPECT_EQ((*active)[0].reason, "migration");
  EXPECT_EQ((*active)[0].ends_at, t + std::chrono::hours(1));
  EXPECT_EQ((*active)[1].serial, "0c");
  EXPECT_EQ(a->active_silences(t + std::chrono::minutes(90))->size(), 1u);  // the first ended
  ASSERT_TRUE(a->remove_silence(*id2));
  EXPECT_EQ(a->remove_silence(*id2).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(a->active_silences(t)->size(), 1u);

  ASSERT_TRUE(a->add_dead_letter({0, "ops", "http://127.0.0.1:9/h", R"({"kind":"expiry"})",
                                  "HTTP 500", 5, t}));
  ASSERT_TRUE(a->add_dead_letter({0, "sec", "http://127.0.0.1:9/s", "{}", "refused", 5, t}));
  auto dead = another(*a)->dead_letters(10);
  ASSERT_TRUE(dead) << dead.error().describe();
  ASSERT_EQ(dead->size(), 2u);
  EXPECT_EQ((*dead)[0].target, "sec");
  EXPECT_EQ((*dead)[1].payload, R"({"kind":"expiry"})");
  EXPECT_EQ((*dead)[1].last_error, "HTTP 500");
  EXPECT_EQ((*dead)[1].attempts, 5);
  EXPECT_EQ((*dead)[1].url, "http://127.0.0.1:9/h");
}
// ---- end of expiry alerts and webhooks ----------------------------------

// ---- retention (store/retention.h) ---------------------------------------
TEST_P(StoreConformance, RetentionPrunesOnlyLongExpiredInBoundedBatches) {
  auto a = fresh();
  auto b = another(*a);
  ASSERT_TRUE(a && b);
  using std::chrono::seconds;
  const TimePoint now{seconds(100000)};
  const TimePoint cutoff{seconds(50000)};
  auto put = [&](const char* serial, int64_t not_after, const char* profile = "server") {
    CertRecord r = record(serial, "01", not_after);
    r.profile = profile;
    ASSERT_TRUE(a->insert(r)) << serial;
  };
  put("0E01", 10000);                     // expired long before the cutoff
  put("0E02", 20000);                     // the same, revoked
  put("0E03", 60000);                     // expired, but after the cutoff
  put("0E04", 200000);                    // unexpired, revoked: on the CRL
  put("0E05", 5000, "issuing-ca");        // a CA of the hierarchy: never
  for (int i = 0; i < 5; ++i) put(("0E1" + std::to_string(i)).c_str(), 11000 + i * 1000);
  ASSERT_TRUE(a->revoke(*Serial::parse("0E02"), x509::RevocationReason::kKeyCompromise,
                        TimePoint{seconds(15000)}));
  ASSERT_TRUE(a->revoke(*Serial::parse("0E04"), x509::RevocationReason::kKeyCompromise,
                        TimePoint{seconds(90000)}));
  OcspAnswer answer;
  answer.serial = *Serial::parse("0E01");
  answer.not_after = TimePoint{seconds(10000)};
  answer.this_update = TimePoint{seconds(9000)};
  answer.next_update = answer.refresh_at = TimePoint{seconds(9500)};
  answer.sha1_der = {0x30, 0x00};
  ASSERT_TRUE(a->put_ocsp_answers({answer}));
  ASSERT_TRUE(*a->ocsp_answer(answer.serial));
  auto audit_before = a->audit_records(0, 1000);
  ASSERT_TRUE(audit_before);

  // What may go: 0E01, 0E02, 0E10..0E14, oldest first; never the CA's.
  auto count = b->count_prunable(cutoff, now);
  ASSERT_TRUE(count) << count.error().describe();
  EXPECT_EQ(*count, 7);
  auto first = b->prunable(cutoff, now, 2);
  ASSERT_TRUE(first) << first.error().describe();
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].hex(), "0E01");
  EXPECT_EQ((*first)[1].hex(), "0E10");
  // The delete checks the rule again: the unexpired and the recent stay.
  auto kept = b->delete_prunable({*Serial::parse("0E03"), *Serial::parse("0E04"),
                                  *Serial::parse("0E05"), *Serial::parse("0FFF")},
                                 cutoff, now);
  ASSERT_TRUE(kept) << kept.error().describe();
  EXPECT_TRUE(kept->empty());
  auto gone = b->delete_prunable({*Serial::parse("0E01")}, cutoff, now);
  ASSERT_TRUE(gone) << gone.error().describe();
  ASSERT_EQ(gone->size(), 1u);
  EXPECT_EQ((*gone)[0].hex(), "0E01");

  // Batches of at most 3 until nothing is left; a second run deletes nothing.
  std::vector<size_t> batches;
  for (int round = 0; round < 10; ++round) {
    auto batch = b->prune_expired(cutoff, now, 3);
    ASSERT_TRUE(batch) << batch.error().describe();
    if (batch->empty()) break;
    batches.push_back(batch->size());
  }
  EXPECT_EQ(batches, (std::vector<size_t>{3, 3}));
  EXPECT_TRUE(a->prune_expired(cutoff, now, 100)->empty());
  EXPECT_EQ(*a->count_prunable(cutoff, now), 0);
  EXPECT_EQ(*a->count(), 3);  // 0E03, 0E04, 0E05
  for (const char* serial : {"0E01", "0E02", "0E10", "0E14"}) {
    EXPECT_FALSE(*a->find(*Serial::parse(serial))) << serial;
  }
  // The pruned certificate's OCSP answer went with it; the audit log stays.
  EXPECT_FALSE(*a->ocsp_answer(answer.serial));
  EXPECT_EQ(a->audit_records(0, 1000)->size(), audit_before->size());
  // Its search rows went too: a new record under a pruned serial is not
  // found by the old record's name or owner label.
  CertRecord again = record("0E01", "01", 300000);
  again.sans = {*x509::parse_san("dns:fresh.internal")};
  again.owner = {{"team", "search"}};
  again.fingerprint_sha256 = "FP-again";
  ASSERT_TRUE(a->insert(again));
  ListFilter by_name;
  by_name.now = now;
  by_name.san_label_prefix = "0e01.internal";
  EXPECT_TRUE(a->list(by_name)->empty());
  EXPECT_EQ(*a->count_matching(by_name), 0);
  ListFilter by_label;
  by_label.now = now;
  by_label.owner = {{"team", "payments"}};
  auto payments = a->list(by_label);
  ASSERT_TRUE(payments);
  std::vector<std::string> serials;
  for (const auto& r : *payments) serials.push_back(r.serial.hex());
  std::sort(serials.begin(), serials.end());
  EXPECT_EQ(serials, (std::vector<std::string>{"0E03", "0E04", "0E05"}));
  EXPECT_EQ(*a->count_matching(by_label), 3);

  // A cutoff past `now` still takes nothing unexpired: 0E03 goes (expired),
  // the revoked 0E04 stays and is still listed for the CRL.
  auto late = a->prune_expired(TimePoint{seconds(400000)}, now, 100);
  ASSERT_TRUE(late);
  ASSERT_EQ(late->size(), 1u);
  EXPECT_EQ((*late)[0].hex(), "0E03");
  auto crl = a->revoked_by(*Serial::parse("01"), now);
  ASSERT_TRUE(crl);
  ASSERT_EQ(crl->size(), 1u);
  EXPECT_EQ((*crl)[0].serial.hex(), "0E04");
  EXPECT_TRUE(*a->find(*Serial::parse("0E04")));
  EXPECT_TRUE(*a->find(*Serial::parse("0E05")));
}
// ---- end of retention ------------------------------------------------------

}  // namespace herald::store::testing
