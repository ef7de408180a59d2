#include "alerts/rules.h"

#include <gtest/gtest.h>

namespace herald::alerts {
namespace {

using std::chrono::hours;
using std::chrono::seconds;
constexpr int64_t kDay = 86400;

TimePoint t(int64_t s) { return TimePoint{seconds(s)}; }

std::vector<std::string> labels(const std::vector<Crossed>& c) {
  std::vector<std::string> out;
  for (const auto& x : c) out.push_back(x.label);
  return out;
}

TEST(AlertRules, DaysThresholdsCrossedLoosestFirst) {
  AlertsConfig cfg;  // 30, 15, 7, 1 days; 10 %
  cfg.lifetime_percent = 0;
  const TimePoint nb = t(0), na = t(365 * kDay);
  EXPECT_TRUE(crossed_thresholds(cfg, nb, na, na - seconds(31 * kDay)).empty());
  EXPECT_EQ(labels(crossed_thresholds(cfg, nb, na, na - seconds(30 * kDay))),
            (std::vector<std::string>{"30d"}));
  EXPECT_EQ(labels(crossed_thresholds(cfg, nb, na, na - seconds(6 * kDay))),
            (std::vector<std::string>{"30d", "15d", "7d"}));
  EXPECT_EQ(labels(crossed_thresholds(cfg, nb, na, na - seconds(60))),
            (std::vector<std::string>{"30d", "15d", "7d", "1d"}));
  EXPECT_TRUE(crossed_thresholds(cfg, nb, na, na).empty());  // expired: nothing
}

TEST(AlertRules, ShareOfLifetime) {
  AlertsConfig cfg;
  cfg.days.clear();
  cfg.lifetime_percent = 10;
  const TimePoint nb = t(1000), na = t(1000 + 100 * 3600);  // 100 h
  EXPECT_TRUE(crossed_thresholds(cfg, nb, na, na - hours(11)).empty());
  EXPECT_EQ(labels(crossed_thresholds(cfg, nb, na, na - hours(10))),
            (std::vector<std::string>{"10pct"}));
  cfg.lifetime_percent = 2.5;
  EXPECT_EQ(labels(crossed_thresholds(cfg, nb, na, na - hours(2))),
            (std::vector<std::string>{"2.5pct"}));
  // Mixed with days: ordered by how much time is left at each threshold.
  cfg.days = {1};
  cfg.lifetime_percent = 50;  // 50 h > 1 day
  EXPECT_EQ(labels(crossed_thresholds(cfg, nb, na, na - hours(3))),
            (std::vector<std::string>{"50pct", "1d"}));
}

TEST(AlertRules, KeysAndSilences) {
  EXPECT_EQ(alert_key("expiry", "0a1b", "30d"), "expiry:0a1b:30d");
  std::vector<store::Silence> s(2);
  s[0].owner_key = "team";
  s[0].owner_value = "payments";
  s[1].serial = "0A1B";
  EXPECT_EQ(silenced_by(s, "0a1b", {}), &s[1]);  // serials compare without case
  EXPECT_EQ(silenced_by(s, "0c", {{"team", "payments"}, {"env", "prod"}}), &s[0]);
  EXPECT_EQ(silenced_by(s, "0c", {{"team", "web"}}), nullptr);
  EXPECT_EQ(silenced_by(s, "0c", {{"owner", "payments"}}), nullptr);
  EXPECT_EQ(silenced_by({}, "0a1b", {}), nullptr);
}

TEST(AlertRules, SignatureIsHmacSha256OfTimestampDotBody) {
  // Known answer from `printf '1800000000.{"kind":"expiry"}' | openssl dgst
  // -sha256 -hmac Jefe`.
  const std::string body = R"({"kind":"expiry"})";
  EXPECT_EQ(signature_header("Jefe", "1800000000", body),
            "sha256=360a0702c52a4d21cdd40204a07ea9051b9710e15691fd47dc9cecd209c15ca1");
  // Not the body alone (the old scheme), and the timestamp is covered.
  EXPECT_NE(signature_header("Jefe", "1800000000", body), signature_header("Jefe", "", body));
  EXPECT_NE(signature_header("Jefe", "1800000001", body),
            signature_header("Jefe", "1800000000", body));
  EXPECT_NE(signature_header("Jefe", "1800000000", R"({"kind":"expirY"})"),
            signature_header("Jefe", "1800000000", body));
}

TEST(AlertRules, ReceiverCheckRefusesAChangedTimestampOrAStaleOne) {
  const std::string body = R"({"kind":"expiry","serial":"0A"})";
  const TimePoint now = t(1'800'000'000);
  const std::string sig = signature_header("s3cret", "1800000000", body);
  EXPECT_TRUE(verify_signature("s3cret", "1800000000", body, sig, now));
  // A replay: the captured signature with a fresh timestamp.
  EXPECT_FALSE(verify_signature("s3cret", "1800000100", body, sig, now + seconds(100)));
  // The right signature, but too old or too far ahead (5 minutes either way).
  EXPECT_TRUE(verify_signature("s3cret", "1800000000", body, sig, now + seconds(300)));
  EXPECT_FALSE(verify_signature("s3cret", "1800000000", body, sig, now + seconds(301)));
  EXPECT_FALSE(verify_signature("s3cret", "1800000000", body, sig, now - seconds(301)));
  // Another secret, another body, a malformed or missing timestamp or signature.
  EXPECT_FALSE(verify_signature("other", "1800000000", body, sig, now));
  EXPECT_FALSE(verify_signature("s3cret", "1800000000", body + " ", sig, now));
  EXPECT_FALSE(verify_signature("s3cret", "+1800000000", body, sig, now));
  EXPECT_FALSE(verify_signature("s3cret", "", body, sig, now));
  EXPECT_FALSE(verify_signature("s3cret", "1800000000", body, "", now));
  EXPECT_FALSE(verify_signature("s3cret", "1800000000", body, sig.substr(0, sig.size() - 1), now));
  EXPECT_FALSE(verify_signature("", "1800000000", body, signature_header("", "1800000000", body),
                                now));
}

TEST(AlertRules, BackoffDoublesUpToTheCap) {
  AlertsConfig cfg;
  cfg.retry_initial = std::chrono::milliseconds(500);
  cfg.retry_max = std::chrono::milliseconds(3000);
  using ms = std::chrono::milliseconds;
  EXPECT_EQ(retry_delay(cfg, 2), ms(500));
  EXPECT_EQ(retry_delay(cfg, 3), ms(1000));
  EXPECT_EQ(retry_delay(cfg, 4), ms(2000));
  EXPECT_EQ(retry_delay(cfg, 5), ms(3000));
  EXPECT_EQ(retry_delay(cfg, 50), ms(3000));
}

}  // namespace
}  // namespace herald::alerts
