#include "acme/eab.h"

#include <gtest/gtest.h>
#include <openssl/hmac.h>

namespace herald::acme {
namespace {

using nlohmann::json;

const json kJwk = {{"kty", "EC"},
                   {"crv", "P-256"},
                   {"x", "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"},
                   {"y", "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}};
const char* kUrl = "https://ca.test/acme/p/new-account";

std::string b64(std::string_view s) {
  return base64url_encode(std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

json binding(const json& header, const json& jwk, const Bytes& key) {
  const std::string p = b64(header.dump()), pl = b64(jwk.dump());
  const std::string input = p + "." + pl;
  unsigned char mac[64];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return json{{"protected", p}, {"payload", pl}, {"signature", base64url_encode({mac, len})}};
}

std::string type_of(const Error& e) {
  for (const auto& [k, v] : e.context)
    if (k == "acme") return v;
  return "";
}

TEST(Eab, ValidBindingVerifies) {
  Bytes key(32, 7);
  auto b = parse_eab(binding({{"alg", "HS256"}, {"kid", "k1"}, {"url", kUrl}}, kJwk, key));
  ASSERT_TRUE(b) << b.error().describe();
  EXPECT_EQ(b->kid, "k1");
  EXPECT_TRUE(verify_eab(*b, kUrl, kJwk, key));
}

TEST(Eab, RefusesWrongKeyUrlAccountKeyAndShape) {
  Bytes key(32, 7), other(32, 8);
  auto b = parse_eab(binding({{"alg", "HS256"}, {"kid", "k1"}, {"url", kUrl}}, kJwk, key));
  ASSERT_TRUE(b);
  auto wrong_key = verify_eab(*b, kUrl, kJwk, other);
  ASSERT_FALSE(wrong_key);
  EXPECT_EQ(type_of(wrong_key.error()), "unauthorized");
  EXPECT_FALSE(verify_eab(*b, "https://ca.test/acme/q/new-account", kJwk, key));
  json other_jwk = kJwk;
  other_jwk["x"] = "WKn-ZIGevcwGIyyrzFoZNBdaq9_TsqzGl96oc0CWuis";
  auto wrong_account = verify_eab(*b, kUrl, other_jwk, key);
  ASSERT_FALSE(wrong_account);
  EXPECT_EQ(type_of(wrong_account.error()), "unauthorized");

  for (const json& header : {json{{"alg", "none"}, {"kid", "k1"}, {"url", kUrl}},
                             json{{"alg", "RS256"}, {"kid", "k1"}, {"url", kUrl}},
                             json{{"alg", "HS256"}, {"url", kUrl}},
                             json{{"alg", "HS256"}, {"kid", "k1"}},
                             json{{"alg", "HS256"}, {"kid", "k1"}, {"url", kUrl}, {"nonce", "n"}}}) {
    auto p = parse_eab(binding(header, kJwk, key));
    ASSERT_FALSE(p) << header.dump();
    EXPECT_EQ(type_of(p.error()), "malformed");
  }
  EXPECT_FALSE(parse_eab(json::array()));
  EXPECT_FALSE(parse_eab(json{{"protected", "a"}, {"payload", "b"}}));
  json padded = binding({{"alg", "HS256"}, {"kid", "k1"}, {"url", kUrl}}, kJwk, key);
  padded["signature"] = "!!";
  EXPECT_FALSE(parse_eab(padded));
}

}  // namespace
}  // namespace herald::acme
