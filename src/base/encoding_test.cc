#include "base/encoding.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

TEST(Hex, RoundTrips) {
  Bytes b{0x00, 0xab, 0xff};
  EXPECT_EQ(to_hex(b), "00ABFF");
  EXPECT_EQ(to_hex(b, false), "00abff");
  EXPECT_EQ(to_hex_colons(b), "00:AB:FF");
  EXPECT_EQ(*from_hex("00:ab:FF"), b);
  EXPECT_EQ(*from_hex("abc"), (Bytes{0x0a, 0xbc}));
  EXPECT_FALSE(from_hex("zz"));
  EXPECT_FALSE(from_hex(""));
}

TEST(Base64Url, RoundTripsAllLengths) {
  Bytes b;
  for (int n = 0; n < 40; ++n) {
    auto enc = base64url_encode(b);
    EXPECT_EQ(enc.find('='), std::string::npos);
    auto dec = base64url_decode(enc);
    ASSERT_TRUE(dec) << n;
    EXPECT_EQ(*dec, b);
    b.push_back(static_cast<uint8_t>(n * 37 + 250));
  }
  EXPECT_EQ(base64url_encode(Bytes{0xfb, 0xff}), "-_8");
}

TEST(Base64, StandardAlphabetWithPadding) {
  // RFC 4648 §10 test vectors.
  const char* in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  const char* out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  for (int i = 0; i < 7; ++i) {
    std::string_view s(in[i]);
    EXPECT_EQ(base64_encode(Bytes(s.begin(), s.end())), out[i]);
  }
  EXPECT_EQ(base64_encode(Bytes{0xfb, 0xff}), "+/8=");
}

TEST(Base64, DecodesStrictly) {
  for (size_t n = 0; n < 40; ++n) {
    Bytes b(n);
    for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i * 37 + 250);
    auto back = base64_decode(base64_encode(b));
    ASSERT_TRUE(back) << n;
    EXPECT_EQ(*back, b);
  }
  EXPECT_EQ(*base64_decode("+/8="), (Bytes{0xfb, 0xff}));
  for (const char* bad : {"+/8", "-_8=", "AB==", "A===", "AA=A", "AA AA", "====", "AA==AA=="}) {
    EXPECT_FALSE(base64_decode(bad)) << bad;
  }
}

TEST(Base64Url, RejectsMalformed) {
  EXPECT_FALSE(base64url_decode("a"));
  EXPECT_FALSE(base64url_decode("ab+/"));
  EXPECT_FALSE(base64url_decode("ab=="));
  EXPECT_FALSE(base64url_decode("-_9"));  // non-zero trailing bits
}

}  // namespace
}  // namespace herald
