// Verification of real chains issued by Herald's own CA code, and the
// findings each kind of failure produces.
#include "verify/verify.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <openssl/x509v3.h>

#include <algorithm>
#include <chrono>
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

// --- Hostile inputs: each ends in a finding within bounded time. ---

// A certificate named `subject`, issued under `issuer_name` with `issuer_key`
// (any extensions as OpenSSL config strings), DER.
Bytes make_cert(const std::string& subject, const std::string& issuer_name, EVP_PKEY* issuer_key,
                EVP_PKEY* subject_key, bool ca, const std::vector<std::pair<int, std::string>>& extra = {}) {
  X509* x = X509_new();
  X509_set_version(x, 2);
  static long serial = 1000;
  ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  auto set_name = [](X509_NAME* n, const std::string& cn) {
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1,
                               -1, 0);
  };
  set_name(X509_get_subject_name(x), subject);
  set_name(X509_get_issuer_name(x), issuer_name);
  X509_set_pubkey(x, subject_key);
  // Every certificate here has the same key, so the AKI is the SKI of
  // the certificate itself (the context's issuer is the certificate).
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  std::vector<std::pair<int, std::string>> exts = {
      {NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE"},
      {NID_key_usage, ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature"},
      {NID_subject_key_identifier, "hash"},
      {NID_authority_key_identifier, "keyid:always"}};
  const bool own_san = std::any_of(extra.begin(), extra.end(),
                                   [](const auto& e) { return e.first == NID_subject_alt_name; });
  if (!ca && !own_san) exts.push_back({NID_subject_alt_name, "DNS:" + subject});
  exts.insert(exts.end(), extra.begin(), extra.end());
  for (const auto& [nid, value] : exts) {
    X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    EXPECT_NE(e, nullptr) << value;
    if (e) X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
  }
  X509_sign(x, issuer_key, EVP_sha256());
  unsigned char* p = nullptr;
  const int n = i2d_X509(x, &p);
  Bytes der(p, p + n);
  OPENSSL_free(p);
  X509_free(x);
  return der;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

class HostileTest : public ::testing::Test {
 protected:
  void SetUp() override { key_ = EVP_EC_gen("P-256"); }
  void TearDown() override { EVP_PKEY_free(key_); }
  Options server(const std::string& host) {
    Options o;
    o.at = TimePoint{std::chrono::seconds(std::time(nullptr))};
    o.purpose = Purpose::kServer;
    o.dns_name = host;
    return o;
  }
  EVP_PKEY* key_ = nullptr;  // one key for every certificate: the tests are about names and paths
};

TEST_F(HostileTest, ChainOfAThousandCertificates) {
  // root <- ca999 <- ... <- ca0 <- leaf: far deeper than any depth limit.
  Bytes root = make_cert("root", "root", key_, key_, true);
  std::vector<Bytes> cas;
  for (int i = 0; i < 1000; ++i) {
    cas.push_back(make_cert("ca" + std::to_string(i), i == 999 ? "root" : "ca" + std::to_string(i + 1), key_,
                            key_, true));
  }
  Bytes leaf = make_cert("web.internal", "ca0", key_, key_, false);
  auto t0 = std::chrono::steady_clock::now();
  auto r = verify(leaf, cas, {root}, server("web.internal"));
  EXPECT_LT(seconds_since(t0), 30.0);  // bounded, with room for ASan on a shared machine
  EXPECT_FALSE(r.valid);
  ASSERT_FALSE(r.findings.empty());
  // The path was cut at the depth limit: nothing was trusted.
  EXPECT_TRUE(r.chain.empty());
}

TEST_F(HostileTest, AThousandCandidateIssuersExhaustTheBudget) {
  // 1,000 CAs with the same name, none leading to the anchor: the builder
  // stops after kMaxPathsTried paths / kMaxSignatureChecks checks.
  Bytes root = make_cert("root", "root", key_, key_, true);
  std::vector<Bytes> cas;
  for (int i = 0; i < 1000; ++i) cas.push_back(make_cert("twin", "twin", key_, key_, true));
  Bytes leaf = make_cert("web.internal", "twin", key_, key_, false);
  auto t0 = std::chrono::steady_clock::now();
  auto r = verify(leaf, cas, {root}, server("web.internal"));
  EXPECT_LT(seconds_since(t0), 30.0);  // bounded, with room for ASan on a shared machine
  EXPECT_FALSE(r.valid);
  EXPECT_LE(r.paths_tried, kMaxPathsTried);
  ASSERT_FALSE(r.findings.empty());
}

TEST_F(HostileTest, LoopOfCrossSignedCas) {
  // A issued by B, B issued by A, the leaf by A: no anchor is reachable and
  // the builder never revisits a certificate on its path.
  Bytes root = make_cert("root", "root", key_, key_, true);
  Bytes a = make_cert("A", "B", key_, key_, true);
  Bytes b = make_cert("B", "A", key_, key_, true);
  Bytes leaf = make_cert("web.internal", "A", key_, key_, false);
  auto r = verify(leaf, {a, b}, {root}, server("web.internal"));
  EXPECT_FALSE(r.valid);
  ASSERT_FALSE(r.findings.empty());
  EXPECT_EQ(r.findings.front().code, "missing_issuer");
  // Cross-signed both ways and also by the root: the path A <- root is found.
  Bytes a_by_root = make_cert("A", "root", key_, key_, true);
  auto ok = verify(leaf, {a, b, a_by_root}, {root}, server("web.internal"));
  EXPECT_TRUE(ok.valid) << (ok.findings.empty() ? "" : ok.findings.front().code);
}

TEST_F(HostileTest, NameConstraintWithTenThousandSubtrees) {
  std::string permitted = "critical,";
  for (int i = 0; i < 10000; ++i) permitted += (i ? "," : "") + std::string("permitted;DNS:d") + std::to_string(i) + ".example";
  Bytes root = make_cert("root", "root", key_, key_, true);
  Bytes ca = make_cert("ca", "root", key_, key_, true, {{NID_name_constraints, permitted}});
  Bytes inside = make_cert("d9999.example", "ca", key_, key_, false);
  Bytes outside = make_cert("elsewhere.example", "ca", key_, key_, false);
  auto t0 = std::chrono::steady_clock::now();
  auto good = verify(inside, {ca}, {root}, server("d9999.example"));
  auto bad = verify(outside, {ca}, {root}, server("elsewhere.example"));
  EXPECT_LT(seconds_since(t0), 30.0);  // bounded, with room for ASan on a shared machine
  EXPECT_TRUE(good.valid) << (good.findings.empty() ? "" : good.findings.front().code);
  EXPECT_FALSE(bad.valid);
  ASSERT_FALSE(bad.findings.empty());
  EXPECT_EQ(bad.findings.front().code, "name_constraint_violation");
}

TEST_F(HostileTest, VerifierCachesAgreeWithVerify) {
  // The caching Verifier gives verify()'s verdicts, cold and warm, valid and not.
  Bytes root = make_cert("root", "root", key_, key_, true);
  Bytes ca = make_cert("ca", "root", key_, key_, true);
  Bytes leaf = make_cert("web.internal", "ca", key_, key_, false);
  Verifier v({root});
  for (int round = 0; round < 3; ++round) {
    for (const std::string host : {"web.internal", "db.internal"}) {
      auto a = v.verify(leaf, {ca}, server(host));
      auto b = verify(leaf, {ca}, {root}, server(host));
      EXPECT_EQ(a.valid, b.valid) << host;
      ASSERT_EQ(a.findings.size(), b.findings.size()) << host;
      for (size_t i = 0; i < a.findings.size(); ++i) EXPECT_EQ(a.findings[i].code, b.findings[i].code);
    }
  }
  EXPECT_GT(v.stats().cert_cache_hits, 0u);
  EXPECT_GT(v.stats().signature_cache_hits, 0u);
  // A certificate whose signature does not verify is refused every time,
  // however often it is presented (a failed check is never remembered).
  EVP_PKEY* other = EVP_EC_gen("P-256");
  Bytes forged = make_cert("web.internal", "ca", other, key_, false);
  EVP_PKEY_free(other);
  for (int i = 0; i < 3; ++i) {
    auto r = v.verify(forged, {ca}, server("web.internal"));
    EXPECT_FALSE(r.valid);
    ASSERT_FALSE(r.findings.empty());
    EXPECT_EQ(r.findings.front().code, "bad_signature");
  }
}

TEST_F(HostileTest, LargeCertificatesAreNotKeptInTheCache) {
  // A peer chooses what it presents: a 20 kB leaf is verified, never kept.
  Bytes root = make_cert("root", "root", key_, key_, true);
  Bytes ca = make_cert("ca", "root", key_, key_, true);
  std::string sans = "DNS:web.internal";
  for (int i = 0; i < 1000; ++i) sans += ",DNS:host-" + std::to_string(i) + ".example.internal";
  Bytes big = make_cert("web.internal", "ca", key_, key_, false, {{NID_subject_alt_name, sans}});
  ASSERT_GT(big.size(), Verifier::kMaxCachedCertificateBytes);
  Verifier v({root}, Verifier::Settings{.cache = true, .fast_leaf = false});
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(v.verify(big, {ca}, server("web.internal")).valid);
  // The CA is parsed once and then found; the big leaf is parsed every time.
  EXPECT_EQ(v.stats().parsed, 4u);
  EXPECT_EQ(v.stats().cert_cache_hits, 2u);
}

// --- The Verifier's fast leaf step (fast_leaf.h) against verify(). ---

struct LeafSpec {
  std::string subject = "web.internal";
  std::vector<std::pair<int, std::string>> exts;  // as OpenSSL config strings; "!" prefix: critical raw below
  long not_before = -3600, not_after = 86400;    // seconds from now
  long serial = 0;                                // 0: a counter
  EVP_PKEY* key = nullptr;                        // the leaf's key (default: the CA's)
  EVP_PKEY* signer = nullptr;                     // default: the CA's key
  bool utf8_issuer = false;                       // the issuer name as UTF8String (same name, other bytes)
  int duplicate_nid = 0;                          // add this extension twice
};

class FastLeafTest : public HostileTest {
 protected:
  Bytes make_leaf(const LeafSpec& spec) {
    X509* x = X509_new();
    X509_set_version(x, 2);
    static long counter = 50000;
    ASN1_INTEGER_set(X509_get_serialNumber(x), spec.serial ? spec.serial : ++counter);
    X509_gmtime_adj(X509_getm_notBefore(x), spec.not_before);
    X509_gmtime_adj(X509_getm_notAfter(x), spec.not_after);
    if (!spec.subject.empty()) {
      X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(spec.subject.c_str()), -1, -1, 0);
    }
    X509_NAME_add_entry_by_NID(X509_get_issuer_name(x), NID_commonName,
                               spec.utf8_issuer ? V_ASN1_UTF8STRING : MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("ca"), -1, -1, 0);
    X509_set_pubkey(x, spec.key ? spec.key : key_);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, ca_x509_, x, nullptr, nullptr, 0);
    for (const auto& [nid, value] : spec.exts) {
      X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
      EXPECT_NE(e, nullptr) << OBJ_nid2sn(nid) << " " << value;
      if (e) X509_add_ext(x, e, -1);
      if (e && nid == spec.duplicate_nid) X509_add_ext(x, e, -1);
      X509_EXTENSION_free(e);
    }
    X509_sign(x, spec.signer ? spec.signer : key_, EVP_sha256());
    unsigned char* p = nullptr;
    const int n = i2d_X509(x, &p);
    Bytes der(p, p + n);
    OPENSSL_free(p);
    X509_free(x);
    return der;
  }
  static std::vector<std::pair<int, std::string>> plain(std::string san = "DNS:web.internal",
                                                        std::string eku = "serverAuth",
                                                        std::string ku = "critical,digitalSignature") {
    std::vector<std::pair<int, std::string>> e = {{NID_basic_constraints, "critical,CA:FALSE"},
                                                  {NID_subject_key_identifier, "hash"},
                                                  {NID_authority_key_identifier, "keyid:always"}};
    if (!ku.empty()) e.push_back({NID_key_usage, ku});
    if (!eku.empty()) e.push_back({NID_ext_key_usage, eku});
    if (!san.empty()) e.push_back({NID_subject_alt_name, san});
    return e;
  }
  void SetUp() override {
    HostileTest::SetUp();
    root_ = make_cert("root", "root", key_, key_, true);
    ca_ = make_cert("ca", "root", key_, key_, true);
    const unsigned char* p = ca_.data();
    ca_x509_ = d2i_X509(nullptr, &p, static_cast<long>(ca_.size()));
  }
  void TearDown() override {
    X509_free(ca_x509_);
    HostileTest::TearDown();
  }
  static std::string codes_of(const Result& r) {
    std::string out = r.valid ? "valid" : "invalid";
    for (const auto& f : r.findings) out += " " + f.code + "@" + std::to_string(f.depth);
    return out;
  }
  Bytes root_, ca_;
  X509* ca_x509_ = nullptr;
};

