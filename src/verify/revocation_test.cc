// Revocation checking (revocation.h) on real chains, CRLs and OCSP responses
// made by Herald's own CA code; the malformed ones are made with OpenSSL.
#include "verify/revocation.h"

#include <gtest/gtest.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <filesystem>
#include <functional>

#include "ca/authority.h"
#include "ca/hierarchy.h"
#include "ca/ocsp.h"
#include "ca/revocation.h"
#include "keys/private_key.h"
#include "store/sqlite/sqlite_inventory.h"
#include "verify/verify.h"

namespace herald::verify {
namespace {

using namespace std::chrono_literals;

std::string codes(const Result& r) {
  std::string out;
  for (const auto& f : r.findings) out += (out.empty() ? "" : ",") + f.code;
  return out;
}

// The codes of the error findings only (warnings are listed apart).
std::string errors(const Result& r) {
  std::string out;
  for (const auto& f : r.findings) {
    if (f.severity == Severity::kError) out += (out.empty() ? "" : ",") + f.code;
  }
  return out;
}

const Finding* first_error(const Result& r) {
  for (const auto& f : r.findings) {
    if (f.severity == Severity::kError) return &f;
  }
  return nullptr;
}

const Finding* find(const Result& r, const std::string& code) {
  for (const auto& f : r.findings) {
    if (f.code == code) return &f;
  }
  return nullptr;
}

std::string dump(const Result& r) {
  std::string out;
  for (const auto& f : r.findings) {
    out += f.code + (f.severity == Severity::kWarning ? " (warning)" : "") + " [" +
           std::to_string(f.depth) + "] found: " + f.found + " | expected: " + f.expected +
           " | hint: " + f.hint + "\n";
  }
  return out;
}

Bytes der_of_crl(X509_CRL* crl) {
  unsigned char* p = nullptr;
  int n = i2d_X509_CRL(crl, &p);
  Bytes out(p, p + n);
  OPENSSL_free(p);
  return out;
}

class RevocationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("herald-revocation-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    inv_ = std::move(
        *store::SqliteInventory::open(dir_ / "herald.db", store::OpenMode::kCreate, clock_));
    config_.policy = policy::default_policy();
    ca::HierarchyOptions o;
    o.organization = "Revocation";
    h_ = std::make_unique<ca::Hierarchy>(std::move(*ca::create_hierarchy(clock_, o)));
    const Serial root = h_->root.cert.serial();
    ASSERT_TRUE(inv_->insert(ca::record_of(h_->root.cert, root, "root-ca", clock_.now())));
    ASSERT_TRUE(
        inv_->insert(ca::record_of(h_->intermediate.cert, root, "intermediate-ca", clock_.now())));
    ASSERT_TRUE(inv_->insert(ca::record_of(h_->issuing.cert, h_->intermediate.cert.serial(),
                                           "issuing-ca", clock_.now())));
    signer_ = signer_of(h_->issuing.key.get());
    inter_signer_ = signer_of(h_->intermediate.key.get());
    root_signer_ = signer_of(h_->root.key.get());
    authority_ = std::make_unique<ca::Authority>(clock_, *inv_, config_, *signer_, h_->issuing.cert,
                                                 h_->intermediate.cert.serial());
    auto rkey = keys::generate_key(keys::KeyType::kEcP256);
    auto rpub = keys::public_key_of(**rkey);
    auto issued = authority_->issue_ocsp_signer(*rpub, 7 * 24h);
    ASSERT_TRUE(issued) << issued.error().describe();
    responder_cert_ = std::make_unique<x509::Certificate>(
        std::move(*x509::Certificate::from_der(issued->record.der)));
    responder_key_ = std::move(*rkey);
    responder_signer_ = signer_of(responder_key_.get());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static std::unique_ptr<keys::KeySigner> signer_of(EVP_PKEY* key) {
    EVP_PKEY_up_ref(key);
    return std::move(*keys::KeySigner::create(ossl::EvpPkeyPtr(key)));
  }

  struct Leaf {
    Bytes der;
    Serial serial;
    ossl::EvpPkeyPtr key;
  };
  Leaf issue(const std::string& cn) {
    auto key = keys::generate_key(keys::KeyType::kEcP256);
    auto pub = keys::public_key_of(**key);
    policy::IssueRequest r;
    r.profile = policy::Profile::kServer;
    r.common_name = cn;
    r.sans.push_back(*x509::parse_san("dns:" + cn));
    r.key = pub->info;
    auto issued = authority_->issue(r, *pub, {});
    EXPECT_TRUE(issued) << issued.error().describe();
    return Leaf{issued->record.der, issued->record.serial, std::move(*key)};
  }

  Bytes issuing_crl(std::chrono::seconds validity = 24h) {
    auto c = ca::generate_crl(clock_, *inv_, *signer_, h_->issuing.cert, "issuing", validity);
    EXPECT_TRUE(c) << c.error().describe();
    return c->der;
  }
  // The CRLs that cover the two CA certificates below the root.
  std::vector<Bytes> ca_crls() {
    auto i =
        ca::generate_crl(clock_, *inv_, *inter_signer_, h_->intermediate.cert, "intermediate", 24h);
    auto r = ca::generate_crl(clock_, *inv_, *root_signer_, h_->root.cert, "root", 24h);
    EXPECT_TRUE(i && r);
    return {i->der, r->der};
  }

