#include "ossl/ossl.h"

#include <gtest/gtest.h>

namespace herald::ossl {
namespace {

TEST(Pem, RoundTripsAndFiltersByLabel) {
  Bytes der{1, 2, 3, 4, 5};
  std::string text = pem_encode(der, "CERTIFICATE") + pem_encode(Bytes{9}, "X509 CRL") +
                     pem_encode(der, "CERTIFICATE");
  auto blocks = pem_blocks(text, "CERTIFICATE");
  ASSERT_TRUE(blocks);
  ASSERT_EQ(blocks->size(), 2u);
  EXPECT_EQ((*blocks)[0], der);
  EXPECT_TRUE(looks_like_pem(Bytes(text.begin(), text.end())));
}

TEST(Pem, ReportsMissingAndCorrupt) {
  auto none = pem_blocks("hello", "CERTIFICATE");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kMalformedInput);
  auto corrupt =
      pem_blocks("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", "CERTIFICATE");
  ASSERT_FALSE(corrupt);
  auto unterminated = pem_blocks("-----BEGIN CERTIFICATE-----\nAAAA\n", "CERTIFICATE");
  ASSERT_FALSE(unterminated);
}

TEST(Digest, KnownAnswer) {
  std::string abc = "abc";
  auto d = sha256(Bytes(abc.begin(), abc.end()));
  ASSERT_TRUE(d);
  EXPECT_EQ(to_hex(*d, false), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace herald::ossl
