// Issuance from a CSR, in process, next to the physical limits measured in
// the same run. See docs/benchmarks.md for results and how to run.
//
//   raw/p256_sign, raw/p256_verify   the signature primitives (the floor)
//   naive/openssl_issue              d2i_X509_REQ + X509_REQ_verify + X509_set_pubkey
//                                    + extensions + X509_sign + i2d_X509: the obvious
//                                    OpenSSL API path, as a peer
//   herald/parse_csr, verify_csr     the stages of Herald's pipeline
//   herald/issue_from_csr            parse + verify + policy + profile + build + lint
//                                    + sign (P-256 issuing key) + DER, no store
//   herald/issue_from_csr_sqlite     the same, durably recorded (SQLite, synchronous=FULL)

#include <benchmark/benchmark.h>

#include <filesystem>
#include <memory>
#include <vector>

#include "ca/authority.h"
#include "ca/hierarchy.h"
#include "keys/private_key.h"
#include "store/sqlite/sqlite_inventory.h"
#include "x509/csr.h"
#include "x509/test_csr.h"

namespace herald {
namespace {

// An inventory that keeps nothing: measures the pipeline without storage.
class NullInventory final : public store::Inventory {
 public:
  Status insert(const store::CertRecord&) override { return {}; }
  Status insert_batch(std::span<const store::CertRecord>) override { return {}; }
  Result<std::optional<store::CertRecord>> find(const Serial&) override { return std::nullopt; }
  Result<std::optional<store::RevocationState>> revocation_state(const Serial&) override {
    return std::optional<store::RevocationState>{};
  }
  Result<int64_t> count_expiring(TimePoint, TimePoint) override { return 0; }
  Result<std::optional<store::CertStatus>> status(const Serial&) override {
    return store::CertStatus::kValid;
  }
  Result<std::vector<store::CertRecord>> list(const store::ListFilter&) override {
    return std::vector<store::CertRecord>{};
  }
  Status revoke(const Serial&, x509::RevocationReason, TimePoint) override { return {}; }
  Status release_hold(const Serial&) override { return {}; }
  Result<std::vector<x509::RevokedEntry>> revoked_by(const Serial&, TimePoint) override {
    return std::vector<x509::RevokedEntry>{};
  }
  Result<uint64_t> next_crl_number(std::string_view) override { return 1; }
  Result<int64_t> count() override { return 0; }
  Result<std::vector<store::RevocationEvent>> revocations_since(int64_t, size_t) override {
    return std::vector<store::RevocationEvent>{};
  }
  Result<int64_t> last_revocation_id() override { return 0; }
};

struct Fixture {
  SystemClock clock;
  std::unique_ptr<ca::Hierarchy> hierarchy;
  std::unique_ptr<keys::KeySigner> signer;
  policy::Config config;
  std::vector<Bytes> csrs;  // distinct P-256 keys, CN + DNS SAN
  Bytes tbs_like;           // ~ a leaf's TBS size, for the raw sign rate
  Bytes raw_signature;

