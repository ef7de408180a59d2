#include "server/one_time_token.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>

namespace herald::server {

namespace {
constexpr int64_t kMaxNumericDate = int64_t{1} << 40;  // year 36812
constexpr int64_t kMaxLifetime = 300;
constexpr int64_t kClockSkew = 60;
}  // namespace

Result<OneTimeClaims> check_one_time_claims(const nlohmann::json& c, int64_t now,
                                            const std::vector<std::string>& audiences) {
  auto unauth = [](const std::string& why) {
    return make_error(ErrorCode::kUnauthenticated, "one-time token: " + why);
  };
  if (!c.is_object()) return unauth("the payload is not a JSON object");
  auto str = [&](const char* k) {
    return c.contains(k) && c[k].is_string() ? c[k].get<std::string>() : std::string();
  };
  const std::string aud = str("aud");
  if (std::find(audiences.begin(), audiences.end(), aud) == audiences.end())
    return unauth("audience '" + aud + "' is not this server's /v1/sign URL");
  // A NumericDate is range-checked before any arithmetic: absent, or an
  // integer in [0, 2^40). Anything else (negative, 2^63, 1e300, "5") is refused.
  bool bad = false;
  auto date = [&](const char* k) -> std::optional<int64_t> {
    if (!c.contains(k)) return std::nullopt;
    const auto& v = c[k];
    if (v.is_number_unsigned() && v.get<uint64_t>() < static_cast<uint64_t>(kMaxNumericDate))
      return static_cast<int64_t>(v.get<uint64_t>());
    if (v.is_number_integer() && !v.is_number_unsigned() && v.get<int64_t>() >= 0 &&
        v.get<int64_t>() < kMaxNumericDate)
      return v.get<int64_t>();
    bad = true;
    return std::nullopt;
  };
  auto exp = date("exp"), iat = date("iat"), nbf = date("nbf");
  if (bad) return unauth("exp, iat and nbf must be integer times between 0 and 2^40");
  if (!exp || !iat) return unauth("exp and iat are required");
  if (*iat > *exp) return unauth("issued after it expires (iat > exp)");
  if (*exp <= now) return unauth("expired");
  if (*exp - *iat > kMaxLifetime) return unauth("lives longer than 5 minutes (exp - iat > 300)");
  if (*iat > now + kClockSkew || (nbf && *nbf > now + kClockSkew)) return unauth("not valid yet");
  OneTimeClaims out;
  out.exp = *exp;
  out.jti = str("jti");
  if (out.jti.empty() || out.jti.size() > 128) return unauth("jti (1-128 characters) is required");
  if (auto sub = str("sub"); !sub.empty()) out.names.push_back(sub);
  if (c.contains("sans")) {
    if (!c["sans"].is_array()) return unauth("sans must be an array of names");
    for (const auto& s : c["sans"]) {
      if (!s.is_string()) return unauth("sans must be an array of names");
      out.names.push_back(s.get<std::string>());
    }
  }
  if (out.names.empty()) return unauth("names nothing (sub, sans)");
  return out;
}

}  // namespace herald::server
