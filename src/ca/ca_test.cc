#include <tuple>
#include <gtest/gtest.h>

#include <filesystem>

#include "ca/authority.h"
#include "ca/hierarchy.h"
#include "ca/revocation.h"
#include "keys/private_key.h"
#include "store/sqlite/sqlite_inventory.h"
#include "x509/test_csr.h"

namespace herald::ca {
namespace {

using namespace std::chrono_literals;

class CaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("herald-ca-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    inv_ = std::move(
        *store::SqliteInventory::open(dir_ / "herald.db", store::OpenMode::kCreate, clock_));
    config_.policy = policy::default_policy();
    config_.ca.base_url = "http://127.0.0.1:8080";
    HierarchyOptions o;
    o.organization = "Test";
    o.base_url = config_.ca.base_url;
    auto h = create_hierarchy(clock_, o);
    ASSERT_TRUE(h) << h.error().describe();
    h_ = std::make_unique<Hierarchy>(std::move(*h));
    const Serial root = h_->root.cert.serial();
    ASSERT_TRUE(inv_->insert(record_of(h_->root.cert, root, "root-ca", clock_.now())));
    ASSERT_TRUE(
        inv_->insert(record_of(h_->intermediate.cert, root, "intermediate-ca", clock_.now())));
    ASSERT_TRUE(inv_->insert(
        record_of(h_->issuing.cert, h_->intermediate.cert.serial(), "issuing-ca", clock_.now())));
    EVP_PKEY_up_ref(h_->issuing.key.get());
    signer_ = std::move(*keys::KeySigner::create(ossl::EvpPkeyPtr(h_->issuing.key.get())));
    authority_ = std::make_unique<Authority>(clock_, *inv_, config_, *signer_, h_->issuing.cert,
                                             h_->intermediate.cert.serial());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // OpenSSL's own chain verification at the fake clock's time.
  int verify(const Bytes& leaf_der, int purpose, TimePoint at) {
    auto leaf = x509::Certificate::from_der(leaf_der);
    EXPECT_TRUE(leaf);
    ossl::X509StackPtr untrusted(sk_X509_new_null());
    for (auto* c : {&h_->issuing.cert, &h_->intermediate.cert}) {
      X509_up_ref(&c->x509());
      sk_X509_push(untrusted.get(), &c->x509());
    }
    std::unique_ptr<X509_STORE, ossl::Deleter<X509_STORE_free>> store(X509_STORE_new());
    X509_STORE_add_cert(store.get(), &h_->root.cert.x509());
    std::unique_ptr<X509_STORE_CTX, ossl::Deleter<X509_STORE_CTX_free>> ctx(X509_STORE_CTX_new());
    X509_STORE_CTX_init(ctx.get(), store.get(), &leaf->x509(), untrusted.get());
    X509_STORE_CTX_set_purpose(ctx.get(), purpose);
    X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx.get()), X509_V_FLAG_X509_STRICT);
    X509_STORE_CTX_set_time(ctx.get(), 0, at.time_since_epoch().count());
    X509_verify_cert(ctx.get());
    return X509_STORE_CTX_get_error(ctx.get());
  }

  FakeClock clock_{TimePoint{std::chrono::seconds(1'800'000'000)}};
  std::filesystem::path dir_;
  std::unique_ptr<store::SqliteInventory> inv_;
  policy::Config config_;
  std::unique_ptr<Hierarchy> h_;
  std::unique_ptr<keys::KeySigner> signer_;
  std::unique_ptr<Authority> authority_;
};

TEST_F(CaTest, HierarchyShape) {
  EXPECT_EQ(h_->root.cert.path_len(), 2);
  EXPECT_EQ(h_->intermediate.cert.path_len(), 1);
  EXPECT_EQ(h_->issuing.cert.path_len(), 0);
  EXPECT_EQ(h_->root.cert.not_after() - h_->root.cert.not_before(), 20 * 365 * 24h + kBackdate);
  EXPECT_EQ(h_->issuing.cert.not_after(), clock_.now() + 2 * 365 * 24h);
  EXPECT_TRUE(h_->warnings.empty());
}

TEST_F(CaTest, ChildLifetimeIsClampedToParent) {
  HierarchyOptions o;
  o.root_ttl = 24h;
  o.intermediate_ttl = 48h;
  auto h = create_hierarchy(clock_, o);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->intermediate.cert.not_after(), h->root.cert.not_after());
  EXPECT_EQ(h->issuing.cert.not_after(), h->root.cert.not_after());
  ASSERT_EQ(h->warnings.size(), 2u);
  EXPECT_NE(h->warnings[0].find("clamped"), std::string::npos);
}

TEST_F(CaTest, IssuesServerCertificateThatOpenSslVerifies) {
  auto key = keys::generate_key(keys::KeyType::kEcP256);
  auto pub = keys::public_key_of(**key);
  policy::IssueRequest req;
  req.profile = policy::Profile::kServer;
  req.common_name = "web.internal";
  req.sans = {*x509::parse_san("ip:10.1.1.1")};
  req.key = pub->info;
  auto issued = authority_->issue(req, *pub, {{"team", "web"}});
  ASSERT_TRUE(issued) << issued.error().describe();
  const auto& r = issued->record;
  EXPECT_EQ(r.not_before, clock_.now() - kBackdate);
  EXPECT_EQ(r.not_after, clock_.now() + 90 * 24h);
  EXPECT_EQ(r.serial.bytes().size(), 16u);
  EXPECT_EQ(verify(r.der, X509_PURPOSE_SSL_SERVER, clock_.now()), X509_V_OK);
  EXPECT_EQ(verify(r.der, X509_PURPOSE_SSL_CLIENT, clock_.now()), X509_V_ERR_INVALID_PURPOSE);
  EXPECT_EQ(verify(r.der, X509_PURPOSE_SSL_SERVER, clock_.now() + 91 * 24h),
            X509_V_ERR_CERT_HAS_EXPIRED);

  auto stored = inv_->find(r.serial);
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ((*stored)->der, r.der);
  EXPECT_EQ((*stored)->owner.at("team"), "web");
  EXPECT_EQ((*stored)->issuer_serial, h_->issuing.cert.serial());
  auto cert = x509::Certificate::from_der(r.der);
  EXPECT_EQ(cert->sans(), (std::vector<x509::San>{*x509::parse_san("dns:web.internal"),
                                                  *x509::parse_san("ip:10.1.1.1")}));
  EXPECT_EQ(cert->fingerprint_sha256(), r.fingerprint_sha256);
}

TEST_F(CaTest, SignsCsrWithoutCopyingItsExtensions) {
  auto key = keys::generate_key(keys::KeyType::kRsa2048);
  Bytes der =
      x509::testing::make_csr_der(**key, {.cn = "alice", .sans = "email:alice@corp.internal"});
  auto csr = x509::parse_csr(der);
  ASSERT_TRUE(csr);
  auto issued = authority_->sign_csr(*csr, policy::Profile::kClient, 7 * 24h, {});
  ASSERT_TRUE(issued) << issued.error().describe();
  EXPECT_EQ(verify(issued->record.der, X509_PURPOSE_SSL_CLIENT, clock_.now()), X509_V_OK);
  auto cert = x509::Certificate::from_der(issued->record.der);
  EXPECT_EQ(cert->ext_key_usage(), std::vector<std::string>{"clientAuth"});
  EXPECT_EQ(issued->record.not_after, clock_.now() + 7 * 24h);
}

TEST_F(CaTest, RefusalsRecordNothing) {
  auto key = keys::generate_key(keys::KeyType::kEcP256);
  auto count = *inv_->count();
  auto csr = x509::parse_csr(x509::testing::make_csr_der(**key, {.cn = "www.google.com"}));
  auto r = authority_->sign_csr(*csr, policy::Profile::kServer, std::nullopt, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kPolicyViolation);

  Bytes bad = x509::testing::make_csr_der(**key, {.cn = "ok.internal"});
  auto tampered = x509::parse_csr(bad);
  ASSERT_TRUE(tampered);
  // Same key, other CSR's signature: no proof of possession over these bytes.
  Bytes other = x509::testing::make_csr_der(**key, {.cn = "ko.internal"});
  auto other_csr = x509::parse_csr(other);
  tampered->signature = other_csr->signature;
  auto r2 = authority_->sign_csr(*tampered, policy::Profile::kServer, std::nullopt, {});
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().code, ErrorCode::kBadSignature);
  EXPECT_EQ(*inv_->count(), count);
}

