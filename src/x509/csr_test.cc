#include "x509/csr.h"

#include <gtest/gtest.h>

#include "keys/private_key.h"
#include "x509/test_csr.h"

namespace herald::x509 {
namespace {

using keys::KeyType;

class CsrEveryKey : public ::testing::TestWithParam<KeyType> {};

TEST_P(CsrEveryKey, ParsesAndVerifies) {
  auto key = keys::generate_key(GetParam());
  ASSERT_TRUE(key);
  const EVP_MD* md = GetParam() == KeyType::kEd25519 ? nullptr : EVP_sha256();
  Bytes der = testing::make_csr_der(
      **key, {.cn = "web.internal", .sans = "DNS:web.internal,IP:10.1.2.3", .md = md});
  auto csr = parse_csr(der);
  ASSERT_TRUE(csr) << csr.error().describe();
  EXPECT_EQ(csr->common_name, "web.internal");
  EXPECT_EQ(csr->subject, "CN=web.internal");
  ASSERT_EQ(csr->requested_sans.size(), 2u);
  EXPECT_EQ(csr->requested_sans[1].to_string(), "ip:10.1.2.3");
  EXPECT_FALSE(csr->requests_ca);
  EXPECT_EQ(csr->public_key.info.name(), keys::key_type_name(GetParam()));
  EXPECT_TRUE(verify_csr_signature(*csr)) << verify_csr_signature(*csr).error().describe();

  // The same through PEM.
  std::string pem = ossl::pem_encode(der, "CERTIFICATE REQUEST");
  auto from_pem = parse_csr(Bytes(pem.begin(), pem.end()));
  ASSERT_TRUE(from_pem);
  EXPECT_EQ(from_pem->der, der);
}

INSTANTIATE_TEST_SUITE_P(Keys, CsrEveryKey,
                         ::testing::Values(KeyType::kEcP256, KeyType::kEcP384, KeyType::kEd25519,
                                           KeyType::kRsa2048));

TEST(Csr, BadSignatureIsRejected) {
  auto key = keys::generate_key(KeyType::kEcP256);
  Bytes der = testing::make_csr_der(**key);
  der[der.size() - 5] ^= 0x40;  // inside the ECDSA signature
  auto csr = parse_csr(der);
  if (csr) {  // the flip may also break the signature's DER, which is fine too
    auto v = verify_csr_signature(*csr);
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().code, ErrorCode::kBadSignature);
  } else {
    EXPECT_EQ(csr.error().code, ErrorCode::kMalformedInput);
  }
}

TEST(Csr, TamperedSubjectFailsVerification) {
  auto key = keys::generate_key(KeyType::kEcP256);
  Bytes der = testing::make_csr_der(**key, {.cn = "aaaa.internal"});
  auto pos = std::search(der.begin(), der.end(), std::begin("aaaa"), std::end("aaaa") - 1);
  ASSERT_NE(pos, der.end());
  *pos = 'b';
  auto csr = parse_csr(der);
  ASSERT_TRUE(csr);
  EXPECT_EQ(csr->common_name, "baaa.internal");
  EXPECT_FALSE(verify_csr_signature(*csr));
}

TEST(Csr, TruncationsAreMalformedNeverCrash) {
  auto key = keys::generate_key(KeyType::kEcP256);
  Bytes der = testing::make_csr_der(**key, {.sans = "DNS:a.internal"});
  for (size_t n = 0; n < der.size(); ++n) {
    auto csr = parse_csr(std::span(der.data(), n));
    ASSERT_FALSE(csr) << n;
    EXPECT_EQ(csr.error().code, ErrorCode::kMalformedInput);
  }
}

TEST(Csr, ReportsCaRequestAndSha1) {
  auto key = keys::generate_key(KeyType::kRsa2048);
  auto csr = parse_csr(testing::make_csr_der(**key, {.ca = true, .md = EVP_sha1()}));
  ASSERT_TRUE(csr);
  EXPECT_TRUE(csr->requests_ca);
  EXPECT_EQ(csr->hash, SignatureHash::kSha1);
  EXPECT_EQ(csr->signature_algorithm, "sha1WithRSAEncryption");
}

TEST(Csr, GarbagePemIsMalformed) {
  std::string pem =
      "-----BEGIN CERTIFICATE REQUEST-----\nnot base64!!\n-----END CERTIFICATE REQUEST-----\n";
  auto csr = parse_csr(Bytes(pem.begin(), pem.end()));
  ASSERT_FALSE(csr);
  EXPECT_EQ(csr.error().code, ErrorCode::kMalformedInput);
}

}  // namespace
}  // namespace herald::x509

namespace herald::x509 {
namespace {

// make_csr (what herald renew and herald agent send) parses back to what was asked.
TEST(Csr, MakeCsrRoundTrips) {
  for (auto type : {keys::KeyType::kEcP256, keys::KeyType::kEd25519}) {
    auto key = keys::generate_key(type);
    ASSERT_TRUE(key);
    auto der = make_csr(**key, "web.internal", {*parse_san("dns:web.internal"), *parse_san("ip:10.0.0.5")});
    ASSERT_TRUE(der) << der.error().describe();
    auto csr = parse_csr(*der);
    ASSERT_TRUE(csr) << csr.error().describe();
    EXPECT_TRUE(verify_csr_signature(*csr));
    EXPECT_EQ(csr->common_name, "web.internal");
    ASSERT_EQ(csr->requested_sans.size(), 2u);
    EXPECT_EQ(csr->requested_sans[1].to_string(), "ip:10.0.0.5");
    auto bare = make_csr(**key, "");
    ASSERT_TRUE(bare);
    auto parsed = parse_csr(*bare);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->common_name, "");
    EXPECT_TRUE(parsed->requested_sans.empty());
  }
}

}  // namespace
}  // namespace herald::x509
