#include "store/postgres/postgres_store.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <set>
#include <thread>
#include <vector>

#include "store/inventory_conformance.h"
#include "store/postgres/list_filter_sql.h"
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

// herald_san_match (0011_san_match.sql), the per-row check of a listing
// that walks notAfter order, finds exactly the certificates cert_names
// finds for a term (store::name_search_range), with and without its quick
// test of the JSON text.
TEST(PostgresStore, SanMatchFindsWhatTheNamesTableFinds) {
  const std::string url = fresh_url();
  auto s = must_open(url, OpenMode::kCreate);
  ASSERT_TRUE(s);
  const std::vector<std::vector<std::string>> sans = {
      {"dns:api.eu.example.com", "dns:*.example.com", "email:Ops.Team@Example.COM"},
      {"ip:2001:db8::1", "ip:10.1.2.3", "uri:spiffe://Example.org/ns/web/",
       "uri:https://a.example.com:8443/x?y=z"},
      {"dns:Host-1.Team-7.internal", "dns:host-1.internal"},
      {"dns:team-70.internal", "email:a\"b@x.example"},
      {"dns:xn--bcher-kva.example", "email:\xc3\xa9t\xc3\xa9@b\xc3\xbc.example"},
      {}};
  for (size_t i = 0; i < sans.size(); ++i) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "%02zX", 0x20 + i);
    auto r = testing::record(hex, "01", 5000 + static_cast<int64_t>(i));
    r.sans.clear();
    for (const auto& v : sans[i]) {
      // As parsed, or as stored by a record that came in another way (a
      // certificate's SANs decoded from DER are not validated as --san is).
      auto san = x509::parse_san(v);
      if (!san && v.starts_with("email:")) {
        r.sans.push_back(x509::San{x509::SanType::kEmail, v.substr(6)});
        continue;
      }
      ASSERT_TRUE(san) << v;
      r.sans.push_back(*san);
    }
    ASSERT_TRUE(s->insert(r));
  }
  auto connected = postgres::Conn::connect(url, "");
  ASSERT_TRUE(connected) << connected.error().message;
  postgres::Conn& c = **connected;
  auto serials = [&](const std::string& sql, const std::vector<postgres::Param>& p) {
    auto r = c.exec(sql, p);
    EXPECT_TRUE(r) << sql << ": " << r.error().message;
    std::string out;
    for (int i = 0; r && i < r->size(); ++i) out += r->text(i, 0) + " ";
    return out;
  };
  int found = 0;
  for (const char* term :
       {"api.eu.example.com", "example.com", "EXAMPLE", "com", "*.example", "ops.team@", "team@ex",
        "10.1", "10", "2001:db8", "db8::1", ":1", "spiffe://example.org", "example.org/ns",
        "ns/web/", "web", "8443/x?y=z", "team-7.internal", "team-7", "team-70", "internal",
        "host-1", "nternal", "a\"b@", "b@x", "xn--", "b\xc3\xbc.example", "\xc3\xa9t\xc3\xa9",
        "\xc3\xa9", "dns:host", "dns", ".", "@", "/", ":", "", "-", "\xf4\x8f\xbf\xbf",
        "z\xf4\x8f\xbf\xbf", "nothing.example"}) {
    const auto range = name_search_range(term);
    ASSERT_TRUE(range) << term;
    std::vector<postgres::Param> p{range->low};
    if (range->high) p.emplace_back(*range->high);
    const std::string high = range->high ? "$2" : "NULL";
    const std::string want = serials(
        "SELECT DISTINCT serial FROM cert_names WHERE name >= $1" +
            std::string(range->high ? " AND name < $2" : "") + " ORDER BY serial",
        p);
    EXPECT_EQ(serials("SELECT serial FROM certificates WHERE herald_san_match(sans, $1, " +
                          high + ") ORDER BY serial",
                      p),
              want)
        << term;
    EXPECT_EQ(serials("SELECT serial FROM certificates WHERE herald_san_keys_match(sans, $1, " +
                          high + ") ORDER BY serial",
                      p),
              want)
        << term;
    if (!want.empty()) ++found;
  }
  EXPECT_GE(found, 30);
}

