#include "ca/ocsp.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "ca/authority.h"
#include "ca/hierarchy.h"
#include "ca/revocation.h"
#include "keys/private_key.h"
#include "store/sqlite/sqlite_inventory.h"

namespace herald::ca {
namespace {

using namespace std::chrono_literals;
using X509StorePtr = std::unique_ptr<X509_STORE, ossl::Deleter<X509_STORE_free>>;
using Entries = std::vector<std::pair<OcspCertId, OcspStatus>>;

// OpenSSL's OCSP_check_validity and the openssl CLI judge thisUpdate and
// nextUpdate against the wall clock, so the fake clock starts at the real
// time (and only moves when a test moves it).
TimePoint wall_clock_now() {
  return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
}

Bytes der_of(OCSP_REQUEST& req) {
  unsigned char* p = nullptr;
  int n = i2d_OCSP_REQUEST(&req, &p);
  EXPECT_GT(n, 0);
  Bytes out(p, p + std::max(n, 0));
  OPENSSL_free(p);
  return out;
}

void write_bytes(const std::filesystem::path& path, std::span<const uint8_t> data) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

Bytes read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Decodes an OCSPResponse and checks its responseStatus; the basic response
// when there is one.
ossl::OcspBasicRespPtr decode(const Bytes& der, int want_status = OCSP_RESPONSE_STATUS_SUCCESSFUL) {
  const unsigned char* p = der.data();
  ossl::OcspResponsePtr resp(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size())));
  EXPECT_TRUE(resp);
  if (!resp) return nullptr;
  EXPECT_EQ(p, der.data() + der.size());
  EXPECT_EQ(OCSP_response_status(resp.get()), want_status);
  return ossl::OcspBasicRespPtr(OCSP_response_get1_basic(resp.get()));
}

// --- hand-built DER, for what OpenSSL's encoder would never produce --------

Bytes tlv(uint8_t tag, const Bytes& content) {
  Bytes out{tag};
  size_t n = content.size();
  if (n < 0x80) {
    out.push_back(static_cast<uint8_t>(n));
  } else if (n < 0x100) {
    out.insert(out.end(), {0x81, static_cast<uint8_t>(n)});
  } else {
    out.insert(out.end(), {0x82, static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)});
  }
  out.insert(out.end(), content.begin(), content.end());
  return out;
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

const Bytes kSha1Oid = {0x06, 0x05, 0x2B, 0x0E, 0x03, 0x02, 0x1A};
const Bytes kSha256Oid = {0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01};
const Bytes kMd5Oid = {0x06, 0x08, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x02, 0x05};
const Bytes kNonceOid = {0x06, 0x09, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02};
const Bytes kOtherOid = {0x06, 0x03, 0x2A, 0x03, 0x04};  // 1.2.3.4
const Bytes kNull = {0x05, 0x00};

Bytes cert_id(const Bytes& oid, size_t hash_len, Bytes serial = {0x01, 0x23},
              size_t key_hash_len = 0) {
  return tlv(0x30, cat({tlv(0x30, cat({oid, kNull})), tlv(0x04, Bytes(hash_len, 0x11)),
                        tlv(0x04, Bytes(key_hash_len ? key_hash_len : hash_len, 0x22)),
                        tlv(0x02, serial)}));
}

Bytes extension(const Bytes& oid, const Bytes& value, std::optional<bool> critical = {}) {
  Bytes crit =
      critical ? Bytes{0x01, 0x01, static_cast<uint8_t>(*critical ? 0xFF : 0x00)} : Bytes{};
  return tlv(0x30, cat({oid, crit, tlv(0x04, value)}));
}

// OCSPRequest { TBSRequest { [version] requestList [requestExtensions] } }.
Bytes request_der(const std::vector<Bytes>& ids, const std::vector<Bytes>& exts = {},
                  const Bytes& version = {}) {
  Bytes list;
  for (const auto& id : ids) list = cat({list, tlv(0x30, id)});
  Bytes tbs = cat({version, tlv(0x30, list)});
  if (!exts.empty()) {
    Bytes all;
    for (const auto& e : exts) all = cat({all, e});
    tbs = cat({tbs, tlv(0xA2, tlv(0x30, all))});
  }
  return tlv(0x30, tlv(0x30, tbs));
}

ErrorCode parse_error(const Bytes& der) {
  auto r = parse_ocsp_request(der);
  EXPECT_FALSE(r) << "accepted";
  return r ? ErrorCode::kInternal : r.error().code;
}

// --- the fixture: a hierarchy per key type, an inventory, a responder -------

