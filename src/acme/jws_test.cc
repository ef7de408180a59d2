#include "acme/jws.h"

#include <gtest/gtest.h>
#include <openssl/rsa.h>

#include <map>

#include "keys/private_key.h"

namespace herald::acme {
namespace {

using keys::KeyType;
using nlohmann::json;

// Keys are slow to make under ASan: one of each type for the whole run.
EVP_PKEY& key_of(KeyType type) {
  static std::map<KeyType, ossl::EvpPkeyPtr> cache;
  auto& slot = cache[type];
  if (!slot) {
    auto key = keys::generate_key(type);
    EXPECT_TRUE(key) << key.error().describe();
    slot = std::move(*key);
  }
  return *slot;
}

std::string b64(std::string_view s) {
  return base64url_encode(std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

// A flattened JWS body from its three (already encoded) members.
std::string body(const std::string& protected_b64, const std::string& payload_b64,
                 const std::string& signature_b64) {
  return json{{"protected", protected_b64}, {"payload", payload_b64}, {"signature", signature_b64}}
      .dump();
}

json header_for(EVP_PKEY& key, bool with_jwk) {
  json h = {{"nonce", "bm9uY2U"}, {"url", "https://ca.internal/acme/p/new-order"}};
  if (with_jwk) {
    h["jwk"] = *key_to_jwk(key);
  } else {
    h["kid"] = "https://ca.internal/acme/p/acct/1";
  }
  return h;
}

// A signed request, parsed (not yet verified).
JwsRequest signed_request(EVP_PKEY& key, json header, std::string_view payload) {
  auto signed_body = sign_jws_request(header, payload, key);
  EXPECT_TRUE(signed_body) << signed_body.error().describe();
  auto parsed = parse_jws_request(signed_body.value_or(""));
  EXPECT_TRUE(parsed) << parsed.error().describe();
  return parsed.value_or(JwsRequest{});
}

// The refusal checks: code, problem type, and (if given) a part of the message.
template <typename T>
void expect_refused(const Result<T>& r, ErrorCode code, std::string_view type,
                    std::string_view message_part = "") {
  ASSERT_FALSE(r) << "accepted, expected " << type;
  EXPECT_EQ(r.error().code, code) << r.error().describe();
  EXPECT_EQ(error_type(r.error()), type) << r.error().describe();
  EXPECT_NE(r.error().message.find(message_part), std::string::npos) << r.error().describe();
  int tags = 0;
  for (const auto& [k, v] : r.error().context) tags += k == "acme";
  EXPECT_EQ(tags, 1) << r.error().describe();
}

// ---- Round trips ----

struct Case {
  KeyType type;
  std::string alg;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.alg; }

class AcmeJwsRoundTrip : public ::testing::TestWithParam<std::tuple<Case, bool>> {};

TEST_P(AcmeJwsRoundTrip, SignParseVerify) {
  const auto& [c, with_jwk] = GetParam();
  EVP_PKEY& key = key_of(c.type);
  const std::string payload = R"({"identifiers":[{"type":"dns","value":"web.internal"}]})";
  JwsRequest jws = signed_request(key, header_for(key, with_jwk), payload);
  EXPECT_EQ(jws.alg, c.alg);
  EXPECT_EQ(jws.nonce, "bm9uY2U");
  EXPECT_EQ(jws.url, "https://ca.internal/acme/p/new-order");
  EXPECT_EQ(jws.payload_raw, payload);
  EXPECT_EQ(jws.payload["identifiers"][0]["value"], "web.internal");
  EXPECT_FALSE(jws.post_as_get);
  EXPECT_EQ(jws.protected_header["alg"], c.alg);
  EXPECT_EQ(jws.kid.has_value(), !with_jwk);
  ASSERT_EQ(jws.jwk.has_value(), with_jwk);

  if (with_jwk) {
    auto jwk_key = jwk_to_key(*jws.jwk);
    ASSERT_TRUE(jwk_key) << jwk_key.error().describe();
    EXPECT_EQ(EVP_PKEY_eq(jwk_key->get(), &key), 1);
    auto ok = verify_jws_request(jws, **jwk_key);
    EXPECT_TRUE(ok) << ok.error().describe();
    auto thumbprint = jwk_thumbprint(*jws.jwk);
    ASSERT_TRUE(thumbprint) << thumbprint.error().describe();
    EXPECT_EQ(thumbprint->size(), 43u);
  } else {
    EXPECT_EQ(*jws.kid, "https://ca.internal/acme/p/acct/1");
    auto ok = verify_jws_request(jws, key);
    EXPECT_TRUE(ok) << ok.error().describe();
  }

  // Another key of the same type: the signature does not verify.
  auto other = keys::generate_key(c.type);
  ASSERT_TRUE(other);
  expect_refused(verify_jws_request(jws, **other), ErrorCode::kBadSignature, "unauthorized",
                 "does not verify");
}

TEST_P(AcmeJwsRoundTrip, PostAsGet) {
  const auto& [c, with_jwk] = GetParam();
  EVP_PKEY& key = key_of(c.type);
  JwsRequest jws = signed_request(key, header_for(key, with_jwk), "");
  EXPECT_TRUE(jws.post_as_get);
  EXPECT_EQ(jws.payload_raw, "");
  EXPECT_TRUE(jws.payload.is_null());
  EXPECT_EQ(jws.signing_input.back(), '.');
  EXPECT_TRUE(verify_jws_request(jws, key));
}

INSTANTIATE_TEST_SUITE_P(Keys, AcmeJwsRoundTrip,
                         ::testing::Combine(::testing::Values(Case{KeyType::kRsa2048, "RS256"},
                                                              Case{KeyType::kEcP256, "ES256"},
                                                              Case{KeyType::kEcP384, "ES384"},
                                                              Case{KeyType::kEd25519, "EdDSA"}),
                                            ::testing::Bool()),
                         [](const auto& info) {
                           return std::get<0>(info.param).alg +
                                  (std::get<1>(info.param) ? "_jwk" : "_kid");
                         });

TEST(AcmeJws, KeyToJwkShapes) {
  auto rsa = key_to_jwk(key_of(KeyType::kRsa2048));
  ASSERT_TRUE(rsa);
  EXPECT_EQ(*rsa, (json{{"kty", "RSA"}, {"n", (*rsa)["n"]}, {"e", "AQAB"}}));
  auto p384 = key_to_jwk(key_of(KeyType::kEcP384));
  ASSERT_TRUE(p384);
  EXPECT_EQ((*p384)["crv"], "P-384");
  EXPECT_EQ((*p384)["x"].get<std::string>().size(), 64u);  // 48 octets
  auto ed = key_to_jwk(key_of(KeyType::kEd25519));
  ASSERT_TRUE(ed);
  EXPECT_EQ((*ed)["kty"], "OKP");
  EXPECT_EQ((*ed)["crv"], "Ed25519");
}

TEST(AcmeJws, NonceMayBeAbsentWhenNotRequired) {
  EVP_PKEY& key = key_of(KeyType::kEcP256);
  json h = header_for(key, true);
  h.erase("nonce");
  auto signed_body = sign_jws_request(h, R"({"account":"x"})", key);
  ASSERT_TRUE(signed_body);
  expect_refused(parse_jws_request(*signed_body), ErrorCode::kMalformedInput, "malformed",
                 "no nonce");
  auto inner = parse_jws_request(*signed_body, /*require_nonce=*/false);
  ASSERT_TRUE(inner) << inner.error().describe();
  EXPECT_EQ(inner->nonce, "");
  EXPECT_TRUE(verify_jws_request(*inner, key));
}

TEST(AcmeJws, SignRefusesAnAlgThatDoesNotFitTheKey) {
  json h = header_for(key_of(KeyType::kEcP256), false);
  h["alg"] = "ES384";
  auto r = sign_jws_request(h, "{}", key_of(KeyType::kEcP256));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

// ---- Interoperability: requests signed elsewhere (Python cryptography) ----

TEST(AcmeJws, VerifiesRequestsSignedByAnotherImplementation) {
  const std::string es256 =
      R"({"protected":"eyJqd2siOnsia3R5IjoiRUMiLCJjcnYiOiJQLTI1NiIsIngiOiJ5V1p5TmM4WVpLZD)"
      R"(dSdHJDZFJ3UWJOeS1YTm5ZdDJBTW91M3FfaEFDbWhFIiwieSI6InhrcGxCaXVoZEplMWlsZEhiaEtjSG)"
      R"(dBQkhBcHFWTkxxV08wOE83SzVSTE0ifSwibm9uY2UiOiJvRnZubEZQMXdJaFJsWVMyalRhWGJBIiwidX)"
      R"(JsIjoiaHR0cHM6Ly9jYS5pbnRlcm5hbDo4NDQzL2FjbWUvd2ViL25ldy1hY2NvdW50IiwiYWxnIjoiRV)"
      R"(MyNTYifQ","payload":"eyJ0ZXJtc09mU2VydmljZUFncmVlZCI6IHRydWUsICJjb250YWN0IjogWyJ)"
      R"(tYWlsdG86b3BzQGV4YW1wbGUuaW50ZXJuYWwiXX0","signature":"tVlpLoFIWM0rMETq5TqGdzK_f)"
      R"(WPNFT26lZkXThgH3xK3UnPeCUEB9rw2zTAwk3e_lFpQ2NsG9_9YJ_2W9a0ZhQ"})";
  const std::string es384 =
      R"({"protected":"eyJhbGciOiJFUzM4NCIsImp3ayI6eyJrdHkiOiJFQyIsImNydiI6IlAtMzg0IiwieC)"
      R"(I6IjZUaTJZM1pTc2tSNWZabWZlcTF3eDA5UGZydHB4LXYwRzEyeTkzTWI2YVFJNmxDdG5BbDViV3NmSk)"
      R"(Nua2FvdjUiLCJ5IjoiY3dzZWhKMWpXSndBOEZ4TWt3V09ZbHRyaDZrdFNacE1XMWt1ZnlRdEJSY3psX0)"
      R"(d4eHVqeWp6WGVPTjRDZkxBSCJ9LCJub25jZSI6IkpIYjU0YVRfS1RYQldRT3pHWWt0OUEiLCJ1cmwiOi)"
      R"(JodHRwczovL2NhLmludGVybmFsOjg0NDMvYWNtZS93ZWIvbmV3LWFjY291bnQifQ","payload":"eyJ)"
      R"(vbmx5UmV0dXJuRXhpc3RpbmciOnRydWV9","signature":"ONT0nJj8xnyDIp14alMUkGW1nNQ3uL6v)"
      R"(rtz5lTbSPtVsmAk6E2gFUSuL4MGkXehiNGooc-mK-ZBtKkKKjydnXY-j9F-XEGw92xSKucHlteIG2c2d)"
      R"(0ZZ24rbo_OEKJI1q"})";
  for (const std::string& text : {es256, es384}) {
    auto jws = parse_jws_request(text);
    ASSERT_TRUE(jws) << jws.error().describe();
    ASSERT_TRUE(jws->jwk);
    auto key = jwk_to_key(*jws->jwk);
    ASSERT_TRUE(key) << key.error().describe();
    auto ok = verify_jws_request(*jws, **key);
    EXPECT_TRUE(ok) << ok.error().describe();
  }
}

