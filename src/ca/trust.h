#pragma once
// Trust between organisations: the checks a partner's root must pass before
// Herald trusts it, and the two forms Herald publishes its trust anchors in
// (a PEM bundle, and a SPIFFE trust bundle). Pure: no files, no clock reads.
//
// SPIFFE bundle: "The SPIFFE Trust Domain and Bundle" (spiffe/spiffe,
// standards/SPIFFE_Trust_Domain_and_Bundle.md) §4: a JWK Set (RFC 7517) whose
// keys each carry `use` ("x509-svid" here), `kty` and the key parameters of
// RFC 7518 §6 (EC: crv, x, y; RSA: n, e) or RFC 8037 (OKP: crv, x), and for
// x509-svid exactly one `x5c` entry, the CA certificate's DER in standard
// base64 (RFC 7517 §4.7); plus the optional `spiffe_refresh_hint` (seconds)
// and `spiffe_sequence`. Deviation: none known; `kid` is omitted (the spec
// requires it for jwt-svid keys only).

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/encoding.h"
#include "base/error.h"
#include "x509/certificate.h"

namespace herald::ca {

// A SHA-256 fingerprint as an operator types it: 64 hex digits, with or
// without ':' separators, any case, optionally prefixed "sha256:" or
// "SHA256=". kInvalidArgument otherwise.
[[nodiscard]] Result<Bytes> parse_sha256_fingerprint(std::string_view text);

// A partner name: 1 to 64 characters of [A-Za-z0-9._-], starting with a
// letter or digit (it names a file). kInvalidArgument otherwise.
[[nodiscard]] Status check_partner_name(std::string_view name);

// Whether `key` is strong enough for a trust anchor: RSA of at least 2048
// bits, EC on a named curve of at least 256 bits (no explicit parameters),
// Ed25519 or Ed448. kPolicyViolation naming the key otherwise.
[[nodiscard]] Status check_anchor_key(const x509::Certificate& cert);

// The checks `herald trust import` makes, in this order: the certificate's
// SHA-256 fingerprint equals `expected` (kConflict naming both values), it is
// a CA (basicConstraints cA, kPolicyViolation), its key is strong enough
// (check_anchor_key), and `now` is inside its validity (kPolicyViolation).
// Returns warnings that do not refuse it (e.g. not self-signed).
[[nodiscard]] Result<std::vector<std::string>> check_partner_root(const x509::Certificate& cert,
                                                                  std::string_view expected,
                                                                  TimePoint now);

// The public key of `cert` as a JWK (RFC 7517/7518/8037) with "use" and
// "x5c" set as the SPIFFE bundle wants them for an X.509 authority.
[[nodiscard]] Result<nlohmann::json> x509_svid_jwk(const x509::Certificate& cert);

struct SpiffeBundleOptions {
  std::chrono::seconds refresh_hint{300};
  std::optional<uint64_t> sequence;
};
// The SPIFFE trust bundle (JWKS) holding one x509-svid key per root.
[[nodiscard]] Result<std::string> spiffe_bundle_json(const std::vector<x509::Certificate>& roots,
                                                     const SpiffeBundleOptions& options);

// A SPIFFE bundle as another trust domain publishes it (untrusted input;
// fuzz target tests/fuzz/spiffe_bundle_fuzz.cc): at most 1 MiB, a JSON
// object with "keys", an array of at most 256 JWK objects. Keys whose "use"
// is "x509-svid" must carry exactly one "x5c" entry, standard base64 of a
// certificate that is a CA (basicConstraints cA) and whose public key equals
// the JWK's (kty and parameters as x509_svid_jwk writes them); other uses
// (jwt-svid) are skipped. spiffe_refresh_hint, if present, must be a
// positive integer; spiffe_sequence a non-negative one. A bundle without any
// x509-svid authority is refused (kMalformedInput): an empty or broken
// bundle must never replace a good one.
struct ParsedSpiffeBundle {
  std::vector<x509::Certificate> authorities;  // in the bundle's order
  std::optional<std::chrono::seconds> refresh_hint;
  std::optional<uint64_t> sequence;
};
[[nodiscard]] Result<ParsedSpiffeBundle> parse_spiffe_bundle(std::string_view json);

// The certificates' PEM, concatenated in order.
[[nodiscard]] std::string pem_bundle(const std::vector<x509::Certificate>& certs);

// A strong HTTP entity tag for `content`: the first 128 bits of its SHA-256
// in hex, quoted.
[[nodiscard]] std::string content_etag(std::string_view content);

// Whether an If-None-Match header value matches `etag` (RFC 9110 §13.1.2:
// "*", or a comma-separated list of tags compared weakly).
[[nodiscard]] bool if_none_match(std::string_view header, std::string_view etag);

}  // namespace herald::ca
