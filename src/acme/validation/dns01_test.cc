#include <gtest/gtest.h>

#include <chrono>

#include "acme/validation/test_servers.h"
#include "acme/validation/validator.h"
#include "base/encoding.h"
#include "ossl/ossl.h"

namespace herald::acme::validation {
namespace {

using namespace std::chrono_literals;

constexpr char kKeyAuth[] =
    "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";
constexpr char kName[] = "_acme-challenge.example.test";

#define EXPECT_OUTCOME(outcome, type, text)                                        \
  do {                                                                             \
    const Outcome& o_ = (outcome);                                                 \
    EXPECT_FALSE(o_.valid);                                                        \
    EXPECT_EQ(o_.error_type, type) << o_.detail;                                   \
    EXPECT_NE(o_.detail.find(text), std::string::npos) << "detail: " << o_.detail; \
  } while (0)

std::string expected_txt() {
  std::string_view ka = kKeyAuth;
  auto d = ossl::sha256(std::span(reinterpret_cast<const uint8_t*>(ka.data()), ka.size()));
  return base64url_encode(*d);
}

class ValidationDns01 : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(dns_.ok());
    settings_.timeout = 2s;
    settings_.dns_resolver = std::pair{std::string("127.0.0.1"), dns_.port()};
  }
  Outcome validate(std::string_view domain = "example.test") {
    return validate_dns01(settings_, domain, kKeyAuth);
  }
  testing::DnsStub dns_;
  Settings settings_;
};

TEST_F(ValidationDns01, ExpectedValueIsUnpaddedBase64urlOfSha256) {
  EXPECT_EQ(expected_txt().size(), 43u);
  EXPECT_EQ(expected_txt().find('='), std::string::npos);
}

TEST_F(ValidationDns01, ValidAmongOtherRecords) {
  dns_.add_txt(kName, {"stale-value"});
  dns_.add_txt(kName, {expected_txt()});
  auto o = validate("Example.Test");
  EXPECT_TRUE(o.valid) << o.error_type << ": " << o.detail;
  auto qs = dns_.questions();
  ASSERT_EQ(qs.size(), 1u);
  EXPECT_EQ(qs[0].name, "_acme-challenge.example.test");
  EXPECT_EQ(qs[0].type, 16);
  ASSERT_EQ(o.records.size(), 1u);
  EXPECT_EQ(o.records[0].hostname, kName);
}

TEST_F(ValidationDns01, CharacterStringsOfOneRecordAreJoined) {
  std::string v = expected_txt();
  dns_.add_txt(kName, {v.substr(0, 10), v.substr(10)});
  EXPECT_TRUE(validate().valid);
}

TEST_F(ValidationDns01, StringsOfDifferentRecordsAreNotJoined) {
  std::string v = expected_txt();
  dns_.add_txt(kName, {v.substr(0, 10)});
  dns_.add_txt(kName, {v.substr(10)});
  EXPECT_OUTCOME(validate(), "unauthorized", "found \"" + v.substr(0, 10) + "\"");
}

TEST_F(ValidationDns01, FollowsACnameInTheAnswer) {
  dns_.add_cname(kName, "delegated.acme.test");
  dns_.add_txt("delegated.acme.test", {expected_txt()});
  auto o = validate();
  EXPECT_TRUE(o.valid) << o.detail;
}

TEST_F(ValidationDns01, WrongValuesAreListed) {
  dns_.add_cname(kName, "delegated.acme.test");
  dns_.add_txt("delegated.acme.test", {"wrong\x7f"});
  auto o = validate();
  EXPECT_OUTCOME(o, "unauthorized", "found \"wrong\\x7f\"");
  EXPECT_NE(o.detail.find(expected_txt()), std::string::npos) << o.detail;
  EXPECT_NE(o.detail.find("via CNAME to delegated.acme.test"), std::string::npos) << o.detail;
}

TEST_F(ValidationDns01, NoTxtRecord) {
  dns_.add_a(kName, "192.0.2.1");  // the name exists, without TXT
  EXPECT_OUTCOME(validate(), "unauthorized", "no TXT record at _acme-challenge.example.test");
}

TEST_F(ValidationDns01, ResolverProblemsAreDnsErrors) {
  EXPECT_OUTCOME(validate(), "dns", "NXDOMAIN");
  dns_.add_txt(kName, {expected_txt()});
  dns_.set_mode(testing::DnsStub::Mode::kServFail);
  EXPECT_OUTCOME(validate(), "dns", "SERVFAIL");
  dns_.set_mode(testing::DnsStub::Mode::kTruncated);
  EXPECT_OUTCOME(validate(), "dns", "truncated");
  dns_.set_mode(testing::DnsStub::Mode::kSilent);
  settings_.timeout = 200ms;
  auto start = std::chrono::steady_clock::now();
  EXPECT_OUTCOME(validate(), "dns", "no answer within 200 ms");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  dns_.set_mode(testing::DnsStub::Mode::kGarbageThenAnswer);
  EXPECT_TRUE(validate().valid);
}

TEST_F(ValidationDns01, MalformedArguments) {
  EXPECT_OUTCOME(validate_dns01(settings_, "*.example.test", kKeyAuth), "malformed",
                 "not a host name");
  EXPECT_OUTCOME(validate_dns01(settings_, "example.test", "x"), "malformed", "key authorization");
  EXPECT_TRUE(dns_.questions().empty());
}

}  // namespace
}  // namespace herald::acme::validation