// ---- RFC 7638 ----

const json kRfc7638Key = {
    {"kty", "RSA"},
    {"n",
     "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
     "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
     "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"
     "bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"},
    {"e", "AQAB"},
    {"alg", "RS256"},
    {"kid", "2011-04-29"},
};

TEST(AcmeJws, Rfc7638ThumbprintVector) {
  auto t = jwk_thumbprint(kRfc7638Key);
  ASSERT_TRUE(t) << t.error().describe();
  EXPECT_EQ(*t, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  // Optional members do not count; the key is a valid 2048-bit RSA key.
  json bare = kRfc7638Key;
  bare.erase("alg");
  bare.erase("kid");
  EXPECT_EQ(jwk_thumbprint(bare).value_or(""), *t);
  auto key = jwk_to_key(kRfc7638Key);
  ASSERT_TRUE(key) << key.error().describe();
  EXPECT_EQ(EVP_PKEY_get_bits(key->get()), 2048);
  // key -> JWK -> thumbprint gives the same value.
  auto back = key_to_jwk(**key);
  ASSERT_TRUE(back);
  EXPECT_EQ(jwk_thumbprint(*back).value_or(""), *t);
}

// ---- Refusals: the request ----

class AcmeJwsRefusal : public ::testing::Test {
 protected:
  void SetUp() override {
    auto signed_body = sign_jws_request(header_for(key(), false), payload_, key());
    ASSERT_TRUE(signed_body);
    auto j = json::parse(*signed_body);
    protected_ = j["protected"];
    payload_b64_ = j["payload"];
    signature_ = j["signature"];
  }
  static EVP_PKEY& key() { return key_of(KeyType::kEcP256); }
  // A body with the given protected header (JSON text) and the valid payload and signature.
  std::string with_header(const json& h) { return body(b64(h.dump()), payload_b64_, signature_); }
  void expect_malformed(std::string_view body_text, std::string_view message_part,
                        bool require_nonce = true) {
    SCOPED_TRACE(std::string(body_text));
    expect_refused(parse_jws_request(body_text, require_nonce), ErrorCode::kMalformedInput,
                   "malformed", message_part);
  }

  const std::string payload_ = R"({"status":"deactivated"})";
  std::string protected_, payload_b64_, signature_;
};

TEST_F(AcmeJwsRefusal, TheValidBodyParses) {
  EXPECT_TRUE(parse_jws_request(body(protected_, payload_b64_, signature_)));
}

TEST_F(AcmeJwsRefusal, BodyShape) {
  expect_malformed("", "not valid JSON");
  expect_malformed("[]", "not a JSON object");
  expect_malformed(R"({"protected":"e30","payload":""})", "no \"signature\"");
  expect_malformed(json{{"protected", protected_}, {"signature", signature_}}.dump(),
                   "no \"payload\"");
  expect_malformed(json{{"payload", payload_b64_}, {"signature", signature_}}.dump(),
                   "no \"protected\"");
  expect_malformed(json{{"protected", protected_},
                        {"payload", payload_b64_},
                        {"signature", signature_},
                        {"header", {{"kid", "x"}}}}
                       .dump(),
                   "member \"header\"");
  expect_malformed(
      json{{"protected", protected_}, {"payload", payload_b64_}, {"signature", {signature_}}}
          .dump(),
      "\"signature\" is not a string");
  expect_malformed(body(protected_, payload_b64_, ""), "\"signature\" is empty");
  expect_malformed(body("", payload_b64_, signature_), "\"protected\" is empty");
  // Duplicate members: the last one must not silently win.
  expect_malformed(R"({"protected":")" + protected_ + R"(","payload":"","payload":")" +
                       payload_b64_ + R"(","signature":")" + signature_ + "\"}",
                   "duplicate member");
  expect_malformed(std::string(kMaxJwsRequestSize + 1, ' '), "at most");
}

