#pragma once
// External Account Binding (RFC 8555 §7.3.4): the newAccount payload's
// "externalAccountBinding" is a flattened JWS, MAC'd (HS256/HS384/HS512)
// with a key the operator handed out, whose protected header names the key
// ("kid") and the newAccount URL, and whose payload is the account's JWK.
// Errors carry the ACME type in context "acme" (malformed, unauthorized).

#include <nlohmann/json.hpp>
#include <string>

#include "base/encoding.h"
#include "base/error.h"

namespace herald::acme {

struct EabBinding {
  std::string kid;
  std::string alg;            // HS256 | HS384 | HS512
  std::string url;
  nlohmann::json jwk;         // the payload
  std::string signing_input;  // protected "." payload, as sent
  Bytes mac;
};

// Parses the binding object (strictly: the three members, base64url, no nonce).
[[nodiscard]] Result<EabBinding> parse_eab(const nlohmann::json& binding);
// Checks the binding against the outer request: url, the account key (same
// JWK), and the MAC under `hmac_key`.
[[nodiscard]] Status verify_eab(const EabBinding& binding, const std::string& new_account_url,
                                const nlohmann::json& account_jwk, const Bytes& hmac_key);

}  // namespace herald::acme