TEST_F(FastLeafTest, AgreesWithVerifyOnEveryVariant) {
  EVP_PKEY* other = EVP_EC_gen("P-256");
  EVP_PKEY* p384 = EVP_EC_gen("P-384");
  EVP_PKEY* rsa = EVP_RSA_gen(2048);
  std::vector<std::pair<std::string, LeafSpec>> variants;
  auto add = [&](std::string name, LeafSpec s) { variants.emplace_back(std::move(name), std::move(s)); };
  LeafSpec good;
  good.exts = plain();
  add("good", good);
  {
    LeafSpec s = good; s.exts = plain("DNS:web.internal", "clientAuth"); add("eku client", s);
    s.exts = plain("DNS:web.internal", "critical,serverAuth"); add("eku critical", s);
    s.exts = plain("DNS:web.internal", ""); add("no eku", s);
    s.exts = plain("DNS:web.internal", "serverAuth,clientAuth"); add("eku both", s);
    s.exts = plain("DNS:web.internal", "anyExtendedKeyUsage"); add("eku any", s);
    s.exts = plain("DNS:web.internal", "serverAuth", "critical,digitalSignature,keyCertSign"); add("ku certsign", s);
    s.exts = plain("DNS:web.internal", "serverAuth", "critical,keyEncipherment"); add("ku encipher", s);
    s.exts = plain("DNS:web.internal", "serverAuth", "critical,cRLSign"); add("ku crlsign", s);
    s.exts = plain("DNS:web.internal", "serverAuth", ""); add("no ku", s);
    s.exts = plain("DNS:*.internal"); add("wildcard", s);
    s.exts = plain("DNS:WEB.Internal"); add("upper case", s);
    s.exts = plain("critical,DNS:web.internal"); add("san critical", s);
    s.exts = plain("DNS:web..internal"); add("bad dns", s);
    s.exts = plain("DNS:web.internal,email:a@b@example.com"); add("bad email", s);
    s.exts = plain("DNS:web.internal,email:ops@example.com"); add("good email", s);
    s.exts = plain("DNS:web.internal,IP:10.0.0.5"); add("ip", s);
    s.exts = plain("URI:spiffe://example.org/ns/web"); add("uri only", s);
    s.exts = plain("DNS:web.internal,URI:spiffe://example.org/ns/web"); add("dns and uri", s);
    s.exts = plain(""); add("no san", s);
    s.exts = plain("DNS:web.internal,otherName:1.2.3.4;UTF8:x"); add("othername", s);
  }
  {
    LeafSpec s = good;
    s.exts = plain();
    s.exts[0] = {NID_basic_constraints, "critical,CA:TRUE"}; add("ca true", s);
    s.exts.erase(s.exts.begin()); add("no bc", s);
    s = good; s.exts.erase(s.exts.begin() + 2); add("no aki", s);
    s = good; s.exts.push_back({NID_netscape_comment, "hello"}); add("unknown ext", s);
    s = good; s.exts.push_back({NID_issuer_alt_name, "DNS:ca.example"}); add("issuer alt name", s);
    s = good; s.exts.push_back({NID_netscape_comment, "critical,hello"}); add("unknown critical ext", s);
    s = good; s.exts.push_back({NID_info_access, "OCSP;URI:http://127.0.0.1/ocsp"});
    s.exts.push_back({NID_crl_distribution_points, "URI:http://127.0.0.1/crl"}); add("aia cdp", s);
    s = good; s.duplicate_nid = NID_subject_alt_name; add("duplicate san", s);
    s = good; s.not_after = -60; add("expired", s);
    s = good; s.not_before = 3600; add("not yet valid", s);
    s = good; s.signer = other; add("bad signature", s);
    s = good; s.key = p384; add("p384 key", s);
    s = good; s.key = rsa; add("rsa key", s);
    s = good; s.serial = -5; add("negative serial", s);
    s = good; s.utf8_issuer = true; add("utf8 issuer", s);
    s = good; s.subject = ""; s.exts = plain("critical,DNS:web.internal"); add("empty subject", s);
    s = good; s.subject = "ca"; add("self-issued name", s);
  }
  std::vector<std::pair<std::string, Options>> uses;
  auto use = [&](std::string name, Options o) { uses.emplace_back(std::move(name), std::move(o)); };
  Options base = server("web.internal");
  use("server web", base);
  Options o = base; o.dns_name = "other.internal"; use("server other", o);
  o = base; o.dns_name = "WEB.internal"; use("server upper", o);
  o = base; o.dns_name.reset(); o.purpose = Purpose::kClient; use("client", o);
  o = base; o.dns_name.reset(); o.purpose = Purpose::kAny; use("any", o);
  o = base; o.dns_name.reset(); o.ip = "10.0.0.5"; use("server ip", o);
  o = base; o.dns_name.reset(); o.purpose = Purpose::kClient; o.uri = "spiffe://example.org/ns/web"; use("client uri", o);
  o = base; o.ekus = {"1.3.6.1.5.5.7.3.2"}; use("server + clientAuth eku", o);
  o = base; o.max_depth = 0; use("depth 0", o);
  o = base; o.at = o.at + std::chrono::hours(24 * 3650); use("in ten years", o);

  Bytes warm = make_leaf(good);
  int compared = 0;
  for (const auto& [use_name, opts] : uses) {
    Verifier v({root_});
    // A valid chain from this CA for this use: its CA part becomes known.
    Options warm_opts = opts;
    warm_opts.dns_name = opts.dns_name ? std::optional<std::string>("web.internal") : std::nullopt;
    warm_opts.ip.reset();
    warm_opts.uri.reset();
    warm_opts.ekus.clear();
    warm_opts.at = base.at;
    warm_opts.max_depth = 8;
    (void)v.verify(warm, {ca_}, warm_opts);
    for (const auto& [name, spec] : variants) {
      Bytes leaf = make_leaf(spec);
      for (int round = 0; round < 2; ++round) {  // the second time the leaf's signature is remembered
        auto fast = v.verify(leaf, {ca_}, opts);
        auto ref = verify(leaf, {ca_}, {root_}, opts);
        EXPECT_EQ(codes_of(fast), codes_of(ref)) << name << " / " << use_name << " / round " << round;
        ++compared;
      }
    }
    if (use_name == "server web") {
      EXPECT_GT(v.stats().fast_leaves, 5u) << "the fast step was not taken";
    }
  }
  EXPECT_GT(compared, 500);
  EVP_PKEY_free(other);
  EVP_PKEY_free(p384);
  EVP_PKEY_free(rsa);
}