TEST_F(AcmeJwsRefusal, Base64url) {
  ASSERT_NE(signature_.size() % 4, 0u);  // 64 octets: 86 characters, "==" in base64
  expect_malformed(body(protected_, payload_b64_, signature_ + "=="), "padding");
  std::string padded_payload = payload_b64_;
  while (padded_payload.size() % 4) padded_payload += '=';
  if (padded_payload != payload_b64_) {
    expect_malformed(body(protected_, padded_payload, signature_), "padding");
  }
  expect_malformed(body(protected_ + "+", payload_b64_, signature_), "not base64url");
  expect_malformed(body(protected_, payload_b64_, "a/b" + signature_), "not base64url");
}

TEST_F(AcmeJwsRefusal, ProtectedHeader) {
  json good = json::parse(base64url_decode(protected_).value());
  auto without = [&](const char* member) {
    json h = good;
    h.erase(member);
    return with_header(h);
  };
  auto with = [&](const char* member, json value) {
    json h = good;
    h[member] = std::move(value);
    return with_header(h);
  };
  expect_malformed(body(b64("[1]"), payload_b64_, signature_), "protected header is not");
  expect_malformed(body(b64("{\"alg\""), payload_b64_, signature_), "not valid JSON");
  expect_malformed(without("alg"), "no alg");
  expect_malformed(without("url"), "no url");
  expect_malformed(without("nonce"), "no nonce");
  expect_malformed(with("nonce", ""), "nonce is empty");
  expect_malformed(with("nonce", 7), "nonce is not a string");
  expect_malformed(with("url", json::array()), "url is not a string");
  expect_malformed(with("alg", 256), "alg is not a string");
  expect_malformed(with("jwk", *key_to_jwk(key())), "both kid and jwk");
  expect_malformed(without("kid"), "neither kid nor jwk");
  expect_malformed(with("kid", 1), "kid is not a string");
  expect_malformed(with("crit", {"b64"}), "crit");
  {
    json h = good;
    h.erase("kid");
    h["jwk"] = "not an object";
    expect_malformed(with_header(h), "jwk is not a JSON object");
  }
  // A duplicate "alg" in the header text.
  std::string text = good.dump();
  text.insert(1, R"("alg":"none",)");
  expect_malformed(body(b64(text), payload_b64_, signature_), "duplicate member");
  // Nesting.
  std::string deep = std::string(100, '[') + std::string(100, ']');
  expect_malformed(body(b64(R"({"alg":"ES256","x":)" + deep + "}"), payload_b64_, signature_),
                   "nested too deeply");
}