// A provisioner's sign options are applied by the pipeline itself, whoever
// calls it: profile, scope (SANs and CN), a one-time token's names, the
// provisioner's lifetime and labels; authorize() says the same beforehand.
TEST_F(CaTest, SignOptionsDecideInThePipeline) {
  auto key = keys::generate_key(keys::KeyType::kEcP256);
  const auto count = *inv_->count();
  SignOptions web;
  web.provisioner = "ci-web";
  web.profiles = {policy::Profile::kServer};
  web.scope = policy::NameScope::of("provisioner 'ci-web'", {"*.web.internal"}, {}, {}, {});
  web.ttl = 24h;
  auto csr_for = [&](const char* cn, const char* sans) {
    return *x509::parse_csr(x509::testing::make_csr_der(**key, {.cn = cn, .sans = sans}));
  };
  auto sans_of = [](const x509::Csr& c) { return c.requested_sans; };

  // Outside the scope by SAN, by CN, and a profile the provisioner lacks.
  for (const auto& [cn, sans, profile] :
       std::vector<std::tuple<const char*, const char*, policy::Profile>>{
           {"a.web.internal", "DNS:db.internal", policy::Profile::kServer},
           {"db.internal", "DNS:a.web.internal", policy::Profile::kServer},
           {"a.web.internal", "", policy::Profile::kClient}}) {
    auto csr = csr_for(cn, sans);
    auto before = authority_->authorize(profile, csr.common_name, sans_of(csr), web);
    ASSERT_FALSE(before) << cn << " " << sans;
    EXPECT_EQ(before.error().code, ErrorCode::kForbidden) << before.error().message;
    auto r = authority_->sign_csr(csr, profile, std::nullopt, {}, web);
    ASSERT_FALSE(r) << cn << " " << sans;
    EXPECT_EQ(r.error().code, ErrorCode::kForbidden);
  }
  // A one-time token's names: nothing beyond them, even inside the scope.
  SignOptions token = web;
  token.names = std::vector<std::string>{"a.web.internal"};
  auto wider = csr_for("a.web.internal", "DNS:b.web.internal");
  EXPECT_FALSE(authority_->authorize(policy::Profile::kServer, wider.common_name,
                                     sans_of(wider), token));
  EXPECT_FALSE(authority_->sign_csr(wider, policy::Profile::kServer, std::nullopt, {}, token));
  EXPECT_EQ(*inv_->count(), count);

  // Inside: issued with the provisioner's label and lifetime.
  auto ok = csr_for("a.web.internal", "");
  ASSERT_TRUE(authority_->authorize(policy::Profile::kServer, ok.common_name, sans_of(ok), token));
  SignOptions renewal = web;
  renewal.labels["renewed_from"] = "0abc";
  auto issued = authority_->sign_csr(ok, policy::Profile::kServer, std::nullopt,
                                     {{"team", "web"}, {"provisioner", "forged"}}, renewal);
  ASSERT_TRUE(issued) << issued.error().describe();
  EXPECT_EQ(issued->record.owner.at("provisioner"), "ci-web");
  EXPECT_EQ(issued->record.owner.at("team"), "web");
  EXPECT_EQ(issued->record.owner.at("renewed_from"), "0abc");
  EXPECT_EQ(issued->record.not_after, clock_.now() + 24h);
}