TEST_F(FastLeafTest, NeedsTheCaPartPresented) {
  LeafSpec good;
  good.exts = plain();
  Bytes a = make_leaf(good), b = make_leaf(good), c = make_leaf(good);
  Verifier v({root_});
  EXPECT_TRUE(v.verify(a, {ca_}, server("web.internal")).valid);
  // The CA is known now, but a chain that does not present it is incomplete.
  auto r = v.verify(b, {}, server("web.internal"));
  EXPECT_FALSE(r.valid);
  ASSERT_FALSE(r.findings.empty());
  EXPECT_EQ(r.findings.front().code, "missing_issuer");
  EXPECT_EQ(v.stats().fast_leaves, 0u);
  auto ok = v.verify(c, {ca_}, server("web.internal"));
  EXPECT_TRUE(ok.valid);
  ASSERT_EQ(ok.chain.size(), 3u);  // leaf, CA, root
  EXPECT_EQ(ok.chain[0], c);
  EXPECT_EQ(v.stats().fast_leaves, 1u);
  // Revocation asked: the full path, never the fast step.
  Options o = server("web.internal");
  o.revocation = RevocationPolicy::kSoft;
  Bytes d = make_leaf(good);
  (void)v.verify(d, {ca_}, o);
  EXPECT_EQ(v.stats().fast_leaves, 1u);
}

TEST_F(VerifyTest, UriSanAndRequiredEku) {
  Bytes leaf = issue(policy::Profile::kServer, "web.internal");
  Options o = server("web.internal");
  o.uri = "spiffe://example.org/ns/web";
  auto r = verify(leaf, intermediates(), {root()}, o);
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(codes(r), "uri_mismatch");
  o.uri.reset();
  o.ekus = {"1.3.6.1.5.5.7.3.1"};  // serverAuth: present
  EXPECT_TRUE(verify(leaf, intermediates(), {root()}, o).valid);
  o.ekus = {"1.3.6.1.5.5.7.3.3"};  // codeSigning: absent
  EXPECT_EQ(codes(verify(leaf, intermediates(), {root()}, o)), "eku_mismatch");
}

}  // namespace
}  // namespace herald::verify