  Bytes ocsp(const Serial& serial, ca::OcspStatus status, std::optional<Bytes> nonce = std::nullopt,
             bool by_issuer = false, std::chrono::seconds validity = 1h,
             ca::OcspHash hash = ca::OcspHash::kSha256) {
    ca::OcspResponder r =
        by_issuer ? ca::OcspResponder{*signer_, h_->issuing.cert, h_->issuing.cert}
                  : ca::OcspResponder{*responder_signer_, *responder_cert_, h_->issuing.cert};
    auto id = ca::cert_id_for(h_->issuing.cert, serial, hash);
    EXPECT_TRUE(id);
    auto der = ca::sign_ocsp_response(r, {{*id, status}}, nonce, clock_.now(), validity);
    EXPECT_TRUE(der) << der.error().describe();
    return *der;
  }

  // An OCSP response for `leaf` signed by an arbitrary certificate and key
  // (included in the response), for the responders Herald refuses to make.
  Bytes raw_ocsp(const Leaf& leaf, X509* signer_cert, EVP_PKEY* key) {
    ossl::OcspCertIdPtr id(
        OCSP_cert_to_id(EVP_sha1(), leaf_x509(leaf).get(), &h_->issuing.cert.x509()));
    ossl::OcspBasicRespPtr bs(OCSP_BASICRESP_new());
    ossl::Asn1TimePtr now(ASN1_TIME_set(nullptr, clock_.now().time_since_epoch().count()));
    ossl::Asn1TimePtr next(ASN1_TIME_set(nullptr, (clock_.now() + 1h).time_since_epoch().count()));
    EXPECT_TRUE(OCSP_basic_add1_status(bs.get(), id.get(), V_OCSP_CERTSTATUS_GOOD, 0, nullptr,
                                       now.get(), next.get()));
    EXPECT_EQ(OCSP_basic_sign(bs.get(), signer_cert, key, EVP_sha256(), nullptr, 0), 1);
    ossl::OcspResponsePtr resp(OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs.get()));
    unsigned char* p = nullptr;
    int n = i2d_OCSP_RESPONSE(resp.get(), &p);
    Bytes out(p, p + n);
    OPENSSL_free(p);
    return out;
  }