// What follows an issuance runs once per committed certificate, and not
// for a refused request.
TEST_F(CaTest, AfterIssueRunsOncePerCommittedCertificate) {
  std::vector<Serial> seen;
  authority_->after_issue([&](const Issued& i) { seen.push_back(i.record.serial); });
  auto key = keys::generate_key(keys::KeyType::kEcP256);
  auto refused = x509::parse_csr(x509::testing::make_csr_der(**key, {.cn = "www.google.com"}));
  EXPECT_FALSE(authority_->sign_csr(*refused, policy::Profile::kServer, std::nullopt, {}));
  EXPECT_TRUE(seen.empty());
  auto csr = x509::parse_csr(x509::testing::make_csr_der(**key, {.cn = "b.internal"}));
  auto issued = authority_->sign_csr(*csr, policy::Profile::kServer, std::nullopt, {});
  ASSERT_TRUE(issued);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen.front(), issued->record.serial);
}

TEST_F(CaTest, LeafLifetimeClampedToIssuingCa) {
  clock_.advance(2 * 365 * 24h - 10 * 24h);  // the issuing CA has 10 days left
  auto key = keys::generate_key(keys::KeyType::kEcP256);
  auto pub = keys::public_key_of(**key);
  policy::IssueRequest req;
  req.common_name = "web.internal";
  req.key = pub->info;
  auto issued = authority_->issue(req, *pub, {});
  ASSERT_TRUE(issued);
  EXPECT_EQ(issued->record.not_after, h_->issuing.cert.not_after());
  ASSERT_EQ(issued->warnings.size(), 1u);
}

