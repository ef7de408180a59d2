// Expiry alerts and webhooks in the SQLite store (store/alerts.h): claims,
// alerts sent, silences and dead letters (schema: migration 13).
#include <sqlite3.h>

#include "store/sqlite/sqlite_inventory.h"

namespace herald::store {

namespace {

using sqlite::Connection;
using sqlite::Stmt;

int64_t unix_secs(TimePoint t) { return t.time_since_epoch().count(); }
TimePoint from_secs(int64_t s) { return TimePoint{std::chrono::seconds(s)}; }

}  // namespace

Result<bool> SqliteInventory::claim_alert(std::string_view key, TimePoint at) {
  bool first = false;
  const std::string k(key);
  HERALD_TRY_VOID(write([&](Connection& c) -> Status {
    Stmt s(c,
           "INSERT INTO alert_claims (key, claimed_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING");
    s.bind(1, k);
    s.bind(2, unix_secs(at));
    if (!s.ok() || s.step() != SQLITE_DONE) return c.error("cannot claim an alert");
    first = sqlite3_changes(c.db()) == 1;
    return {};
  }));
  return first;
}

Status SqliteInventory::record_alert(const AlertRecord& a) {
  return write([&](Connection& c) -> Status {
    Stmt s(c,
           "INSERT INTO alerts_sent (key, kind, serial, at, target, result) VALUES (?, ?, ?, ?, ?, "
           "?)");
    s.bind(1, a.key);
    s.bind(2, a.kind);
    s.bind(3, a.serial);
    s.bind(4, unix_secs(a.at));
    s.bind(5, a.target);
    s.bind(6, a.result);
    if (!s.ok() || s.step() != SQLITE_DONE) return c.error("cannot record an alert");
    return {};
  });
}

Result<std::vector<AlertRecord>> SqliteInventory::recent_alerts(size_t limit) {
  auto r = reader();
  Connection& c = r.conn;
  Stmt s(c,
         "SELECT id, key, kind, serial, at, target, result FROM alerts_sent ORDER BY id DESC "
         "LIMIT ?");
  s.bind(1, static_cast<int64_t>(limit));
  std::vector<AlertRecord> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    AlertRecord a;
    a.id = s.integer(0);
    a.key = s.text(1);
    a.kind = s.text(2);
    a.serial = s.text(3);
    a.at = from_secs(s.integer(4));
    a.target = s.text(5);
    a.result = s.text(6);
    out.push_back(std::move(a));
  }
  if (!s.ok() || rc != SQLITE_DONE) return c.error("cannot read alerts");
  return out;
}

Result<int64_t> SqliteInventory::add_silence(const Silence& si) {
  const bool by_owner = !si.owner_key.empty();
  if (by_owner == !si.serial.empty() || (by_owner && si.owner_value.empty()))
    return make_error(ErrorCode::kInvalidArgument,
                      "a silence names either an owner label or a serial");
  int64_t id = 0;
  HERALD_TRY_VOID(write([&](Connection& c) -> Status {
    Stmt s(c,
           "INSERT INTO alert_silences (owner_key, owner_value, serial, ends_at, reason, "
           "created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
    s.bind(1, si.owner_key);
    s.bind(2, si.owner_value);
    s.bind(3, si.serial);
    s.bind(4, unix_secs(si.ends_at));
    s.bind(5, si.reason);
    s.bind(6, si.created_by);
    s.bind(7, unix_secs(si.created_at));
    if (!s.ok() || s.step() != SQLITE_DONE) return c.error("cannot add a silence");
    id = sqlite3_last_insert_rowid(c.db());
    return {};
  }));
  return id;
}

Result<std::vector<Silence>> SqliteInventory::active_silences(TimePoint now) {
  auto r = reader();
  Connection& c = r.conn;
  Stmt s(c,
         "SELECT id, owner_key, owner_value, serial, ends_at, reason, created_by, created_at "
         "FROM alert_silences WHERE ends_at > ? ORDER BY id");
  s.bind(1, unix_secs(now));
  std::vector<Silence> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    Silence si;
    si.id = s.integer(0);
    si.owner_key = s.text(1);
    si.owner_value = s.text(2);
    si.serial = s.text(3);
    si.ends_at = from_secs(s.integer(4));
    si.reason = s.text(5);
    si.created_by = s.text(6);
    si.created_at = from_secs(s.integer(7));
    out.push_back(std::move(si));
  }
  if (!s.ok() || rc != SQLITE_DONE) return c.error("cannot read silences");
  return out;
}

Status SqliteInventory::remove_silence(int64_t id) {
  return write([&](Connection& c) -> Status {
    Stmt s(c, "DELETE FROM alert_silences WHERE id = ?");
    s.bind(1, id);
    if (!s.ok() || s.step() != SQLITE_DONE) return c.error("cannot remove a silence");
    if (sqlite3_changes(c.db()) != 1)
      return make_error(ErrorCode::kNotFound, "no silence " + std::to_string(id));
    return {};
  });
}

Status SqliteInventory::add_dead_letter(const DeadLetter& d) {
  return write([&](Connection& c) -> Status {
    Stmt s(c,
           "INSERT INTO alert_dead_letters (target, url, payload, last_error, attempts, at) "
           "VALUES (?, ?, ?, ?, ?, ?)");
    s.bind(1, d.target);
    s.bind(2, d.url);
    s.bind(3, d.payload);
    s.bind(4, d.last_error);
    s.bind(5, int64_t{d.attempts});
    s.bind(6, unix_secs(d.at));
    if (!s.ok() || s.step() != SQLITE_DONE) return c.error("cannot record a dead letter");
    return {};
  });
}

Result<std::vector<DeadLetter>> SqliteInventory::dead_letters(size_t limit) {
  auto r = reader();
  Connection& c = r.conn;
  Stmt s(c,
         "SELECT id, target, url, payload, last_error, attempts, at FROM alert_dead_letters "
         "ORDER BY id DESC LIMIT ?");
  s.bind(1, static_cast<int64_t>(limit));
  std::vector<DeadLetter> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    DeadLetter d;
    d.id = s.integer(0);
    d.target = s.text(1);
    d.url = s.text(2);
    d.payload = s.text(3);
    d.last_error = s.text(4);
    d.attempts = static_cast<int>(s.integer(5));
    d.at = from_secs(s.integer(6));
    out.push_back(std::move(d));
  }
  if (!s.ok() || rc != SQLITE_DONE) return c.error("cannot read dead letters");
  return out;
}

}  // namespace herald::store