  // A CRL under the issuing CA's name, signed by `key`, made with OpenSSL.
  Bytes hand_crl(EVP_PKEY* key, bool next_update, bool number) {
    ossl::X509CrlPtr crl(X509_CRL_new());
    X509_CRL_set_version(crl.get(), 1);
    X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(&h_->issuing.cert.x509()));
    ossl::Asn1TimePtr t(ASN1_TIME_set(nullptr, (clock_.now() - 1h).time_since_epoch().count()));
    X509_CRL_set1_lastUpdate(crl.get(), t.get());
    if (next_update) {
      ossl::Asn1TimePtr n(ASN1_TIME_set(nullptr, (clock_.now() + 1h).time_since_epoch().count()));
      X509_CRL_set1_nextUpdate(crl.get(), n.get());
    }
    if (number) {
      ossl::Asn1IntegerPtr num(ASN1_INTEGER_new());
      ASN1_INTEGER_set(num.get(), 7);
      X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, num.get(), 0, 0);
    }
    EXPECT_GT(X509_CRL_sign(crl.get(), key, EVP_sha256()), 0);
    return der_of_crl(crl.get());
  }

  static ossl::X509Ptr leaf_x509(const Leaf& leaf) {
    const unsigned char* p = leaf.der.data();
    return ossl::X509Ptr(d2i_X509(nullptr, &p, static_cast<long>(leaf.der.size())));
  }

  Options opts(RevocationPolicy policy = RevocationPolicy::kHard) {
    Options o;
    o.at = clock_.now();
    o.purpose = Purpose::kServer;
    o.revocation = policy;
    return o;
  }
  Result run(const Leaf& leaf, const Options& o) {
    return verify(leaf.der, {h_->issuing.cert.der(), h_->intermediate.cert.der()},
                  {h_->root.cert.der()}, o);
  }
  void revoke(const Serial& s, x509::RevocationReason reason) {
    auto r = ca::revoke(clock_, *inv_, s, reason);
    ASSERT_TRUE(r) << r.error().describe();
  }

  FakeClock clock_{TimePoint{std::chrono::seconds(1'800'000'000)}};
  std::filesystem::path dir_;
  std::unique_ptr<store::SqliteInventory> inv_;
  policy::Config config_;
  std::unique_ptr<ca::Hierarchy> h_;
  std::unique_ptr<keys::KeySigner> signer_, inter_signer_, root_signer_, responder_signer_;
  std::unique_ptr<ca::Authority> authority_;
  std::unique_ptr<x509::Certificate> responder_cert_;
  ossl::EvpPkeyPtr responder_key_;
};

const ca::OcspStatus kGood{ca::OcspStatus::Kind::kGood, {}, std::nullopt};

TEST_F(RevocationTest, GoodByCrlsAtEveryLevel) {
  Leaf leaf = issue("web.internal");
  Options o = opts();
  o.crls = ca_crls();
  o.crls.push_back(issuing_crl());
  auto r = run(leaf, o);
  EXPECT_TRUE(r.valid) << dump(r);
  EXPECT_EQ(codes(r), "") << dump(r);
}

TEST_F(RevocationTest, RevokedByCrlNamesReasonAndDate) {
  Leaf leaf = issue("web.internal");
  clock_.set(clock_.now() + 1h);
  revoke(leaf.serial, x509::RevocationReason::kKeyCompromise);
  Options o = opts();
  o.crls = ca_crls();
  o.crls.push_back(issuing_crl());
  auto r = run(leaf, o);
  EXPECT_FALSE(r.valid);
  ASSERT_EQ(codes(r), "revoked") << dump(r);
  EXPECT_EQ(r.findings[0].depth, 0);
  EXPECT_NE(r.findings[0].found.find("keyCompromise"), std::string::npos) << r.findings[0].found;
  EXPECT_NE(r.findings[0].found.find(format_time(clock_.now())), std::string::npos)
      << r.findings[0].found;
  // Soft: a revoked certificate is still an error.
  o.revocation = RevocationPolicy::kSoft;
  EXPECT_EQ(codes(run(leaf, o)), "revoked");
  // Off: not looked at.
  o.revocation = RevocationPolicy::kOff;
  auto off = run(leaf, o);
  EXPECT_TRUE(off.valid) << dump(off);
  EXPECT_EQ(codes(off), "");
}

TEST_F(RevocationTest, RemoveFromCrlIsNotRevoked) {
  Leaf leaf = issue("web.internal");
  revoke(leaf.serial, x509::RevocationReason::kCertificateHold);
  Options o = opts();
  o.crls = ca_crls();
  o.crls.push_back(issuing_crl());
  auto held = run(leaf, o);
  ASSERT_EQ(codes(held), "revoked");
  EXPECT_NE(held.findings[0].found.find("certificateHold"), std::string::npos);
  revoke(leaf.serial, x509::RevocationReason::kRemoveFromCrl);
  o.crls.back() = issuing_crl();
  EXPECT_TRUE(run(leaf, o).valid);
}

TEST_F(RevocationTest, RevokedIntermediateViaItsIssuersCrl) {
  Leaf leaf = issue("web.internal");
  Options o = opts();
  o.crls.push_back(issuing_crl());  // the leaf itself is fine
  revoke(h_->issuing.cert.serial(), x509::RevocationReason::kCaCompromise);
  auto crls = ca_crls();
  o.crls.insert(o.crls.end(), crls.begin(), crls.end());
  auto r = run(leaf, o);
  EXPECT_FALSE(r.valid);
  ASSERT_EQ(codes(r), "revoked") << dump(r);
  EXPECT_EQ(r.findings[0].depth, 1);
  EXPECT_EQ(r.findings[0].serial, h_->issuing.cert.serial().hex());
  EXPECT_NE(r.findings[0].found.find("caCompromise"), std::string::npos) << r.findings[0].found;
}

TEST_F(RevocationTest, NoSourceIsHardErrorSoftWarningOffNothing) {
  Leaf leaf = issue("web.internal");
  auto hard = run(leaf, opts(RevocationPolicy::kHard));
  EXPECT_FALSE(hard.valid);
  ASSERT_NE(first_error(hard), nullptr) << dump(hard);
  EXPECT_EQ(first_error(hard)->code, "revocation_unavailable") << dump(hard);
  EXPECT_EQ(first_error(hard)->depth, 0);
  EXPECT_NE(first_error(hard)->hint.find("--crl-fetch"), std::string::npos);
  // Every certificate below the anchor is uncovered (the module itself, on
  // the path verify() built).
  std::vector<ossl::X509Ptr> owned;
  std::vector<X509*> path;
  for (const Bytes* der : {static_cast<const Bytes*>(&leaf.der), &h_->issuing.cert.der(),
                           &h_->intermediate.cert.der(), &h_->root.cert.der()}) {
    const unsigned char* p = der->data();
    owned.emplace_back(d2i_X509(nullptr, &p, static_cast<long>(der->size())));
    path.push_back(owned.back().get());
  }
  std::vector<Finding> found;
  const Options hard_opts = opts(RevocationPolicy::kHard);
  detail::check_revocation(path, detail::parse_sources(hard_opts, found), hard_opts, found);
  ASSERT_EQ(found.size(), 3u);
  for (int d = 0; d < 3; ++d) {
    EXPECT_EQ(found[d].code, "revocation_unavailable");
    EXPECT_EQ(found[d].depth, d);
    EXPECT_EQ(found[d].severity, Severity::kError);
  }
  auto soft = run(leaf, opts(RevocationPolicy::kSoft));
  EXPECT_TRUE(soft.valid) << dump(soft);
  EXPECT_EQ(codes(soft), "revocation_unavailable,revocation_unavailable,revocation_unavailable");
  for (const auto& f : soft.findings) EXPECT_EQ(f.severity, Severity::kWarning);
  auto off = run(leaf, opts(RevocationPolicy::kOff));
  EXPECT_TRUE(off.valid);
  EXPECT_EQ(codes(off), "");
}

TEST_F(RevocationTest, ExpiredCrlSaysHowLongAgo) {
  Leaf leaf = issue("web.internal");
  Options o = opts();
  o.crls.push_back(issuing_crl(24h));
  o.at = clock_.now() + 27h;  // 3 h past nextUpdate
  auto crls = ca_crls();      // the CA CRLs are fresh at `at`
  clock_.set(o.at);
  crls = ca_crls();
  o.crls.insert(o.crls.end(), crls.begin(), crls.end());
  auto r = run(leaf, o);
  EXPECT_FALSE(r.valid);
  ASSERT_NE(first_error(r), nullptr) << dump(r);
  EXPECT_EQ(first_error(r)->code, "revocation_unavailable") << dump(r);
  EXPECT_NE(first_error(r)->found.find("expired 3 h ago"), std::string::npos) << dump(r);
  EXPECT_NE(first_error(r)->hint.find("publishing is stuck"), std::string::npos)
      << first_error(r)->hint;
  o.revocation = RevocationPolicy::kSoft;
  auto soft = run(leaf, o);
  EXPECT_TRUE(soft.valid);
  const Finding* w = find(soft, "crl_unusable");
  ASSERT_NE(w, nullptr) << dump(soft);
  EXPECT_EQ(w->severity, Severity::kWarning);
  EXPECT_NE(w->found.find("expired 3 h ago"), std::string::npos);
}

TEST_F(RevocationTest, StaleSourcesCannotUnrevoke) {
  Leaf leaf = issue("web.internal");
  revoke(leaf.serial, x509::RevocationReason::kKeyCompromise);
  Options o = opts(RevocationPolicy::kSoft);
  o.crls.push_back(issuing_crl(24h));
  o.ocsp_responses = {
      ocsp(leaf.serial,
           {ca::OcspStatus::Kind::kRevoked, clock_.now(), x509::RevocationReason::kKeyCompromise},
           std::nullopt, false, 1h)};
  o.ocsp_nonce = Bytes{1, 2, 3};   // and the response carries no nonce
  clock_.set(clock_.now() + 30h);  // both expired, the leaf still within its validity
  o.at = clock_.now();
  auto crls = ca_crls();
  o.crls.insert(o.crls.end(), crls.begin(), crls.end());
  auto r = run(leaf, o);
  EXPECT_FALSE(r.valid);
  ASSERT_NE(first_error(r), nullptr) << dump(r);
  EXPECT_EQ(first_error(r)->code, "revoked") << dump(r);
  // The CRL alone says so too, and that it is not current.
  o.ocsp_responses.clear();
  r = run(leaf, o);
  ASSERT_NE(first_error(r), nullptr) << dump(r);
  EXPECT_EQ(first_error(r)->code, "revoked") << dump(r);
  EXPECT_NE(first_error(r)->found.find("not current"), std::string::npos) << dump(r);
  // A stale hold, though, may have been lifted: not revoked, just unknown.
  Leaf held = issue("held.internal");
  clock_.set(clock_.now() - 30h);
  revoke(held.serial, x509::RevocationReason::kCertificateHold);
  o.crls[0] = issuing_crl(24h);
  clock_.set(clock_.now() + 30h);
  auto h = run(held, o);
  EXPECT_TRUE(h.valid) << dump(h);  // soft
  const Finding* w = find(h, "revocation_unavailable");
  ASSERT_NE(w, nullptr) << dump(h);
  EXPECT_NE(w->found.find("expired"), std::string::npos) << dump(h);
}

TEST_F(RevocationTest, CrlWithBadSignatureIsUnusable) {
  Leaf leaf = issue("web.internal");
  revoke(leaf.serial, x509::RevocationReason::kKeyCompromise);
  Options o = opts(RevocationPolicy::kSoft);
  Bytes crl = issuing_crl();
  crl[crl.size() - 3] ^= 0x5a;  // inside the signature
  o.crls.push_back(crl);
  auto r = run(leaf, o);
  EXPECT_TRUE(r.valid) << dump(r);  // soft: not known to be revoked
  const Finding* w = find(r, "crl_unusable");
  ASSERT_NE(w, nullptr) << dump(r);
  EXPECT_NE(w->found.find("signature does not verify"), std::string::npos) << w->found;
  // A CRL signed by another CA's key under the issuer's name is no better.
  o.crls = ca_crls();
  o.crls.push_back(hand_crl(h_->intermediate.key.get(), true, true));
  o.revocation = RevocationPolicy::kHard;
  auto hard = run(leaf, o);
  ASSERT_NE(first_error(hard), nullptr) << dump(hard);
  EXPECT_EQ(first_error(hard)->code, "revocation_unavailable") << dump(hard);
  EXPECT_NE(first_error(hard)->found.find("signature does not verify"), std::string::npos);
}

TEST_F(RevocationTest, CrlWithoutNextUpdateOrNumberIsUnusable) {
  Leaf leaf = issue("web.internal");
  auto make = [&](bool next_update, bool number) {
    return hand_crl(h_->issuing.key.get(), next_update, number);
  };
  Options o = opts();
  o.crls = ca_crls();
  o.crls.push_back(make(true, true));
  EXPECT_TRUE(run(leaf, o).valid);  // the hand-made CRL is fine with both
  o.crls.back() = make(false, true);
  auto r = run(leaf, o);
  ASSERT_NE(first_error(r), nullptr) << dump(r);
  EXPECT_EQ(first_error(r)->code, "revocation_unavailable") << dump(r);
  EXPECT_NE(first_error(r)->found.find("no nextUpdate"), std::string::npos) << dump(r);
  o.crls.back() = make(true, false);
  r = run(leaf, o);
  ASSERT_NE(first_error(r), nullptr) << dump(r);
  EXPECT_EQ(first_error(r)->code, "revocation_unavailable") << dump(r);
  EXPECT_NE(first_error(r)->found.find("no CRL number"), std::string::npos) << dump(r);
}

// A CRL of the issuing CA whose issuingDistributionPoint `scope` sets.
Bytes idp_crl(const ca::Hierarchy& h, TimePoint now,
              const std::function<void(ISSUING_DIST_POINT&)>& scope) {
  ossl::X509CrlPtr crl(X509_CRL_new());
  X509_CRL_set_version(crl.get(), 1);
  X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(&h.issuing.cert.x509()));
  ossl::Asn1TimePtr t(ASN1_TIME_set(nullptr, (now - 1h).time_since_epoch().count()));
  ossl::Asn1TimePtr n(ASN1_TIME_set(nullptr, (now + 1h).time_since_epoch().count()));
  X509_CRL_set1_lastUpdate(crl.get(), t.get());
  X509_CRL_set1_nextUpdate(crl.get(), n.get());
  ossl::Asn1IntegerPtr num(ASN1_INTEGER_new());
  ASN1_INTEGER_set(num.get(), 1);
  X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, num.get(), 0, 0);
  std::unique_ptr<ISSUING_DIST_POINT, ossl::Deleter<ISSUING_DIST_POINT_free>> idp(
      ISSUING_DIST_POINT_new());
  scope(*idp);
  X509_CRL_add1_ext_i2d(crl.get(), NID_issuing_distribution_point, idp.get(), 1, 0);
  EXPECT_GT(X509_CRL_sign(crl.get(), h.issuing.key.get(), EVP_sha256()), 0);
  return der_of_crl(crl.get());
}

