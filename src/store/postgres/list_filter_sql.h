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

// Every filter of `f`; the keyset cursor (f.after) only for a listing, not a count.
inline FilterSql filter_sql(const ListFilter& f, bool with_cursor) {
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
           " AND value = " + bind(Param(v)) + " AND cert_labels.serial = certificates.serial)";
  }
  return out;
}

}  // namespace herald::store::postgres_sql
