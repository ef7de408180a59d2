// Retention on SQLite (store/retention.h): which records may be pruned, and
// their deletion in one short write of the group commit per batch.
#include <sqlite3.h>

#include "store/sqlite/sqlite_inventory.h"

namespace herald::store {

namespace {

using sqlite::Connection;
using sqlite::Stmt;

int64_t secs(TimePoint t) { return t.time_since_epoch().count(); }

// The rule of store/retention.h, as SQL over ?1 = expired_before, ?2 = now.
// The pick walks certificates_not_after from its oldest end: deleted rows
// leave the index, so every batch reads about `batch` entries (plus the
// handful of expired CA certificates it skips).
constexpr const char* kPick =
    "SELECT serial FROM certificates INDEXED BY certificates_not_after "
    "WHERE not_after < ?1 AND not_after <= ?2 "
    "AND profile NOT IN ('root-ca', 'intermediate-ca', 'issuing-ca') "
    "ORDER BY not_after LIMIT ?3";
constexpr const char* kDelete =
    "DELETE FROM certificates WHERE serial = ?3 AND not_after < ?1 AND not_after <= ?2 "
    "AND profile NOT IN ('root-ca', 'intermediate-ca', 'issuing-ca')";

Result<std::vector<Serial>> pick(Connection& c, TimePoint expired_before, TimePoint now,
                                 size_t limit) {
  Stmt s(c, kPick);
  if (!s.ok()) return c.error("cannot prepare the retention walk");
  s.bind(1, secs(expired_before));
  s.bind(2, secs(now));
  s.bind(3, static_cast<int64_t>(limit));
  std::vector<Serial> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    auto serial = Serial::parse(s.text(0));
    if (!serial) return make_error(ErrorCode::kStore, "corrupt serial in inventory");
    out.push_back(*serial);
  }
  if (rc != SQLITE_DONE) return c.error("cannot walk the expired certificates");
  return out;
}

// Inside an open transaction. The search rows go by the delete trigger of
// migration 15; the OCSP answer (migration 16) has none, so it goes here.
Status remove(Connection& c, const std::vector<Serial>& serials, TimePoint expired_before,
              TimePoint now, std::vector<Serial>& deleted) {
  for (const auto& serial : serials) {
    const std::string hex = serial.hex();
    Stmt d(c, kDelete);
    if (!d.ok()) return c.error("cannot prepare the retention delete");
    d.bind(1, secs(expired_before));
    d.bind(2, secs(now));
    d.bind(3, hex);
    if (d.step() != SQLITE_DONE) return c.error("cannot delete an expired certificate");
    if (sqlite3_changes(c.db()) == 0) continue;  // no longer prunable (or gone)
    Stmt o(c, "DELETE FROM ocsp_answers WHERE serial = ?");
    if (!o.ok()) return c.error("cannot prepare the OCSP answer delete");
    o.bind(1, hex);
    if (o.step() != SQLITE_DONE) return c.error("cannot delete a pruned certificate's OCSP answer");
    deleted.push_back(serial);
  }
  return {};
}

}  // namespace

Result<std::vector<Serial>> SqliteInventory::prunable(TimePoint expired_before, TimePoint now,
                                                      size_t limit) {
  auto lease = reader();
  return pick(lease.conn, expired_before, now, limit);
}

Result<int64_t> SqliteInventory::count_prunable(TimePoint expired_before, TimePoint now) {
  auto lease = reader();
  Connection& c = lease.conn;
  // Both counts from indexes alone: every certificate in the range, less the
  // CA certificates in it (the partial index certificates_cas, migration 14).
  Stmt s(c,
         "SELECT (SELECT count(*) FROM certificates INDEXED BY certificates_not_after "
         "WHERE not_after < ?1 AND not_after <= ?2) - "
         "(SELECT count(*) FROM certificates INDEXED BY certificates_cas "
         "WHERE profile IN ('root-ca', 'intermediate-ca', 'issuing-ca') "
         "AND not_after < ?1 AND not_after <= ?2)");
  if (!s.ok()) return c.error("cannot prepare the retention count");
  s.bind(1, secs(expired_before));
  s.bind(2, secs(now));
  if (s.step() != SQLITE_ROW) return c.error("cannot count the expired certificates");
  return s.integer(0);
}

Result<std::vector<Serial>> SqliteInventory::delete_prunable(const std::vector<Serial>& serials,
                                                             TimePoint expired_before,
                                                             TimePoint now) {
  std::vector<Serial> deleted;
  if (serials.empty()) return deleted;
  auto s = write([&](Connection& c) -> Status {
    deleted.clear();  // a failed write rolls back: report nothing
    return remove(c, serials, expired_before, now, deleted);
  });
  if (!s) {
    deleted.clear();
    return tl::unexpected(s.error());
  }
  return deleted;
}

Result<std::vector<Serial>> SqliteInventory::prune_expired(TimePoint expired_before,
                                                           TimePoint now, size_t batch) {
  std::vector<Serial> deleted;
  if (batch == 0) return deleted;
  auto s = write([&](Connection& c) -> Status {
    deleted.clear();
    HERALD_TRY(auto serials, pick(c, expired_before, now, batch));
    return remove(c, serials, expired_before, now, deleted);
  });
  if (!s) {
    deleted.clear();
    return tl::unexpected(s.error());
  }
  return deleted;
}

}  // namespace herald::store
