#include "agent/schedule.h"

#include <gtest/gtest.h>

namespace herald::agent {
namespace {

using namespace std::chrono_literals;
using std::chrono::seconds;

const TimePoint kT0{seconds(1'800'000'000)};

TEST(Schedule, LifetimeStartsWhenObtainedNotAtTheBackdatedNotBefore) {
  // Herald backdates notBefore by 5 min: a 2-minute certificate.
  auto life = lifetime_of(kT0 - 300s, kT0 + 120s, kT0);
  EXPECT_EQ(life.start, kT0);
  EXPECT_EQ(renewal_time(life, {.renew_at = 0.5, .jitter = 0}, 0), kT0 + 60s);
  // Unknown time of issuance: notBefore.
  EXPECT_EQ(lifetime_of(kT0 - 300s, kT0 + 120s, std::nullopt).start, kT0 - 300s);
  // An mtime after expiry is clamped.
  EXPECT_EQ(lifetime_of(kT0, kT0 + 120s, kT0 + 999s).start, kT0 + 120s);
}

TEST(Schedule, RenewsAtTheShareWithBoundedJitter) {
  Lifetime life{kT0, kT0 + 3000s};
  RenewalRule rule;  // 2/3, +-5 %
  EXPECT_EQ(renewal_time(life, rule, 0), kT0 + 2000s);
  EXPECT_EQ(renewal_time(life, rule, 1), kT0 + 2150s);
  EXPECT_EQ(renewal_time(life, rule, -1), kT0 + 1850s);
  EXPECT_EQ(renewal_time(life, rule, 7), kT0 + 2150s);  // draw clamped to [-1, 1]
}

TEST(Schedule, NeverPastExpiryNorBeforeStart) {
  Lifetime life{kT0, kT0 + 100s};
  EXPECT_EQ(renewal_time(life, {.renew_at = 0.99, .jitter = 0.5}, 1), kT0 + 98s);
  EXPECT_EQ(renewal_time(life, {.renew_at = 0.01, .jitter = 0.5}, -1), kT0);
  Lifetime tiny{kT0, kT0 + 1s};
  EXPECT_EQ(renewal_time(tiny, {}, 1), kT0);
  Lifetime none{kT0, kT0};
  EXPECT_EQ(renewal_time(none, {}, 0), kT0);
}

TEST(Schedule, BackoffDoublesToItsCap) {
  BackoffRule b;  // 5 s .. 300 s
  EXPECT_EQ(backoff_delay(b, 1), 5s);
  EXPECT_EQ(backoff_delay(b, 2), 10s);
  EXPECT_EQ(backoff_delay(b, 3), 20s);
  EXPECT_EQ(backoff_delay(b, 7), 300s);  // 320 capped
  EXPECT_EQ(backoff_delay(b, 1000), 300s);
  EXPECT_EQ(backoff_delay({.min = 0s, .max = 0s}, 3), 1s);
}

TEST(Schedule, RetryNeverSkipsPastExpiry) {
  BackoffRule b;
  // Plenty of time left: the plain backoff.
  EXPECT_EQ(next_retry(b, 3, kT0, kT0 + 1000s), kT0 + 20s);
  // 300 s of backoff would pass expiry 100 s away: half the time left.
  EXPECT_EQ(next_retry(b, 10, kT0, kT0 + 100s), kT0 + 50s);
  EXPECT_EQ(next_retry(b, 10, kT0, kT0 + 1s), kT0 + 1s);
  // Already expired or no certificate: the plain backoff.
  EXPECT_EQ(next_retry(b, 10, kT0, kT0 - 5s), kT0 + 300s);
  EXPECT_EQ(next_retry(b, 2, kT0, std::nullopt), kT0 + 10s);
}

}  // namespace
}  // namespace herald::agent