  Fixture() {
    config.policy = policy::default_policy();
    config.ca.base_url = "http://127.0.0.1:8080";
    hierarchy = std::make_unique<ca::Hierarchy>(std::move(*ca::create_hierarchy(clock, {})));
    EVP_PKEY_up_ref(hierarchy->issuing.key.get());
    signer = std::move(*keys::KeySigner::create(ossl::EvpPkeyPtr(hierarchy->issuing.key.get())));
    for (int i = 0; i < 64; ++i) {
      auto key = keys::generate_key(keys::KeyType::kEcP256);
      std::string cn = "svc" + std::to_string(i) + ".internal";
      csrs.push_back(x509::testing::make_csr_der(**key, {.cn = cn, .sans = "DNS:" + cn}));
    }
    tbs_like.assign(420, 0x5A);
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

void BM_RawP256Sign(benchmark::State& state) {
  auto& f = fixture();
  ossl::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  uint8_t sig[80];
  for (auto _ : state) {
    size_t len = sizeof sig;
    EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, f.hierarchy->issuing.key.get());
    EVP_DigestSign(ctx.get(), sig, &len, f.tbs_like.data(), f.tbs_like.size());
    benchmark::DoNotOptimize(sig);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawP256Sign)->Name("raw/p256_sign")->Threads(1)->Threads(2)->UseRealTime();

void BM_RawP256Verify(benchmark::State& state) {
  auto& f = fixture();
  ossl::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  uint8_t sig[80];
  size_t len = sizeof sig;
  EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, f.hierarchy->issuing.key.get());
  EVP_DigestSign(ctx.get(), sig, &len, f.tbs_like.data(), f.tbs_like.size());
  for (auto _ : state) {
    EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, f.hierarchy->issuing.key.get());
    if (EVP_DigestVerify(ctx.get(), sig, len, f.tbs_like.data(), f.tbs_like.size()) != 1)
      state.SkipWithError("verify");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawP256Verify)->Name("raw/p256_verify")->Threads(1)->Threads(2)->UseRealTime();

// The obvious OpenSSL API path, as a peer.
void BM_NaiveOpenSslIssue(benchmark::State& state) {
  auto& f = fixture();
  X509& issuer = f.hierarchy->issuing.cert.x509();
  size_t i = static_cast<size_t>(state.thread_index()) * 7;
  for (auto _ : state) {
    const Bytes& der = f.csrs[i++ % f.csrs.size()];
    const unsigned char* p = der.data();
    ossl::X509ReqPtr req(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
    EVP_PKEY* pub = X509_REQ_get0_pubkey(req.get());
    if (X509_REQ_verify(req.get(), pub) != 1) state.SkipWithError("csr verify");
    ossl::X509Ptr x(X509_new());
    X509_set_version(x.get(), X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x.get()), static_cast<long>(i));
    X509_set_subject_name(x.get(), X509_REQ_get_subject_name(req.get()));
    X509_set_issuer_name(x.get(), X509_get_subject_name(&issuer));
    X509_gmtime_adj(X509_getm_notBefore(x.get()), 0);
    X509_gmtime_adj(X509_getm_notAfter(x.get()), 86400 * 90);
    X509_set_pubkey(x.get(), pub);
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, &issuer, x.get(), nullptr, nullptr, 0);
    for (auto [nid, value] :
         {std::pair{NID_basic_constraints, "critical,CA:FALSE"},
          std::pair{NID_key_usage, "critical,digitalSignature"},
          std::pair{NID_ext_key_usage, "serverAuth"}, std::pair{NID_subject_key_identifier, "hash"},
          std::pair{NID_authority_key_identifier, "keyid"},
          std::pair{NID_subject_alt_name, "DNS:svc.internal"}}) {
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
      X509_add_ext(x.get(), ext, -1);
      X509_EXTENSION_free(ext);
    }
    X509_sign(x.get(), f.hierarchy->issuing.key.get(), EVP_sha256());
    unsigned char* out = nullptr;
    int len = i2d_X509(x.get(), &out);
    benchmark::DoNotOptimize(len);
    OPENSSL_free(out);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_NaiveOpenSslIssue)->Name("naive/openssl_issue")->Threads(1)->Threads(2)->UseRealTime();

void BM_ParseCsr(benchmark::State& state) {
  auto& f = fixture();
  size_t i = 0;
  for (auto _ : state) {
    auto csr = x509::parse_csr(f.csrs[i++ % f.csrs.size()]);
    benchmark::DoNotOptimize(csr);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseCsr)->Name("herald/parse_csr");

void BM_ParseD2iReq(benchmark::State& state) {
  auto& f = fixture();
  size_t i = 0;
  for (auto _ : state) {
    const Bytes& der = f.csrs[i++ % f.csrs.size()];
    const unsigned char* p = der.data();
    ossl::X509ReqPtr req(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
    benchmark::DoNotOptimize(req);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseD2iReq)->Name("naive/d2i_x509_req");

void BM_VerifyCsr(benchmark::State& state) {
  auto& f = fixture();
  auto csr = x509::parse_csr(f.csrs[0]);
  for (auto _ : state) {
    if (!x509::verify_csr_signature(*csr)) state.SkipWithError("verify");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VerifyCsr)->Name("herald/verify_csr");

void BM_IssueFromCsr(benchmark::State& state) {
  auto& f = fixture();
  NullInventory inv;
  ca::Authority authority(f.clock, inv, f.config, *f.signer, f.hierarchy->issuing.cert,
                          f.hierarchy->intermediate.cert.serial());
  size_t i = static_cast<size_t>(state.thread_index()) * 7;
  for (auto _ : state) {
    auto csr = x509::parse_csr(f.csrs[i++ % f.csrs.size()]);
    auto issued = authority.sign_csr(*csr, policy::Profile::kServer, std::nullopt, {});
    if (!issued) state.SkipWithError(issued.error().describe().c_str());
    benchmark::DoNotOptimize(issued);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_IssueFromCsr)->Name("herald/issue_from_csr")->Threads(1)->Threads(2)->UseRealTime();

void BM_IssueFromCsrSqlite(benchmark::State& state) {
  auto& f = fixture();
  auto dir =
      std::filesystem::temp_directory_path() / ("herald-bench-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto inv = store::SqliteInventory::open(dir / "herald.db", store::OpenMode::kCreate, f.clock);
  ca::Authority authority(f.clock, **inv, f.config, *f.signer, f.hierarchy->issuing.cert,
                          f.hierarchy->intermediate.cert.serial());
  size_t i = 0;
  for (auto _ : state) {
    auto csr = x509::parse_csr(f.csrs[i++ % f.csrs.size()]);
    auto issued = authority.sign_csr(*csr, policy::Profile::kServer, std::nullopt, {});
    if (!issued) state.SkipWithError(issued.error().describe().c_str());
  }
  state.SetItemsProcessed(state.iterations());
  inv->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_IssueFromCsrSqlite)->Name("herald/issue_from_csr_sqlite_durable");

}  // namespace
}  // namespace herald

BENCHMARK_MAIN();
