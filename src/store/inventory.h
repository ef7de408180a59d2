#pragma once
// The inventory: every certificate Herald has issued (and the hierarchy's own
// certificates), with its status. An interface the core owns; adapters live
// in sqlite/ (and postgres/ later). A record is committed before any caller
// sees its certificate (ARCHITECTURE.md, principle 2).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/encoding.h"
#include "base/error.h"
#include "base/serial.h"
#include "x509/crl.h"
#include "x509/san.h"

namespace herald::store {

enum class CertStatus { kValid, kRevoked };

using Labels = std::map<std::string, std::string>;

struct CertRecord {
  Serial serial;
  Serial issuer_serial;  // the CA certificate that signed it (itself for the root)
  std::string subject;
  std::string common_name;
  std::vector<x509::San> sans;
  std::string issuer;
  TimePoint not_before;
  TimePoint not_after;
  std::string key_algorithm;  // "ec-p256", "rsa-3072", ...
  int key_bits = 0;
  std::string signature_algorithm;
  std::vector<std::string> ext_key_usage;
  std::string profile;  // "server", "client", "spiffe", "root-ca", "intermediate-ca", "issuing-ca"
  std::string fingerprint_sha256;
  Labels owner;
  CertStatus status = CertStatus::kValid;
  std::optional<TimePoint> revoked_at;
  std::optional<x509::RevocationReason> revocation_reason;
  TimePoint issued_at;
  Bytes der;

  // "valid", "revoked" or "expired" (valid but past notAfter at `now`).
  [[nodiscard]] std::string status_at(TimePoint now) const;
};

struct ListFilter {
  TimePoint now;
  std::optional<TimePoint> expiring_before;  // valid and notAfter < this
  std::optional<std::string> profile;
  std::optional<std::string> status;  // "valid" | "revoked" | "expired"
  Labels owner;                       // every label must match
  size_t limit = 0;                   // 0 = no limit
};

// owner labels "team=a,service=b" (keys: letters, digits, '_', '-', '.').
[[nodiscard]] Result<Labels> parse_labels(std::string_view text);

class Inventory {
 public:
  virtual ~Inventory() = default;
  // kAlreadyExists if the serial or fingerprint is taken. Durable on return.
  [[nodiscard]] virtual Status insert(const CertRecord& record) = 0;
  [[nodiscard]] virtual Result<std::optional<CertRecord>> find(const Serial& serial) = 0;
  // Just the status (cheaper than find); nullopt if unknown.
  [[nodiscard]] virtual Result<std::optional<CertStatus>> status(const Serial& serial) = 0;
  // Ordered by not_after ascending.
  [[nodiscard]] virtual Result<std::vector<CertRecord>> list(const ListFilter& filter) = 0;
  // Marks a valid (or on-hold) certificate revoked. kNotFound if unknown,
  // kConflict if already revoked (a hold may be made permanent; not re-held).
  [[nodiscard]] virtual Status revoke(const Serial& serial, x509::RevocationReason reason,
                                      TimePoint at) = 0;
  // Takes a certificateHold off (removeFromCRL). kConflict unless on hold.
  [[nodiscard]] virtual Status release_hold(const Serial& serial) = 0;
  // Revoked certificates signed by `issuer` that have not yet expired by `now`.
  [[nodiscard]] virtual Result<std::vector<x509::RevokedEntry>> revoked_by(const Serial& issuer,
                                                                           TimePoint now) = 0;
  // Atomically increments and returns the CRL number of `ca` (starts at 1).
  [[nodiscard]] virtual Result<uint64_t> next_crl_number(std::string_view ca) = 0;
  [[nodiscard]] virtual Result<int64_t> count() = 0;
};

}  // namespace herald::store
