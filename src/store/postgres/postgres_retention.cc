// Retention on PostgreSQL (store/retention.h): which records may be pruned,
// and their deletion, one statement (so one short transaction) per batch.
// The search rows go by ON DELETE CASCADE (0008_search.sql); the OCSP answer
// (0009_ocsp_answers.sql, no foreign key) in the same statement.
#include <string>

#include "store/postgres/postgres_store_impl.h"

namespace herald::store {

using postgres::Param;

namespace {

int64_t secs(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// The rule of store/retention.h over $1 = expired_before, $2 = now.
constexpr const char* kRule =
    "not_after < $1 AND not_after <= $2 "
    "AND profile NOT IN ('root-ca', 'intermediate-ca', 'issuing-ca')";

Result<std::vector<Serial>> serials_of(const postgres::Rows& r) {
  std::vector<Serial> out;
  out.reserve(static_cast<size_t>(r.size()));
  for (int i = 0; i < r.size(); ++i) {
    auto serial = Serial::parse(r.text(i, 0));
    if (!serial) return make_error(ErrorCode::kStore, "corrupt serial in inventory");
    out.push_back(*serial);
  }
  return out;
}

// What follows the choice of rows: their deletion (re-checking the rule),
// then their OCSP answers, the deleted serials as the result.
constexpr const char* kDeleteTail =
    "gone AS (DELETE FROM certificates c USING pick WHERE c.serial = pick.serial "
    "AND c.not_after < $1 AND c.not_after <= $2 "
    "AND c.profile NOT IN ('root-ca', 'intermediate-ca', 'issuing-ca') RETURNING c.serial), "
    "answers AS (DELETE FROM ocsp_answers WHERE serial IN (SELECT serial FROM gone)) "
    "SELECT serial FROM gone";

}  // namespace

Result<std::vector<Serial>> PostgresStore::prunable(TimePoint expired_before, TimePoint now,
                                                    size_t limit) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec(std::string("SELECT serial FROM certificates WHERE ") + kRule +
                                 " ORDER BY not_after LIMIT $3",
                             {Param(secs(expired_before)), Param(secs(now)),
                              Param(static_cast<int64_t>(limit))}));
  return serials_of(r);
}

Result<int64_t> PostgresStore::count_prunable(TimePoint expired_before, TimePoint now) {
  HERALD_TRY(auto c, pool_.get());
  // The range on certificates_not_after, less the CA certificates in it
  // (the partial index certificates_cas).
  HERALD_TRY(auto r, c->exec("SELECT (SELECT count(*) FROM certificates WHERE not_after < $1 "
                             "AND not_after <= $2) - (SELECT count(*) FROM certificates WHERE "
                             "profile IN ('root-ca', 'intermediate-ca', 'issuing-ca') AND "
                             "not_after < $1 AND not_after <= $2)",
                             {Param(secs(expired_before)), Param(secs(now))}));
  return r.integer(0, 0);
}

Result<std::vector<Serial>> PostgresStore::delete_prunable(const std::vector<Serial>& serials,
                                                           TimePoint expired_before,
                                                           TimePoint now) {
  if (serials.empty()) return std::vector<Serial>{};
  // The serials as one text[] parameter (hex digits only: nothing to quote).
  std::string array = "{";
  for (size_t i = 0; i < serials.size(); ++i) {
    if (i) array += ',';
    array += serials[i].hex();
  }
  array += '}';
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec(std::string("WITH pick AS (SELECT unnest($3::text[]) AS serial), ") +
                                 kDeleteTail,
                             {Param(secs(expired_before)), Param(secs(now)), Param(array)}));
  return serials_of(r);
}

Result<std::vector<Serial>> PostgresStore::prune_expired(TimePoint expired_before, TimePoint now,
                                                         size_t batch) {
  if (batch == 0) return std::vector<Serial>{};
  HERALD_TRY(auto c, pool_.get());
  // SKIP LOCKED: a row another transaction holds (a revocation of an expired
  // certificate) waits for the next batch instead of stalling this one.
  HERALD_TRY(auto r, c->exec(std::string("WITH pick AS (SELECT serial FROM certificates WHERE ") +
                                 kRule + " ORDER BY not_after LIMIT $3 FOR UPDATE SKIP LOCKED), " +
                                 kDeleteTail,
                             {Param(secs(expired_before)), Param(secs(now)),
                              Param(static_cast<int64_t>(batch))}));
  return serials_of(r);
}

}  // namespace herald::store