// Every plan of list_filter_sql.h (a walk of notAfter order checking each
// row, the SAN's set, each owner label's set; a count of the index table
// alone) lists the same certificates in the same order, and counts them
// the same, as the statements before the plans (the sets as IN and EXISTS
// subqueries, left to the planner).
TEST(PostgresStore, EverySearchPlanListsTheSame) {
  const std::string url = fresh_url();
  auto s = must_open(url, OpenMode::kCreate);
  ASSERT_TRUE(s);
  for (int i = 0; i < 24; ++i) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "%02X", 0x10 + i);
    auto r = testing::record(hex, "01", 4000 + (i % 3) * 500);
    if (i % 2) r.owner = {{"team", "search"}, {"env", "prod"}};
    if (i % 5 == 0) r.owner = {{"team", "search"}, {"env", "prod\"x"}, {"n", "7"}};
    if (i % 4 == 1) r.sans.push_back(*x509::parse_san("dns:host.Example.com"));
    if (i % 3 == 2) r.profile = "client";
    if (i % 7 == 3) r.status = CertStatus::kRevoked;
    ASSERT_TRUE(s->insert(r));
  }
  auto connected = postgres::Conn::connect(url, "");
  ASSERT_TRUE(connected) << connected.error().message;
  postgres::Conn& c = **connected;
  using postgres::Param;
  auto serials = [&](const postgres_sql::Statement& q) {
    auto r = c.exec(q.sql, q.params);
    EXPECT_TRUE(r) << q.sql << ": " << r.error().message;
    std::string out;
    for (int i = 0; r && i < r->size(); ++i) out += r->text(i, 0) + " ";
    return out;
  };
  auto count = [&](const postgres_sql::Statement& q) {
    auto r = c.exec(q.sql, q.params);
    EXPECT_TRUE(r) << q.sql << ": " << r.error().message;
    return r ? r->integer(0, 0) : -1;
  };
  // The statements before the plans (as of f0c8a45), the reference.
  auto before = [&](const ListFilter& f, bool is_count) {
    postgres_sql::Statement q;
    auto bind = [&](Param p) {
      q.params.push_back(std::move(p));
      return "$" + std::to_string(q.params.size());
    };
    std::string w;
    if (f.san_label_prefix) {
      const auto r = name_search_range(*f.san_label_prefix);
      w += " AND serial IN (SELECT serial FROM cert_names WHERE name >= " + bind(Param(r->low));
      if (r->high) w += " AND name < " + bind(Param(*r->high));
      w += ")";
    }
    if (f.profile) w += " AND profile = " + bind(Param(*f.profile));
    if (f.status) w += " AND status = 'valid' AND not_after > " + bind(Param(int64_t{2000}));
    if (!is_count && f.after) {
      const std::string at = bind(Param(f.after->first.time_since_epoch().count()));
      w += " AND not_after >= " + at + " AND (not_after > " + at +
           " OR serial > " + bind(Param(f.after->second.hex())) + ")";
    }
    for (const auto& [k, v] : f.owner) {
      w += " AND EXISTS (SELECT 1 FROM cert_labels WHERE key = " + bind(Param(k)) +
           " AND value = " + bind(Param(v)) + " AND cert_labels.serial = certificates.serial)";
    }
    q.sql = is_count ? "SELECT count(*) FROM certificates WHERE true" + w
                     : "SELECT serial FROM certificates WHERE true" + w +
                           " ORDER BY not_after ASC, serial ASC";
    if (!is_count && f.limit) q.sql += " LIMIT " + bind(Param(static_cast<int64_t>(f.limit)));
    return q;
  };
  using postgres_sql::Drive;
  using postgres_sql::Plan;
  std::vector<ListFilter> filters(10);
  filters[0].san_label_prefix = "example.com";
  filters[1].owner = {{"team", "search"}};
  filters[2].san_label_prefix = "Example";
  filters[2].owner = {{"team", "search"}, {"env", "prod"}};
  filters[3].owner = {{"env", "prod"}, {"team", "search"}};
  filters[3].after = std::make_pair(TimePoint{std::chrono::seconds(4500)}, *Serial::parse("11"));
  filters[4].san_label_prefix = "10.0";
  filters[4].profile = "server";
  filters[5].owner = {{"env", "prod\"x"}, {"n", "7"}};
  filters[6].san_label_prefix = "internal";
  filters[6].owner = {{"team", "search"}};
  filters[6].profile = "client";
  filters[6].limit = 3;
  filters[7].san_label_prefix = "host.example.com";
  filters[7].status = "valid";
  filters[7].after = std::make_pair(TimePoint{std::chrono::seconds(4000)}, *Serial::parse("19"));
  filters[8].san_label_prefix = "1";
  filters[8].limit = 5;
  filters[8].after = std::make_pair(TimePoint{std::chrono::seconds(4500)}, *Serial::parse("13"));
  filters[9].owner = {{"team", "payments"}};
  filters[9].limit = 4;
  for (auto& f : filters) {
    f.now = TimePoint{std::chrono::seconds(2000)};
    const std::string want = serials(before(f, false));
    const int64_t total = count(before(f, true));
    EXPECT_FALSE(want.empty());
    std::vector<Plan> plans{Plan{}};
    if (f.san_label_prefix) plans.push_back({Drive::kNames, "", false});
    for (const auto& [k, v] : f.owner) plans.push_back({Drive::kLabel, k, false});
    for (auto p : plans) {
      EXPECT_EQ(serials(postgres_sql::list_sql(f, p, "serial")), want) << static_cast<int>(p.drive);
      EXPECT_EQ(count(postgres_sql::count_sql(f, p)), total);
      if (p.drive != Drive::kNone && !f.profile && !f.status) {
        p.index_only = true;  // as plan() chooses it
        EXPECT_EQ(count(postgres_sql::count_sql(f, p)), total);
      }
    }
    auto listed = s->list(f);
    ASSERT_TRUE(listed);
    std::string got;
    for (const auto& r : *listed) got += r.serial.hex() + " ";
    EXPECT_EQ(got, want);
    EXPECT_EQ(*s->count_matching(f), total);
  }
  // A count of a range that holds one key (example.com) needs no DISTINCT;
  // of one that holds several ("1": 10.0.0.1 and the 1X.internal names), it does.
  auto one = postgres_sql::plan(c, filters[0], true);
  ASSERT_TRUE(one);
  EXPECT_TRUE(one->one_name && one->index_only && one->drive == Drive::kNames);
  auto several = postgres_sql::plan(c, filters[8], true);
  ASSERT_TRUE(several);
  EXPECT_FALSE(several->one_name);
  // A search that matches in notAfter order past a page.
  EXPECT_EQ(serials(postgres_sql::list_sql(filters[0], {}, "serial")),
            "19 25 11 1D 15 21 ");
}

