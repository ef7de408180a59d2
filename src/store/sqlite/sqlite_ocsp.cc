// Pre-signed OCSP answers on SQLite (store/ocsp_answers.h): the
// ocsp_answers table of migration 16.
#include <sqlite3.h>

#include "store/sqlite/sqlite_inventory.h"

namespace herald::store {

namespace {

using sqlite::Connection;
using sqlite::Stmt;

int64_t secs(TimePoint t) { return t.time_since_epoch().count(); }
TimePoint at(int64_t s) { return TimePoint{std::chrono::seconds(s)}; }

constexpr const char* kAnswerColumns =
    "serial, not_after, this_update, next_update, refresh_at, status, reason, sha1_der, "
    "sha256_der";

Result<OcspAnswer> read_answer(Stmt& s) {
  OcspAnswer a;
  auto serial = Serial::parse(s.text(0));
  if (!serial) return make_error(ErrorCode::kStore, "corrupt serial in ocsp_answers");
  a.serial = *serial;
  a.not_after = at(s.integer(1));
  a.this_update = at(s.integer(2));
  a.next_update = at(s.integer(3));
  a.refresh_at = at(s.integer(4));
  a.status = s.text(5) == "revoked" ? CertStatus::kRevoked : CertStatus::kValid;
  if (!s.is_null(6)) a.reason = static_cast<int>(s.integer(6));
  a.sha1_der = s.blob(7);
  if (!s.is_null(8)) a.sha256_der = s.blob(8);
  return a;
}

}  // namespace

Status SqliteInventory::put_ocsp_answers(const std::vector<OcspAnswer>& answers) {
  if (answers.empty()) return {};
  return write([&](Connection& c) -> Status {
    // Stored only while the certificate is still in the state the answer
    // states (read in this same transaction), and never over a later one.
    constexpr const char* kPut =
           "INSERT INTO ocsp_answers (serial, not_after, this_update, next_update, refresh_at, "
           "status, reason, sha1_der, sha256_der) "
           "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 WHERE EXISTS (SELECT 1 FROM certificates "
           "WHERE serial = ?1 AND status = ?6 AND coalesce(revocation_reason, -1) = "
           "coalesce(?7, -1)) "
           "ON CONFLICT (serial) DO UPDATE SET not_after = excluded.not_after, "
           "this_update = excluded.this_update, next_update = excluded.next_update, "
           "refresh_at = excluded.refresh_at, status = excluded.status, reason = excluded.reason, "
           "sha1_der = excluded.sha1_der, sha256_der = excluded.sha256_der "
           "WHERE excluded.this_update >= ocsp_answers.this_update";
    for (const auto& a : answers) {
      Stmt s(c, kPut);  // cached by the connection: prepared once
      if (!s.ok()) return c.error("cannot prepare the OCSP answer write");
      s.bind(1, a.serial.hex());
      s.bind(2, secs(a.not_after));
      s.bind(3, secs(a.this_update));
      s.bind(4, secs(a.next_update));
      s.bind(5, secs(a.refresh_at));
      s.bind(6, a.status == CertStatus::kRevoked ? "revoked" : "valid");
      if (a.reason) {
        s.bind(7, int64_t{*a.reason});
      } else {
        s.bind_null(7);
      }
      s.bind_blob(8, a.sha1_der);
      if (a.sha256_der.empty()) {
        s.bind_null(9);
      } else {
        s.bind_blob(9, a.sha256_der);
      }
      if (s.step() != SQLITE_DONE) return c.error("cannot store an OCSP answer");
    }
    return {};
  });
}

Result<std::optional<OcspAnswer>> SqliteInventory::ocsp_answer(const Serial& serial) {
  auto lease = reader();
  Stmt s(lease.conn, std::string("SELECT ") + kAnswerColumns + " FROM ocsp_answers WHERE serial = ?");
  if (!s.ok()) return lease.conn.error("cannot prepare the OCSP answer lookup");
  s.bind(1, serial.hex());
  const int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<OcspAnswer>{};
  if (rc != SQLITE_ROW) return lease.conn.error("cannot read an OCSP answer");
  HERALD_TRY(auto a, read_answer(s));
  return std::optional<OcspAnswer>(std::move(a));
}

Result<std::vector<OcspAnswer>> SqliteInventory::ocsp_answers_due(TimePoint now, size_t limit) {
  auto lease = reader();
  Stmt s(lease.conn, std::string("SELECT ") + kAnswerColumns +
                         " FROM ocsp_answers WHERE refresh_at <= ? ORDER BY refresh_at LIMIT ?");
  if (!s.ok()) return lease.conn.error("cannot prepare the OCSP refresh walk");
  s.bind(1, secs(now));
  s.bind(2, static_cast<int64_t>(limit));
  std::vector<OcspAnswer> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    HERALD_TRY(auto a, read_answer(s));
    out.push_back(std::move(a));
  }
  if (rc != SQLITE_DONE) return lease.conn.error("cannot read the OCSP answers due");
  return out;
}