class OcspTest : public ::testing::TestWithParam<keys::KeyType> {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("herald-ocsp-test-" + std::to_string(::getpid()) + "-" +
            std::string(keys::key_type_name(GetParam())) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    inv_ = std::move(
        *store::SqliteInventory::open(dir_ / "herald.db", store::OpenMode::kCreate, clock_));
    config_.policy = policy::default_policy();
    config_.ca.base_url = "http://127.0.0.1:8080";
    HierarchyOptions o;
    o.organization = "Test";
    o.key_type = GetParam();
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

    auto responder_key = keys::generate_key(GetParam());
    ASSERT_TRUE(responder_key);
    auto responder_pub = keys::public_key_of(**responder_key);
    auto issued = authority_->issue_ocsp_signer(*responder_pub, 7 * 24h);
    ASSERT_TRUE(issued) << issued.error().describe();
    responder_record_ = issued->record;
    responder_cert_ = std::make_unique<x509::Certificate>(
        std::move(*x509::Certificate::from_der(issued->record.der)));
    responder_signer_ = std::move(*keys::KeySigner::create(std::move(*responder_key)));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  OcspResponder responder() const {
    return OcspResponder{*responder_signer_, *responder_cert_, h_->issuing.cert};
  }

  struct Leaf {
    x509::Certificate cert;
    ossl::EvpPkeyPtr key;
  };
  Leaf issue_leaf(const std::string& cn) {
    auto key = keys::generate_key(keys::KeyType::kEcP256);
    auto pub = keys::public_key_of(**key);
    policy::IssueRequest req;
    req.common_name = cn;
    req.key = pub->info;
    auto issued = authority_->issue(req, *pub, {});
    EXPECT_TRUE(issued) << issued.error().describe();
    return Leaf{*x509::Certificate::from_der(issued->record.der), std::move(*key)};
  }

  // What the server will do: the inventory decides each CertID's status.
  OcspStatus status_of(const Serial& serial) {
    auto rec = inv_->find(serial);
    EXPECT_TRUE(rec);
    if (!rec || !*rec || (*rec)->issuer_serial != h_->issuing.cert.serial()) return {};
    if ((*rec)->status == store::CertStatus::kRevoked) {
      return {OcspStatus::Kind::kRevoked, *(*rec)->revoked_at, (*rec)->revocation_reason};
    }
    return {OcspStatus::Kind::kGood};
  }
  Entries entries_for(const OcspRequest& req) {
    Entries out;
    for (const auto& id : req.ids) out.emplace_back(id, status_of(id.serial));
    return out;
  }

  // An OpenSSL-built request for `certs` (each with its CertID hash), with a
  // nonce of `nonce_len` random octets (0: none).
  ossl::OcspRequestPtr make_request(
      const std::vector<std::pair<const EVP_MD*, const x509::Certificate*>>& certs, int nonce_len) {
    ossl::OcspRequestPtr req(OCSP_REQUEST_new());
    for (const auto& [md, cert] : certs) {
      OCSP_CERTID* id = OCSP_cert_to_id(md, &cert->x509(), &h_->issuing.cert.x509());
      EXPECT_TRUE(id && OCSP_request_add0_id(req.get(), id));
    }
    if (nonce_len > 0) {
      EXPECT_EQ(OCSP_request_add1_nonce(req.get(), nullptr, nonce_len), 1);
    }
    return req;
  }

  // OpenSSL's own verification: only the root trusted, the intermediate and
  // issuing CA as untrusted certificates, the responder certificate from the
  // response itself.
  int verify_response(OCSP_BASICRESP& bs, bool expect_ok = true) {
    X509StorePtr store(X509_STORE_new());
    X509_STORE_add_cert(store.get(), &h_->root.cert.x509());
    ossl::X509StackPtr chain(sk_X509_new_null());
    for (auto* c : {&h_->intermediate.cert, &h_->issuing.cert}) {
      X509_up_ref(&c->x509());
      sk_X509_push(chain.get(), &c->x509());
    }
    int rc = OCSP_basic_verify(&bs, chain.get(), store.get(), 0);
    std::string errors = ossl::drain_errors();
    if (expect_ok && rc != 1) {
      ADD_FAILURE() << "OCSP_basic_verify: " << errors;
    }
    return rc;
  }

  FakeClock clock_{wall_clock_now()};
  std::filesystem::path dir_;
  std::unique_ptr<store::SqliteInventory> inv_;
  policy::Config config_;
  std::unique_ptr<Hierarchy> h_;
  std::unique_ptr<keys::KeySigner> signer_;
  std::unique_ptr<Authority> authority_;
  store::CertRecord responder_record_;
  std::unique_ptr<x509::Certificate> responder_cert_;
  std::unique_ptr<keys::KeySigner> responder_signer_;
};

INSTANTIATE_TEST_SUITE_P(KeyTypes, OcspTest,
                         ::testing::Values(keys::KeyType::kEcP256, keys::KeyType::kRsa2048,
                                           keys::KeyType::kEd25519),
                         [](const auto& info) {
                           std::string n(keys::key_type_name(info.param));
                           std::erase(n, '-');
                           return n;
                         });

TEST_P(OcspTest, ResponderCertificateProfile) {
  const x509::Certificate& c = *responder_cert_;
  X509& x = c.x509();
  EXPECT_EQ(c.subject(), "CN=Test Issuing CA OCSP Responder");
  EXPECT_EQ(c.issuer(), h_->issuing.cert.subject());
  EXPECT_EQ(c.not_after(), clock_.now() + 7 * 24h);
  EXPECT_EQ(c.key_info().name(), keys::key_info_of(GetParam()).name());

  // EKU OCSPSigning only; KU digitalSignature only; CA:FALSE in a critical basicConstraints.
  EXPECT_EQ(c.ext_key_usage(), std::vector<std::string>{"OCSPSigning"});
  EXPECT_EQ(X509_get_key_usage(&x), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_FALSE(c.is_ca());
  int bc = X509_get_ext_by_NID(&x, NID_basic_constraints, -1);
  ASSERT_GE(bc, 0);
  EXPECT_EQ(X509_EXTENSION_get_critical(X509_get_ext(&x, bc)), 1);

  // id-pkix-ocsp-nocheck: non-critical, value NULL.
  int nocheck = X509_get_ext_by_NID(&x, NID_id_pkix_OCSP_noCheck, -1);
  ASSERT_GE(nocheck, 0);
  X509_EXTENSION* ext = X509_get_ext(&x, nocheck);
  EXPECT_EQ(X509_EXTENSION_get_critical(ext), 0);
  auto value = X509_EXTENSION_get_data(ext);
  EXPECT_EQ(Bytes(ASN1_STRING_get0_data(value), ASN1_STRING_get0_data(value) + 2),
            (Bytes{0x05, 0x00}));
  EXPECT_EQ(ASN1_STRING_length(value), 2);

  // AKI = the issuing CA's SKI; no SAN, CDP or AIA.
  const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(&x);
  ASSERT_TRUE(aki);
  EXPECT_EQ(Bytes(ASN1_STRING_get0_data(aki), ASN1_STRING_get0_data(aki) + ASN1_STRING_length(aki)),
            h_->issuing.cert.subject_key_id());
  for (int nid : {NID_subject_alt_name, NID_crl_distribution_points, NID_info_access}) {
    EXPECT_EQ(X509_get_ext_by_NID(&x, nid, -1), -1) << OBJ_nid2sn(nid);
  }

  // OpenSSL agrees it is an OCSP responder certificate, and the chain holds.
  EXPECT_EQ(X509_check_purpose(&x, X509_PURPOSE_OCSP_HELPER, 0), 1);
  EXPECT_NE(X509_get_extended_key_usage(&x) & XKU_OCSP_SIGN, 0u);
  EXPECT_EQ(X509_check_issued(&h_->issuing.cert.x509(), &x), X509_V_OK);
  EXPECT_EQ(X509_verify(&x, X509_get0_pubkey(&h_->issuing.cert.x509())), 1);

  // Recorded like every other certificate, under its own profile name.
  auto stored = inv_->find(c.serial());
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ((*stored)->profile, "ocsp-signer");
  EXPECT_EQ((*stored)->der, c.der());
  EXPECT_EQ((*stored)->issuer_serial, h_->issuing.cert.serial());
  EXPECT_EQ((*stored)->ext_key_usage, std::vector<std::string>{"OCSPSigning"});
  EXPECT_EQ((*stored)->subject, c.subject());
}

TEST_P(OcspTest, ResponderCertificateLifetimeAndRefusals) {
  auto key = keys::generate_key(keys::KeyType::kEcP256);
  auto pub = keys::public_key_of(**key);
  auto clamped = authority_->issue_ocsp_signer(*pub, 10 * 365 * 24h);
  ASSERT_TRUE(clamped) << clamped.error().describe();
  EXPECT_EQ(clamped->record.not_after, h_->issuing.cert.not_after());
  ASSERT_EQ(clamped->warnings.size(), 1u);
  EXPECT_NE(clamped->warnings[0].find("clamped"), std::string::npos);

  auto zero = authority_->issue_ocsp_signer(*pub, 0s);
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().code, ErrorCode::kInvalidArgument);

  ASSERT_TRUE(
      revoke(clock_, *inv_, h_->issuing.cert.serial(), x509::RevocationReason::kCaCompromise));
  auto refused = authority_->issue_ocsp_signer(*pub, 24h);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kConflict);
}

