#include "store/postgres/postgres_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <set>
#include <thread>
#include <vector>

#include "store/inventory_conformance.h"
#include "store/postgres/postgres_store_impl.h"
#include "store/postgres/test_server.h"
#include "store/store_conformance.h"

namespace herald::store {
namespace {

using testing::PostgresTestServer;

const FakeClock& clock() {
  static FakeClock c{TimePoint{std::chrono::seconds(1000)}};
  return c;
}

// The test server, or a failed test saying why there is none.
PostgresTestServer& server() {
  auto s = PostgresTestServer::get();
  if (!s) {
    ADD_FAILURE() << "no PostgreSQL test server: " << s.error().message;
    std::abort();
  }
  return **s;
}

std::string fresh_url() {
  auto url = server().create_database();
  EXPECT_TRUE(url) << (url ? "" : url.error().message);
  return url ? *url : std::string();
}

Result<std::unique_ptr<Store>> open_url(const std::string& url, OpenMode mode,
                                        const std::string& password = "") {
  PostgresOptions o;
  o.url = url;
  o.password = password;
  o.pool_size = 8;
  return open_postgres(o, mode, clock());
}

std::unique_ptr<Store> must_open(const std::string& url, OpenMode mode) {
  auto s = open_url(url, mode);
  EXPECT_TRUE(s) << (s ? "" : s.error().message);
  return s ? std::move(*s) : nullptr;
}

testing::InventoryFactory postgres_factory() {
  return [] { return std::unique_ptr<Inventory>(must_open(fresh_url(), OpenMode::kCreate)); };
}

testing::StoreBackend postgres_backend() {
  return {"Postgres", &clock(), [] { return must_open(fresh_url(), OpenMode::kCreate); },
          // describe() is the database's URL without a password.
          [](Store& first) { return must_open(first.describe(), OpenMode::kExisting); }};
}

using testing::InventoryConformance;
using testing::StoreConformance;
INSTANTIATE_TEST_SUITE_P(Postgres, InventoryConformance, ::testing::Values(postgres_factory()));
INSTANTIATE_TEST_SUITE_P(Postgres, StoreConformance, ::testing::Values(postgres_backend()));

TEST(PostgresStore, MigratesOnceAndIdempotentOnReopen) {
  const std::string url = fresh_url();
  {
    auto s = must_open(url, OpenMode::kCreate);
    ASSERT_TRUE(s);
    EXPECT_EQ(*s->schema_version(), PostgresStore::known_schema_version());
    EXPECT_GE(PostgresStore::known_schema_version(), 1);
    ASSERT_TRUE(s->insert(testing::record("0A", "01", 5000)));
    EXPECT_EQ(s->describe(), url);
  }
  // Two more opens at once (two nodes starting together), then one more.
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&] {
      if (open_url(url, OpenMode::kExisting)) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 2);
  auto s = must_open(url, OpenMode::kExisting);
  ASSERT_TRUE(s);
  EXPECT_EQ(*s->count(), 1);
  EXPECT_EQ(*s->schema_version(), PostgresStore::known_schema_version());
  // One row per migration: none was applied twice.
  auto other = must_open(url, OpenMode::kCreate);
  ASSERT_TRUE(other);
  EXPECT_EQ(*other->count(), 1);
  const std::string db = url.substr(url.rfind('/') + 1);
  EXPECT_TRUE(server().sql(
      db, "DO $$BEGIN IF (SELECT count(*) FROM schema_migrations) <> " +
              std::to_string(PostgresStore::known_schema_version()) +
              " THEN RAISE EXCEPTION 'migrations applied more than once'; END IF; END$$"));
}

TEST(PostgresStore, ConcurrentFirstOpensOfAnEmptyDatabaseBothSucceed) {
  const std::string url = fresh_url();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&] {
      auto s = open_url(url, OpenMode::kCreate);
      if (s)
        ++ok;
      else
        ADD_FAILURE() << s.error().message;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 3);
}

TEST(PostgresStore, NewerSchemaIsRefused) {
  const std::string url = fresh_url();
  ASSERT_TRUE(must_open(url, OpenMode::kCreate));
  const std::string db = url.substr(url.rfind('/') + 1);
  ASSERT_TRUE(server().sql(db,
                           "INSERT INTO schema_migrations (version, name, applied_at) VALUES "
                           "(9999, '9999_future', 0)"));
  auto s = open_url(url, OpenMode::kExisting);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kStore);
  EXPECT_NE(s.error().message.find("upgrade herald"), std::string::npos) << s.error().message;
}

