#pragma once
// The WHERE clauses of a ListFilter on the certificates table, in one place
// for the listing (postgres_store.cc) and its count (postgres_overview.cc).

#include <string>
#include <vector>

#include "store/inventory.h"
#include "store/postgres/connection.h"

namespace herald::store::postgres_sql {

struct FilterSql {
  std::string clause;                    // " AND ..." clauses, to follow "WHERE true"
  std::vector<postgres::Param> params;  // $1, $2, ... in order
};

// A listing with a limit whose SAN and owner-label sets all have more than
// kDriveAtMost members (counted from the indexes, at most that far) walks
// the notAfter order and probes each certificate: its probes are
// EXISTS (... OFFSET 0), which PostgreSQL keeps as a per-row subplan
// instead of joining the whole set first (0.3-2 s at 1M for a common term,
// docs/benchmarks.md). A small set is left to the planner (an index lookup
// of the few serials).
inline constexpr int64_t kDriveAtMost = 5000;

inline Result<bool> should_walk(postgres::Conn& c, const ListFilter& f) {
  using postgres::Param;
  if (f.limit == 0 || (!f.san_label_prefix && f.owner.empty())) return false;
  const std::string cap = " LIMIT " + std::to_string(kDriveAtMost + 1) + ") AS x";
  if (f.san_label_prefix) {
    auto r = name_search_range(*f.san_label_prefix);
    if (!r) return false;
    std::vector<Param> p{Param(r->low)};
    std::string sql = "SELECT count(*) FROM (SELECT 1 FROM cert_names WHERE name >= $1";
    if (r->high) {
      sql += " AND name < $2";
      p.emplace_back(*r->high);
    }
    HERALD_TRY(auto n, c.exec(sql + cap, p));
    if (n.integer(0, 0) <= kDriveAtMost) return false;
  }
  for (const auto& [k, v] : f.owner) {
    HERALD_TRY(auto n, c.exec("SELECT count(*) FROM (SELECT 1 FROM cert_labels WHERE key = $1 "
                              "AND value = $2" + cap,
                              {Param(k), Param(v)}));
    if (n.integer(0, 0) <= kDriveAtMost) return false;
  }
  return true;
}

// Every filter of `f`; the keyset cursor (f.after) only for a listing, not a count.
inline FilterSql filter_sql(const ListFilter& f, bool with_cursor, bool walk = false) {
  using postgres::Param;
  FilterSql out;
  std::string& sql = out.clause;
  auto bind = [&](Param p) {
    out.params.push_back(std::move(p));
    return "$" + std::to_string(out.params.size());
  };
  auto secs = [](TimePoint t) { return int64_t{t.time_since_epoch().count()}; };
  if (f.profile) sql += " AND profile = " + bind(Param(*f.profile));
  if (f.status) {
    if (*f.status == "revoked") {
      sql += " AND status = 'revoked'";
    } else if (*f.status == "expired") {
      sql += " AND status = 'valid' AND not_after <= " + bind(Param(secs(f.now)));
    } else {
      sql += " AND status = 'valid' AND not_after > " + bind(Param(secs(f.now)));
    }
  }
  if (f.san_label_prefix) {
    // A range of search keys (0008_search.sql; store::name_search_range).
    // The planner picks the set of serials or a probe per certificate from
    // its statistics.
    if (auto r = name_search_range(*f.san_label_prefix); !r) {
      sql += " AND false";  // not UTF-8: no name matches
    } else if (walk) {
      sql += " AND EXISTS (SELECT 1 FROM cert_names WHERE cert_names.serial = "
             "certificates.serial AND name >= " +
             bind(Param(r->low));
      if (r->high) sql += " AND name < " + bind(Param(*r->high));
      sql += " OFFSET 0)";
    } else {
      sql += " AND serial IN (SELECT serial FROM cert_names WHERE name >= " + bind(Param(r->low));
      if (r->high) sql += " AND name < " + bind(Param(*r->high));
      sql += ")";
    }
  }
  if (f.deployed) {
    sql += *f.deployed
               ? " AND serial IN (SELECT serial_hex FROM deployments WHERE NOT is_foreign)"
               : " AND serial NOT IN (SELECT serial_hex FROM deployments WHERE NOT is_foreign)";
  }
  if (f.expiring_before) {
    sql += " AND status = 'valid' AND not_after > " + bind(Param(secs(f.now)));
    sql += " AND not_after <= " + bind(Param(secs(*f.expiring_before)));
  }
  if (f.issuer) sql += " AND issuer_serial = " + bind(Param(f.issuer->hex()));
  if (with_cursor && f.after) {
    const std::string at = bind(Param(secs(f.after->first)));
    // not_after >= first: an index range to start from, not a filter on a scan.
    sql += " AND not_after >= " + at + " AND (not_after > " + at +
           " OR serial > " + bind(Param(f.after->second.hex())) + ")";
  }
  for (const auto& [k, v] : f.owner) {
    sql += " AND EXISTS (SELECT 1 FROM cert_labels WHERE key = " + bind(Param(k)) +
           " AND value = " + bind(Param(v)) + " AND cert_labels.serial = certificates.serial" +
           (walk ? " OFFSET 0)" : ")");
  }
  return out;
}

}  // namespace herald::store::postgres_sql
