// One-time token claims, attacked: times chosen to overflow exp - iat, other
// audiences, lifetimes, names.
#include "server/one_time_token.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace herald::server {
namespace {

using nlohmann::json;

constexpr int64_t kNow = 1'800'000'000;
const std::vector<std::string> kAud{"https://localhost:8443/v1/sign"};

json good() {
  return {{"aud", kAud[0]}, {"iat", kNow}, {"exp", kNow + 120}, {"jti", "abc"},
          {"sub", "web.internal"}, {"sans", {"10.0.0.7"}}};
}

std::string why(const json& claims) {
  auto r = check_one_time_claims(claims, kNow, kAud);
  if (r) return "ok";
  EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
  return r.error().message;
}

TEST(OneTimeClaims, AGoodTokenNamesItsNames) {
  auto r = check_one_time_claims(good(), kNow, kAud);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->names, (std::vector<std::string>{"web.internal", "10.0.0.7"}));
  EXPECT_EQ(r->jti, "abc");
  EXPECT_EQ(r->exp, kNow + 120);
}

TEST(OneTimeClaims, OverflowingTimesAreRefusedBeforeArithmetic) {
  const int64_t max = INT64_MAX, min = INT64_MIN;
  // exp = 2^63-1, iat = -2^63: exp - iat overflows to a small number.
  for (auto [iat, exp] : std::vector<std::pair<json, json>>{
           {json(min), json(max)},
           {json(uint64_t{1} << 63), json(max)},
           {json(-1), json(kNow + 60)},
           {json(kNow), json(uint64_t{1} << 40)},
           {json(kNow), json(1e300)},
           {json(kNow), json(kNow + 60.5)},
           {json("1800000000"), json(kNow + 60)}}) {
    json c = good();
    c["iat"] = iat;
    c["exp"] = exp;
    EXPECT_EQ(why(c), "one-time token: exp, iat and nbf must be integer times between 0 and 2^40")
        << c.dump();
  }
  json c = good();
  c["nbf"] = min;
  EXPECT_EQ(why(c), "one-time token: exp, iat and nbf must be integer times between 0 and 2^40");
}

TEST(OneTimeClaims, LifetimeAndClock) {
  json c = good();
  c["iat"] = kNow + 200;
  c["exp"] = kNow + 100;
  EXPECT_EQ(why(c), "one-time token: issued after it expires (iat > exp)");
  c = good();
  c["exp"] = kNow;
  EXPECT_EQ(why(c), "one-time token: expired");
  c = good();
  c["iat"] = kNow - 10;
  c["exp"] = kNow + 291;
  EXPECT_EQ(why(c), "one-time token: lives longer than 5 minutes (exp - iat > 300)");
  c = good();
  c["iat"] = kNow + 61;
  c["exp"] = kNow + 200;
  EXPECT_EQ(why(c), "one-time token: not valid yet");
  c = good();
  c.erase("iat");
  EXPECT_EQ(why(c), "one-time token: exp and iat are required");
}

TEST(OneTimeClaims, AudienceJtiNames) {
  json c = good();
  c["aud"] = "https://evil.example:443/v1/sign";
  EXPECT_EQ(why(c), "one-time token: audience 'https://evil.example:443/v1/sign' is not this "
                    "server's /v1/sign URL");
  c = good();
  c["jti"] = std::string(129, 'a');
  EXPECT_EQ(why(c), "one-time token: jti (1-128 characters) is required");
  c = good();
  c.erase("sub");
  c.erase("sans");
  EXPECT_EQ(why(c), "one-time token: names nothing (sub, sans)");
  c = good();
  c["sans"] = {1};
  EXPECT_EQ(why(c), "one-time token: sans must be an array of names");
  EXPECT_EQ(why(json::array()), "one-time token: the payload is not a JSON object");
}

}  // namespace
}  // namespace herald::server
