#include "keys/one_time_token.h"

#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "keys/jws.h"
#include "ossl/ossl.h"

namespace herald::keys {

Result<std::string> mint_one_time_token(EVP_PKEY& key, const OneTimeTokenRequest& r,
                                        TimePoint now) {
  if (r.cn.empty() && r.sans.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "a one-time token must name something (a CN or SANs)");
  }
  if (r.ttl.count() <= 0 || r.ttl > std::chrono::seconds(300)) {
    return make_error(ErrorCode::kInvalidArgument, "one-time tokens live at most 5m");
  }
  HERALD_TRY(auto jti, ossl::random_bytes(16));
  const int64_t t = now.time_since_epoch().count();
  nlohmann::json payload = {{"iss", r.provisioner}, {"aud", r.audience},
                            {"iat", t},             {"nbf", t},
                            {"exp", t + r.ttl.count()}, {"jti", to_hex(jti, false)},
                            {"sans", r.sans}};
  if (!r.cn.empty()) payload["sub"] = r.cn;
  return sign_compact_jws({{"typ", "JWT"}}, payload, key);
}

}  // namespace herald::keys