TEST_P(OcspTest, ParsesRequestsBuiltByOpenSsl) {
  Leaf a = issue_leaf("a.internal");
  Leaf b = issue_leaf("b.internal");
  auto req = make_request({{EVP_sha1(), &a.cert}, {EVP_sha256(), &b.cert}}, 32);
  Bytes der = der_of(*req);
  auto parsed = parse_ocsp_request(der);
  ASSERT_TRUE(parsed) << parsed.error().describe();
  ASSERT_EQ(parsed->ids.size(), 2u);
  EXPECT_EQ(parsed->ids[0].hash, OcspHash::kSha1);
  EXPECT_EQ(parsed->ids[1].hash, OcspHash::kSha256);
  EXPECT_EQ(parsed->ids[0].serial, a.cert.serial());
  EXPECT_EQ(parsed->ids[1].serial, b.cert.serial());
  EXPECT_EQ(parsed->ids[0].issuer_name_hash.size(), 20u);
  EXPECT_EQ(parsed->ids[1].issuer_key_hash.size(), 32u);
  for (const auto& id : parsed->ids) {
    EXPECT_TRUE(names_issuer(id, h_->issuing.cert));
    EXPECT_FALSE(names_issuer(id, h_->intermediate.cert));
    EXPECT_FALSE(names_issuer(id, h_->root.cert));
    auto issuing = IssuerMatcher::create(h_->issuing.cert);
    auto inter = IssuerMatcher::create(h_->intermediate.cert);
    ASSERT_TRUE(issuing && inter);
    EXPECT_TRUE(issuing->matches(id));
    EXPECT_FALSE(inter->matches(id));
    EXPECT_EQ(id, *cert_id_for(h_->issuing.cert, id.serial, id.hash));
  }

  // The nonce is the extension's extnValue as sent: OpenSSL wraps its 32
  // random octets in an OCTET STRING (RFC 9654).
  ASSERT_TRUE(parsed->nonce);
  X509_EXTENSION* ext = OCSP_REQUEST_get_ext(
      req.get(), OCSP_REQUEST_get_ext_by_NID(req.get(), NID_id_pkix_OCSP_Nonce, -1));
  const ASN1_OCTET_STRING* sent = X509_EXTENSION_get_data(ext);
  EXPECT_EQ(*parsed->nonce, Bytes(ASN1_STRING_get0_data(sent),
                                  ASN1_STRING_get0_data(sent) + ASN1_STRING_length(sent)));
  EXPECT_EQ(parsed->nonce->size(), 34u);
  EXPECT_EQ((*parsed->nonce)[0], 0x04);

  // Without a nonce; and signed (the signature is ignored).
  EXPECT_FALSE(parse_ocsp_request(der_of(*make_request({{EVP_sha1(), &a.cert}}, 0)))->nonce);
  auto to_sign = make_request({{EVP_sha256(), &a.cert}}, 16);
  ASSERT_EQ(OCSP_request_sign(to_sign.get(), &a.cert.x509(), a.key.get(), EVP_sha256(), nullptr, 0),
            1);
  auto signed_req = parse_ocsp_request(der_of(*to_sign));
  ASSERT_TRUE(signed_req) << signed_req.error().describe();
  EXPECT_EQ(signed_req->ids.size(), 1u);

  // 16 CertIDs are fine, 17 are not; an MD5 CertID never is.
  std::vector<std::pair<const EVP_MD*, const x509::Certificate*>> many(16, {EVP_sha1(), &a.cert});
  EXPECT_EQ(parse_ocsp_request(der_of(*make_request(many, 32)))->ids.size(), 16u);
  many.emplace_back(EVP_sha256(), &b.cert);
  EXPECT_EQ(parse_error(der_of(*make_request(many, 32))), ErrorCode::kMalformedInput);
  EXPECT_EQ(parse_error(der_of(*make_request({{EVP_md5(), &a.cert}}, 0))),
            ErrorCode::kMalformedInput);

  // Every truncation of a valid request, and trailing data.
  for (size_t n = 0; n < der.size(); ++n) {
    auto r = parse_ocsp_request(std::span(der).first(n));
    ASSERT_FALSE(r) << "truncated to " << n;
    EXPECT_EQ(r.error().code, ErrorCode::kMalformedInput);
  }
  Bytes longer = der;
  longer.push_back(0x00);
  EXPECT_EQ(parse_error(longer), ErrorCode::kMalformedInput);
}