TEST_F(AcmeJwsRefusal, Algorithms) {
  json good = json::parse(base64url_decode(protected_).value());
  for (const char* alg : {"none", "HS256", "HS512", "RS384", "PS256", "ES512", "Ed25519", ""}) {
    SCOPED_TRACE(alg);
    json h = good;
    h["alg"] = alg;
    auto r = parse_jws_request(with_header(h));
    expect_refused(r, ErrorCode::kMalformedInput, "badSignatureAlgorithm", "unsupported alg");
  }
  json h = good;
  h["alg"] = "none";
  auto none = parse_jws_request(with_header(h));
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("unsigned"), std::string::npos);
  h["alg"] = "HS256";
  auto mac = parse_jws_request(with_header(h));
  ASSERT_FALSE(mac);
  EXPECT_NE(mac.error().message.find("MAC"), std::string::npos);
}

TEST_F(AcmeJwsRefusal, Payload) {
  for (const char* payload : {"[]", "\"x\"", "true", "12", "null"}) {
    SCOPED_TRACE(payload);
    expect_malformed(body(protected_, b64(payload), signature_), "payload is not a JSON object");
  }
  expect_malformed(body(protected_, b64("{\"a\":"), signature_), "payload is not valid JSON");
  expect_malformed(body(protected_, b64(R"({"a":1,"a":2})"), signature_), "duplicate member");
}

