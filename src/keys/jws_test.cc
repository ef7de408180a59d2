#include "keys/jws.h"

#include <gtest/gtest.h>

#include "keys/private_key.h"

namespace herald::keys {
namespace {

class JwsTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(JwsTest, SignParseVerifyAndTamper) {
  auto key = generate_key(GetParam());
  auto token = sign_compact_jws({{"typ", "JWT"}}, {{"sub", "web.internal"}, {"jti", "x"}}, **key);
  ASSERT_TRUE(token) << token.error().describe();
  auto jws = parse_compact_jws(*token);
  ASSERT_TRUE(jws) << jws.error().describe();
  EXPECT_EQ(jws->payload["sub"], "web.internal");
  EXPECT_TRUE(verify_jws(*jws, **key));

  auto other = generate_key(GetParam());
  auto wrong = verify_jws(*jws, **other);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, ErrorCode::kBadSignature);

  // Change the payload, keep the signature.
  std::string forged = *token;
  auto d1 = forged.find('.'), d2 = forged.find('.', d1 + 1);
  std::string p = R"({"sub":"evil.internal","jti":"x"})";
  forged = forged.substr(0, d1 + 1) +
           base64url_encode(std::span(reinterpret_cast<const uint8_t*>(p.data()), p.size())) +
           forged.substr(d2);
  auto fj = parse_compact_jws(forged);
  ASSERT_TRUE(fj);
  EXPECT_FALSE(verify_jws(*fj, **key));
}

INSTANTIATE_TEST_SUITE_P(Keys, JwsTest, ::testing::Values(KeyType::kEcP256, KeyType::kEd25519));

TEST(Jws, RejectsMalformedAndOtherAlgorithms) {
  for (const char* bad : {"", "a.b", "a.b.c.d", "!!.e30.", "e30.e30.", "W10.e30.AA",
                          "eyJhbGciOiJub25lIn0.e30.", "eyJhbGciOiJIUzI1NiJ9.e30.AA"}) {
    auto r = parse_compact_jws(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code, ErrorCode::kMalformedInput);
    }
  }
  auto rsa = generate_key(KeyType::kRsa2048);
  EXPECT_FALSE(sign_compact_jws({}, {}, **rsa));
}

}  // namespace
}  // namespace herald::keys
