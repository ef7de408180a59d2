#pragma once
// The SQL of a ListFilter on the certificates table, in one place for the
// listing (postgres_store.cc), its count (postgres_overview.cc) and
// bench/pg_search_plans.sh (which runs these statements through the test
// binary, so the bench cannot drift from the adapter).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "store/inventory.h"
#include "store/search_plan.h"
#include "store/postgres/connection.h"

namespace herald::store::postgres_sql {

// The certificates table's columns, as the adapter reads a record (read_row
// in postgres_store.cc) and writes one.
inline constexpr const char* kCertColumns =
    "serial, issuer_serial, subject, common_name, sans, issuer, not_before, not_after, "
    "key_algorithm, key_bits, signature_algorithm, eku, profile, fingerprint_sha256, owner, "
    "status, revoked_at, revocation_reason, issued_at, der";

struct FilterSql {
  // What follows FROM: the certificates table, or a set of serials from an
  // index (cert_names, cert_labels) joined to it (see plan below).
  std::string from = "certificates";
  std::string clause;                   // " AND ..." clauses, to follow "WHERE true"
  std::vector<postgres::Param> params;  // $1, $2, ... in order (from's and clause's)
};

// Which indexed filter, if any, gives the set of serials a query starts
// from; the rest are checked per row from the certificate's own columns
// (its names by herald_san_match over sans, 0011_san_match.sql; its labels
// by owner::jsonb @> {key: value, ...}), with no subplan per row. The rule
// that chooses is store/search_plan.h's, as SQLite's; an index-only count
// looks the other labels and the SAN up in their tables by serial. Left to
// the planner, PostgreSQL
// joined the whole set of a common term first, or ran a per-row subplan
// over far more rows than a page (0.2-2.6 s at 1M, docs/benchmarks.md).
// The adapter runs these statements unprepared (Conn::exec_unprepared), so
// each is planned for its parameters.
using store::Drive;
using store::kCountCap;
using store::kDriveAtMost;
using store::Plan;
using store::san_range;


struct Statement {
  std::string sql;
  std::vector<postgres::Param> params;
};

// The statement plan() runs: bounded counts of the index entries of the
// SAN's set and each label's set, in one row (nullopt: no such filter).
inline std::optional<Statement> plan_sql(const ListFilter& f, bool is_count) {
  using postgres::Param;
  const auto range = san_range(f);
  const bool by_name = f.san_label_prefix && range;
  if (!by_name && f.owner.empty()) return std::nullopt;
  const int64_t cap = is_count ? kCountCap : kDriveAtMost + 1;
  const std::string limit = " LIMIT " + std::to_string(cap) + ") AS x)";
  Statement out{"SELECT ", {}};
  auto bind = [&](Param p) {
    out.params.push_back(std::move(p));
    return "$" + std::to_string(out.params.size());
  };
  std::vector<std::string> counts;
  if (by_name) {
    std::string n =
        "(SELECT count(*) FROM (SELECT 1 FROM cert_names WHERE name >= " + bind(Param(range->low));
    if (range->high) n += " AND name < " + bind(Param(*range->high));
    counts.push_back(n + limit);
  }
  for (const auto& [k, v] : f.owner) {
    counts.push_back("(SELECT count(*) FROM (SELECT 1 FROM cert_labels WHERE key = " +
                     bind(Param(k)) + " AND value = " + bind(Param(v)) + limit);
  }
  if (by_name && is_count) {
    // Whether the range holds a single key (its first and last, from the
    // index's ends): then its serials are distinct, and a count of them
    // needs no DISTINCT (which hashes every serial: 1 s for 1M).
    const std::string names = range->high ? "name >= $1 AND name < $2" : "name >= $1";
    counts.push_back("CASE WHEN (SELECT min(name) FROM cert_names WHERE " + names +
                     ") = (SELECT max(name) FROM cert_names WHERE " + names +
                     ") THEN 1 ELSE 0 END");
  }
  for (size_t i = 0; i < counts.size(); ++i) out.sql += (i ? ", " : "") + counts[i];
  return out;
}

// The plan of a listing (is_count false) or a count of `f`, from the row of
// plan_sql's counts.
inline Plan plan_from_counts(const ListFilter& f, bool is_count, const postgres::Rows& r) {
  Plan best;
  int64_t best_n = INT64_MAX;
  int col = 0;
  bool one_name = false;
  if (f.san_label_prefix && san_range(f)) {
    best = Plan{Drive::kNames, "", false};
    best_n = r.integer(0, col++);
  }
  for (const auto& [k, v] : f.owner) {
    const int64_t n = r.integer(0, col++);
    if (n < best_n) {
      best = Plan{Drive::kLabel, k, false};
      best_n = n;
    }
  }
  if (f.san_label_prefix && san_range(f) && is_count) one_name = r.integer(0, col) == 1;
  if (best.drive == Drive::kNames) best.one_name = one_name;
  if (!is_count && f.limit != 0 && best_n > kDriveAtMost) return Plan{};
  // A count of the index tables alone when no other filter needs a
  // certificate's row.
  best.index_only = is_count && best.drive != Drive::kNone && !f.profile && !f.status &&
                    !f.deployed && !f.expiring_before && !f.issuer;
  return best;
}

inline Result<Plan> plan(postgres::Conn& c, const ListFilter& f, bool is_count) {
  auto q = plan_sql(f, is_count);
  if (!q) return Plan{};
  HERALD_TRY(auto r, c.exec_unprepared(q->sql, q->params));
  return plan_from_counts(f, is_count, r);
}

// Every filter of `f`; the keyset cursor (f.after) only for a listing, not a count.
inline FilterSql filter_sql(const ListFilter& f, bool with_cursor, const Plan& plan = {}) {
  using postgres::Param;
  FilterSql out;
  std::string& sql = out.clause;
  auto bind = [&](Param p) {
    out.params.push_back(std::move(p));
    return "$" + std::to_string(out.params.size());
  };
  auto secs = [](TimePoint t) { return int64_t{t.time_since_epoch().count()}; };
  // The driving set joined to the certificates, or alone (a count of the
  // index tables: the other labels and the SAN checked there by serial).
  const std::string join =
      plan.index_only ? "" : " JOIN certificates ON certificates.serial = h.hit";
  std::string index_joins;  // for index_only
  if (f.san_label_prefix) {
    const auto range = san_range(f);
    std::string names;  // the range's condition on cert_names.name
    if (range) {
      names = "name >= " + bind(Param(range->low));
      if (range->high) names += " AND name < " + bind(Param(*range->high));
    }
    if (!range) {
      sql += " AND false";  // not UTF-8: no name matches
    } else if (plan.drive == Drive::kNames) {
      // DISTINCT: two names of a certificate can match one term (not when
      // the range holds one name: (name, serial) is the key).
      out.from = std::string("(SELECT ") + (plan.one_name ? "" : "DISTINCT ") +
                 "serial AS hit FROM cert_names WHERE " + names + ") AS h" + join;
    } else if (plan.index_only) {
      sql += " AND EXISTS (SELECT 1 FROM cert_names WHERE cert_names.serial = h.hit AND " + names +
             ")";
    } else {
      // Checked from the row's own sans (0011_san_match.sql): low, high.
      const std::string low = "$" + std::to_string(out.params.size() - (range->high ? 1 : 0));
      const std::string high = range->high ? "$" + std::to_string(out.params.size()) : "NULL";
      sql += " AND herald_san_match(certificates.sans, " + low + ", " + high + ")";
    }
  }
  nlohmann::json labels = nlohmann::json::object();  // checked per row
  int joined = 0;
  for (const auto& [k, v] : f.owner) {
    if (plan.drive == Drive::kLabel && k == plan.label) {
      const std::string key = bind(Param(k));
      const std::string value = bind(Param(v));
      out.from = "(SELECT serial AS hit FROM cert_labels WHERE key = " + key +
                 " AND value = " + value + ") AS h" + join;
    } else if (plan.index_only) {
      // One row per (key, value, serial): a join keeps the count.
      const std::string l = "l" + std::to_string(++joined);
      const std::string key = bind(Param(k));
      const std::string value = bind(Param(v));
      index_joins += " JOIN cert_labels AS " + l + " ON " + l + ".key = " + key + " AND " + l +
                     ".value = " + value + " AND " + l + ".serial = h.hit";
    } else {
      labels[k] = v;
    }
  }
  if (!labels.empty()) {
    // The row's own owner object, every other label in one containment (a
    // label is a string value; cert_labels holds the same pairs,
    // 0008_search.sql). One condition: the planner's estimate for several
    // made it split the walk over parallel workers that each read far more
    // than a page.
    sql += " AND certificates.owner::jsonb @> " + bind(Param(labels.dump())) + "::jsonb";
  }
  out.from += index_joins;
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
    sql += " AND not_after >= " + at + " AND (not_after > " + at + " OR serial > " +
           bind(Param(f.after->second.hex())) + ")";
  }
  return out;
}

// The listing's statement: `columns` of the certificates matching f, in
// (not_after, serial) order, from f.after, f.limit and f.offset.
inline Statement list_sql(const ListFilter& f, const Plan& plan, const std::string& columns) {
  using postgres::Param;
  auto where = filter_sql(f, true, plan);
  Statement out{"SELECT " + columns + " FROM " + where.from + " WHERE true" + where.clause,
                std::move(where.params)};
  auto bind = [&](Param p) {
    out.params.push_back(std::move(p));
    return "$" + std::to_string(out.params.size());
  };
  out.sql += " ORDER BY not_after ASC, serial ASC";
  if (f.limit) out.sql += " LIMIT " + bind(Param(static_cast<int64_t>(f.limit)));
  if (f.offset) out.sql += " OFFSET " + bind(Param(static_cast<int64_t>(f.offset)));
  return out;
}

// The count's statement: the listing's filters (not its cursor, limit or offset).
inline Statement count_sql(const ListFilter& f, const Plan& plan) {
  auto where = filter_sql(f, false, plan);
  return {"SELECT count(*) FROM " + where.from + " WHERE true" + where.clause,
          std::move(where.params)};
}

}  // namespace herald::store::postgres_sql