// An issuingDistributionPoint naming `uri` as its distributionPoint.
void idp_uri(ISSUING_DIST_POINT& idp, const std::string& uri) {
  idp.distpoint = DIST_POINT_NAME_new();
  idp.distpoint->type = 0;
  idp.distpoint->name.fullname = GENERAL_NAMES_new();
  GENERAL_NAME* g = GENERAL_NAME_new();
  ASN1_IA5STRING* s = ASN1_IA5STRING_new();
  ASN1_STRING_set(s, uri.data(), static_cast<int>(uri.size()));
  GENERAL_NAME_set0_value(g, GEN_URI, s);
  sk_GENERAL_NAME_push(idp.distpoint->name.fullname, g);
}

TEST_F(RevocationTest, CrlScopeIsHonoured) {
  Leaf leaf = issue("web.internal");  // no CDP: the test CA has no base URL
  Options o = opts();
  auto judge = [&](const std::function<void(ISSUING_DIST_POINT&)>& scope) {
    o.crls = ca_crls();
    o.crls.push_back(idp_crl(*h_, clock_.now(), scope));
    return run(leaf, o);
  };
  auto refused = [&](const Result& r, const std::string& why) {
    const Finding* e = first_error(r);
    ASSERT_NE(e, nullptr) << dump(r);
    EXPECT_EQ(e->code, "revocation_unavailable") << dump(r);
    EXPECT_NE(e->found.find(why), std::string::npos) << dump(r);
  };
  refused(judge([](ISSUING_DIST_POINT& i) { i.onlyCA = 0xff; }), "CA certificates only");
  refused(judge([](ISSUING_DIST_POINT& i) { i.indirectCRL = 0xff; }), "indirect CRL");
  refused(judge([](ISSUING_DIST_POINT& i) { i.onlyattr = 0xff; }), "attribute certificates");
  refused(judge([](ISSUING_DIST_POINT& i) {
            i.onlysomereasons = ASN1_BIT_STRING_new();
            ASN1_BIT_STRING_set_bit(i.onlysomereasons, 1, 1);
          }),
          "some revocation reasons");
  refused(judge([](ISSUING_DIST_POINT& i) { idp_uri(i, "http://ca.test/crl/a.crl"); }),
          "certificate names none");
  auto user = judge([](ISSUING_DIST_POINT& i) { i.onlyuser = 0xff; });
  EXPECT_TRUE(user.valid) << dump(user);

  // With a CDP in the certificate: the IDP must name it.
  config_.ca.base_url = "http://ca.test";
  Leaf with_cdp = issue("cdp.internal");
  auto judge_cdp = [&](const std::string& uri) {
    o.crls = ca_crls();
    o.crls.push_back(idp_crl(*h_, clock_.now(), [&](ISSUING_DIST_POINT& i) { idp_uri(i, uri); }));
    return run(with_cdp, o);
  };
  auto same = judge_cdp("http://ca.test/crl/issuing.crl");
  EXPECT_TRUE(same.valid) << dump(same);
  refused(judge_cdp("http://ca.test/crl/other.crl"), "does not name");
}