TEST_P(OcspTest, SignedResponsesVerifyWithOpenSsl) {
  Leaf good = issue_leaf("good.internal");
  Leaf bad = issue_leaf("revoked.internal");
  clock_.advance(90s);
  const TimePoint revoked_at = clock_.now();
  ASSERT_TRUE(revoke(clock_, *inv_, bad.cert.serial(), x509::RevocationReason::kKeyCompromise));
  clock_.advance(30s);

  // An unknown serial under our issuer: a CertID OpenSSL builds by hand.
  ossl::Asn1IntegerPtr unknown_sn(ASN1_INTEGER_new());
  ASN1_INTEGER_set_uint64(unknown_sn.get(), 0x0123456789ABCDEFULL);
  auto req = make_request({{EVP_sha1(), &good.cert}, {EVP_sha256(), &bad.cert}}, 32);
  OCSP_CERTID* unknown_id =
      OCSP_cert_id_new(EVP_sha256(), X509_get_subject_name(&h_->issuing.cert.x509()),
                       X509_get0_pubkey_bitstr(&h_->issuing.cert.x509()), unknown_sn.get());
  ASSERT_TRUE(OCSP_request_add0_id(req.get(), unknown_id));

  auto parsed = parse_ocsp_request(der_of(*req));
  ASSERT_TRUE(parsed) << parsed.error().describe();
  Entries entries = entries_for(*parsed);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].second.kind, OcspStatus::Kind::kGood);
  EXPECT_EQ(entries[1].second.kind, OcspStatus::Kind::kRevoked);
  EXPECT_EQ(entries[2].second.kind, OcspStatus::Kind::kUnknown);

  const TimePoint now = clock_.now();
  auto der = sign_ocsp_response(responder(), entries, parsed->nonce, now, 1h);
  ASSERT_TRUE(der) << der.error().describe();
  auto bs = decode(*der);
  ASSERT_TRUE(bs);
  EXPECT_EQ(verify_response(*bs), 1);
  EXPECT_EQ(OCSP_check_nonce(req.get(), bs.get()), 1);

  // producedAt = now; responderID byKey = SHA-1 of the responder's key; the
  // responder certificate is included.
  EXPECT_EQ(x509::from_asn1_time(*OCSP_resp_get0_produced_at(bs.get())), now);
  const ASN1_OCTET_STRING* by_key = nullptr;
  const X509_NAME* by_name = nullptr;
  ASSERT_EQ(OCSP_resp_get0_id(bs.get(), &by_key, &by_name), 1);
  ASSERT_TRUE(by_key);
  EXPECT_FALSE(by_name);
  const ASN1_BIT_STRING* key_bits = X509_get0_pubkey_bitstr(&responder_cert_->x509());
  EXPECT_EQ(Bytes(ASN1_STRING_get0_data(by_key),
                  ASN1_STRING_get0_data(by_key) + ASN1_STRING_length(by_key)),
            *ossl::sha1(std::span(ASN1_STRING_get0_data(key_bits),
                                  static_cast<size_t>(ASN1_STRING_length(key_bits)))));
  const STACK_OF(X509)* certs = OCSP_resp_get0_certs(bs.get());
  ASSERT_EQ(sk_X509_num(certs), 1);
  EXPECT_EQ(X509_cmp(sk_X509_value(certs, 0), &responder_cert_->x509()), 0);

  // One SingleResponse per CertID, in order, each CertID echoed exactly.
  ASSERT_EQ(OCSP_resp_count(bs.get()), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(OCSP_id_cmp(OCSP_SINGLERESP_get0_id(OCSP_resp_get0(bs.get(), i)),
                          OCSP_onereq_get0_id(OCSP_request_onereq_get0(req.get(), i))),
              0)
        << i;
  }
  const int want[] = {V_OCSP_CERTSTATUS_GOOD, V_OCSP_CERTSTATUS_REVOKED, V_OCSP_CERTSTATUS_UNKNOWN};
  for (int i = 0; i < 3; ++i) {
    OCSP_CERTID* id = OCSP_onereq_get0_id(OCSP_request_onereq_get0(req.get(), i));
    int status = -1, reason = -1;
    ASN1_GENERALIZEDTIME *rev = nullptr, *this_upd = nullptr, *next_upd = nullptr;
    ASSERT_EQ(OCSP_resp_find_status(bs.get(), id, &status, &reason, &rev, &this_upd, &next_upd), 1)
        << i;
    EXPECT_EQ(status, want[i]) << i;
    EXPECT_EQ(OCSP_check_validity(this_upd, next_upd, 300, -1), 1) << ossl::drain_errors();
    EXPECT_EQ(x509::from_asn1_time(*this_upd), now);
    EXPECT_EQ(x509::from_asn1_time(*next_upd), now + 1h);
    if (status == V_OCSP_CERTSTATUS_REVOKED) {
      EXPECT_EQ(reason, OCSP_REVOKED_STATUS_KEYCOMPROMISE);
      ASSERT_TRUE(rev);
      EXPECT_EQ(x509::from_asn1_time(*rev), revoked_at);
    } else {
      EXPECT_FALSE(rev);
    }
  }
}

