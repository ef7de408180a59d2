#pragma once
// JSON Web Signatures (RFC 7515), compact serialization, for the algorithms
// Herald accepts: ES256 (P-256, RFC 7518 §3.4: raw r||s) and EdDSA (Ed25519,
// RFC 8037). Tokens come from untrusted callers: parse_compact_jws is strict
// (three base64url parts without padding, JSON objects, a known "alg") and
// has a fuzz target.

#include <nlohmann/json.hpp>
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

}  // namespace herald::keys