TEST(PostgresStore, ExistingModeOnAnEmptyDatabaseIsNotFound) {
  const std::string url = fresh_url();
  auto s = open_url(url, OpenMode::kExisting);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
  // And nothing was created: kCreate still finds it empty and migrates.
  auto created = must_open(url, OpenMode::kCreate);
  ASSERT_TRUE(created);
  EXPECT_EQ(*created->count(), 0);
}

TEST(PostgresStore, TwoNodesSeeEachOthersInserts) {
  auto a = must_open(fresh_url(), OpenMode::kCreate);
  ASSERT_TRUE(a);
  auto b = must_open(a->describe(), OpenMode::kExisting);
  ASSERT_TRUE(b);
  ASSERT_TRUE(a->insert(testing::record("0A", "01", 5000)));
  auto found = b->find(*Serial::parse("0A"));
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->der, (Bytes{0x30, 0x00}));
  auto dup = b->insert(testing::record("0A", "01", 5000));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
  ASSERT_TRUE(b->revoke(*Serial::parse("0A"), x509::RevocationReason::kKeyCompromise,
                        TimePoint{std::chrono::seconds(2000)}));
  EXPECT_EQ(*a->status(*Serial::parse("0A")), CertStatus::kRevoked);
}

// Each connection prepares a SQL text once: the statement outlives a
// transaction that rolled back, a table changed under it is prepared afresh,
// and texts beyond the cache's size still run.
// 0008_search.sql's backfill (SQL) writes the rows insert_one writes (from
// store::name_search_keys), and a deleted certificate takes its rows along
// (ON DELETE CASCADE).
TEST(PostgresStore, SearchRowsBackfillAsInsertDoesAndCascade) {
  const std::string url = fresh_url();
  auto a = testing::record("0A", "01", 5000);
  a.sans = {*x509::parse_san("dns:api.eu.example.com"), *x509::parse_san("dns:*.example.com"),
            *x509::parse_san("email:Ops.Team@Example.COM")};
  auto b = testing::record("0B", "01", 5100);
  b.sans = {*x509::parse_san("ip:2001:db8::1"), *x509::parse_san("ip:10.1.2.3"),
            *x509::parse_san("uri:spiffe://Example.org/ns/web/"),
            *x509::parse_san("uri:https://a.example.com:8443/x?y=z")};
  b.owner = {{"team", "search"}, {"env", "dev"}, {"service", "web"}};
  std::string want;
  for (const auto& r : {a, b}) {
    for (const auto& k : name_search_keys(r.sans)) want += k + "|" + r.serial.hex() + ";";
  }
  auto connected = postgres::Conn::connect(url, "");
  ASSERT_TRUE(connected) << connected.error().message;
  postgres::Conn& c = **connected;
  auto dump = [&](const char* sql) {
    auto r = c.exec(sql);
    EXPECT_TRUE(r) << r.error().message;
    std::string out;
    for (int i = 0; r && i < r->size(); ++i) out += r->text(i, 0) + "|" + r->text(i, 1) + ";";
    return out;
  };
  const char* names = "SELECT name, serial FROM cert_names ORDER BY serial, name";
  const char* labels =
      "SELECT key || '=' || value, serial FROM cert_labels ORDER BY serial, key";
  {
    auto s = must_open(url, OpenMode::kCreate);
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->insert(a));
    ASSERT_TRUE(s->insert_record_only(b));  // herald store migrate's path
  }
  const std::string inserted_names = dump(names);
  const std::string inserted_labels = dump(labels);
  EXPECT_EQ(inserted_names, want);
  EXPECT_EQ(inserted_labels, "env=prod|0A;team=payments|0A;env=dev|0B;service=web|0B;team=search|0B;");
  // 0008 undone (the others kept: only a missing migration runs), reopened.
  for (const char* sql : {"DROP TABLE cert_names", "DROP TABLE cert_labels",
                          "DROP INDEX certificates_profile",
                          "DELETE FROM schema_migrations WHERE version = 8"}) {
    ASSERT_TRUE(c.exec(sql)) << sql;
  }
  ASSERT_TRUE(must_open(url, OpenMode::kExisting));
  EXPECT_EQ(dump(names), inserted_names);
  EXPECT_EQ(dump(labels), inserted_labels);
  ASSERT_TRUE(c.exec("DELETE FROM certificates WHERE serial = '0B'"));
  EXPECT_EQ(dump("SELECT count(*), 0 FROM cert_names WHERE serial = '0B' UNION ALL "
                 "SELECT count(*), 1 FROM cert_labels WHERE serial = '0B'"),
            "0|0;0|1;");
  EXPECT_EQ(dump("SELECT count(DISTINCT serial), 0 FROM cert_names"), "1|0;");
}

