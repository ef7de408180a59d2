#pragma once
// The claims of a jwk provisioner's one-time token (docs/api.md), checked
// once its signature is verified. Pure: the caller passes the time and the
// audiences this server answers to, so every rule is unit-tested.
//
//   aud   one of `audiences` (this server's /v1/sign URLs)
//   exp, iat (required), nbf: integer NumericDates in [0, 2^40), checked
//         before any arithmetic; iat <= exp; exp > now; exp - iat <= 300 s;
//         iat and nbf at most 60 s in the future
//   jti   1-128 characters (spent durably by the caller)
//   sub, sans   the names it certifies; at least one

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/error.h"

namespace herald::server {

struct OneTimeClaims {
  std::vector<std::string> names;  // sub first, then sans
  std::string jti;
  int64_t exp = 0;
};

// kUnauthenticated with "one-time token: <why>" on any failure.
[[nodiscard]] Result<OneTimeClaims> check_one_time_claims(const nlohmann::json& claims,
                                                          int64_t now,
                                                          const std::vector<std::string>& audiences);

}  // namespace herald::server
