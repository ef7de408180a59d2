#include "base/json_line.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace herald {
namespace {

TEST(JsonLine, WritesOneParsableLine) {
  std::string line = JsonLine()
                         .str("route", "api")
                         .num("status", -1)
                         .unsigned_num("bytes", 18446744073709551615ull)
                         .fixed("ms", 1.23456, 3)
                         .boolean("error", true)
                         .finish();
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["route"], "api");
  EXPECT_EQ(j["status"], -1);
  EXPECT_EQ(j["bytes"].get<std::uint64_t>(), 18446744073709551615ull);
  EXPECT_DOUBLE_EQ(j["ms"].get<double>(), 1.235);
  EXPECT_EQ(j["error"], true);
}

TEST(JsonLine, EscapesQuotesControlsAndNewlines) {
  const std::string hostile = "a\"b\\c\nd\re\x01\x7f";
  std::string line = JsonLine().str("target", hostile).finish();
  EXPECT_EQ(line.find('\n'), line.size() - 1);  // no raw newline inside
  EXPECT_EQ(nlohmann::json::parse(line)["target"], hostile);
}

TEST(JsonLine, ReplacesInvalidUtf8AndKeepsValid) {
  // Valid: é (2 bytes), € (3), 😀 (4). Invalid: a lone continuation byte,
  // an overlong '/', a surrogate, a truncated sequence at the end.
  const std::string s = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\x80|\xc0\xaf|\xed\xa0\x80|\xe2\x82";
  std::string line = JsonLine().str("t", s).finish();
  auto parsed = nlohmann::json::parse(line);  // throws on invalid UTF-8
  const std::string back = parsed["t"];
  EXPECT_EQ(back.substr(0, 9), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
  EXPECT_EQ(back.find('\x80', 9), std::string::npos);
  EXPECT_NE(back.find("\xef\xbf\xbd"), std::string::npos);  // U+FFFD
}

TEST(JsonLine, NonFiniteNumbersBecomeNull) {
  auto j = nlohmann::json::parse(
      JsonLine().fixed("a", std::nan(""), 3).fixed("b", 1e308 * 10, 1).finish());
  EXPECT_TRUE(j["a"].is_null());
  EXPECT_TRUE(j["b"].is_null());
}

}  // namespace
}  // namespace herald