TEST(AcmeJwsVerify, AlgMustFitTheKey) {
  // Signed with P-256 (ES256): a P-384, Ed25519 or RSA key does not fit.
  JwsRequest es256 =
      signed_request(key_of(KeyType::kEcP256), header_for(key_of(KeyType::kEcP256), false), "{}");
  for (KeyType other : {KeyType::kEcP384, KeyType::kEd25519, KeyType::kRsa2048}) {
    expect_refused(verify_jws_request(es256, key_of(other)), ErrorCode::kBadSignature,
                   "badSignatureAlgorithm", "does not fit");
  }
  // The alg claimed in the header, not the key's, decides.
  JwsRequest relabelled = es256;
  relabelled.alg = "ES384";
  expect_refused(verify_jws_request(relabelled, key_of(KeyType::kEcP256)), ErrorCode::kBadSignature,
                 "badSignatureAlgorithm", "ES384 does not fit the EC P-256");
  relabelled.alg = "RS256";
  expect_refused(verify_jws_request(relabelled, key_of(KeyType::kEcP256)), ErrorCode::kBadSignature,
                 "badSignatureAlgorithm");
}

TEST(AcmeJwsVerify, SignatureLength) {
  EVP_PKEY& p256 = key_of(KeyType::kEcP256);
  JwsRequest jws = signed_request(p256, header_for(p256, false), "{}");
  jws.signature.resize(70);
  expect_refused(verify_jws_request(jws, p256), ErrorCode::kBadSignature, "malformed",
                 "ES256 signature must be 64 bytes, got 70");

  EVP_PKEY& p384 = key_of(KeyType::kEcP384);
  JwsRequest es384 = signed_request(p384, header_for(p384, false), "{}");
  es384.signature.pop_back();
  expect_refused(verify_jws_request(es384, p384), ErrorCode::kBadSignature, "malformed",
                 "ES384 signature must be 96 bytes, got 95");

  EVP_PKEY& rsa = key_of(KeyType::kRsa2048);
  JwsRequest rs256 = signed_request(rsa, header_for(rsa, false), "{}");
  rs256.signature.insert(rs256.signature.begin(), 0);
  expect_refused(verify_jws_request(rs256, rsa), ErrorCode::kBadSignature, "malformed",
                 "RS256 signature must be 256 bytes, got 257");

  EVP_PKEY& ed = key_of(KeyType::kEd25519);
  JwsRequest eddsa = signed_request(ed, header_for(ed, false), "{}");
  eddsa.signature.resize(32);
  expect_refused(verify_jws_request(eddsa, ed), ErrorCode::kBadSignature, "malformed",
                 "EdDSA signature must be 64 bytes, got 32");
}