TEST(PostgresConn, PreparedStatementsSurviveRollbackTableChangeAndAFullCache) {
  auto connected = postgres::Conn::connect(fresh_url(), "");
  ASSERT_TRUE(connected) << connected.error().message;
  postgres::Conn& c = **connected;
  ASSERT_TRUE(c.exec("CREATE TABLE t (a BIGINT)"));
  const std::string insert = "INSERT INTO t (a) VALUES ($1)";
  auto rolled_back = c.transaction([&](postgres::Conn& t) -> Status {
    HERALD_TRY_VOID(t.exec(insert, {postgres::Param(int64_t{1})}));
    return make_error(ErrorCode::kInternal, "roll back");
  });
  ASSERT_FALSE(rolled_back);
  auto again = c.exec(insert, {postgres::Param(int64_t{2})});
  ASSERT_TRUE(again) << again.error().message;
  auto rows = c.exec("SELECT a FROM t");
  ASSERT_TRUE(rows) << rows.error().message;
  ASSERT_EQ(rows->size(), 1);
  EXPECT_EQ(rows->integer(0, 0), 2);

  ASSERT_TRUE(c.exec("ALTER TABLE t ALTER COLUMN a TYPE TEXT"));
  auto changed = c.exec("SELECT a FROM t");
  if (!changed) {
    EXPECT_EQ(postgres::sqlstate(changed.error()), "0A000") << changed.error().message;
  }
  changed = c.exec("SELECT a FROM t");
  ASSERT_TRUE(changed) << changed.error().message;
  EXPECT_EQ(changed->text(0, 0), "2");

  for (int64_t i = 0; i < 300; ++i) {
    auto r = c.exec("SELECT $1::bigint + " + std::to_string(i), {postgres::Param(i)});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->integer(0, 0), 2 * i);
  }
  EXPECT_FALSE(c.broken());
}

TEST(PostgresStore, BinaryDerRoundTrips) {
  auto s = must_open(fresh_url(), OpenMode::kCreate);
  ASSERT_TRUE(s);
  auto r = testing::record("0A", "01", 5000);
  r.der.clear();
  for (int i = 0; i < 256; ++i) r.der.push_back(static_cast<uint8_t>(i));
  ASSERT_TRUE(s->insert(r));
  EXPECT_EQ((**s->find(r.serial)).der, r.der);
}

TEST(PostgresStore, CrlNumbersFromTwoNodesAreUniqueAndIncreasing) {
  auto a = must_open(fresh_url(), OpenMode::kCreate);
  ASSERT_TRUE(a);
  auto b = must_open(a->describe(), OpenMode::kExisting);
  ASSERT_TRUE(b);
  std::vector<uint64_t> na, nb;
  std::thread ta([&] {
    for (int i = 0; i < 50; ++i) na.push_back(*a->next_crl_number("issuing"));
  });
  std::thread tb([&] {
    for (int i = 0; i < 50; ++i) nb.push_back(*b->next_crl_number("issuing"));
  });
  ta.join();
  tb.join();
  std::set<uint64_t> all(na.begin(), na.end());
  all.insert(nb.begin(), nb.end());
  EXPECT_EQ(all.size(), 100u);
  EXPECT_EQ(*all.begin(), 1u);
  EXPECT_EQ(*all.rbegin(), 100u);
  for (size_t i = 1; i < na.size(); ++i) EXPECT_GT(na[i], na[i - 1]);
  for (size_t i = 1; i < nb.size(); ++i) EXPECT_GT(nb[i], nb[i - 1]);
}