Result<std::vector<OcspAnswer>> SqliteInventory::latest_ocsp_answers(size_t limit) {
  auto lease = reader();
  Stmt s(lease.conn, std::string("SELECT ") + kAnswerColumns +
                         " FROM ocsp_answers ORDER BY refresh_at DESC LIMIT ?");
  if (!s.ok()) return lease.conn.error("cannot prepare the OCSP answers read");
  s.bind(1, static_cast<int64_t>(limit));
  std::vector<OcspAnswer> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    HERALD_TRY(auto a, read_answer(s));
    out.push_back(std::move(a));
  }
  if (rc != SQLITE_DONE) return lease.conn.error("cannot read the OCSP answers");
  return out;
}

Status SqliteInventory::delete_ocsp_answers(const std::vector<Serial>& serials) {
  if (serials.empty()) return {};
  return write([&](Connection& c) -> Status {
    for (const auto& serial : serials) {
      Stmt s(c, "DELETE FROM ocsp_answers WHERE serial = ?");
      if (!s.ok()) return c.error("cannot prepare the OCSP answer delete");
      s.bind(1, serial.hex());
      if (s.step() != SQLITE_DONE) return c.error("cannot delete an OCSP answer");
    }
    return {};
  });
}

Result<OcspGapPage> SqliteInventory::certificates_without_ocsp_answer(
    const Serial& issuer, TimePoint now, const std::optional<std::pair<TimePoint, Serial>>& after,
    size_t limit) {
  auto lease = reader();
  // The range on not_after first (an index range), as the listing's keyset.
  std::string sql =
      "SELECT c.not_after, c.serial, c.issuer_serial = ?, o.serial IS NULL FROM certificates c "
      "LEFT JOIN ocsp_answers o ON o.serial = c.serial WHERE c.not_after > ?";
  if (after) sql += " AND c.not_after >= ? AND (c.not_after > ? OR c.serial > ?)";
  sql += " ORDER BY c.not_after, c.serial LIMIT ?";
  Stmt s(lease.conn, sql);
  if (!s.ok()) return lease.conn.error("cannot prepare the OCSP gap walk");
  int i = 1;
  s.bind(i++, issuer.hex());
  s.bind(i++, secs(now));
  if (after) {
    s.bind(i++, secs(after->first));
    s.bind(i++, secs(after->first));
    s.bind(i++, after->second.hex());
  }
  s.bind(i, static_cast<int64_t>(limit));
  OcspGapPage page;
  size_t rows = 0;
  std::pair<TimePoint, std::string> last;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    ++rows;
    last = {at(s.integer(0)), s.text(1)};
    if (s.integer(2) != 0 && s.integer(3) != 0) {
      auto serial = Serial::parse(last.second);
      if (!serial) return make_error(ErrorCode::kStore, "corrupt serial in inventory");
      page.missing.push_back(*serial);
    }
  }
  if (rc != SQLITE_DONE) return lease.conn.error("cannot walk the certificates for OCSP");
  if (limit > 0 && rows == limit) {
    auto serial = Serial::parse(last.second);
    if (!serial) return make_error(ErrorCode::kStore, "corrupt serial in inventory");
    page.next = std::pair{last.first, *serial};
  }
  return page;
}

Result<int64_t> SqliteInventory::count_ocsp_answers() {
  auto lease = reader();
  Stmt s(lease.conn, "SELECT count(*) FROM ocsp_answers");
  if (!s.ok() || s.step() != SQLITE_ROW) return lease.conn.error("cannot count OCSP answers");
  return s.integer(0);
}

}  // namespace herald::store
