// Verification of real chains issued by Herald's own CA code, and the
// findings each kind of failure produces.
#include "verify/verify.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "ca/authority.h"
#include "ca/hierarchy.h"
#include "keys/private_key.h"
#include "store/sqlite/sqlite_inventory.h"

namespace herald::verify {
namespace {

using namespace std::chrono_literals;

class VerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("herald-verify-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    inv_ = std::move(*store::SqliteInventory::open(dir_ / "herald.db", store::OpenMode::kCreate, clock_));
    config_.policy = policy::default_policy();
    ca::HierarchyOptions o;
    o.organization = "Verify";
    h_ = std::make_unique<ca::Hierarchy>(std::move(*ca::create_hierarchy(clock_, o)));
    const Serial root = h_->root.cert.serial();
    ASSERT_TRUE(inv_->insert(ca::record_of(h_->root.cert, root, "root-ca", clock_.now())));
    ASSERT_TRUE(inv_->insert(ca::record_of(h_->intermediate.cert, root, "intermediate-ca", clock_.now())));
    ASSERT_TRUE(inv_->insert(ca::record_of(h_->issuing.cert, h_->intermediate.cert.serial(), "issuing-ca", clock_.now())));
    EVP_PKEY_up_ref(h_->issuing.key.get());
    signer_ = std::move(*keys::KeySigner::create(ossl::EvpPkeyPtr(h_->issuing.key.get())));
    authority_ = std::make_unique<ca::Authority>(clock_, *inv_, config_, *signer_, h_->issuing.cert,
                                                 h_->intermediate.cert.serial());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Bytes issue(policy::Profile profile, const std::string& cn, std::vector<std::string> sans = {}) {
    auto key = keys::generate_key(keys::KeyType::kEcP256);
    auto pub = keys::public_key_of(**key);
    policy::IssueRequest r;
    r.profile = profile;
    r.common_name = cn;
    for (auto& s : sans) r.sans.push_back(*x509::parse_san(s));
    r.key = pub->info;
    auto issued = authority_->issue(r, *pub, {});
    EXPECT_TRUE(issued) << issued.error().describe();
    return issued->record.der;
  }
  Options server(std::string host) {
    Options o;
    o.at = clock_.now();
    o.purpose = Purpose::kServer;
    o.dns_name = std::move(host);
    return o;
  }
  const Bytes& root() const { return h_->root.cert.der(); }
  std::vector<Bytes> intermediates() const { return {h_->issuing.cert.der(), h_->intermediate.cert.der()}; }

  FakeClock clock_{TimePoint{std::chrono::seconds(1'800'000'000)}};
  std::filesystem::path dir_;
  std::unique_ptr<store::SqliteInventory> inv_;
  policy::Config config_;
  std::unique_ptr<ca::Hierarchy> h_;
  std::unique_ptr<keys::KeySigner> signer_;
  std::unique_ptr<ca::Authority> authority_;
};

std::string codes(const Result& r) {
  std::string out;
  for (const auto& f : r.findings) out += (out.empty() ? "" : ",") + f.code;
  return out;
}

TEST_F(VerifyTest, ValidChainInAnyOrderWithExtras) {
  Bytes leaf = issue(policy::Profile::kServer, "web.internal");
  Bytes other = issue(policy::Profile::kServer, "other.internal");
  auto r = verify(leaf, {h_->intermediate.cert.der(), other, h_->issuing.cert.der()}, {root()},
                  server("web.internal"));
  EXPECT_TRUE(r.valid) << codes(r);
  ASSERT_EQ(r.chain.size(), 4u);
  EXPECT_EQ(r.chain[0], leaf);
  EXPECT_EQ(r.chain[1], h_->issuing.cert.der());
  EXPECT_EQ(r.chain[2], h_->intermediate.cert.der());
  EXPECT_EQ(r.chain[3], root());
}

TEST_F(VerifyTest, MissingIntermediateNamesTheIssuer) {
  Bytes leaf = issue(policy::Profile::kServer, "web.internal");
  auto r = verify(leaf, {h_->intermediate.cert.der()}, {root()}, server("web.internal"));
  EXPECT_FALSE(r.valid);
  ASSERT_EQ(codes(r), "missing_issuer");
  EXPECT_NE(r.findings[0].found.find(h_->issuing.cert.subject().substr(0, 3)), std::string::npos)
      << r.findings[0].found;
  EXPECT_NE(r.findings[0].hint.find("chain.pem"), std::string::npos);
}

TEST_F(VerifyTest, MissingSecondIntermediateIsNamedAtItsDepth) {
  Bytes leaf = issue(policy::Profile::kServer, "web.internal");
  auto r = verify(leaf, {h_->issuing.cert.der()}, {root()}, server("web.internal"));
  EXPECT_FALSE(r.valid);
  ASSERT_EQ(codes(r), "missing_issuer");
  EXPECT_EQ(r.findings[0].depth, 1);
  EXPECT_EQ(r.findings[0].serial, h_->issuing.cert.serial().hex()) << r.findings[0].subject;
}

TEST_F(VerifyTest, WrongHostListsTheSans) {
  Bytes leaf = issue(policy::Profile::kServer, "web.internal", {"dns:api.internal"});
  auto r = verify(leaf, intermediates(), {root()}, server("db.internal"));
  EXPECT_FALSE(r.valid);
  ASSERT_EQ(codes(r), "hostname_mismatch");
  EXPECT_EQ(r.findings[0].expected, "db.internal");
  EXPECT_NE(r.findings[0].found.find("api.internal"), std::string::npos) << r.findings[0].found;
}

TEST_F(VerifyTest, ClientCertificateAsServerIsAnEkuMismatch) {
  Bytes leaf = issue(policy::Profile::kClient, "alice", {"dns:alice.internal"});
  Options o = server("alice.internal");
  auto r = verify(leaf, intermediates(), {root()}, o);
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(codes(r), "eku_mismatch");
  o.purpose = Purpose::kClient;
  o.dns_name.reset();
  EXPECT_TRUE(verify(leaf, intermediates(), {root()}, o).valid);
}

TEST_F(VerifyTest, ExpiredAndNotYetValid) {
  Bytes leaf = issue(policy::Profile::kServer, "web.internal");
  Options o = server("web.internal");
  o.at = clock_.now() + std::chrono::hours(24 * 400);
  auto r = verify(leaf, intermediates(), {root()}, o);
  EXPECT_EQ(codes(r), "expired");
  EXPECT_EQ(r.findings[0].depth, 0);
  // Before the whole hierarchy was issued: one finding per certificate,
  // leaf first.
  o.at = clock_.now() - std::chrono::hours(1);
  auto early = verify(leaf, intermediates(), {root()}, o);
  EXPECT_EQ(codes(early), "not_yet_valid,not_yet_valid,not_yet_valid,not_yet_valid");
  for (size_t d = 0; d < early.findings.size(); ++d) EXPECT_EQ(early.findings[d].depth, static_cast<int>(d));
}

TEST_F(VerifyTest, ForeignAnchorAndGarbage) {
  ca::HierarchyOptions other;
  other.organization = "Elsewhere";
  auto foreign = ca::create_hierarchy(clock_, other);
  ASSERT_TRUE(foreign);
  Bytes leaf = issue(policy::Profile::kServer, "web.internal");
  auto r = verify(leaf, intermediates(), {foreign->root.cert.der()}, server("web.internal"));
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(codes(r), "missing_issuer");
  auto g = verify(Bytes{0x30, 0x03, 0x02, 0x01}, intermediates(), {root()}, server("x"));
  EXPECT_FALSE(g.valid);
  EXPECT_EQ(codes(g), "malformed_certificate");
  // Garbage among the intermediates is a warning; the path is still found.
  auto w = verify(leaf, {Bytes{1, 2, 3}, h_->issuing.cert.der(), h_->intermediate.cert.der()}, {root()},
                  server("web.internal"));
  EXPECT_TRUE(w.valid) << codes(w);
}

TEST_F(VerifyTest, DepthLimit) {
  Bytes leaf = issue(policy::Profile::kServer, "web.internal");
  Options o = server("web.internal");
  o.max_depth = 1;  // two intermediates are needed
  auto r = verify(leaf, intermediates(), {root()}, o);
  EXPECT_FALSE(r.valid);
  o.max_depth = 2;
  EXPECT_TRUE(verify(leaf, intermediates(), {root()}, o).valid);
}

}  // namespace
}  // namespace herald::verify