TEST(AcmeJwsVerify, TamperedRequests) {
  for (KeyType type : {KeyType::kRsa2048, KeyType::kEcP256, KeyType::kEcP384, KeyType::kEd25519}) {
    SCOPED_TRACE(std::string(keys::key_type_name(type)));
    EVP_PKEY& key = key_of(type);
    auto signed_body = sign_jws_request(header_for(key, true), R"({"contact":["a"]})", key);
    ASSERT_TRUE(signed_body);
    json j = json::parse(*signed_body);

    // Another payload under the same signature.
    j["payload"] = b64(R"({"contact":["b"]})");
    auto tampered = parse_jws_request(j.dump());
    ASSERT_TRUE(tampered) << tampered.error().describe();
    expect_refused(verify_jws_request(*tampered, key), ErrorCode::kBadSignature, "unauthorized");

    // POST-as-GET under a signature made for a payload.
    j["payload"] = "";
    auto as_get = parse_jws_request(j.dump());
    ASSERT_TRUE(as_get);
    expect_refused(verify_jws_request(*as_get, key), ErrorCode::kBadSignature, "unauthorized");

    // A flipped bit in the signature.
    auto original = parse_jws_request(*signed_body);
    ASSERT_TRUE(original);
    original->signature[original->signature.size() / 2] ^= 0x01;
    expect_refused(verify_jws_request(*original, key), ErrorCode::kBadSignature, "unauthorized");
  }
}

// ---- Refusals: JWKs ----

void expect_bad_key(const json& jwk, ErrorCode code, std::string_view message_part) {
  SCOPED_TRACE(jwk.dump());
  auto key = jwk_to_key(jwk);
  expect_refused(key, code, "badPublicKey", message_part);
  // No key material in the message.
  for (const char* m : {"n", "x", "y", "d"}) {
    if (jwk.is_object() && jwk.contains(m) && jwk[m].is_string() &&
        jwk[m].get<std::string>().size() > 8) {
      EXPECT_EQ(key.error().describe().find(jwk[m].get<std::string>()), std::string::npos);
    }
  }
  // The thumbprint checks the same (except that the point is on the curve).
  if (message_part.find("not on the") == std::string_view::npos) {
    expect_refused(jwk_thumbprint(jwk), code, "badPublicKey", message_part);
  }
}

