#pragma once
// The WHERE clauses of a ListFilter on the certificates table, in one place
// for the listing (sqlite_inventory.cc) and its count (sqlite_overview.cc).

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <sqlite3.h>

#include "store/inventory.h"
#include "store/search_plan.h"
#include "store/sqlite/connection.h"

namespace herald::store::sqlite_sql {

struct FilterSql {
  // What follows FROM: the certificates table, or a set of serials from an
  // index (cert_names, cert_labels) joined to it (see plan below).
  std::string from = "certificates";
  std::string clause;  // " AND ..." clauses, to follow "WHERE 1=1"
  std::vector<std::variant<std::string, int64_t>> binds;  // in order, from ?1 (from's first)

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

// Registers the SQL functions the clauses below use (herald_san_match) on a
// connection; every connection that runs them needs it (sqlite_inventory.cc).
Status register_search_functions(sqlite::Connection& c);

// Which indexed filter, if any, gives the set of serials a query starts
// from, by store/search_plan.h's rule; the rest are checked per row (its
// names by herald_san_match over its sans, its labels in cert_labels by the
// full key).
using store::Drive;
using store::kCountCap;
using store::kDriveAtMost;
using store::Plan;
using store::san_range;


inline std::string names_range_sql(const NameRange& r) {
  return r.high ? "name >= ? AND name < ?" : "name >= ?";
}

// Counts index entries of a set, up to `cap`.
inline Result<int64_t> bounded_count(sqlite::Connection& c, const std::string& where,
                                     const std::vector<std::string>& binds, const char* table,
                                     int64_t cap) {
  const std::string sql = std::string("SELECT count(*) FROM (SELECT 1 FROM ") + table +
                          " WHERE " + where + " LIMIT " + std::to_string(cap) + ")";
  sqlite::Stmt s(c, sql);
  if (!s.ok()) return c.error("cannot prepare count");
  for (size_t i = 0; i < binds.size(); ++i) s.bind(static_cast<int>(i + 1), binds[i]);
  if (s.step() != SQLITE_ROW) return c.error("cannot count index entries");
  return s.integer(0);
}

inline Result<Plan> plan(sqlite::Connection& c, const ListFilter& f, bool is_count) {
  const int64_t cap = is_count ? kCountCap : kDriveAtMost + 1;
  Plan best;
  int64_t best_n = INT64_MAX;
  if (const auto range = san_range(f); f.san_label_prefix && range) {
    std::vector<std::string> binds{range->low};
    if (range->high) binds.push_back(*range->high);
    HERALD_TRY(int64_t n, bounded_count(c, names_range_sql(*range), binds, "cert_names", cap));
    best = Plan{Drive::kNames, "", false};
    best_n = n;
  }
  for (const auto& [k, v] : f.owner) {
    HERALD_TRY(int64_t n, bounded_count(c, "key = ? AND value = ?", {k, v}, "cert_labels", cap));
    if (n < best_n) {
      best = Plan{Drive::kLabel, k, false};
      best_n = n;
    }
  }
  if (best.drive == Drive::kNone) return best;
  if (!is_count && f.limit != 0 && best_n > kDriveAtMost) return Plan{};
  // A count of the index tables alone when no filter needs a certificate's
  // row: other labels are checked by their full key (the driving set's
  // serial and issued_at), but a SAN not driving needs the row's sans.
  const bool san_per_row = f.san_label_prefix && best.drive != Drive::kNames;
  best.index_only = is_count && !san_per_row && !f.profile && !f.status && !f.deployed &&
                    !f.expiring_before && !f.issuer;
  return best;
}

// Every filter of `f`; the keyset cursor (f.after) only for a listing, not a count.
inline FilterSql filter_sql(const ListFilter& f, bool with_cursor, const Plan& plan = {}) {
  FilterSql out;
  std::vector<std::variant<std::string, int64_t>> from_binds;
  std::string& sql = out.clause;
  auto text = [&](std::string v) { out.binds.emplace_back(std::move(v)); };
  auto num = [&](TimePoint t) { out.binds.emplace_back(int64_t{t.time_since_epoch().count()}); };
  // The driving set joined to the certificates, or alone (a count of it).
  // The index tables hold a serial's bytes, the certificates its hex
  // (migration 19).
  const std::string join =
      plan.index_only ? "" : " CROSS JOIN certificates ON certificates.serial = hex(hit)";
  // A label's full key: the driving set's (hit, hit_at) or the certificate's.
  const std::string label_key =
      plan.index_only ? "cert_labels.issued_at = hit_at AND cert_labels.serial = hit"
                      : "cert_labels.issued_at = certificates.issued_at AND "
                        "hex(cert_labels.serial) = certificates.serial";
  if (f.san_label_prefix) {
    const auto range = san_range(f);
    if (!range) {
      sql += " AND 0";  // not UTF-8: no name matches
    } else if (plan.drive == Drive::kNames) {
      // DISTINCT: two names of a certificate can match one term.
      out.from = "(SELECT DISTINCT serial AS hit, issued_at AS hit_at FROM cert_names WHERE " +
                 names_range_sql(*range) + ")" + join;
      from_binds.emplace_back(range->low);
      if (range->high) from_binds.emplace_back(*range->high);
    } else {
      // Checked from the row's own sans (migration 18: no index by serial).
      sql += range->high ? " AND herald_san_match(certificates.sans, ?, ?)"
                         : " AND herald_san_match(certificates.sans, ?, NULL)";
      text(range->low);
      if (range->high) text(*range->high);
    }
  }
  for (const auto& [k, v] : f.owner) {
    if (plan.drive == Drive::kLabel && k == plan.label) {
      out.from = "(SELECT serial AS hit, issued_at AS hit_at FROM cert_labels "
                 "WHERE key = ? AND value = ?)" +
                 join;
      from_binds.emplace_back(k);
      from_binds.emplace_back(v);
      continue;
    }
    // By the full key (migration 18).
    sql += " AND EXISTS (SELECT 1 FROM cert_labels WHERE key = ? AND value = ? AND " +
           label_key + ")";
    text(k);
    text(v);
  }
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
  out.binds.insert(out.binds.begin(), from_binds.begin(), from_binds.end());
  return out;
}

}  // namespace herald::store::sqlite_sql
