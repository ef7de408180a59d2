// Partner-root checks (herald trust import) and the SPIFFE bundle encoding.
#include "ca/trust.h"

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "keys/private_key.h"

namespace herald::ca {
namespace {

using namespace std::chrono_literals;

const TimePoint kNow{std::chrono::sys_days{std::chrono::year{2026} / 6 / 1}};

ossl::EvpPkeyPtr rsa_key(unsigned bits) {
  return ossl::EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)));
}
ossl::EvpPkeyPtr ec_key(const char* curve, bool explicit_params = false) {
  if (!explicit_params) return ossl::EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
  ossl::EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* k = nullptr;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(curve), 0),
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING,
                                       const_cast<char*>(OSSL_PKEY_EC_ENCODING_EXPLICIT), 0),
      OSSL_PARAM_construct_end()};
  if (EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_CTX_set_params(ctx.get(), params) != 1 ||
      EVP_PKEY_generate(ctx.get(), &k) != 1)
    return nullptr;
  return ossl::EvpPkeyPtr(k);
}

void add_ext(X509* x, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, x, nullptr, nullptr, 0);
  X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  ASSERT_NE(e, nullptr);
  X509_add_ext(x, e, -1);
  X509_EXTENSION_free(e);
}

// A certificate for `key`, signed by `signer` (itself when null), valid
// [nb, na], a CA or not.
x509::Certificate make_cert(EVP_PKEY& key, const char* cn, bool ca, TimePoint nb, TimePoint na,
                            EVP_PKEY* signer = nullptr, const char* issuer_cn = nullptr) {
  ossl::X509Ptr x(X509_new());
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 42);
  ossl::X509NamePtr subject(X509_NAME_new());
  X509_NAME_add_entry_by_txt(subject.get(), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  ossl::X509NamePtr issuer(X509_NAME_new());
  const char* icn = issuer_cn ? issuer_cn : cn;
  X509_NAME_add_entry_by_txt(issuer.get(), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(icn), -1, -1, 0);
  X509_set_subject_name(x.get(), subject.get());
  X509_set_issuer_name(x.get(), issuer.get());
  time_t t_nb = nb.time_since_epoch().count(), t_na = na.time_since_epoch().count();
  X509_time_adj_ex(X509_getm_notBefore(x.get()), 0, 0, &t_nb);
  X509_time_adj_ex(X509_getm_notAfter(x.get()), 0, 0, &t_na);
  X509_set_pubkey(x.get(), &key);
  add_ext(x.get(), x.get(), NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  add_ext(x.get(), x.get(), NID_key_usage,
          ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  EVP_PKEY* s = signer ? signer : &key;
  const EVP_MD* md = EVP_PKEY_get_base_id(s) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256();
  EXPECT_GT(X509_sign(x.get(), s, md), 0);
  unsigned char* der = nullptr;
  int n = i2d_X509(x.get(), &der);
  Bytes bytes(der, der + n);
  OPENSSL_free(der);
  auto c = x509::Certificate::from_der(bytes);
  EXPECT_TRUE(c) << (c ? "" : c.error().describe());
  return *c;
}

x509::Certificate root_for(EVP_PKEY& key) {
  return make_cert(key, "Partner Root", true, kNow - 24h, kNow + 24h * 365);
}

TEST(PartnerName, AcceptsFileSafeNamesOnly) {
  for (const char* ok : {"acme", "Acme-Corp", "b2b.partner_1", "x"}) {
    EXPECT_TRUE(check_partner_name(ok)) << ok;
  }
  for (const char* bad : {"", "-acme", ".hidden", "a/b", "..", "a b", "ü", "a\n"}) {
    EXPECT_FALSE(check_partner_name(bad)) << bad;
  }
  EXPECT_FALSE(check_partner_name(std::string(65, 'a')));
  EXPECT_EQ(check_partner_name("a/b").error().code, ErrorCode::kInvalidArgument);
}

TEST(Fingerprint, ParsesCommonSpellings) {
  const std::string hex(64, 'a');
  EXPECT_TRUE(parse_sha256_fingerprint(hex));
  EXPECT_TRUE(parse_sha256_fingerprint("SHA256:" + hex));
  EXPECT_TRUE(parse_sha256_fingerprint("sha256=" + std::string(64, 'B')));
  auto colons = to_hex_colons(Bytes(32, 0xab));
  auto p = parse_sha256_fingerprint(colons);
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, Bytes(32, 0xab));
  EXPECT_FALSE(parse_sha256_fingerprint(std::string(62, 'a')));  // 31 bytes
  EXPECT_FALSE(parse_sha256_fingerprint(std::string(63, 'a')));  // not padded to 32 bytes
  EXPECT_FALSE(parse_sha256_fingerprint(std::string(40, 'a')));  // a SHA-1
  EXPECT_FALSE(parse_sha256_fingerprint(std::string(64, 'g')));
  EXPECT_FALSE(parse_sha256_fingerprint(""));
}

TEST(PartnerRoot, AcceptsAGoodRootWithItsFingerprint) {
  auto key = ec_key("P-256");
  auto root = root_for(*key);
  auto r = check_partner_root(root, root.fingerprint_sha256(), kNow);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_TRUE(r->empty());
  // Lower case without colons is the same fingerprint.
  std::string plain;
  for (char c : root.fingerprint_sha256())
    if (c != ':') plain += static_cast<char>(std::tolower(c));
  EXPECT_TRUE(check_partner_root(root, plain, kNow));
}

TEST(PartnerRoot, FingerprintMismatchNamesBothValues) {
  auto key = ec_key("P-256");
  auto root = root_for(*key);
  const std::string wrong = to_hex_colons(Bytes(32, 0x11));
  auto r = check_partner_root(root, wrong, kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kConflict);
  EXPECT_NE(r.error().message.find(root.fingerprint_sha256()), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find(wrong), std::string::npos) << r.error().message;
  // A malformed fingerprint is a bad argument, not a mismatch.
  EXPECT_EQ(check_partner_root(root, "abc", kNow).error().code, ErrorCode::kInvalidArgument);
}

TEST(PartnerRoot, RefusesALeaf) {
  auto key = ec_key("P-256");
  auto leaf = make_cert(*key, "leaf.partner", false, kNow - 24h, kNow + 24h);
  auto r = check_partner_root(leaf, leaf.fingerprint_sha256(), kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kPolicyViolation);
  EXPECT_NE(r.error().message.find("not a CA"), std::string::npos) << r.error().message;
}

TEST(PartnerRoot, RefusesWeakKeys) {
  auto rsa1024 = rsa_key(1024);
  auto weak = root_for(*rsa1024);
  auto r = check_partner_root(weak, weak.fingerprint_sha256(), kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kPolicyViolation);
  EXPECT_NE(r.error().message.find("RSA 1024"), std::string::npos) << r.error().message;

  auto rsa2048 = rsa_key(2048);
  auto strong = root_for(*rsa2048);
  EXPECT_TRUE(check_partner_root(strong, strong.fingerprint_sha256(), kNow));

  auto expl = ec_key("P-256", true);
  ASSERT_TRUE(expl);
  auto explicit_root = root_for(*expl);
  auto e = check_partner_root(explicit_root, explicit_root.fingerprint_sha256(), kNow);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("explicit"), std::string::npos) << e.error().message;

  auto ed = keys::generate_key(keys::KeyType::kEd25519);
  ASSERT_TRUE(ed);
  auto ed_root = root_for(**ed);
  EXPECT_TRUE(check_partner_root(ed_root, ed_root.fingerprint_sha256(), kNow));
}