// bench/pg_search_plans.sh: the dashboard's listing and count statements
// at scale, built and planned as the adapter does (list_filter_sql.h), on
// the database HERALD_PG_BENCH_CONNINFO names (filled by the script).
// Prints each one's time through the connection (plan counts and
// statement, client side) and the server's EXPLAIN ANALYZE (TIMING OFF)
// execution time of the plan counts plus the statement, 3 runs each (and
// their median). Disabled: the script runs it.
TEST(PostgresStore, DISABLED_SearchPlansBench) {
  const char* conninfo = std::getenv("HERALD_PG_BENCH_CONNINFO");
  ASSERT_NE(conninfo, nullptr) << "set HERALD_PG_BENCH_CONNINFO (bench/pg_search_plans.sh)";
  const char* now_env = std::getenv("HERALD_PG_BENCH_NOW");
  auto connected = postgres::Conn::connect(conninfo, "");
  ASSERT_TRUE(connected) << connected.error().message;
  postgres::Conn& c = **connected;
  const TimePoint now{std::chrono::seconds(now_env ? std::atoll(now_env) : 0)};
  auto server_ms = [&](const postgres_sql::Statement& q) {
    auto r = c.exec_unprepared("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + q.sql, q.params);
    EXPECT_TRUE(r) << q.sql << ": " << r.error().message;
    if (!r) return -1.0;
    const auto plan = nlohmann::json::parse(r->text(0, 0));
    return plan[0]["Execution Time"].get<double>();
  };
  struct Case {
    std::string label;
    ListFilter f;
    bool is_count = false;
    bool next_page = false;  // the page after the first (keyset, f.after)
  };
  auto san = [](const char* t) {
    ListFilter f;
    f.san_label_prefix = t;
    return f;
  };
  auto owner = [](std::map<std::string, std::string> o) {
    ListFilter f;
    f.owner = std::move(o);
    return f;
  };
  ListFilter profile;
  profile.profile = "client";
  ListFilter owner_profile = owner({{"team", "t7"}});
  owner_profile.profile = "client";
  const std::vector<Case> cases = {
      {"page, no filter", {}},
      {"next page, no filter", {}, false, true},
      {"page, SAN exact host-4242.internal", san("host-4242.internal")},
      {"page, SAN prefix host-42", san("host-42")},
      {"page, SAN suffix team-7.internal", san("team-7.internal")},
      {"next page, SAN suffix team-7.internal", san("team-7.internal"), false, true},
      {"page, SAN internal (everything)", san("internal")},
      {"next page, SAN internal (everything)", san("internal"), false, true},
      {"page, SAN nothing.example", san("nothing.example")},
      {"page, owner team=t7", owner({{"team", "t7"}})},
      {"next page, owner team=t7", owner({{"team", "t7"}}), false, true},
      {"page, owner team=t7,provisioner=admin", owner({{"team", "t7"}, {"provisioner", "admin"}})},
      {"page, profile client", profile},
      {"next page, profile client", profile, false, true},
      {"page, owner team=t7 + profile client", owner_profile},
      {"count, no filter", {}, true},
      {"count, SAN exact host-4242.internal", san("host-4242.internal"), true},
      {"count, SAN prefix host-42", san("host-42"), true},
      {"count, SAN suffix team-7.internal", san("team-7.internal"), true},
      {"count, SAN internal (everything)", san("internal"), true},
      {"count, SAN nothing.example", san("nothing.example"), true},
      {"count, owner team=t7", owner({{"team", "t7"}}), true},
      {"count, owner team=t7,provisioner=admin", owner({{"team", "t7"}, {"provisioner", "admin"}}),
       true},
      {"count, profile client", profile, true},
      {"count, owner team=t7 + profile client", owner_profile, true},
  };
  for (Case k : cases) {
    ListFilter& f = k.f;
    f.now = now;
    if (!k.is_count) f.limit = 26;
    if (k.next_page) {
      auto p = postgres_sql::plan(c, f, false);
      ASSERT_TRUE(p);
      const auto first = postgres_sql::list_sql(f, *p, "not_after, serial");
      auto r = c.exec(first.sql, first.params);
      ASSERT_TRUE(r && r->size() > 0) << k.label;
      f.after = std::make_pair(TimePoint{std::chrono::seconds(r->integer(r->size() - 1, 0))},
                               *Serial::parse(r->text(r->size() - 1, 1)));
    }
    // 8 runs, the last 3 timed (the first ones warm the cache).
    std::vector<double> client, server;
    int64_t rows = 0;
    for (int run = 0; run < 8; ++run) {
      const auto t0 = std::chrono::steady_clock::now();
      auto p = postgres_sql::plan(c, f, k.is_count);
      ASSERT_TRUE(p) << p.error().message;
      const auto q = k.is_count ? postgres_sql::count_sql(f, *p)
                                : postgres_sql::list_sql(f, *p, postgres_sql::kCertColumns);
      auto r = c.exec_unprepared(q.sql, q.params);  // as the adapter runs it
      ASSERT_TRUE(r) << q.sql << ": " << r.error().message;
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      rows = k.is_count ? r->integer(0, 0) : r->size();
      if (run < 5) continue;
      double srv = server_ms(q);
      if (auto pq = postgres_sql::plan_sql(f, k.is_count)) srv += server_ms(*pq);
      client.push_back(ms);
      server.push_back(srv);
      if (run == 7 && std::getenv("HERALD_PG_BENCH_SQL")) {
        std::printf("-- %s%s\n%s;\n", k.label.c_str(),
                    p->drive == postgres_sql::Drive::kNone   ? " (walk)"
                    : p->drive == postgres_sql::Drive::kNames ? " (from the SAN's set)"
                                                              : " (from a label's set)",
                    q.sql.c_str());
      }
    }
    auto show = [](std::vector<double> v) {
      std::string out;
      char buf[32];
      for (double x : v) {
        std::snprintf(buf, sizeof buf, " %.1f", x);
        out += buf;
      }
      std::sort(v.begin(), v.end());
      std::snprintf(buf, sizeof buf, " (median %.1f)", v[1]);
      return out + buf;
    };
    std::printf("%-44s | %8lld | client ms%s | server ms%s\n", k.label.c_str(),
                static_cast<long long>(rows), show(client).c_str(), show(server).c_str());
  }
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
