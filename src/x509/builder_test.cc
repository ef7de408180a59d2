#include "x509/builder.h"

#include <gtest/gtest.h>

#include "keys/private_key.h"
#include "keys/signer.h"
#include "x509/certificate.h"
#include "x509/crl.h"

namespace herald::x509 {
namespace {

TEST(Builder, SelfSignedCaAndLeafVerifyWithOpenSsl) {
  auto ca_key = keys::generate_key(keys::KeyType::kEcP256);
  auto signer = keys::KeySigner::create(std::move(*ca_key));
  ASSERT_TRUE(signer);
  const TimePoint t0{std::chrono::seconds(1'800'000'000)};

  CertificateSpec ca;
  ca.serial = *Serial::parse("01");
  ca.organization = "Acme";
  ca.common_name = "Acme Root";
  ca.not_before = t0;
  ca.not_after = t0 + std::chrono::hours(24 * 365);
  ca.subject_key = &(*signer)->public_key();
  ca.is_ca = true;
  ca.path_len = 2;
  ca.key_usage = kKeyCertSign | kCrlSign;
  auto ca_x = build_certificate(ca, nullptr);
  ASSERT_TRUE(ca_x) << ca_x.error().describe();
  ASSERT_TRUE((*signer)->sign(**ca_x));
  auto ca_der = encode_der(**ca_x);
  auto ca_cert = Certificate::from_der(*ca_der);
  ASSERT_TRUE(ca_cert);
  EXPECT_TRUE(ca_cert->is_ca());
  EXPECT_EQ(ca_cert->path_len(), 2);
  EXPECT_EQ(ca_cert->subject(), "CN=Acme Root,O=Acme");
  EXPECT_EQ(ca_cert->not_before(), t0);
  EXPECT_EQ(X509_verify(&ca_cert->x509(), X509_get0_pubkey(&ca_cert->x509())), 1);

  auto leaf_key = keys::generate_key(keys::KeyType::kRsa2048);
  auto leaf_pub = keys::public_key_of(**leaf_key);
  CertificateSpec leaf;
  leaf.serial = *Serial::parse("7F112233445566778899AABBCCDDEEFF");
  leaf.common_name = "web.internal";
  leaf.not_before = t0;
  leaf.not_after = t0 + std::chrono::hours(24);
  leaf.subject_key = &*leaf_pub;
  leaf.key_usage = kDigitalSignature | kKeyEncipherment;
  leaf.ext_key_usage = {ExtendedKeyUsage::kServerAuth};
  leaf.sans = {*parse_san("dns:web.internal")};
  leaf.authority_key_id = ca_cert->subject_key_id();
  leaf.crl_urls = {"http://ca.internal/crl/issuing.crl"};
  leaf.ocsp_urls = {"http://ca.internal/ocsp"};
  auto leaf_x = build_certificate(leaf, X509_get_subject_name(&ca_cert->x509()));
  ASSERT_TRUE(leaf_x);
  ASSERT_TRUE((*signer)->sign(**leaf_x));
  auto leaf_cert = Certificate::from_der(*encode_der(**leaf_x));
  ASSERT_TRUE(leaf_cert);
  EXPECT_EQ(leaf_cert->serial().hex(), "7F112233445566778899AABBCCDDEEFF");
  EXPECT_EQ(leaf_cert->key_info().name(), "rsa-2048");
  EXPECT_EQ(leaf_cert->sans(), leaf.sans);
  EXPECT_EQ(leaf_cert->ext_key_usage(), std::vector<std::string>{"serverAuth"});
  EXPECT_FALSE(leaf_cert->is_ca());
  EXPECT_EQ(X509_check_issued(&ca_cert->x509(), &leaf_cert->x509()), X509_V_OK);
  EXPECT_EQ(X509_verify(&leaf_cert->x509(), X509_get0_pubkey(&ca_cert->x509())), 1);
  // The key went in without an EVP_PKEY round trip and still decodes identically.
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(&leaf_cert->x509()), leaf_key->get()), 1);

  // A CRL revoking the leaf.
  CrlSpec crl{7,
              t0,
              t0 + std::chrono::hours(24),
              ca_cert->subject_key_id(),
              {{leaf_cert->serial(), t0, RevocationReason::kKeyCompromise}}};
  auto crl_der = build_crl(crl, *X509_get_subject_name(&ca_cert->x509()), **signer);
  ASSERT_TRUE(crl_der);
  const unsigned char* p = crl_der->data();
  ossl::X509CrlPtr parsed(d2i_X509_CRL(nullptr, &p, static_cast<long>(crl_der->size())));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(X509_CRL_verify(parsed.get(), X509_get0_pubkey(&ca_cert->x509())), 1);
  X509_REVOKED* rev = nullptr;
  EXPECT_EQ(X509_CRL_get0_by_cert(parsed.get(), &rev, &leaf_cert->x509()), 1);
}

TEST(Reason, NamesRoundTrip) {
  for (auto r : {RevocationReason::kKeyCompromise, RevocationReason::kRemoveFromCrl,
                 RevocationReason::kAaCompromise}) {
    EXPECT_EQ(*parse_reason(reason_name(r)), r);
  }
  EXPECT_FALSE(parse_reason("stolen"));
}

}  // namespace
}  // namespace herald::x509
