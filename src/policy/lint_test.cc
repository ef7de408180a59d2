#include "policy/lint.h"

#include <gtest/gtest.h>

#include "keys/private_key.h"
#include "policy/profile.h"
#include "x509/builder.h"

namespace herald::policy {
namespace {

class LintTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = *keys::generate_key(keys::KeyType::kEcP256);
    pub_ = *keys::public_key_of(*key_);
    spec_.serial = *Serial::parse("4A00000000000000000000000000000B");
    spec_.common_name = "web.internal";
    spec_.not_before = TimePoint{std::chrono::seconds(1'800'000'000)};
    spec_.not_after = spec_.not_before + std::chrono::hours(1);
    spec_.subject_key = &pub_;
    auto t = profile_template(Profile::kServer, pub_.info);
    spec_.key_usage = t.key_usage;
    spec_.ext_key_usage = t.ext_key_usage;
    spec_.sans = {*x509::parse_san("dns:web.internal")};
    spec_.authority_key_id = Bytes(20, 0xAB);
  }
  std::vector<std::string> codes(Profile profile = Profile::kServer) {
    auto x = x509::build_certificate(spec_, nullptr);
    EXPECT_TRUE(x);
    std::vector<std::string> out;
    for (auto& f : lint_certificate(**x, {CertKind::kLeaf, profile})) out.push_back(f.code);
    return out;
  }
  ossl::EvpPkeyPtr key_;
  keys::PublicKey pub_;
  x509::CertificateSpec spec_;
};

TEST_F(LintTest, CleanServerCertificatePasses) { EXPECT_EQ(codes(), std::vector<std::string>{}); }

TEST_F(LintTest, CatchesEachDefect) {
  auto with = [&](auto mutate) {
    auto saved = spec_;
    mutate(spec_);
    auto c = codes();
    spec_ = saved;
    return c;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(with([](auto& s) { s.not_after = s.not_before; }), V{"validity.order"});
  EXPECT_EQ(with([](auto& s) { s.sans.clear(); }), V{"san.missing"});
  EXPECT_EQ(with([](auto& s) { s.authority_key_id.clear(); }), V{"aki.missing"});
  EXPECT_EQ(with([](auto& s) { s.ext_key_usage = {x509::ExtendedKeyUsage::kClientAuth}; }),
            V{"eku.profile"});
  EXPECT_EQ(with([](auto& s) { s.key_usage |= x509::kKeyCertSign; }), V{"key_usage.profile"});
  EXPECT_EQ(with([](auto& s) { s.is_ca = true; }), V{"basic_constraints.ca"});
  EXPECT_EQ(with([](auto& s) { s.serial = *Serial::parse(std::string(40, 'F')); }),
            V{"serial.too_long"});
  EXPECT_EQ(with([](auto& s) {
              s.common_name.clear();
              s.sans.clear();
            }),
            (V{"subject.empty", "san.missing"}));
}

TEST_F(LintTest, OcspSignerProfile) {
  using V = std::vector<std::string>;
  auto t = profile_template(Profile::kOcspSigner, pub_.info);
  EXPECT_EQ(t.key_usage, x509::kDigitalSignature);
  EXPECT_EQ(t.ext_key_usage, std::vector{x509::ExtendedKeyUsage::kOcspSigning});
  spec_.key_usage = t.key_usage;
  spec_.ext_key_usage = t.ext_key_usage;
  spec_.sans.clear();  // none needed
  spec_.ocsp_no_check = true;
  EXPECT_EQ(codes(Profile::kOcspSigner), V{});
  spec_.ocsp_no_check = false;
  EXPECT_EQ(codes(Profile::kOcspSigner), V{"ocsp_nocheck.missing"});
  spec_.ocsp_no_check = true;
  spec_.ext_key_usage.push_back(x509::ExtendedKeyUsage::kServerAuth);
  EXPECT_EQ(codes(Profile::kOcspSigner), V{"eku.profile"});
  spec_.ext_key_usage = t.ext_key_usage;
  spec_.is_ca = true;
  EXPECT_EQ(codes(Profile::kOcspSigner), V{"basic_constraints.ca"});
}

TEST_F(LintTest, OcspNoCheckOnlyOnOcspSigners) {
  spec_.ocsp_no_check = true;
  EXPECT_EQ(codes(), std::vector<std::string>{"ocsp_nocheck.unexpected"});
}

TEST_F(LintTest, GateReportsFailure) {
  spec_.sans.clear();
  auto x = x509::build_certificate(spec_, nullptr);
  auto s = lint_gate(**x, {CertKind::kLeaf, Profile::kServer});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kLintFailed);
  EXPECT_NE(s.error().message.find("san.missing"), std::string::npos);
}

}  // namespace
}  // namespace herald::policy
