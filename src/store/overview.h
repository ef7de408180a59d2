#pragma once
// What the dashboard (server/ui_endpoints.cc) reads beyond Inventory::list:
// counts and a histogram, each one aggregate query in the database, never a
// loading of records, so a page costs the same at 1,000 certificates as at
// 1,000,000 (bench/dashboard_bench.sh). The indexes they use (SQLite
// migration 14, PostgreSQL 0007_overview.sql): (status, not_after) for the
// counts by status and the histogram, issued_at for the issuance rate,
// partial ones for revocations (revoked_at; the audit log's revocation
// events by serial) and for the CA certificates. An interface the core owns; both
// adapters implement it (sqlite/sqlite_overview.cc,
// postgres/postgres_overview.cc).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "base/serial.h"
#include "store/inventory.h"

namespace herald::store {

// Certificates by their status at a time, as CertRecord::status_at says.
struct StatusCounts {
  int64_t valid = 0;
  int64_t revoked = 0;
  int64_t expired = 0;  // valid but notAfter <= now
  [[nodiscard]] int64_t total() const { return valid + revoked + expired; }
};

// One entry of a certificate's history, oldest first.
struct AuditEvent {
  TimePoint at;
  std::string action;  // "issue", "revoke", "release_hold"
  std::string detail;  // a JSON object
};

class OverviewStore {
 public:
  virtual ~OverviewStore() = default;
  // Every certificate of the inventory (the hierarchy's own and Herald's
  // server certificates included, as `herald list` shows them) by status at `now`.
  [[nodiscard]] virtual Result<StatusCounts> count_by_status(TimePoint now) = 0;
  // Certificates issued at or after `since` (issued_at >= since).
  [[nodiscard]] virtual Result<int64_t> count_issued_since(TimePoint since) = 0;
  // Certificates revoked at or after `since` (revoked_at >= since, still revoked).
  [[nodiscard]] virtual Result<int64_t> count_revoked_since(TimePoint since) = 0;
  // Valid certificates by expiry: element i counts those with
  // from + i*bucket < notAfter <= from + (i+1)*bucket; `buckets` elements.
  // Herald's own server certificates are left out as in count_expiring.
  [[nodiscard]] virtual Result<std::vector<int64_t>> expiry_histogram(TimePoint from,
                                                                      std::chrono::seconds bucket,
                                                                      size_t buckets) = 0;
  // How many records `filter` selects (its limit, offset and `after` ignored):
  // the total of a paged listing.
  [[nodiscard]] virtual Result<int64_t> count_matching(const ListFilter& filter) = 0;
  // The CA certificates of the inventory (profiles root-ca, intermediate-ca,
  // issuing-ca), by notAfter: a partial index keeps them apart from the leaves.
  [[nodiscard]] virtual Result<std::vector<CertRecord>> ca_certificates() = 0;
  // The audit log's revocation-state entries for `serial` (revoke,
  // release_hold), oldest first, at most `limit`. The issuance itself is the
  // record's issued_at: the caller adds it (the log is indexed by serial for
  // revocation events only; an entry per issued certificate would slow
  // issuance).
  [[nodiscard]] virtual Result<std::vector<AuditEvent>> revocation_history(const Serial& serial,
                                                                           size_t limit) = 0;
};

}  // namespace herald::store