TEST_P(OcspTest, NonceEchoAndFreshness) {
  Leaf leaf = issue_leaf("web.internal");
  auto with_nonce = make_request({{EVP_sha1(), &leaf.cert}}, 32);
  auto parsed = parse_ocsp_request(der_of(*with_nonce));
  ASSERT_TRUE(parsed);

  // A pre-signed response has no nonce: OpenSSL reports "only in the request".
  auto plain =
      sign_ocsp_response(responder(), entries_for(*parsed), std::nullopt, clock_.now(), 1h);
  ASSERT_TRUE(plain);
  auto plain_bs = decode(*plain);
  EXPECT_EQ(verify_response(*plain_bs), 1);
  EXPECT_EQ(OCSP_check_nonce(with_nonce.get(), plain_bs.get()), -1);

  // Another request's nonce does not match.
  auto other = parse_ocsp_request(der_of(*make_request({{EVP_sha1(), &leaf.cert}}, 32)));
  auto wrong =
      sign_ocsp_response(responder(), entries_for(*parsed), other->nonce, clock_.now(), 1h);
  ASSERT_TRUE(wrong);
  EXPECT_EQ(OCSP_check_nonce(with_nonce.get(), decode(*wrong).get()), 0);

  // A raw (unwrapped) nonce from an RFC 2560-era client is echoed as sent.
  ossl::OcspRequestPtr raw(OCSP_REQUEST_new());
  OCSP_request_add0_id(raw.get(),
                       OCSP_cert_to_id(EVP_sha1(), &leaf.cert.x509(), &h_->issuing.cert.x509()));
  ossl::Asn1OctetStringPtr raw_value(ASN1_OCTET_STRING_new());
  ASN1_OCTET_STRING_set(raw_value.get(), Bytes(16, 0x5A).data(), 16);
  ossl::X509ExtPtr raw_ext(
      X509_EXTENSION_create_by_NID(nullptr, NID_id_pkix_OCSP_Nonce, 0, raw_value.get()));
  ASSERT_EQ(OCSP_REQUEST_add_ext(raw.get(), raw_ext.get(), -1), 1);
  auto raw_parsed = parse_ocsp_request(der_of(*raw));
  ASSERT_TRUE(raw_parsed) << raw_parsed.error().describe();
  EXPECT_EQ(*raw_parsed->nonce, Bytes(16, 0x5A));
  auto raw_resp = sign_ocsp_response(responder(), entries_for(*raw_parsed), raw_parsed->nonce,
                                     clock_.now(), 1h);
  ASSERT_TRUE(raw_resp);
  EXPECT_EQ(OCSP_check_nonce(raw.get(), decode(*raw_resp).get()), 1);

  // A response whose nextUpdate has passed is stale to OpenSSL.
  auto stale =
      sign_ocsp_response(responder(), entries_for(*parsed), std::nullopt, clock_.now() - 3h, 1h);
  ASSERT_TRUE(stale);
  auto stale_bs = decode(*stale);
  int reason = -1;
  ASN1_GENERALIZEDTIME *rev = nullptr, *this_upd = nullptr, *next_upd = nullptr;
  ASSERT_EQ(OCSP_single_get0_status(OCSP_resp_get0(stale_bs.get(), 0), &reason, &rev, &this_upd,
                                    &next_upd),
            V_OCSP_CERTSTATUS_GOOD);
  EXPECT_EQ(OCSP_check_validity(this_upd, next_upd, 300, -1), 0);
  ossl::clear_errors();
}

