#pragma once
// Minting a jwk provisioner's one-time token (docs/api.md): a compact JWS
// (ES256 or EdDSA) over the claims that `herald serve` checks
// (server/one_time_token.h): iss, aud, iat = nbf = now, exp, a random jti,
// and the names it certifies (sub = the CN, sans). Used by `herald token`
// and by `herald agent`, which mints one per request.

#include <openssl/evp.h>

#include <chrono>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"

namespace herald::keys {

struct OneTimeTokenRequest {
  std::string provisioner;          // iss
  std::string audience;             // https://HOST:PORT/v1/sign
  std::string cn;                   // sub; "" for none
  std::vector<std::string> sans;    // as the API takes them: "web.internal", "10.0.0.7", "spiffe://..."
  std::chrono::seconds ttl{300};    // at most 300 s (the server refuses longer)
};

// kInvalidArgument when nothing is named or the ttl is outside (0, 300 s].
[[nodiscard]] Result<std::string> mint_one_time_token(EVP_PKEY& key, const OneTimeTokenRequest& r,
                                                      TimePoint now);

}  // namespace herald::keys
