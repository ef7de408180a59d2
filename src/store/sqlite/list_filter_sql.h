#pragma once
// The WHERE clauses of a ListFilter on the certificates table, in one place
// for the listing (sqlite_inventory.cc) and its count (sqlite_overview.cc).

#include <string>
#include <variant>
#include <vector>

#include "store/inventory.h"
#include "store/sqlite/connection.h"

namespace herald::store::sqlite_sql {

struct FilterSql {
  std::string clause;  // " AND ..." clauses, to follow "WHERE 1=1"
  std::vector<std::variant<std::string, int64_t>> binds;  // in order, from ?1

  void bind(sqlite::Stmt& s) const {
    for (size_t i = 0; i < binds.size(); ++i) {
      if (const auto* t = std::get_if<std::string>(&binds[i])) {
        s.bind(static_cast<int>(i + 1), *t);
      } else {
        s.bind(static_cast<int>(i + 1), std::get<int64_t>(binds[i]));
      }
    }
  }
};

// Every filter of `f`; the keyset cursor (f.after) only for a listing, not a count.
inline FilterSql filter_sql(const ListFilter& f, bool with_cursor) {
  FilterSql out;
  std::string& sql = out.clause;
  auto text = [&](std::string v) { out.binds.emplace_back(std::move(v)); };
  auto num = [&](TimePoint t) { out.binds.emplace_back(int64_t{t.time_since_epoch().count()}); };
  if (f.profile) {
    sql += " AND profile = ?";
    text(*f.profile);
  }
  if (f.status) {
    if (*f.status == "revoked") {
      sql += " AND status = 'revoked'";
    } else if (*f.status == "expired") {
      sql += " AND status = 'valid' AND not_after <= ?";
      num(f.now);
    } else {
      sql += " AND status = 'valid' AND not_after > ?";
      num(f.now);
    }
  }
  if (f.san_contains) {
    sql += " AND instr(sans, ?) > 0";
    text(*f.san_contains);
  }
  if (f.deployed) {
    // The subquery runs once (a set of the deployments' serials), so a
    // listing by notAfter stops after its page either way.
    sql += *f.deployed
               ? " AND serial IN (SELECT serial_hex FROM deployments WHERE NOT is_foreign)"
               : " AND serial NOT IN (SELECT serial_hex FROM deployments WHERE NOT is_foreign)";
  }
  if (f.expiring_before) {
    sql += " AND status = 'valid' AND not_after > ? AND not_after <= ?";
    num(f.now);
    num(*f.expiring_before);
  }
  if (f.issuer) {
    sql += " AND issuer_serial = ?";
    text(f.issuer->hex());
  }
  if (with_cursor && f.after) {
    // not_after >= ? first: an index range to start from (the OR alone is
    // a filter on a scan from the start: 3 s half-way through 1M).
    sql += " AND not_after >= ? AND (not_after > ? OR serial > ?)";
    num(f.after->first);
    num(f.after->first);
    text(f.after->second.hex());
  }
  for (const auto& [k, v] : f.owner) {
    sql += " AND json_extract(owner, ?) = ?";
    text("$.\"" + k + "\"");
    text(v);
  }
  return out;
}

}  // namespace herald::store::sqlite_sql