TEST_P(OcspTest, SigningRefusals) {
  Leaf leaf = issue_leaf("web.internal");
  auto id = *cert_id_for(h_->issuing.cert, leaf.cert.serial(), OcspHash::kSha256);
  const Entries good = {{id, {OcspStatus::Kind::kGood}}};

  // The CA itself may answer (RFC 6960 §4.2.2.2); OpenSSL accepts that too.
  auto by_ca = sign_ocsp_response({*signer_, h_->issuing.cert, h_->issuing.cert}, good,
                                  std::nullopt, clock_.now(), 1h);
  ASSERT_TRUE(by_ca) << by_ca.error().describe();
  EXPECT_EQ(verify_response(*decode(*by_ca)), 1);

  auto expect_code = [](const Result<Bytes>& r, ErrorCode code) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, code) << r.error().describe();
  };
  // A CertID of another issuer: "unknown" and echoed as sent, never good or revoked.
  auto foreign = *cert_id_for(h_->intermediate.cert, leaf.cert.serial(), OcspHash::kSha1);
  auto mixed =
      sign_ocsp_response(responder(), {good[0], {foreign, {}}}, std::nullopt, clock_.now(), 1h);
  ASSERT_TRUE(mixed) << mixed.error().describe();
  auto mixed_bs = decode(*mixed);
  ASSERT_EQ(OCSP_resp_count(mixed_bs.get()), 2);
  ossl::Asn1IntegerPtr sn(ASN1_INTEGER_new());
  ASN1_STRING_set(sn.get(), leaf.cert.serial().bytes().data(),
                  static_cast<int>(leaf.cert.serial().bytes().size()));
  ossl::OcspCertIdPtr foreign_cid(
      OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(&h_->intermediate.cert.x509()),
                       X509_get0_pubkey_bitstr(&h_->intermediate.cert.x509()), sn.get()));
  EXPECT_EQ(
      OCSP_id_cmp(OCSP_SINGLERESP_get0_id(OCSP_resp_get0(mixed_bs.get(), 1)), foreign_cid.get()),
      0);
  EXPECT_EQ(OCSP_single_get0_status(OCSP_resp_get0(mixed_bs.get(), 1), nullptr, nullptr, nullptr,
                                    nullptr),
            V_OCSP_CERTSTATUS_UNKNOWN);
  // OpenSSL's client refuses a delegated responder's answer about two issuers.
  EXPECT_NE(verify_response(*mixed_bs, false), 1);
  expect_code(sign_ocsp_response(responder(), {{foreign, {OcspStatus::Kind::kGood}}}, std::nullopt,
                                 clock_.now(), 1h),
              ErrorCode::kInvalidArgument);
  // A responder certificate without OCSPSigning (a server certificate).
  EVP_PKEY_up_ref(leaf.key.get());
  auto leaf_signer = keys::KeySigner::create(ossl::EvpPkeyPtr(leaf.key.get()));
  expect_code(sign_ocsp_response({**leaf_signer, leaf.cert, h_->issuing.cert}, good, std::nullopt,
                                 clock_.now(), 1h),
              ErrorCode::kInvalidArgument);
  // The wrong key behind the responder certificate.
  expect_code(sign_ocsp_response({*signer_, *responder_cert_, h_->issuing.cert}, good, std::nullopt,
                                 clock_.now(), 1h),
              ErrorCode::kCrypto);
  // Nothing to say, no validity, removeFromCRL.
  expect_code(sign_ocsp_response(responder(), {}, std::nullopt, clock_.now(), 1h),
              ErrorCode::kInvalidArgument);
  expect_code(sign_ocsp_response(responder(), good, std::nullopt, clock_.now(), 0s),
              ErrorCode::kInvalidArgument);
  expect_code(
      sign_ocsp_response(
          responder(),
          {{id,
            {OcspStatus::Kind::kRevoked, clock_.now(), x509::RevocationReason::kRemoveFromCrl}}},
          std::nullopt, clock_.now(), 1h),
      ErrorCode::kInvalidArgument);
  EXPECT_EQ(ERR_peek_error(), 0u) << "the OpenSSL error queue was left dirty";

  // revoked with reason unspecified: the reason is omitted, as on CRLs.
  auto unspecified = sign_ocsp_response(
      responder(),
      {{id, {OcspStatus::Kind::kRevoked, clock_.now(), x509::RevocationReason::kUnspecified}}},
      std::nullopt, clock_.now(), 1h);
  ASSERT_TRUE(unspecified);
  auto bs = decode(*unspecified);
  int reason = 0;
  ASN1_GENERALIZEDTIME* rev = nullptr;
  EXPECT_EQ(OCSP_single_get0_status(OCSP_resp_get0(bs.get(), 0), &reason, &rev, nullptr, nullptr),
            V_OCSP_CERTSTATUS_REVOKED);
  EXPECT_EQ(reason, OCSP_REVOKED_STATUS_NOSTATUS);
}

// An independent implementation: the openssl CLI builds the requests and
// checks the responses (signature, chain to the root, nonce, statuses).
TEST_P(OcspTest, OpenSslCliVerifiesResponses) {
  if (std::system("openssl version > /dev/null 2>&1") != 0) GTEST_SKIP() << "no openssl CLI";
  Leaf good = issue_leaf("good.internal");
  Leaf bad = issue_leaf("revoked.internal");
  ASSERT_TRUE(revoke(clock_, *inv_, bad.cert.serial(), x509::RevocationReason::kKeyCompromise));

  std::ofstream(dir_ / "issuing.pem") << h_->issuing.cert.pem();
  std::ofstream(dir_ / "chain.pem")
      << h_->root.cert.pem() << h_->intermediate.cert.pem() << h_->issuing.cert.pem();
  std::ofstream(dir_ / "good.pem") << good.cert.pem();
  std::ofstream(dir_ / "revoked.pem") << bad.cert.pem();
  const std::string d = dir_.string();
  auto run = [&](const std::string& cmd) {
    int rc = std::system((cmd + " > '" + d + "/out.txt' 2>&1").c_str());
    std::ifstream in(dir_ / "out.txt");
    std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << cmd << "\n" << out;
    return out;
  };

  for (const char* md : {"-sha1", "-sha256"}) {
    SCOPED_TRACE(md);
    run("openssl ocsp " + std::string(md) + " -issuer '" + d + "/issuing.pem' -cert '" + d +
        "/good.pem' -cert '" + d + "/revoked.pem' -serial 0x0123456789ABCDEF -reqout '" + d +
        "/req.der'");
    auto parsed = parse_ocsp_request(read_bytes(dir_ / "req.der"));
    ASSERT_TRUE(parsed) << parsed.error().describe();
    ASSERT_EQ(parsed->ids.size(), 3u);
    EXPECT_EQ(parsed->ids[0].hash,
              md == std::string("-sha1") ? OcspHash::kSha1 : OcspHash::kSha256);
    ASSERT_TRUE(parsed->nonce);  // the CLI sends one by default
    auto resp =
        sign_ocsp_response(responder(), entries_for(*parsed), parsed->nonce, clock_.now(), 1h);
    ASSERT_TRUE(resp) << resp.error().describe();
    write_bytes(dir_ / "resp.der", *resp);

    std::string out =
        run("openssl ocsp -respin '" + d + "/resp.der' -issuer '" + d + "/issuing.pem' -CAfile '" +
            d + "/chain.pem' -reqin '" + d + "/req.der' -resp_text");
    EXPECT_NE(out.find("Response verify OK"), std::string::npos) << out;
    EXPECT_NE(out.find("Cert Status: good"), std::string::npos) << out;
    EXPECT_NE(out.find("Cert Status: revoked"), std::string::npos) << out;
    EXPECT_NE(out.find("Revocation Reason: keyCompromise"), std::string::npos) << out;
    EXPECT_NE(out.find("Cert Status: unknown"), std::string::npos) << out;
    EXPECT_EQ(out.find("WARNING"), std::string::npos) << out;
    EXPECT_EQ(out.find("Nonce Verify error"), std::string::npos) << out;
  }
}

