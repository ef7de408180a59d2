#include "server/ui_session.h"

#include <gtest/gtest.h>

namespace herald::server::ui {
namespace {

const Bytes kKey(32, 7);
const TimePoint kNow{std::chrono::seconds(1'000'000)};

TEST(UiSession, SealedSessionOpensUntilItExpires) {
  Session s{"admin", "ab12", kNow + std::chrono::hours(8)};
  std::string v = seal(s, kKey);
  EXPECT_EQ(v.find("ab12"), std::string::npos);  // base64url, not plain
  auto back = open(v, kKey, kNow);
  ASSERT_TRUE(back) << back.error().describe();
  EXPECT_EQ(back->provisioner, "admin");
  EXPECT_EQ(back->token_sha256, "ab12");
  EXPECT_EQ(back->expires, s.expires);
  EXPECT_FALSE(open(v, kKey, s.expires));
}

TEST(UiSession, AnyChangeOrAnotherKeyIsRefused) {
  std::string v = seal({"admin", "ab12", kNow + std::chrono::hours(1)}, kKey);
  EXPECT_FALSE(open(v, Bytes(32, 8), kNow));
  for (size_t i = 0; i < v.size(); ++i) {
    std::string t = v;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(open(t, kKey, kNow)) << i;
  }
  EXPECT_FALSE(open("", kKey, kNow));
  EXPECT_FALSE(open("abc", kKey, kNow));
  EXPECT_FALSE(open(std::string(5000, 'a') + ".b", kKey, kNow));
  EXPECT_EQ(open(v.substr(0, v.find('.')), kKey, kNow).error().code, ErrorCode::kUnauthenticated);
}

TEST(UiSession, CookieFlagsAndParsing) {
  std::string c = set_cookie("v.w", std::chrono::hours(8));
  EXPECT_NE(c.find("herald_session=v.w;"), std::string::npos);
  for (const char* flag : {"Secure", "HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"})
    EXPECT_NE(c.find(flag), std::string::npos) << flag;
  EXPECT_NE(clear_cookie().find("Max-Age=0"), std::string::npos);
  net::Request r;
  r.headers = {{"cookie", "a=1; herald_session=xyz; herald_session_x=2"}};
  EXPECT_EQ(cookie(r, "herald_session"), "xyz");
  EXPECT_EQ(cookie(r, "a"), "1");
  EXPECT_EQ(cookie(r, "b"), "");
}

TEST(UiSession, SameOriginNeedsTheHostOverHttps) {
  net::Request r;
  r.tls = true;
  r.headers = {{"origin", "https://127.0.0.1:8443"}, {"host", "127.0.0.1:8443"}};
  EXPECT_TRUE(same_origin(r));
  r.headers = {{"origin", "https://evil.example"}, {"host", "127.0.0.1:8443"}};
  EXPECT_FALSE(same_origin(r));
  r.headers = {{"host", "127.0.0.1:8443"}};
  EXPECT_FALSE(same_origin(r));
  r.headers = {{"origin", "http://127.0.0.1:8443"}, {"host", "127.0.0.1:8443"}};
  EXPECT_FALSE(same_origin(r));
}

TEST(UiSession, LoginLimiterBoundsAttemptsAndAddresses) {
  LoginLimiter l(3, 2);
  auto t = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  EXPECT_TRUE(l.allow("a", t));
  EXPECT_TRUE(l.allow("a", t));
  EXPECT_TRUE(l.allow("a", t));
  EXPECT_FALSE(l.allow("a", t));
  EXPECT_TRUE(l.allow("b", t));
  EXPECT_FALSE(l.allow("c", t));  // full
  EXPECT_EQ(l.tracked(), 2u);
  t += std::chrono::seconds(61);
  EXPECT_TRUE(l.allow("a", t));  // a new window
  EXPECT_TRUE(l.allow("c", t));  // expired windows made room
  EXPECT_LE(l.tracked(), 2u);
}

}  // namespace
}  // namespace herald::server::ui
