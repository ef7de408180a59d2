#include "base/duration.h"

#include <gtest/gtest.h>

#include "base/clock.h"

namespace herald {
namespace {

TEST(Duration, ParsesUnits) {
  EXPECT_EQ(parse_duration("90d")->count(), 90 * 86400);
  EXPECT_EQ(parse_duration("720h")->count(), 720 * 3600);
  EXPECT_EQ(parse_duration("20y")->count(), int64_t{20} * 365 * 86400);
  EXPECT_EQ(parse_duration("30m")->count(), 1800);
  EXPECT_EQ(parse_duration("3600s")->count(), 3600);
  EXPECT_EQ(parse_duration("1d12h")->count(), 36 * 3600);
}

TEST(Duration, RejectsGarbage) {
  for (const char* bad :
       {"", "d", "90", "90x", "-5d", "0d", "1.5d", "9999999999999999999y", "5000y"}) {
    auto r = parse_duration(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  }
}

TEST(Clock, FormatsIsoAndHttpDates) {
  const TimePoint t{std::chrono::seconds(1795500000)};  // date -u -d @1795500000
  EXPECT_EQ(format_time(t), "2026-11-24T06:00:00Z");
  EXPECT_EQ(format_http_date(t), "Tue, 24 Nov 2026 06:00:00 GMT");
}

TEST(Duration, FormatsLargestUnit) {
  EXPECT_EQ(format_duration(std::chrono::seconds(90 * 86400)), "90d");
  EXPECT_EQ(format_duration(std::chrono::hours(1)), "1h");
  EXPECT_EQ(format_duration(std::chrono::seconds(61)), "61s");
}

}  // namespace
}  // namespace herald