TEST_F(RevocationTest, ResponderMustBeIncludedOrTheIssuer) {
  Leaf leaf = issue("web.internal");
  ossl::OcspCertIdPtr id(
      OCSP_cert_to_id(EVP_sha256(), leaf_x509(leaf).get(), &h_->issuing.cert.x509()));
  ossl::OcspBasicRespPtr bs(OCSP_BASICRESP_new());
  ossl::Asn1TimePtr now(ASN1_TIME_set(nullptr, clock_.now().time_since_epoch().count()));
  ASSERT_TRUE(OCSP_basic_add1_status(bs.get(), id.get(), V_OCSP_CERTSTATUS_GOOD, 0, nullptr,
                                     now.get(), nullptr));
  // The delegated responder, but its certificate left out.
  ASSERT_EQ(OCSP_basic_sign(bs.get(), &responder_cert_->x509(), responder_key_.get(), EVP_sha256(),
                            nullptr, OCSP_NOCERTS | OCSP_RESPID_KEY),
            1);
  ossl::OcspResponsePtr resp(OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs.get()));
  unsigned char* p = nullptr;
  int n = i2d_OCSP_RESPONSE(resp.get(), &p);
  Options o = opts();
  o.crls = ca_crls();
  o.ocsp_responses = {Bytes(p, p + n)};
  OPENSSL_free(p);
  auto r = run(leaf, o);
  ASSERT_NE(first_error(r), nullptr) << dump(r);
  EXPECT_NE(first_error(r)->found.find("neither the issuer nor a certificate in the response"),
            std::string::npos)
      << dump(r);
  // The same responder with its certificate included is accepted.
  o.ocsp_responses = {raw_ocsp(leaf, &responder_cert_->x509(), responder_key_.get())};
  EXPECT_TRUE(run(leaf, o).valid);
}

