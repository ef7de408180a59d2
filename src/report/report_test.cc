#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "report/report.h"
#include "store/inventory_conformance.h"
#include "store/sqlite/sqlite_inventory.h"

namespace herald::store::testing {
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(InventoryConformance);  // only record() is used here
}  // namespace herald::store::testing

namespace herald::report {
namespace {

using namespace std::chrono_literals;
using store::testing::record;

const TimePoint kNow{std::chrono::seconds(2'000'000'000)};

class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("herald-report-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    inv_ = std::move(*store::SqliteInventory::open(dir_ / "herald.db", store::OpenMode::kCreate,
                                                   clock_));
    h_.root = ca("01", "01", "root-ca", 20 * 365);
    h_.intermediate = ca("02", "01", "intermediate-ca", 10 * 365);
    h_.issuing = ca("03", "02", "issuing-ca", 2 * 365);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  store::CertRecord ca(const char* serial, const char* issuer, const char* profile, int days) {
    auto r = leaf(serial, issuer, days);
    r.profile = profile;
    r.owner = {};
    r.sans = {};
    EXPECT_TRUE(inv_->insert(r));
    return r;
  }
  // A well-formed leaf valid for `days` more days (lifetime: 30 days before now + days).
  store::CertRecord leaf(const char* serial, const char* issuer, int days) {
    auto r = record(serial, issuer, 0);
    r.not_before = kNow - 24h * 30;
    r.not_after = kNow + 24h * days;
    r.signature_algorithm = "ecdsa-with-SHA256";
    return r;
  }
  const Rule& rule(const Compliance& c, const std::string& id) {
    for (const auto& r : c.rules)
      if (r.id == id) return r;
    ADD_FAILURE() << "no rule " << id;
    static Rule none;
    return none;
  }

  FakeClock clock_{kNow};
  std::filesystem::path dir_;
  std::unique_ptr<store::SqliteInventory> inv_;
  Hierarchy h_;
};

TEST_F(ReportTest, ComplianceFindsEachRuleAndNothingInACleanCertificate) {
  policy::Policy p = policy::default_policy();
  p.server.max_ttl = 24h * 90;
  ASSERT_TRUE(inv_->insert(leaf("10", "03", 30)));  // clean
  auto rsa = leaf("11", "03", 30);
  rsa.key_algorithm = "rsa-1024";
  rsa.key_bits = 1024;
  ASSERT_TRUE(inv_->insert(rsa));
  auto sha1 = leaf("12", "03", 30);
  sha1.signature_algorithm = "sha1WithRSAEncryption";
  ASSERT_TRUE(inv_->insert(sha1));
  auto longlived = leaf("13", "03", 365);  // 395 days > 90
  ASSERT_TRUE(inv_->insert(longlived));
  auto cn_only = leaf("14", "03", 30);
  cn_only.sans.clear();
  ASSERT_TRUE(inv_->insert(cn_only));
  auto orphan = leaf("15", "03", 30);
  orphan.owner = {{"provisioner", "ci"}};
  ASSERT_TRUE(inv_->insert(orphan));
  auto revoked = leaf("16", "03", 30);  // revoked: not checked
  revoked.key_bits = 1024;
  revoked.key_algorithm = "rsa-1024";
  ASSERT_TRUE(inv_->insert(revoked));
  ASSERT_TRUE(inv_->revoke(revoked.serial, x509::RevocationReason::kSuperseded, kNow));

  auto c = compliance(*inv_, nullptr, p, h_, kNow);
  ASSERT_TRUE(c) << c.error().describe();
  EXPECT_EQ(rule(*c, "weak-key").count, 1);
  EXPECT_EQ(rule(*c, "weak-key").examples.at(0).serial, "11");
  EXPECT_EQ(rule(*c, "weak-signature").count, 1);
  EXPECT_EQ(rule(*c, "weak-signature").examples.at(0).serial, "12");
  EXPECT_EQ(rule(*c, "lifetime-above-policy").count, 1);
  EXPECT_EQ(rule(*c, "lifetime-above-policy").examples.at(0).serial, "13");
  EXPECT_EQ(rule(*c, "cn-only-name").count, 1);
  EXPECT_EQ(rule(*c, "no-owner").count, 1);
  EXPECT_EQ(rule(*c, "no-owner").examples.at(0).serial, "15");
  // The issuing CA (2 years) outlives everything, and 90 days from now.
  EXPECT_EQ(rule(*c, "ca-expires-before-children").count, 0);
  EXPECT_EQ(c->certificates_checked, 3 + 6);

  // Renders: the HTML escapes what a certificate carries.
  auto evil = leaf("17", "03", 30);
  evil.sans.clear();
  evil.subject = "CN=<script>alert(1)</script>";
  evil.common_name = "<script>alert(1)</script>";
  ASSERT_TRUE(inv_->insert(evil));
  auto again = compliance(*inv_, nullptr, p, h_, kNow);
  ASSERT_TRUE(again);
  const std::string html = to_html(*again);
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;"), std::string::npos);
  EXPECT_EQ(to_json(*again)["findings"], again->findings());
}

TEST_F(ReportTest, ComplianceFlagsACaExpiringBeforeWhatItCouldIssue) {
  policy::Policy p = policy::default_policy();
  p.server.max_ttl = 24h * 90;
  // An issuing CA with 30 days left, under an intermediate that expires even earlier.
  h_.issuing.not_after = kNow + 24h * 30;
  h_.intermediate.not_after = kNow + 24h * 20;
  auto c = compliance(*inv_, nullptr, p, h_, kNow);
  ASSERT_TRUE(c);
  EXPECT_EQ(rule(*c, "ca-expires-before-children").count, 2);
}

TEST_F(ReportTest, ComplianceWalksMoreThanOnePage) {
  policy::Policy p = policy::default_policy();
  for (int i = 0; i < 2500; ++i) {
    char serial[16];
    std::snprintf(serial, sizeof serial, "7%05X", i);
    auto r = leaf(serial, "03", 10 + i % 7);  // ties on not_after across pages
    r.fingerprint_sha256 = std::string("FP") + serial;
    r.owner = {};
    ASSERT_TRUE(inv_->insert(r));
  }
  auto c = compliance(*inv_, nullptr, p, h_, kNow, 5);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->certificates_checked, 3 + 2500);
  EXPECT_EQ(rule(*c, "no-owner").count, 2500);
  EXPECT_EQ(rule(*c, "no-owner").examples.size(), 5u);
}

TEST_F(ReportTest, BlastRadiusOfACaCountsEverythingBelowIt) {
  ASSERT_TRUE(inv_->insert(leaf("20", "03", 30)));
  auto web = leaf("21", "03", 40);
  web.owner = {{"team", "web"}, {"provisioner", "ci"}};
  ASSERT_TRUE(inv_->insert(web));
  auto gone = leaf("22", "03", 30);
  ASSERT_TRUE(inv_->insert(gone));
  ASSERT_TRUE(inv_->revoke(gone.serial, x509::RevocationReason::kSuperseded, kNow));
  auto old = leaf("23", "03", -1);  // expired yesterday
  ASSERT_TRUE(inv_->insert(old));

  auto issuing = blast_radius(*inv_, inv_.get(), h_.issuing.serial, kNow);
  ASSERT_TRUE(issuing) << issuing.error().describe();
  EXPECT_EQ(issuing->total, 4);
  EXPECT_EQ(issuing->valid, 2);
  EXPECT_EQ(issuing->revoked, 1);
  EXPECT_EQ(issuing->expired, 1);
  EXPECT_EQ(issuing->valid_by_owner.at("team=web"), 1);
  EXPECT_EQ(issuing->valid_by_owner.at("env=prod,team=payments"), 1);
  EXPECT_EQ(issuing->last_valid_not_after, web.not_after);

  // The root: the intermediate and issuing CAs and everything they signed.
  auto root = blast_radius(*inv_, inv_.get(), h_.root.serial, kNow);
  ASSERT_TRUE(root);
  EXPECT_EQ(root->total, 6);
  EXPECT_EQ(root->cas.size(), 2u);
  EXPECT_EQ(root->valid, 4);

  auto one = blast_radius(*inv_, inv_.get(), web.serial, kNow);
  ASSERT_TRUE(one);
  EXPECT_EQ(one->total, 0);
  EXPECT_NE(to_text(*one).find("alone"), std::string::npos);

  auto unknown = blast_radius(*inv_, inv_.get(), *Serial::parse("7777"), kNow);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
}

TEST_F(ReportTest, DeploymentsAddExpiredAndForeignFindingsAndWhereThingsRun) {
  policy::Policy p = policy::default_policy();
  auto old = leaf("30", "03", -2);  // expired two days ago, still presented
  ASSERT_TRUE(inv_->insert(old));
  auto live = leaf("31", "03", 30);
  ASSERT_TRUE(inv_->insert(live));
  auto sight = [&](const std::string& endpoint, const store::CertRecord& r) {
    store::Sighting s;
    s.endpoint = endpoint;
    s.leaf.fingerprint_sha256 = r.fingerprint_sha256;
    s.leaf.serial_hex = r.serial.hex();
    s.leaf.subject = r.subject;
    s.leaf.not_before = r.not_before;
    s.leaf.not_after = r.not_after;
    s.leaf.key_algorithm = r.key_algorithm;
    s.leaf.key_bits = r.key_bits;
    s.leaf.signature_algorithm = r.signature_algorithm;
    s.leaf.sans = {"dns:" + r.common_name};
    s.leaf.der = r.der;
    s.at = kNow;
    return inv_->record_sighting(s);
  };
  auto first = sight("10.0.0.1:443", old);
  ASSERT_TRUE(first) << first.error().describe();
  ASSERT_TRUE(sight("10.0.0.2:443", live));
  auto outsider = leaf("99", "98", 60);  // not in the inventory: foreign
  outsider.fingerprint_sha256 = "FP-foreign";
  outsider.key_algorithm = "rsa-1024";
  outsider.key_bits = 1024;
  auto seen = sight("10.0.0.3:8443", outsider);
  ASSERT_TRUE(seen) << seen.error().describe();
  EXPECT_TRUE(seen->foreign);

  auto c = compliance(*inv_, inv_.get(), p, h_, kNow);
  ASSERT_TRUE(c) << c.error().describe();
  EXPECT_EQ(rule(*c, "expired-but-deployed").count, 1);
  EXPECT_EQ(rule(*c, "expired-but-deployed").examples.at(0).serial, "30");
  EXPECT_EQ(rule(*c, "foreign-on-endpoint").count, 1);
  EXPECT_EQ(rule(*c, "weak-key").count, 1);  // the foreign one's RSA 1024
  auto without = compliance(*inv_, nullptr, p, h_, kNow);
  ASSERT_TRUE(without);
  EXPECT_EQ(rule(*without, "foreign-on-endpoint").count, 0);

  auto b = blast_radius(*inv_, inv_.get(), h_.issuing.serial, kNow);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->deployed, 2);  // both of ours, not the foreign one
  auto one = blast_radius(*inv_, inv_.get(), live.serial, kNow);
  ASSERT_TRUE(one);
  EXPECT_EQ(one->deployed, 1);
  EXPECT_EQ(one->deployments_sample.at(0).endpoint, "10.0.0.2:443");
}

}  // namespace
}  // namespace herald::report