// --- parsing refusals on hand-built DER (no hierarchy needed) -------------

TEST(OcspParse, HandBuiltRequests) {
  // The baseline is accepted, so each refusal below is about its one change.
  auto ok = parse_ocsp_request(request_der({cert_id(kSha1Oid, 20)}));
  ASSERT_TRUE(ok) << ok.error().describe();
  EXPECT_EQ(ok->ids[0].serial.hex(), "0123");
  EXPECT_EQ(ok->ids[0].issuer_name_hash, Bytes(20, 0x11));
  EXPECT_EQ(ok->ids[0].issuer_key_hash, Bytes(20, 0x22));
  EXPECT_FALSE(ok->nonce);
  EXPECT_TRUE(parse_ocsp_request(request_der({cert_id(kSha256Oid, 32)})));
  // An explicit v1 is tolerated; a non-critical unknown extension ignored.
  EXPECT_TRUE(parse_ocsp_request(
      request_der({cert_id(kSha1Oid, 20)}, {}, tlv(0xA0, Bytes{0x02, 0x01, 0x00}))));
  EXPECT_TRUE(
      parse_ocsp_request(request_der({cert_id(kSha1Oid, 20)}, {extension(kOtherOid, kNull)})));

  const auto M = ErrorCode::kMalformedInput;
  EXPECT_EQ(parse_error(request_der({cert_id(kSha1Oid, 20)}, {extension(kOtherOid, kNull, true)})),
            M);                                                     // an unknown critical extension
  EXPECT_EQ(parse_error(request_der({})), M);                       // empty list
  EXPECT_EQ(parse_error(request_der({cert_id(kMd5Oid, 16)})), M);   // MD5
  EXPECT_EQ(parse_error(request_der({cert_id(kSha1Oid, 19)})), M);  // short hash
  EXPECT_EQ(parse_error(request_der({cert_id(kSha256Oid, 32, {0x01}, 20)})), M);     // key hash
  EXPECT_EQ(parse_error(request_der({cert_id(kSha1Oid, 20, {0xFF})})), M);           // negative
  EXPECT_EQ(parse_error(request_der({cert_id(kSha1Oid, 20, {0x00})})), M);           // zero
  EXPECT_EQ(parse_error(request_der({cert_id(kSha1Oid, 20, Bytes(21, 0x7F))})), M);  // > 20
  EXPECT_EQ(
      parse_error(request_der({cert_id(kSha1Oid, 20)}, {}, tlv(0xA0, Bytes{0x02, 0x01, 0x01}))),
      M);  // v2
  // BER, not DER: a non-minimal length, an indefinite length. (Explicit
  // DEFAULTs survive OpenSSL's round trip and are tolerated, see ocsp.h.)
  EXPECT_TRUE(parse_ocsp_request(
      request_der({cert_id(kSha1Oid, 20)}, {extension(kOtherOid, kNull, false)})));
  Bytes der = request_der({cert_id(kSha1Oid, 20)});
  Bytes long_form = {0x30, 0x81, static_cast<uint8_t>(der.size() - 2)};
  long_form.insert(long_form.end(), der.begin() + 2, der.end());
  Bytes indefinite = {0x30, 0x80};
  indefinite.insert(indefinite.end(), der.begin() + 2, der.end());
  indefinite.insert(indefinite.end(), {0x00, 0x00});
  EXPECT_EQ(parse_error(indefinite), M);
  EXPECT_EQ(parse_error(long_form), M);

  // Nonces: 1..128 octets, wrapped (RFC 9654) or raw; one at most.
  auto nonce_req = [](const Bytes& value) {
    return request_der({cert_id(kSha1Oid, 20)}, {extension(kNonceOid, value)});
  };
  auto one = parse_ocsp_request(nonce_req(tlv(0x04, Bytes(1, 0x01))));
  ASSERT_TRUE(one);
  EXPECT_EQ(*one->nonce, (Bytes{0x04, 0x01, 0x01}));
  EXPECT_TRUE(parse_ocsp_request(nonce_req(tlv(0x04, Bytes(128, 0x01)))));
  EXPECT_TRUE(parse_ocsp_request(nonce_req(Bytes(128, 0x01))));
  EXPECT_EQ(parse_error(nonce_req(tlv(0x04, {}))), M);
  EXPECT_EQ(parse_error(nonce_req({})), M);
  EXPECT_EQ(parse_error(nonce_req(tlv(0x04, Bytes(129, 0x01)))), M);
  EXPECT_EQ(parse_error(nonce_req(Bytes(129, 0x01))), M);
  Bytes nonce_ext = extension(kNonceOid, tlv(0x04, Bytes(16, 0x01)));
  EXPECT_EQ(parse_error(request_der({cert_id(kSha1Oid, 20)}, {nonce_ext, nonce_ext})), M);
}

