#pragma once
// The inventory: every certificate Herald has issued (and the hierarchy's own
// certificates), with its status. An interface the core owns; adapters live
// in sqlite/ (and postgres/ later). A record is committed before any caller
// sees its certificate (ARCHITECTURE.md, principle 2).

#include <cstdint>
#include <map>
#include <optional>
#include <span>
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

// The detail of a certificate's 'issue' audit entry, for every store: its
// profile and subject. The entry's serial column names the certificate;
// the fingerprint and the rest are in its record (a copy of the fingerprint
// here cost 117 bytes a certificate, docs/benchmarks.md).
[[nodiscard]] std::string issue_audit_detail(const CertRecord& r);

struct ListFilter {
  TimePoint now;
  std::optional<TimePoint> expiring_before;  // valid and notAfter < this
  std::optional<std::string> profile;
  std::optional<std::string> status;        // "valid" | "revoked" | "expired"
  Labels owner;                             // every label must match
  // Some SAN has a label-boundary part that starts with this term (a
  // search by name_search_range: "example.com" finds every name under
  // example.com, "api" api.example.com and x.api.example.com; no match in
  // the middle of a label). Not a substring search.
  std::optional<std::string> san_label_prefix;
  std::optional<Serial> issuer;             // signed by this CA certificate
  // Seen presented by an endpoint in a `herald scan` (true) or never (false).
  std::optional<bool> deployed;
  // Keyset paging: only records after this one in the listing's order
  // (not_after, then serial), so walking a large inventory page by page
  // costs the same per page however deep (OFFSET re-reads what it skips).
  std::optional<std::pair<TimePoint, Serial>> after;
  size_t limit = 0;                         // 0 = no limit
  size_t offset = 0;                        // for paging
};

// A revocation-state change, as recorded (revoke or hold release), for
// followers such as the OCSP responder of `herald serve`.
struct RevocationEvent {
  int64_t id = 0;  // strictly increasing
  Serial serial;
};

// An API token of a provisioner. Only its SHA-256 is stored.
struct TokenRecord {
  int64_t id = 0;
  std::string provisioner;
  std::string description;
  std::string sha256_hex;
  TimePoint created_at;
  bool revoked = false;
};

// owner labels "team=a,service=b" (keys: letters, digits, '_', '-', '.';
// values: 1-256 printable characters without ',' or '=').
[[nodiscard]] Result<Labels> parse_labels(std::string_view text);
[[nodiscard]] Status check_label(std::string_view key, std::string_view value);
// Labels Herald sets itself: the keys provisioner, renewed_from, acme_account
// and acme_order, and service=herald-serve (its own certificates). A caller
// who could set them could pass for another provisioner, fake a history, or
// hide a certificate from the expiry gauges.
[[nodiscard]] bool is_reserved_label(std::string_view key, std::string_view value);

// The SAN search (ListFilter::san_label_prefix), decided here for every
// store: the keys a SAN is found by, and the key range a term matches.
//
// The keys of one SAN: its value without the type prefix ("dns:", ...),
// ASCII lower-cased, and every suffix of it that starts right after a '.',
// '@', '/' or ':' (empty ones left out). api.eu.example.com ->
// api.eu.example.com, eu.example.com, example.com, com;
// ops@example.com -> ops@example.com, example.com, com.
[[nodiscard]] std::vector<std::string> name_search_keys(const x509::San& san);
// Every key of a certificate's SANs, sorted, without duplicates (one row
// each in the stores' names tables).
[[nodiscard]] std::vector<std::string> name_search_keys(const std::vector<x509::San>& sans);
// A search term as the keys are written: ASCII lower-cased, a leading type
// prefix ("dns:", "ip:", "uri:", "email:") dropped.
[[nodiscard]] std::string normalise_name_term(std::string_view term);
// The keys a term matches: those that start with the normalised term, that
// is low <= key < high in byte order (SQLite's BINARY collation,
// PostgreSQL's "C"). high is the term with its last code point incremented
// (a valid UTF-8 string, so PostgreSQL takes it as text); none if the term
// is all U+10FFFF. nullopt if the term is not UTF-8: it matches nothing.
struct NameRange {
  std::string low;
  std::optional<std::string> high;
};
[[nodiscard]] std::optional<NameRange> name_search_range(std::string_view term);

