// The dashboard's aggregate queries (store/overview.h) on PostgreSQL: each
// one statement, counted in the database.

#include <string>
#include <vector>

#include "store/postgres/list_filter_sql.h"
#include "store/postgres/postgres_store_impl.h"

namespace herald::store {

namespace {

using postgres::Param;

int64_t secs(TimePoint t) { return t.time_since_epoch().count(); }

}  // namespace

Result<StatusCounts> PostgresStore::count_by_status(TimePoint now) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec("SELECT "
                             "(SELECT count(*) FROM certificates WHERE status = 'valid' AND "
                             "not_after > $1), "
                             "(SELECT count(*) FROM certificates WHERE status = 'revoked'), "
                             "(SELECT count(*) FROM certificates WHERE status = 'valid' AND "
                             "not_after <= $1)",
                             {Param(secs(now))}));
  StatusCounts out;
  out.valid = r.integer(0, 0);
  out.revoked = r.integer(0, 1);
  out.expired = r.integer(0, 2);
  return out;
}

Result<int64_t> PostgresStore::count_issued_since(TimePoint since) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec("SELECT count(*) FROM certificates WHERE issued_at >= $1",
                             {Param(secs(since))}));
  return r.integer(0, 0);
}

Result<int64_t> PostgresStore::count_revoked_since(TimePoint since) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec("SELECT count(*) FROM certificates WHERE status = 'revoked' AND "
                             "revoked_at >= $1",
                             {Param(secs(since))}));
  return r.integer(0, 0);
}

Result<std::vector<int64_t>> PostgresStore::expiry_histogram(TimePoint from,
                                                             std::chrono::seconds bucket,
                                                             size_t buckets) {
  std::vector<int64_t> out(buckets, 0);
  if (buckets == 0 || bucket.count() <= 0) return out;
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec("SELECT (not_after - $1::bigint - 1) / $2::bigint, count(*) FROM "
                             "certificates WHERE status = 'valid' AND not_after > $1::bigint AND "
                             "not_after <= $1::bigint + $2::bigint * $3::bigint GROUP BY 1",
                             {Param(secs(from)), Param(static_cast<int64_t>(bucket.count())),
                              Param(static_cast<int64_t>(buckets))}));
  for (int i = 0; i < r.size(); ++i) {
    int64_t b = r.integer(i, 0);
    if (b >= 0 && static_cast<size_t>(b) < buckets) out[static_cast<size_t>(b)] = r.integer(i, 1);
  }
  return out;
}

Result<int64_t> PostgresStore::count_matching(const ListFilter& f) {
  // The listing's filters (not its cursor, limit or offset), from the SAN's
  // or an owner label's set of serials if there is one (list_filter_sql.h).
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto search_plan, postgres_sql::plan(*c, f, true));
  const auto q = postgres_sql::count_sql(f, search_plan);
  HERALD_TRY(auto r, c->exec_unprepared(q.sql, q.params));
  return r.integer(0, 0);
}

Result<std::vector<CertRecord>> PostgresStore::ca_certificates() {
  // The WHERE matches the partial index certificates_cas (0007_overview.sql).
  std::vector<std::string> serials;
  {
    HERALD_TRY(auto c, pool_.get());
    HERALD_TRY(auto r, c->exec("SELECT serial FROM certificates WHERE profile IN ('root-ca', "
                               "'intermediate-ca', 'issuing-ca') ORDER BY not_after LIMIT 1000"));
    for (int i = 0; i < r.size(); ++i) serials.push_back(r.text(i, 0));
  }
  std::vector<CertRecord> out;
  for (const auto& hex : serials) {
    auto serial = Serial::parse(hex);
    if (!serial) return make_error(ErrorCode::kStore, "corrupt serial in inventory");
    HERALD_TRY(auto rec, find(*serial));
    if (rec) out.push_back(std::move(*rec));
  }
  return out;
}

Result<std::vector<AuditEvent>> PostgresStore::revocation_history(const Serial& serial,
                                                                  size_t limit) {
  HERALD_TRY(auto c, pool_.get());
  // The partial index audit_log_revocation_serial (0007_overview.sql).
  HERALD_TRY(auto r, c->exec("SELECT at, action, detail FROM audit_log WHERE action IN "
                             "('revoke', 'release_hold') AND serial = $1 ORDER BY id LIMIT $2",
                             {Param(serial.hex()), Param(static_cast<int64_t>(limit))}));
  std::vector<AuditEvent> out;
  for (int i = 0; i < r.size(); ++i)
    out.push_back({TimePoint{std::chrono::seconds(r.integer(i, 0))}, r.text(i, 1), r.text(i, 2)});
  return out;
}

}  // namespace herald::store