TEST_F(RevocationTest, ResponseWithoutNextUpdateIsGoodForSevenDays) {
  Leaf leaf = issue("web.internal");
  ossl::OcspCertIdPtr id(
      OCSP_cert_to_id(EVP_sha1(), leaf_x509(leaf).get(), &h_->issuing.cert.x509()));
  ossl::OcspBasicRespPtr bs(OCSP_BASICRESP_new());
  ossl::Asn1TimePtr now(ASN1_TIME_set(nullptr, clock_.now().time_since_epoch().count()));
  ASSERT_TRUE(OCSP_basic_add1_status(bs.get(), id.get(), V_OCSP_CERTSTATUS_GOOD, 0, nullptr,
                                     now.get(), nullptr));
  ASSERT_EQ(OCSP_basic_sign(bs.get(), &h_->issuing.cert.x509(), h_->issuing.key.get(), EVP_sha256(),
                            nullptr, 0),
            1);
  ossl::OcspResponsePtr resp(OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs.get()));
  unsigned char* p = nullptr;
  int n = i2d_OCSP_RESPONSE(resp.get(), &p);
  Options o = opts();
  o.ocsp_responses = {Bytes(p, p + n)};
  OPENSSL_free(p);
  clock_.set(clock_.now() + 6 * 24h);  // CA CRLs current then
  o.crls = ca_crls();
  o.at = clock_.now();
  auto six = run(leaf, o);
  EXPECT_TRUE(six.valid) << dump(six);
  clock_.set(clock_.now() + 2 * 24h);
  o.crls = ca_crls();
  o.at = clock_.now();
  auto eight = run(leaf, o);
  ASSERT_NE(first_error(eight), nullptr) << dump(eight);
  EXPECT_NE(first_error(eight)->found.find("no nextUpdate and thisUpdate 8 d ago"),
            std::string::npos)
      << dump(eight);
}