TEST(PostgresStore, OneTimeTokenUsedOnOneNodeIsRefusedOnTheOther) {
  auto a = must_open(fresh_url(), OpenMode::kCreate);
  ASSERT_TRUE(a);
  auto b = must_open(a->describe(), OpenMode::kExisting);
  ASSERT_TRUE(b);
  const TimePoint now{std::chrono::seconds(1000)};
  ASSERT_TRUE(a->use_token_id("jti", now + std::chrono::seconds(60), now));
  auto replay = b->use_token_id("jti", now + std::chrono::seconds(60), now);
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().code, ErrorCode::kConflict);
}

TEST(PostgresStore, ConcurrentRevocationsFromTwoNodesAreEachSeenOnceInOrder) {
  auto a = must_open(fresh_url(), OpenMode::kCreate);
  ASSERT_TRUE(a);
  auto b = must_open(a->describe(), OpenMode::kExisting);
  ASSERT_TRUE(b);
  constexpr int kCerts = 120;
  auto serial = [](int i) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "%04X", 0x1000 + i);
    return std::string(hex);
  };
  for (int i = 0; i < kCerts; ++i) ASSERT_TRUE(a->insert(testing::record(serial(i), "0B", 99999)));
  // A follower pages through the feed while the revocations happen.
  std::atomic<bool> done{false};
  std::vector<int64_t> seen;
  std::set<std::string> seen_serials;
  auto follow_once = [&](int64_t& after) {
    for (;;) {
      auto page = b->revocations_since(after, 5);
      ASSERT_TRUE(page);
      if (page->empty()) return;
      for (const auto& e : *page) {
        EXPECT_GT(e.id, after);
        after = e.id;
        seen.push_back(e.id);
        seen_serials.insert(e.serial.hex());
      }
    }
  };
  std::thread follower([&] {
    int64_t after = 0;
    while (!done) follow_once(after);
    follow_once(after);
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      Store& s = w % 2 ? *a : *b;
      for (int i = w; i < kCerts; i += 4) {
        EXPECT_TRUE(s.revoke(*Serial::parse(serial(i)), x509::RevocationReason::kSuperseded,
                             TimePoint{std::chrono::seconds(2000)}));
      }
    });
  }
  for (auto& t : writers) t.join();
  done = true;
  follower.join();
  EXPECT_EQ(seen.size(), size_t{kCerts});
  EXPECT_EQ(seen_serials.size(), size_t{kCerts});
  EXPECT_EQ(*a->last_revocation_id(), seen.back());
  // Paging from 0 afterwards sees the same events.
  int64_t after = 0;
  size_t n = 0;
  for (;;) {
    auto page = a->revocations_since(after, 7);
    ASSERT_TRUE(page);
    if (page->empty()) break;
    for (const auto& e : *page) {
      EXPECT_GT(e.id, after);
      after = e.id;
      ++n;
    }
  }
  EXPECT_EQ(n, size_t{kCerts});
}

TEST(PostgresStore, WrongPasswordIsAStoreErrorWithoutThePassword) {
  auto url = server().create_password_database("pw_herald", "right-horse-battery");
  ASSERT_TRUE(url) << url.error().message;
  const std::string wrong = "wrong-staple-s3cret";
  auto start = std::chrono::steady_clock::now();
  auto s = open_url(*url, OpenMode::kCreate, wrong);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kStore);
  EXPECT_EQ(s.error().message.find(wrong), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("password"), std::string::npos) << s.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  // The right one works, and describe() does not show it.
  auto good = open_url(*url, OpenMode::kCreate, "right-horse-battery");
  ASSERT_TRUE(good) << good.error().message;
  EXPECT_EQ((*good)->describe().find("right-horse-battery"), std::string::npos);
  ASSERT_TRUE((*good)->insert(testing::record("0A", "01", 5000)));
}

TEST(PostgresStore, UnreachablePortIsAStoreErrorQuickly) {
  // Port 1 on the loopback: nothing listens there, the connection is refused.
  const std::string password = "unreachable-s3cret";
  auto start = std::chrono::steady_clock::now();
  auto s = open_url("postgresql://herald@127.0.0.1:1/herald", OpenMode::kCreate, password);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kStore);
  EXPECT_EQ(s.error().message.find(password), std::string::npos) << s.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace herald::store