TEST(OcspParse, GarbageNeverCrashes) {
  const auto M = ErrorCode::kMalformedInput;
  EXPECT_EQ(parse_error({}), M);
  EXPECT_EQ(parse_error({0x30}), M);
  EXPECT_EQ(parse_error({0x30, 0x00}), M);
  EXPECT_EQ(parse_error({0x30, 0x80, 0x00, 0x00}), M);
  const std::string text = "hello, OCSP";
  EXPECT_EQ(parse_error(Bytes(text.begin(), text.end())), M);
  uint64_t x = 0x9E3779B97F4A7C15ULL;
  for (int i = 0; i < 200; ++i) {
    Bytes junk(static_cast<size_t>(i) * 3 + 1);
    for (auto& b : junk) b = static_cast<uint8_t>((x = x * 6364136223846793005ULL + 1) >> 56);
    junk[0] = 0x30;  // get past the first tag check now and then
    EXPECT_FALSE(parse_ocsp_request(junk));
  }
  EXPECT_EQ(ERR_peek_error(), 0u) << "the OpenSSL error queue was left dirty";
}

TEST(OcspErrorResponse, DecodesWithItsStatus) {
  for (int status : {OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, OCSP_RESPONSE_STATUS_INTERNALERROR,
                     OCSP_RESPONSE_STATUS_TRYLATER, OCSP_RESPONSE_STATUS_SIGREQUIRED,
                     OCSP_RESPONSE_STATUS_UNAUTHORIZED}) {
    Bytes der = ocsp_error_response(status);
    EXPECT_FALSE(decode(der, status));
    // Byte for byte what OpenSSL encodes.
    ossl::OcspResponsePtr theirs(OCSP_response_create(status, nullptr));
    unsigned char* p = nullptr;
    int n = i2d_OCSP_RESPONSE(theirs.get(), &p);
    EXPECT_EQ(der, Bytes(p, p + n));
    OPENSSL_free(p);
  }
  for (int nonsense : {OCSP_RESPONSE_STATUS_SUCCESSFUL, 4, 7, -1, 1000}) {
    EXPECT_EQ(ocsp_error_response(nonsense),
              ocsp_error_response(OCSP_RESPONSE_STATUS_INTERNALERROR));
  }
}

TEST(OcspCacheTest, PutGetErase) {
  OcspCache cache;
  const Serial a = *Serial::parse("0A0B");
  const Serial b = *Serial::parse("7F01");
  EXPECT_EQ(cache.get(OcspHash::kSha1, a), nullptr);
  const TimePoint t{std::chrono::seconds(1'800'000'000)};
  auto r1 = make_cached_response(Bytes{1, 2, 3}, t, t + 1h);
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->etag.size(), 34u);
  EXPECT_EQ(r1->etag.front(), '"');
  EXPECT_EQ(r1->etag.back(), '"');
  const Bytes hash = *ossl::sha256(Bytes{1, 2, 3});
  EXPECT_EQ(r1->etag, "\"" + to_hex(std::span(hash).first(16), false) + "\"");
  EXPECT_NE(make_cached_response(Bytes{1, 2, 4}, t, t + 1h)->etag, r1->etag);

  cache.put(OcspHash::kSha1, a, *r1);
  cache.put(OcspHash::kSha256, a, *make_cached_response(Bytes{4}, t, t + 1h));
  cache.put(OcspHash::kSha1, b, *make_cached_response(Bytes{5}, t, t + 1h));
  EXPECT_EQ(cache.size(), 3u);
  auto got = cache.get(OcspHash::kSha1, a);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->der, (Bytes{1, 2, 3}));
  EXPECT_EQ(got->next_update, t + 1h);
  EXPECT_EQ(cache.get(OcspHash::kSha256, a)->der, Bytes{4});
  EXPECT_EQ(cache.get(OcspHash::kSha256, b), nullptr);

  // Replacing keeps the count; a reader's copy outlives the replacement.
  cache.put(OcspHash::kSha1, a, *make_cached_response(Bytes{9}, t + 1h, t + 2h));
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.get(OcspHash::kSha1, a)->der, Bytes{9});
  EXPECT_EQ(got->der, (Bytes{1, 2, 3}));

  cache.erase(a);  // both hashes
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.get(OcspHash::kSha1, a), nullptr);
  EXPECT_EQ(cache.get(OcspHash::kSha256, a), nullptr);
  cache.erase(a);  // absent: nothing happens
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_TRUE(cache.get(OcspHash::kSha1, b));
}

TEST(OcspCacheTest, ReadersAndWritersConcurrently) {
  OcspCache cache;
  std::vector<Serial> serials;
  for (int i = 1; i <= 64; ++i) serials.push_back(*Serial::from_bytes({static_cast<uint8_t>(i)}));
  const TimePoint t{std::chrono::seconds(1'800'000'000)};
  std::atomic<bool> stop{false};
  std::atomic<long> hits{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      do {  // at least one pass, after the writer if need be
        for (const auto& s : serials) {
          if (auto p = cache.get(OcspHash::kSha256, s)) {
            EXPECT_EQ(p->der, s.bytes());  // never a torn or foreign entry
            ++hits;
          }
        }
      } while (!stop.load());
    });
  }
  for (int round = 0; round < 200; ++round) {
    for (const auto& s : serials) cache.put(OcspHash::kSha256, s, {s.bytes(), t, t + 1h, "\"x\""});
    for (size_t i = 0; i < serials.size(); i += 2) cache.erase(serials[i]);
  }
  stop = true;
  for (auto& th : readers) th.join();
  EXPECT_EQ(cache.size(), serials.size() / 2);
  EXPECT_GT(hits.load(), 0);
}

}  // namespace
}  // namespace herald::ca