TEST_F(RevocationTest, GoodAndRevokedByOcsp) {
  Leaf leaf = issue("web.internal");
  Options o = opts();
  o.crls = ca_crls();
  o.ocsp_responses = {ocsp(leaf.serial, kGood)};
  auto good = run(leaf, o);
  EXPECT_TRUE(good.valid) << dump(good);
  EXPECT_EQ(codes(good), "");
  // Signed by the issuing CA itself, SHA-1 CertID.
  o.ocsp_responses = {ocsp(leaf.serial, kGood, std::nullopt, true, 1h, ca::OcspHash::kSha1)};
  auto by_ca = run(leaf, o);
  EXPECT_TRUE(by_ca.valid) << dump(by_ca);

  const TimePoint when = clock_.now() - 2h;
  o.ocsp_responses = {ocsp(
      leaf.serial, {ca::OcspStatus::Kind::kRevoked, when, x509::RevocationReason::kSuperseded})};
  auto r = run(leaf, o);
  EXPECT_FALSE(r.valid);
  ASSERT_EQ(codes(r), "revoked") << dump(r);
  EXPECT_NE(r.findings[0].found.find("superseded"), std::string::npos) << r.findings[0].found;
  EXPECT_NE(r.findings[0].found.find(format_time(when)), std::string::npos) << r.findings[0].found;
  EXPECT_NE(r.findings[0].found.find("OCSP"), std::string::npos);
}

TEST_F(RevocationTest, OcspUnknownAndExpiredAreNotCoverage) {
  Leaf leaf = issue("web.internal");
  Options o = opts();
  o.crls = ca_crls();
  o.ocsp_responses = {ocsp(leaf.serial, {ca::OcspStatus::Kind::kUnknown, {}, std::nullopt})};
  auto r = run(leaf, o);
  ASSERT_NE(first_error(r), nullptr) << dump(r);
  EXPECT_EQ(first_error(r)->code, "revocation_unavailable") << dump(r);
  EXPECT_NE(first_error(r)->found.find("status unknown"), std::string::npos);
  o.ocsp_responses = {ocsp(leaf.serial, kGood)};
  o.at = clock_.now() + 3h;
  r = run(leaf, o);
  ASSERT_NE(first_error(r), nullptr) << dump(r);
  EXPECT_EQ(first_error(r)->code, "revocation_unavailable") << dump(r);
  EXPECT_NE(first_error(r)->found.find("expired 2 h ago"), std::string::npos) << dump(r);
  // Produced in the future beyond the 5 min skew.
  o.at = clock_.now();
  clock_.set(o.at + 10min);
  o.ocsp_responses = {ocsp(leaf.serial, kGood)};
  clock_.set(o.at);
  r = run(leaf, o);
  ASSERT_NE(first_error(r), nullptr) << dump(r);
  EXPECT_EQ(first_error(r)->code, "revocation_unavailable") << dump(r);
  EXPECT_NE(first_error(r)->found.find("in the future"), std::string::npos) << dump(r);
  clock_.set(o.at + 4min);
  o.ocsp_responses = {ocsp(leaf.serial, kGood)};
  clock_.set(o.at);
  EXPECT_TRUE(run(leaf, o).valid);
}

TEST_F(RevocationTest, DelegatedResponderNeedsOcspSigningEku) {
  Leaf leaf = issue("web.internal");
  Leaf other = issue("other.internal");  // a server certificate: no OCSPSigning EKU
  Options o = opts();
  o.crls = ca_crls();
  o.ocsp_responses = {raw_ocsp(leaf, leaf_x509(other).get(), other.key.get())};
  auto r = run(leaf, o);
  ASSERT_NE(first_error(r), nullptr) << dump(r);
  EXPECT_EQ(first_error(r)->code, "revocation_unavailable") << dump(r);
  EXPECT_NE(first_error(r)->found.find("OCSPSigning"), std::string::npos) << dump(r);
  // The real responder certificate, through the same hand-made path, passes.
  o.ocsp_responses = {raw_ocsp(leaf, &responder_cert_->x509(), responder_key_.get())};
  auto ok = run(leaf, o);
  EXPECT_TRUE(ok.valid) << dump(ok);
  // A responder certified by another CA (the intermediate's key) is refused.
  o.ocsp_responses = {raw_ocsp(leaf, &h_->intermediate.cert.x509(), h_->intermediate.key.get())};
  r = run(leaf, o);
  ASSERT_NE(first_error(r), nullptr) << dump(r);
  EXPECT_EQ(first_error(r)->code, "revocation_unavailable") << dump(r);
  EXPECT_NE(first_error(r)->found.find("not certified by"), std::string::npos) << dump(r);
}

TEST_F(RevocationTest, OcspForAnotherSerialDoesNotCover) {
  Leaf leaf = issue("web.internal");
  Leaf other = issue("other.internal");
  Options o = opts();
  o.crls = ca_crls();
  o.ocsp_responses = {ocsp(other.serial, kGood)};
  auto r = run(leaf, o);
  ASSERT_EQ(errors(r), "revocation_unavailable") << dump(r);
  o.revocation = RevocationPolicy::kSoft;
  r = run(leaf, o);
  EXPECT_TRUE(r.valid);
  const Finding* w = find(r, "ocsp_unusable");
  ASSERT_NE(w, nullptr) << dump(r);
  EXPECT_NE(w->found.find("no certificate of the path"), std::string::npos) << w->found;
}