TEST(AcmeJwk, Refusals) {
  const json p256 = *key_to_jwk(key_of(KeyType::kEcP256));
  const json rsa = *key_to_jwk(key_of(KeyType::kRsa2048));
  const json ed = *key_to_jwk(key_of(KeyType::kEd25519));
  auto changed = [](json jwk, const char* member, json value) {
    jwk[member] = std::move(value);
    return jwk;
  };
  auto without = [](json jwk, const char* member) {
    jwk.erase(member);
    return jwk;
  };
  constexpr auto kMalformed = ErrorCode::kMalformedInput;
  constexpr auto kRefused = ErrorCode::kPolicyViolation;

  expect_bad_key(json::array(), kMalformed, "not a JSON object");
  expect_bad_key(without(p256, "kty"), kMalformed, "kty");
  expect_bad_key(changed(p256, "kty", "oct"), kRefused, "unsupported JWK kty \"oct\"");
  expect_bad_key(changed(p256, "crv", "P-521"), kRefused, "unsupported EC curve \"P-521\"");
  expect_bad_key(changed(ed, "crv", "Ed448"), kRefused, "unsupported OKP curve \"Ed448\"");
  expect_bad_key(without(p256, "y"), kMalformed, "missing member \"y\"");
  expect_bad_key(changed(p256, "x", 5), kMalformed, "\"x\" is not a string");
  expect_bad_key(changed(p256, "x", p256["x"].get<std::string>() + "="), kMalformed, "padding");
  expect_bad_key(changed(p256, "x", b64(std::string(31, 'a'))), kMalformed,
                 "P-256 \"x\" must be 32 octets, got 31");
  expect_bad_key(changed(ed, "x", b64(std::string(33, 'a'))), kMalformed,
                 "Ed25519 \"x\" must be 32 octets, got 33");

  // A point not on the curve: y changed.
  Bytes y = base64url_decode(p256["y"].get<std::string>()).value();
  y.back() ^= 0x01;
  expect_bad_key(changed(p256, "y", base64url_encode(y)), kMalformed,
                 "EC point is not on the P-256 curve");

  // Private members.
  for (const char* secret : {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}) {
    expect_bad_key(changed(secret == std::string("d") ? p256 : rsa, secret, "AQAB"), kMalformed,
                   std::string("private member \"") + secret + "\"");
  }
  auto generated = keys::generate_key(KeyType::kEcP256);
  ASSERT_TRUE(generated);
  BIGNUM* d = nullptr;
  ASSERT_EQ(EVP_PKEY_get_bn_param(generated->get(), "priv", &d), 1);
  Bytes d_bytes(32);
  BN_bn2binpad(d, d_bytes.data(), 32);
  BN_clear_free(d);
  expect_bad_key(changed(*key_to_jwk(**generated), "d", base64url_encode(d_bytes)), kMalformed,
                 "private member \"d\"");

  // RSA: size, minimal encoding, exponent.
  ossl::EvpPkeyPtr rsa1024(EVP_RSA_gen(1024));
  ASSERT_TRUE(rsa1024);
  expect_bad_key(*key_to_jwk(*rsa1024), kRefused, "RSA modulus of 1024 bits; 2048 to 8192");
  Bytes n = base64url_decode(rsa["n"].get<std::string>()).value();
  Bytes padded_n = n;
  padded_n.insert(padded_n.begin(), 0);
  expect_bad_key(changed(rsa, "n", base64url_encode(padded_n)), kMalformed, "leading zero");
  expect_bad_key(changed(rsa, "e", "AAEAAQ"), kMalformed, "leading zero");
  Bytes big_n(8192 / 8 + 1, 0xFF);
  expect_bad_key(changed(rsa, "n", base64url_encode(big_n)), kRefused, "8200 bits");
  Bytes even_n = n;
  even_n.back() &= 0xFE;
  expect_bad_key(changed(rsa, "n", base64url_encode(even_n)), kMalformed, "even");
  for (const char* e : {"AQ", "Aw" /* 3 is fine */, "AAE", "Ag", "AQAAAAE"}) {
    if (std::string(e) == "Aw") {
      EXPECT_TRUE(jwk_to_key(changed(rsa, "e", e)));
    } else if (std::string(e) == "AAE") {
      expect_bad_key(changed(rsa, "e", e), kMalformed, "leading zero");
    } else {
      expect_bad_key(changed(rsa, "e", e), kRefused, "exponent");
    }
  }
  expect_bad_key(changed(rsa, "n", ""), kMalformed, "\"n\" is empty");
}

TEST(AcmeJwk, ExtraPublicMembersAreIgnored) {
  json jwk = *key_to_jwk(key_of(KeyType::kEd25519));
  auto plain = jwk_thumbprint(jwk);
  jwk["use"] = "sig";
  jwk["alg"] = "EdDSA";
  jwk["kid"] = "k1";
  ASSERT_TRUE(jwk_to_key(jwk));
  EXPECT_EQ(jwk_thumbprint(jwk).value_or("?"), plain.value_or(""));
}

}  // namespace
}  // namespace herald::acme