struct RevocationState {
  Serial issuer_serial;
  CertStatus status = CertStatus::kValid;
  std::optional<TimePoint> revoked_at;
  std::optional<x509::RevocationReason> reason;
  TimePoint not_after{};  // the certificate's
};

class Inventory {
 public:
  virtual ~Inventory() = default;
  // kAlreadyExists if the serial or fingerprint is taken. Durable on return.
  [[nodiscard]] virtual Status insert(const CertRecord& record) = 0;
  // insert() for every record, in one transaction: all or nothing (a taken
  // serial or fingerprint fails the whole batch with kAlreadyExists and
  // writes nothing). Durable on return. For bulk loads (bench/inventory_fill).
  [[nodiscard]] virtual Status insert_batch(std::span<const CertRecord> records) = 0;
  [[nodiscard]] virtual Result<std::optional<CertRecord>> find(const Serial& serial) = 0;
  // Just the status (cheaper than find); nullopt if unknown.
  [[nodiscard]] virtual Result<std::optional<CertStatus>> status(const Serial& serial) = 0;
  // What an OCSP answer needs (cheaper than find); nullopt if unknown.
  [[nodiscard]] virtual Result<std::optional<RevocationState>> revocation_state(
      const Serial& serial) = 0;
  // Ordered by not_after ascending.
  [[nodiscard]] virtual Result<std::vector<CertRecord>> list(const ListFilter& filter) = 0;
  // Marks a valid (or on-hold) certificate revoked. kNotFound if unknown,
  // kConflict if already revoked (a hold may be made permanent; not re-held).
  [[nodiscard]] virtual Status revoke(const Serial& serial, x509::RevocationReason reason,
                                      TimePoint at) = 0;
  // Takes a certificateHold off (removeFromCRL). kConflict unless on hold.
  [[nodiscard]] virtual Status release_hold(const Serial& serial) = 0;
  // Revoked certificates signed by `issuer` that have not yet expired by `now`,
  // in no particular order.
  [[nodiscard]] virtual Result<std::vector<x509::RevokedEntry>> revoked_by(const Serial& issuer,
                                                                           TimePoint now) = 0;
  // Atomically increments and returns the CRL number of `ca` (starts at 1).
  [[nodiscard]] virtual Result<uint64_t> next_crl_number(std::string_view ca) = 0;
  [[nodiscard]] virtual Result<int64_t> count() = 0;
  // Valid certificates with now < notAfter <= before, not counting the
  // online server's own (profile ocsp-signer, owner service=herald-serve),
  // which renew themselves. A count, not a listing: /metrics calls it.
  [[nodiscard]] virtual Result<int64_t> count_expiring(TimePoint now, TimePoint before) = 0;
  // Revocation-state changes with id > after, oldest first (at most `limit`).
  [[nodiscard]] virtual Result<std::vector<RevocationEvent>> revocations_since(int64_t after,
                                                                               size_t limit) = 0;
  // The id of the newest revocation-state change (0 if none).
  [[nodiscard]] virtual Result<int64_t> last_revocation_id() = 0;
};

// API tokens (kept in the same database as the inventory).
class TokenStore {
 public:
  virtual ~TokenStore() = default;
  // Returns the new token's id.
  [[nodiscard]] virtual Result<int64_t> add_token(const TokenRecord& token) = 0;
  // By SHA-256 (hex); nullopt if unknown. Revoked tokens are returned with revoked = true.
  [[nodiscard]] virtual Result<std::optional<TokenRecord>> find_token(
      std::string_view sha256_hex) = 0;
  [[nodiscard]] virtual Result<std::vector<TokenRecord>> list_tokens() = 0;
  // kNotFound if unknown.
  [[nodiscard]] virtual Status revoke_token(int64_t id) = 0;
  // Records a one-time token's id ("jti") as used; kConflict if it was used
  // before (a replay). Durable on return. Ids whose tokens expired before
  // `now` are forgotten.
  [[nodiscard]] virtual Status use_token_id(std::string_view jti, TimePoint expires_at,
                                            TimePoint now) = 0;
};

}  // namespace herald::store