TEST_F(RevocationTest, NonceMustMatchWhenOneWasSent) {
  Leaf leaf = issue("web.internal");
  const Bytes nonce = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  Bytes wrapped = {0x04, 16};
  wrapped.insert(wrapped.end(), nonce.begin(), nonce.end());
  Options o = opts();
  o.crls = ca_crls();
  o.ocsp_nonce = nonce;
  o.ocsp_responses = {ocsp(leaf.serial, kGood, wrapped)};
  auto r = run(leaf, o);
  EXPECT_TRUE(r.valid) << dump(r);
  o.ocsp_nonce = wrapped;  // the extnValue as sent also matches
  EXPECT_TRUE(run(leaf, o).valid);
  Bytes other = wrapped;
  other.back() ^= 1;
  o.ocsp_responses = {ocsp(leaf.serial, kGood, other)};
  r = run(leaf, o);
  ASSERT_NE(first_error(r), nullptr) << dump(r);
  EXPECT_EQ(first_error(r)->code, "revocation_unavailable") << dump(r);
  EXPECT_NE(first_error(r)->found.find("another nonce"), std::string::npos);
  o.ocsp_responses = {ocsp(leaf.serial, kGood)};
  r = run(leaf, o);
  ASSERT_NE(first_error(r), nullptr) << dump(r);
  EXPECT_EQ(first_error(r)->code, "revocation_unavailable") << dump(r);
  EXPECT_NE(first_error(r)->found.find("no nonce"), std::string::npos);
  o.ocsp_nonce.reset();  // no nonce sent: a response without one is fine
  EXPECT_TRUE(run(leaf, o).valid);
}

TEST_F(RevocationTest, GarbageInputsAreWarningsNeverCrashes) {
  Leaf leaf = issue("web.internal");
  Options o = opts(RevocationPolicy::kSoft);
  o.crls = {Bytes{}, Bytes{0x30, 0x03, 0x02, 0x01}, Bytes(5000, 0x30)};
  o.ocsp_responses = {Bytes{}, Bytes{0x30, 0x80},
                      ca::ocsp_error_response(OCSP_RESPONSE_STATUS_TRYLATER)};
  // A real CRL with trailing bytes is malformed too.
  Bytes trailing = issuing_crl();
  trailing.push_back(0);
  o.crls.push_back(trailing);
  auto r = run(leaf, o);
  EXPECT_TRUE(r.valid) << dump(r);
  int malformed = 0;
  for (const auto& f : r.findings) {
    EXPECT_EQ(f.severity, Severity::kWarning) << f.code;
    malformed += f.code == "malformed_crl" || f.code == "malformed_ocsp_response";
  }
  EXPECT_EQ(malformed, 6) << dump(r);
  const Finding* tl = find(r, "ocsp_unusable");
  ASSERT_NE(tl, nullptr) << dump(r);
  EXPECT_NE(tl->found.find("tryLater"), std::string::npos);
  o.revocation = RevocationPolicy::kHard;
  r = run(leaf, o);
  ASSERT_NE(first_error(r), nullptr) << dump(r);
  EXPECT_EQ(first_error(r)->code, "revocation_unavailable") << dump(r);
  EXPECT_NE(first_error(r)->found.find("tryLater"), std::string::npos) << dump(r);
}

TEST_F(RevocationTest, DeltaCrlAloneIsSaidToBeUnsupported) {
  Leaf leaf = issue("web.internal");
  ossl::X509CrlPtr crl(X509_CRL_new());
  X509_CRL_set_version(crl.get(), 1);
  X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(&h_->issuing.cert.x509()));
  ossl::Asn1TimePtr t(ASN1_TIME_set(nullptr, (clock_.now() - 1h).time_since_epoch().count()));
  ossl::Asn1TimePtr n(ASN1_TIME_set(nullptr, (clock_.now() + 1h).time_since_epoch().count()));
  X509_CRL_set1_lastUpdate(crl.get(), t.get());
  X509_CRL_set1_nextUpdate(crl.get(), n.get());
  ossl::Asn1IntegerPtr num(ASN1_INTEGER_new());
  ASN1_INTEGER_set(num.get(), 2);
  X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, num.get(), 0, 0);
  X509_CRL_add1_ext_i2d(crl.get(), NID_delta_crl, num.get(), 1, 0);
  ASSERT_GT(X509_CRL_sign(crl.get(), h_->issuing.key.get(), EVP_sha256()), 0);
  Options o = opts();
  o.crls = ca_crls();
  o.crls.push_back(der_of_crl(crl.get()));
  auto r = run(leaf, o);
  ASSERT_NE(first_error(r), nullptr) << dump(r);
  EXPECT_EQ(first_error(r)->code, "revocation_unavailable") << dump(r);
  EXPECT_NE(first_error(r)->found.find("delta CRL"), std::string::npos) << dump(r);
}

}  // namespace
}  // namespace herald::verify