TEST_F(CaTest, RevocationAndCrls) {
  auto key = keys::generate_key(keys::KeyType::kEcP256);
  auto pub = keys::public_key_of(**key);
  policy::IssueRequest req;
  req.common_name = "web.internal";
  req.key = pub->info;
  auto issued = authority_->issue(req, *pub, {});
  ASSERT_TRUE(issued);
  const Serial serial = issued->record.serial;

  auto crl1 = generate_crl(clock_, *inv_, *signer_, h_->issuing.cert, "issuing", 24h);
  ASSERT_TRUE(crl1);
  EXPECT_EQ(crl1->entries, 0u);

  clock_.advance(60s);
  auto rec = revoke(clock_, *inv_, serial, x509::RevocationReason::kKeyCompromise);
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->status, store::CertStatus::kRevoked);
  auto again = revoke(clock_, *inv_, serial, x509::RevocationReason::kKeyCompromise);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);

  auto crl2 = generate_crl(clock_, *inv_, *signer_, h_->issuing.cert, "issuing", 24h);
  ASSERT_TRUE(crl2);
  EXPECT_EQ(crl2->entries, 1u);
  EXPECT_GT(crl2->number, crl1->number);

  // Revoking the issuing CA lands on the intermediate's CRL, not the issuing one's.
  ASSERT_TRUE(
      revoke(clock_, *inv_, h_->issuing.cert.serial(), x509::RevocationReason::kCaCompromise));
  EVP_PKEY_up_ref(h_->intermediate.key.get());
  auto inter_signer = keys::KeySigner::create(ossl::EvpPkeyPtr(h_->intermediate.key.get()));
  auto icrl =
      generate_crl(clock_, *inv_, **inter_signer, h_->intermediate.cert, "intermediate", 24h);
  ASSERT_TRUE(icrl);
  EXPECT_EQ(icrl->entries, 1u);
  EXPECT_EQ(generate_crl(clock_, *inv_, *signer_, h_->issuing.cert, "issuing", 24h)->entries, 1u);

  // Nothing more is issued under a revoked issuing CA.
  auto refused = authority_->issue(req, *pub, {});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kConflict);
  EXPECT_NE(refused.error().message.find("issuing CA certificate"), std::string::npos);

  // The wrong key for a CA is refused.
  EXPECT_FALSE(generate_crl(clock_, *inv_, *signer_, h_->intermediate.cert, "intermediate", 24h));
}

}  // namespace
}  // namespace herald::ca