TEST(PartnerRoot, RefusesExpiredAndNotYetValid) {
  auto key = ec_key("P-384");
  auto old = make_cert(*key, "Old Root", true, kNow - 24h * 30, kNow - 24h);
  auto r = check_partner_root(old, old.fingerprint_sha256(), kNow);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("expired"), std::string::npos) << r.error().message;
  auto future = make_cert(*key, "Future Root", true, kNow + 24h, kNow + 24h * 30);
  auto f = check_partner_root(future, future.fingerprint_sha256(), kNow);
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message.find("not yet valid"), std::string::npos) << f.error().message;
}

TEST(PartnerRoot, WarnsAboutACaThatIsNotSelfSigned) {
  auto root_key = ec_key("P-256");
  auto sub_key = ec_key("P-256");
  auto sub = make_cert(*sub_key, "Partner Intermediate", true, kNow - 24h, kNow + 24h * 30,
                       root_key.get(), "Partner Root");
  auto r = check_partner_root(sub, sub.fingerprint_sha256(), kNow);
  ASSERT_TRUE(r) << r.error().describe();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_NE((*r)[0].find("not a self-signed root"), std::string::npos);
}

// Decodes standard base64 (test-only helper) via base64url.
Bytes b64_decode(std::string s) {
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (char& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
  auto d = base64url_decode(s);
  EXPECT_TRUE(d);
  return d ? *d : Bytes{};
}

TEST(SpiffeBundle, EcKeyHasCurveCoordinatesAndTheRootInX5c) {
  auto key = ec_key("P-256");
  auto root = root_for(*key);
  auto text = spiffe_bundle_json({root}, {std::chrono::seconds(600), 7});
  ASSERT_TRUE(text) << text.error().describe();
  auto doc = nlohmann::json::parse(*text);
  EXPECT_EQ(doc["spiffe_refresh_hint"], 600);
  EXPECT_EQ(doc["spiffe_sequence"], 7);
  ASSERT_EQ(doc["keys"].size(), 1u);
  const auto& k = doc["keys"][0];
  EXPECT_EQ(k["use"], "x509-svid");
  EXPECT_EQ(k["kty"], "EC");
  EXPECT_EQ(k["crv"], "P-256");
  EXPECT_FALSE(k.contains("kid"));
  ASSERT_EQ(k["x5c"].size(), 1u);
  EXPECT_EQ(b64_decode(k["x5c"][0]), root.der());
  // x and y are the 32-byte coordinates of the key (the uncompressed point 04||x||y).
  auto x = base64url_decode(k["x"].get<std::string>());
  auto y = base64url_decode(k["y"].get<std::string>());
  ASSERT_TRUE(x && y);
  EXPECT_EQ(x->size(), 32u);
  EXPECT_EQ(y->size(), 32u);
  size_t len = 0;
  ASSERT_EQ(EVP_PKEY_get_octet_string_param(key.get(), OSSL_PKEY_PARAM_PUB_KEY, nullptr, 0, &len),
            1);
  Bytes point(len);
  ASSERT_EQ(EVP_PKEY_get_octet_string_param(key.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                            point.size(), &len),
            1);
  ASSERT_EQ(point.size(), 65u);
  EXPECT_EQ(Bytes(point.begin() + 1, point.begin() + 33), *x);
  EXPECT_EQ(Bytes(point.begin() + 33, point.end()), *y);
  // No sequence: the member is absent.
  auto plain = nlohmann::json::parse(*spiffe_bundle_json({root}, {}));
  EXPECT_FALSE(plain.contains("spiffe_sequence"));
  EXPECT_EQ(plain["spiffe_refresh_hint"], 300);
}

TEST(SpiffeBundle, RsaKeyHasModulusAndExponent) {
  auto key = rsa_key(2048);
  auto root = root_for(*key);
  auto jwk = x509_svid_jwk(root);
  ASSERT_TRUE(jwk) << jwk.error().describe();
  EXPECT_EQ((*jwk)["kty"], "RSA");
  EXPECT_EQ((*jwk)["e"], "AQAB");
  auto n = base64url_decode((*jwk)["n"].get<std::string>());
  ASSERT_TRUE(n);
  EXPECT_EQ(n->size(), 256u);
  EXPECT_NE((*n)[0], 0);  // base64urlUInt: no leading zero octet
  EXPECT_FALSE(jwk->contains("crv"));
}

TEST(SpiffeBundle, P384CoordinatesArePaddedAndSeveralRootsKeepTheirOrder) {
  auto k1 = ec_key("P-384");
  auto k2 = ec_key("P-256");
  auto r1 = root_for(*k1);
  auto r2 = make_cert(*k2, "Second Root", true, kNow - 24h, kNow + 24h * 365);
  auto doc = nlohmann::json::parse(*spiffe_bundle_json({r1, r2}, {}));
  ASSERT_EQ(doc["keys"].size(), 2u);
  EXPECT_EQ(doc["keys"][0]["crv"], "P-384");
  EXPECT_EQ(base64url_decode(doc["keys"][0]["x"].get<std::string>())->size(), 48u);
  EXPECT_EQ(base64url_decode(doc["keys"][0]["y"].get<std::string>())->size(), 48u);
  EXPECT_EQ(b64_decode(doc["keys"][1]["x5c"][0]), r2.der());
}

TEST(SpiffeBundle, Ed25519IsAnOkpKey) {
  auto key = keys::generate_key(keys::KeyType::kEd25519);
  ASSERT_TRUE(key);
  auto root = root_for(**key);
  auto jwk = x509_svid_jwk(root);
  ASSERT_TRUE(jwk) << jwk.error().describe();
  EXPECT_EQ((*jwk)["kty"], "OKP");
  EXPECT_EQ((*jwk)["crv"], "Ed25519");
  EXPECT_EQ(base64url_decode((*jwk)["x"].get<std::string>())->size(), 32u);
}

TEST(SpiffeBundleParse, RoundTripsWhatHeraldPublishes) {
  auto k1 = ec_key("P-384");
  auto k2 = keys::generate_key(keys::KeyType::kEd25519);
  ASSERT_TRUE(k2);
  auto r1 = root_for(*k1);
  auto r2 = make_cert(**k2, "Second Root", true, kNow - 24h, kNow + 24h * 365);
  auto text = spiffe_bundle_json({r1, r2}, {std::chrono::seconds(300), 9});
  ASSERT_TRUE(text);
  // A jwt-svid key beside them is skipped, not refused.
  auto doc = nlohmann::json::parse(*text);
  doc["keys"].push_back({{"use", "jwt-svid"}, {"kty", "EC"}, {"kid", "k"}});
  auto parsed = parse_spiffe_bundle(doc.dump());
  ASSERT_TRUE(parsed) << parsed.error().describe();
  ASSERT_EQ(parsed->authorities.size(), 2u);
  EXPECT_EQ(parsed->authorities[0].der(), r1.der());
  EXPECT_EQ(parsed->authorities[1].der(), r2.der());
  EXPECT_EQ(parsed->refresh_hint, std::chrono::seconds(300));
  EXPECT_EQ(parsed->sequence, 9u);
}

TEST(SpiffeBundleParse, RefusesWhatCouldReplaceAGoodBundleWithABadOne) {
  auto k1 = ec_key("P-256");
  auto k2 = ec_key("P-256");
  auto root = root_for(*k1);
  auto leaf = make_cert(*k1, "leaf", false, kNow - 24h, kNow + 24h);
  auto good = nlohmann::json::parse(*spiffe_bundle_json({root}, {}));
  auto refuse = [](const nlohmann::json& d, const char* why) {
    auto r = parse_spiffe_bundle(d.dump());
    EXPECT_FALSE(r) << why;
    if (!r) {
      EXPECT_EQ(r.error().code, ErrorCode::kMalformedInput) << why;
      EXPECT_NE(r.error().message.find(why), std::string::npos) << r.error().message;
    }
  };
  refuse(nlohmann::json::object({{"keys", nlohmann::json::array()}}), "no x509-svid authority");
  refuse(nlohmann::json::array(), "not a JSON object");
  auto d = good;
  d["keys"][0]["x"] = nlohmann::json::parse(*spiffe_bundle_json({root_for(*k2)}, {}))["keys"][0]["x"];
  refuse(d, "does not match");
  d = good;
  d["keys"][0]["x5c"] = nlohmann::json::array({base64_encode(leaf.der())});
  d["keys"][0]["x"] = nlohmann::json::parse(*x509_svid_jwk(leaf).map([](auto j) { return j.dump(); }))["x"];
  refuse(d, "not a CA");
  d = good;
  d["keys"][0]["x5c"] = nlohmann::json::array({"not base64!"});
  refuse(d, "base64");
  d = good;
  d["keys"][0]["x5c"].push_back(d["keys"][0]["x5c"][0]);
  refuse(d, "exactly one");
  d = good;
  d["spiffe_refresh_hint"] = -5;
  refuse(d, "spiffe_refresh_hint");
  EXPECT_FALSE(parse_spiffe_bundle("{\"keys\": [" + std::string(300, '{') ));
}

TEST(Etag, MatchesListsStarAndWeakTags) {
  const std::string tag = content_etag("bundle");
  EXPECT_EQ(tag.size(), 34u);
  EXPECT_NE(tag, content_etag("bundle2"));
  EXPECT_TRUE(if_none_match(tag, tag));
  EXPECT_TRUE(if_none_match("\"x\", " + tag, tag));
  EXPECT_TRUE(if_none_match("W/" + tag, tag));
  EXPECT_TRUE(if_none_match("*", tag));
  EXPECT_FALSE(if_none_match("", tag));
  EXPECT_FALSE(if_none_match("\"x\"", tag));
}

}  // namespace
}  // namespace herald::ca
