#include "x509/san.h"

#include <gtest/gtest.h>

namespace herald::x509 {
namespace {

TEST(San, ParsesAndNormalises) {
  EXPECT_EQ(parse_san("dns:WWW.Example.internal")->value, "www.example.internal");
  EXPECT_EQ(parse_san("ip:::0001")->value, "::1");
  EXPECT_EQ(parse_san("ip:10.0.0.1")->value, "10.0.0.1");
  EXPECT_EQ(parse_san("uri:spiffe://td/ns/a")->value, "spiffe://td/ns/a");
  EXPECT_EQ(parse_san("email:a@b.internal")->to_string(), "email:a@b.internal");
  EXPECT_EQ(parse_san("dns:*.x.internal")->value, "*.x.internal");
  auto list = parse_san_list("dns:a.test,ip:127.0.0.1,,");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->size(), 2u);
}

TEST(San, RejectsMalformed) {
  for (const char* bad :
       {"a.test", "dns:", "dns:-a.test", "dns:a..test", "dns:a.*.test", "dns:*", "dns:a_b.test",
        "ip:300.1.1.1", "ip:host", "uri:noscheme", "uri:a b:c", "email:nobody", "email:a@@b",
        "ftp:x",
        "dns:"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.test"}) {
    auto r = parse_san(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    }
  }
}

TEST(San, GeneralNamesRoundTrip) {
  std::vector<San> sans{*parse_san("dns:a.test"), *parse_san("ip:::1"),
                        *parse_san("uri:spiffe://t/x"), *parse_san("email:a@b.test")};
  auto names = to_general_names(sans);
  ASSERT_TRUE(names);
  EXPECT_EQ(from_general_names(**names), sans);
}

}  // namespace
}  // namespace herald::x509
