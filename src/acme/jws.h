#pragma once
// The JWS layer of ACME (RFC 8555 §6.2): requests in the flattened JSON
// serialization (RFC 7515 §7.2.2), JWK public keys (RFC 7517, RFC 7518 §6,
// RFC 8037) and their thumbprints (RFC 7638). Self-contained: no store, no
// nonces, no URLs — the service checks "nonce" and "url" against its own
// state and looks "kid" up.
//
// Algorithms: RS256 (RSA PKCS#1 v1.5 with SHA-256, modulus 2048..8192 bits),
// ES256 (P-256), ES384 (P-384) — both raw r||s (RFC 7518 §3.4) — and EdDSA
// (Ed25519, RFC 8037). "none" and MAC algorithms are refused (RFC 8555 §6.2).
//
// Everything that reads a request reads untrusted input: it is strict (see
// parse_jws_request) and has a fuzz target (tests/fuzz/acme_jws_fuzz.cc).
// Every error of parse_jws_request, jwk_to_key, jwk_thumbprint and
// verify_jws_request carries the RFC 8555 §6.7 problem type (without its
// "urn:ietf:params:acme:error:" prefix) as context "acme" (error_type()):
//   "malformed"              not a well-formed ACME JWS (kMalformedInput), or
//                            a signature of the wrong length (kBadSignature)
//   "badSignatureAlgorithm"  an alg Herald does not accept (kMalformedInput),
//                            or one that does not fit the key (kBadSignature);
//                            the problem document lists kAlgorithms
//   "badPublicKey"           a JWK that is malformed (kMalformedInput) or a
//                            key Herald does not accept (kPolicyViolation:
//                            other kty or curve, RSA size or exponent)
//   "unauthorized"           the signature does not verify (kBadSignature)
//   "serverInternal"         OpenSSL failed (kCrypto); not the client's fault
// Messages say what is wrong ("protected header has both kid and jwk", "ES256
// signature must be 64 bytes, got 70") and never hold key material.

#include <array>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "base/encoding.h"
#include "base/error.h"
#include "ossl/ossl.h"

namespace herald::acme {

// The "alg" values accepted, for the "algorithms" member of a
// badSignatureAlgorithm problem (RFC 8555 §6.2).
inline constexpr std::array<std::string_view, 4> kAlgorithms = {"RS256", "ES256", "ES384", "EdDSA"};

// Bodies larger than this are refused before parsing (a finalize request with
// an RSA-8192 CSR is under 8 KiB).
inline constexpr size_t kMaxJwsRequestSize = 64 * 1024;

// An RFC 8555 §6.2 request, parsed but not yet verified.
struct JwsRequest {
  std::string alg;                    // one of kAlgorithms
  std::optional<std::string> kid;     // account URL; exactly one of kid and jwk
  std::optional<nlohmann::json> jwk;  // a JSON object; check it with jwk_to_key
  std::string nonce;                  // "" only when absent and not required
  std::string url;                    // never empty
  nlohmann::json protected_header;    // the whole decoded protected header
  std::string signing_input;          // protected_b64 "." payload_b64, as sent
  std::string payload_raw;            // decoded payload ("" for POST-as-GET)
  nlohmann::json payload;             // payload_raw parsed: an object, or null for POST-as-GET
  bool post_as_get = false;           // the payload was the empty string
  Bytes signature;                    // decoded, as sent (ECDSA: r||s)
};

// Strict parse of a request body. The body must be a JSON object with exactly
// the members "protected", "payload" and "signature", all strings in
// base64url without padding ("payload" may be "" for POST-as-GET, the others
// not). The protected header must be a JSON object with a string "alg" from
// kAlgorithms, a non-empty string "url", exactly one of "kid" (non-empty
// string) and "jwk" (object), a non-empty string "nonce" unless
// `require_nonce` is false (the inner JWS of keyChange, RFC 8555 §7.3.5, which
// must have none: the caller checks protected_header for it), and no "crit".
// A non-empty payload must be a JSON object. Duplicate member names anywhere,
// and JSON nested deeper than 32 levels, are refused.
[[nodiscard]] Result<JwsRequest> parse_jws_request(std::string_view body,
                                                   bool require_nonce = true);

// A JWK's public key: "RSA" (n, e; modulus 2048..8192 bits, odd exponent
// 3..2^32-1), "EC" with "crv" P-256 or P-384 (x and y of exactly the field
// size, a point on the curve), "OKP" with "crv" Ed25519 (x, 32 octets).
// Integers must be minimal (no leading zero octet, RFC 7518 §6.3.1.1) so that
// one key has one thumbprint. Private members ("d", "p", "q", "dp", "dq",
// "qi", "oth", "k") are refused; other members ("alg", "use", "kid", ...)
// are ignored.
[[nodiscard]] Result<ossl::EvpPkeyPtr> jwk_to_key(const nlohmann::json& jwk);

// The RFC 7638 thumbprint: base64url(SHA-256(canonical JSON of the required
// members, in lexicographic order, no whitespace)). The JWK is checked as by
// jwk_to_key, except that the point is not checked to be on the curve.
[[nodiscard]] Result<std::string> jwk_thumbprint(const nlohmann::json& jwk);

// Verifies the request's signature with `key` (from jwk_to_key, or the
// account's key for a kid). The alg must fit the key: RS256 an RSA key, ES256
// a P-256 key, ES384 a P-384 key, EdDSA an Ed25519 key.
[[nodiscard]] Status verify_jws_request(const JwsRequest& jws, EVP_PKEY& key);

// The problem type of an error from the functions above ("malformed", ...),
// or "" if it carries none.
[[nodiscard]] std::string error_type(const Error& error);

// Client side (tests, the benchmark's ACME client). Errors here are
// kInvalidArgument (a key or header that cannot be used) or kCrypto, untagged.
//
// The public JWK of an RSA, P-256, P-384 or Ed25519 key (required members only).
[[nodiscard]] Result<nlohmann::json> key_to_jwk(EVP_PKEY& key);
// A flattened JWS request body. `protected_header` (an object) carries kid or
// jwk, nonce and url as the caller wants them; its "alg", if set, must fit
// `key`, and if absent is set to RS256, ES256, ES384 or EdDSA from the key.
// `payload` is sent as is ("" for POST-as-GET).
[[nodiscard]] Result<std::string> sign_jws_request(const nlohmann::json& protected_header,
                                                   std::string_view payload, EVP_PKEY& key);

}  // namespace herald::acme
