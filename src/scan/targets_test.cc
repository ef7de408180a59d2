#include "scan/targets.h"

#include <gtest/gtest.h>

namespace herald::scan {
namespace {

std::vector<Target> one(std::string_view text) {
  std::vector<Target> out;
  auto st = parse_target(text, out);
  EXPECT_TRUE(st) << text << ": " << (st ? "" : st.error().message);
  return out;
}

std::string error_of(std::string_view text, size_t max_total = kMaxTargets) {
  std::vector<Target> out;
  auto st = parse_target(text, out, max_total);
  EXPECT_FALSE(st) << text << " was accepted";
  EXPECT_TRUE(out.empty()) << text << " appended targets although refused";
  return st ? std::string() : st.error().message;
}

TEST(ScanTargets, HostPortAndAddresses) {
  auto t = one("Web.Example.com:443");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].host, "web.example.com");
  EXPECT_EQ(t[0].port, 443);
  EXPECT_FALSE(t[0].is_ip);
  EXPECT_EQ(t[0].endpoint(), "web.example.com:443");
  t = one("127.0.0.1:8443");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_TRUE(t[0].is_ip);
  EXPECT_EQ(t[0].endpoint(), "127.0.0.1:8443");
  t = one("[::1]:443");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].host, "::1");
  EXPECT_EQ(t[0].endpoint(), "[::1]:443");
  // Normalised text form.
  t = one("[FD00:0:0::01]:65535");
  EXPECT_EQ(t[0].host, "fd00::1");
  EXPECT_EQ(t[0].port, 65535);
}

TEST(ScanTargets, Ipv4RangesExpandToEveryAddress) {
  auto t = one("10.1.2.3/30:443");  // host bits cleared: 10.1.2.0 - 10.1.2.3
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[0].host, "10.1.2.0");
  EXPECT_EQ(t[3].host, "10.1.2.3");
  t = one("10.0.0.0/16:443");
  ASSERT_EQ(t.size(), 65536u);
  EXPECT_EQ(t[255].host, "10.0.0.255");
  EXPECT_EQ(t[256].host, "10.0.1.0");
  EXPECT_EQ(t.back().host, "10.0.255.255");
  t = one("192.0.2.7/32:1");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].host, "192.0.2.7");
}

TEST(ScanTargets, Ipv6RangesExpand) {
  auto t = one("[fd00::ff/120]:8443");
  ASSERT_EQ(t.size(), 256u);
  EXPECT_EQ(t[0].host, "fd00::");
  EXPECT_EQ(t[1].host, "fd00::1");
  EXPECT_EQ(t[255].host, "fd00::ff");
  EXPECT_EQ(t[255].endpoint(), "[fd00::ff]:8443");
  t = one("[2001:db8::/112]:443");
  ASSERT_EQ(t.size(), 65536u);
  EXPECT_EQ(t.back().host, "2001:db8::ffff");
  t = one("[fd00::1/128]:443");
  ASSERT_EQ(t.size(), 1u);
}

TEST(ScanTargets, RangesBeyondTheCapAreRefusedBeforeExpanding) {
  EXPECT_NE(error_of("10.0.0.0/15:443").find("at most 65536"), std::string::npos);
  EXPECT_NE(error_of("0.0.0.0/0:443").find("at most"), std::string::npos);
  EXPECT_NE(error_of("[::/0]:443").find("at most"), std::string::npos);
  EXPECT_NE(error_of("[2001:db8::/64]:443").find("at most"), std::string::npos);
  // The cap counts what is already there.
  std::vector<Target> out;
  ASSERT_TRUE(parse_target("10.0.0.0/24:443", out, 300));
  auto st = parse_target("10.0.1.0/26:443", out, 300);
  EXPECT_FALSE(st);
  EXPECT_EQ(out.size(), 256u);
  ASSERT_TRUE(parse_target("10.0.1.0/27:443", out, 300));
  EXPECT_EQ(out.size(), 288u);
  EXPECT_FALSE(parse_target("a.example:1", out, 288));
}

TEST(ScanTargets, BadInputIsRefusedWithAReason) {
  EXPECT_NE(error_of("").find("empty"), std::string::npos);
  EXPECT_NE(error_of("web.example").find("port"), std::string::npos);
  EXPECT_NE(error_of("web.example:").find("port"), std::string::npos);
  EXPECT_NE(error_of("web.example:0").find("port"), std::string::npos);
  EXPECT_NE(error_of("web.example:65536").find("port"), std::string::npos);
  EXPECT_NE(error_of("web.example:-1").find("port"), std::string::npos);
  EXPECT_NE(error_of("web.example:44x").find("port"), std::string::npos);
  EXPECT_NE(error_of(":443").find("no host"), std::string::npos);
  EXPECT_NE(error_of("::1:443").find("brackets"), std::string::npos);
  EXPECT_NE(error_of("[::1]443").find("port"), std::string::npos);
  EXPECT_NE(error_of("[::1:443").find("']'"), std::string::npos);
  EXPECT_NE(error_of("[10.0.0.1]:443").find("IPv6"), std::string::npos);
  EXPECT_NE(error_of("[web.example]:443").find("IPv6"), std::string::npos);
  EXPECT_NE(error_of("fd00::/120:443").find("brackets"), std::string::npos);
  EXPECT_NE(error_of("10.0.0.0/33:443").find("prefix"), std::string::npos);
  EXPECT_NE(error_of("10.0.0.0/:443").find("prefix"), std::string::npos);
  EXPECT_NE(error_of("[fd00::/129]:443").find("prefix"), std::string::npos);
  EXPECT_NE(error_of("10.0.0.256/24:443").find("IPv4"), std::string::npos);
  EXPECT_NE(error_of("1.2.3.256:443").find("IPv4"), std::string::npos);
  EXPECT_NE(error_of("web example:443").find("host name"), std::string::npos);
  EXPECT_NE(error_of("-web.example:443").find("host name"), std::string::npos);
  EXPECT_NE(error_of("a..b:443").find("host name"), std::string::npos);
  EXPECT_NE(error_of(std::string(300, 'a') + ":443").find("host name"), std::string::npos);
  EXPECT_NE(error_of(std::string(2000, 'a') + ":443").find("too long"), std::string::npos);
  // The error names the target, shortened.
  EXPECT_NE(error_of("bad host:1").find("'bad host:1'"), std::string::npos);
}

TEST(ScanTargets, ListsAndFilesDropDuplicatesAndNameTheLine) {
  auto t = parse_targets({"a.example:443", "127.0.0.1:443"},
                         "# endpoints\n\n  b.example:8443  # the API\r\na.example:443\n"
                         "10.0.0.0/31:443\n");
  ASSERT_TRUE(t) << t.error().message;
  ASSERT_EQ(t->size(), 5u);
  EXPECT_EQ((*t)[2].endpoint(), "b.example:8443");
  EXPECT_EQ((*t)[4].endpoint(), "10.0.0.1:443");
  auto bad = parse_targets({}, "a.example:443\n\nnope\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("line 3"), std::string::npos) << bad.error().message;
  auto none = parse_targets({}, "# nothing\n");
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("no target"), std::string::npos);
  EXPECT_FALSE(parse_targets({"10.0.0.0/17:443", "10.1.0.0/17:443", "x.example:1"}));
}

}  // namespace
}  // namespace herald::scan
