#pragma once
// JSON Web Signatures (RFC 7515), compact serialization, for the algorithms
// Herald accepts: ES256 (P-256, RFC 7518 §3.4: raw r||s) and EdDSA (Ed25519,
// RFC 8037). Tokens come from untrusted callers: parse_compact_jws is strict
// (three base64url parts without padding, JSON objects, a known "alg") and
// has a fuzz target.

#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>

#include "base/encoding.h"
#include "base/error.h"
#include "ossl/ossl.h"

namespace herald::keys {

struct Jws {
  nlohmann::json header;
  nlohmann::json payload;
  std::string alg;            // "ES256" | "EdDSA"
  std::string signing_input;  // base64url(header) "." base64url(payload)
  Bytes signature;            // as in the token (ES256: 64 bytes r||s)
};

[[nodiscard]] Result<Jws> parse_compact_jws(std::string_view token);
// kBadSignature unless `key` (P-256 for ES256, Ed25519 for EdDSA) verifies it.
[[nodiscard]] Status verify_jws(const Jws& jws, EVP_PKEY& key);
// Signs `payload` with `key` (P-256 or Ed25519); `header` gets "alg" set.
[[nodiscard]] Result<std::string> sign_compact_jws(nlohmann::json header,
                                                   const nlohmann::json& payload, EVP_PKEY& key);

// Building blocks shared with the ACME layer (acme/jws.h), which accepts more
// algorithms. A signature in JWS form (RFC 7518 §3.3-3.4, RFC 8037 §3.1) over
// `signing_input`, hashed with `md` (nullptr for EdDSA): ECDSA signatures are
// r||s, each as long as the key's field (32 octets for P-256, 48 for P-384).
[[nodiscard]] Result<Bytes> jws_signature(EVP_PKEY& key, const EVP_MD* md,
                                          std::string_view signing_input);
// Whether `signature`, in that form, verifies with `key`: false when it does
// not (or is an ECDSA signature of the wrong length); an error only when
// OpenSSL fails for another reason.
[[nodiscard]] Result<bool> jws_signature_verifies(EVP_PKEY& key, const EVP_MD* md,
                                                  std::string_view signing_input,
                                                  std::span<const uint8_t> signature);

}  // namespace herald::keys
