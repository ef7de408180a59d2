#pragma once
// What an ACME server (RFC 8555) sends a client, parsed into plain structs,
// and the client-side values derived from it: key authorizations (§8.1),
// dns-01 TXT values (§8.4) and ARI certificate identifiers (RFC 9773 §4.1).
//
// Every parse_* function reads untrusted input (any server the agent is
// pointed at, or anything between it and the agent) and is strict: a body
// over kMaxBodySize, JSON nested deeper than 32 levels, a duplicate member
// name, a member of the wrong type, an unknown status, a URL that is not
// https://, an over-long string or array: kMalformedInput, naming what was
// wrong. Members the RFC does not require and this client does not use are
// ignored (RFC 8555 §7.1: clients must ignore unknown fields). Strings that
// end up in messages (problem details, identifiers) are kept to printable
// ASCII and cut to a few hundred characters, so a server cannot write lines
// into the agent's log. tests/fuzz/acme_client_fuzz.cc fuzzes every parser.

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/encoding.h"
#include "base/error.h"

namespace herald::acme_client {

inline constexpr size_t kMaxBodySize = 256 * 1024;
inline constexpr size_t kMaxUrlSize = 2048;

// RFC 8555 §7.1.1.
struct Directory {
  std::string new_nonce;
  std::string new_account;
  std::string new_order;
  std::optional<std::string> revoke_cert;
  std::optional<std::string> key_change;
  std::optional<std::string> renewal_info;  // RFC 9773 §3
  std::optional<std::string> terms_of_service;
  bool external_account_required = false;
};

// The states of §7.1.6; which ones an object may be in is checked per type.
enum class AcmeStatus {
  kPending,
  kReady,
  kProcessing,
  kValid,
  kInvalid,
  kDeactivated,
  kExpired,
  kRevoked
};
[[nodiscard]] std::string_view status_name(AcmeStatus s);

// RFC 8555 §9.7.7 "dns", RFC 8738 "ip".
struct Identifier {
  std::string type;
  std::string value;
  [[nodiscard]] std::string describe() const;  // "dns:web.internal", "ip:10.0.0.5"
  bool operator==(const Identifier&) const = default;
};

// RFC 8555 §6.7 / RFC 9457 problem document.
struct Problem {
  std::string type;    // "urn:ietf:params:acme:error:connection"; "about:blank" if absent
  std::string detail;  // cleaned, possibly empty
  int status = 0;      // the document's "status" member, 0 if absent
  struct Sub {
    std::string type;
    std::string detail;
    std::optional<Identifier> identifier;
  };
  std::vector<Sub> subproblems;  // §6.7.1
  // "urn:...:rejectedIdentifier: detail [dns:x: urn:...: detail; ...]"
  [[nodiscard]] std::string describe() const;
  // The type without the "urn:ietf:params:acme:error:" prefix ("" for other namespaces).
  [[nodiscard]] std::string acme_type() const;
};

// §7.1.3.
struct Order {
  AcmeStatus status = AcmeStatus::kPending;  // pending, ready, processing, valid, invalid
  std::vector<Identifier> identifiers;
  std::vector<std::string> authorizations;
  std::string finalize;
  std::optional<std::string> certificate;
  std::optional<Problem> error;
};

// §7.1.5 / §8.
struct Challenge {
  std::string type;  // any string; this client uses http-01 and dns-01
  std::string url;
  AcmeStatus status = AcmeStatus::kPending;  // pending, processing, valid, invalid
  std::string token;                         // "" for types without one; base64url if present
  std::optional<Problem> error;
};

// §7.1.4.
struct Authorization {
  Identifier identifier;
  AcmeStatus status =
      AcmeStatus::kPending;  // pending, valid, invalid, deactivated, expired, revoked
  std::vector<Challenge> challenges;
  bool wildcard = false;
};

// RFC 9773 §4.2.
struct RenewalInfo {
  TimePoint start;
  TimePoint end;
  std::optional<std::string> explanation_url;
};

[[nodiscard]] Result<Directory> parse_directory(std::string_view body);
[[nodiscard]] Result<Order> parse_order(std::string_view body);
[[nodiscard]] Result<Authorization> parse_authorization(std::string_view body);
[[nodiscard]] Result<Challenge> parse_challenge(std::string_view body);
[[nodiscard]] Result<Problem> parse_problem(std::string_view body);
// suggestedWindow with start < end (RFC 9773 §4.2: else the answer is invalid).
[[nodiscard]] Result<RenewalInfo> parse_renewal_info(std::string_view body);
// Account object (§7.1.2): its status only ("valid", "deactivated", "revoked").
[[nodiscard]] Result<AcmeStatus> parse_account_status(std::string_view body);

// RFC 3339 date-time ("2026-12-06T07:41:43Z", fractions and offsets allowed),
// to the second (fractions dropped).
[[nodiscard]] Result<TimePoint> parse_rfc3339(std::string_view text);
// Retry-After (RFC 9110 §10.2.3): delay-seconds or an IMF-fixdate, as a delay
// from `now` (0 for a date in the past); nullopt if absent or unreadable.
[[nodiscard]] std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                                    TimePoint now);
// A URL the client may follow: https://, at most kMaxUrlSize, printable ASCII.
[[nodiscard]] Status check_url(std::string_view url, std::string_view what);
// A Replay-Nonce header value (§6.5.1): base64url, 1..256 characters.
[[nodiscard]] bool valid_nonce(std::string_view nonce);

// Printable ASCII of `s`, other bytes as '?', cut to `max` characters ("...").
[[nodiscard]] std::string clean(std::string_view s, size_t max = 300);

// §8.1: token "." base64url(JWK thumbprint).
[[nodiscard]] std::string key_authorization(std::string_view token, std::string_view thumbprint);
// §8.4: base64url(SHA-256(key authorization)), the dns-01 TXT record's value.
[[nodiscard]] Result<std::string> dns01_txt_value(std::string_view key_authorization);
// RFC 9773 §4.1: base64url(keyIdentifier) "." base64url(serial's DER content octets).
[[nodiscard]] std::string ari_cert_id(std::span<const uint8_t> key_identifier,
                                      std::span<const uint8_t> serial_content);
// The same from a certificate (DER): kMalformedInput when it has no AKI keyIdentifier.
[[nodiscard]] Result<std::string> ari_cert_id_of(std::span<const uint8_t> cert_der);

}  // namespace herald::acme_client
