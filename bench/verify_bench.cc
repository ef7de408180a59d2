// Chain verification throughput (issue #10): a TLS server verifying the
// chain a peer presents (leaf + issuing CA + intermediate CA, DER) for a
// host name against Herald's root, on 1 and 2 threads.
//
//   peer-parse      d2i_X509 of every presented certificate + X509_verify_cert
//                   (X509_STRICT, SSL server purpose, the host name; the root
//                   pre-loaded in a shared X509_STORE)
//   peer-preparsed  X509_verify_cert on certificates parsed beforehand
//   verify()        herald::verify::verify, parsing and checking everything
//   Verifier/new    herald::verify::Verifier, every chain a leaf it has never
//                   seen (intermediates and signatures by them cached; the
//                   leaf step without OpenSSL parsing the leaf: fast_leaf.h)
//   Verifier/seen   the same, leaves drawn from 1,000 it has seen (clients
//                   reconnecting)
//
// One chain in eight asks for a host name the leaf does not carry: every
// verdict is checked (valid exactly when the name is right), and one chain
// in sixteen of each Verifier run is also checked against verify()'s
// findings. Any disagreement exits non-zero.
//
// Usage: verify_bench [--chains N]   (release build; see docs/benchmarks.md)

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "ca/hierarchy.h"
#include "ossl/ossl.h"
#include "verify/verify.h"

namespace herald {
namespace {

Bytes der_of(X509* x) {
  unsigned char* p = nullptr;
  const int n = i2d_X509(x, &p);
  Bytes out(p, p + n);
  OPENSSL_free(p);
  return out;
}

// A server leaf like Herald's server profile: P-256, 24 h, SAN DNS,
// serverAuth, digitalSignature, SKI/AKI.
Bytes make_leaf(const ca::CaMaterial& issuer, EVP_PKEY* leaf_key, int i, TimePoint now) {
  X509* x = X509_new();
  X509_set_version(x, 2);
  BIGNUM* bn = BN_new();
  BN_rand(bn, 120, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
  BN_free(bn);
  time_t t = static_cast<time_t>(now.time_since_epoch().count());
  X509_time_adj_ex(X509_getm_notBefore(x), 0, -60, &t);
  X509_time_adj_ex(X509_getm_notAfter(x), 1, 0, &t);
  X509_NAME* name = X509_NAME_new();
  const std::string cn = "svc" + std::to_string(i) + ".internal";
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()),
                             -1, -1, 0);
  X509_set_subject_name(x, name);
  X509_NAME_free(name);
  X509_set_issuer_name(x, X509_get_subject_name(&issuer.cert.x509()));
  X509_set_pubkey(x, leaf_key);
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, &issuer.cert.x509(), x, nullptr, nullptr, 0);
  const std::string san = "DNS:" + cn;
  for (auto [nid, value] : std::vector<std::pair<int, std::string>>{
           {NID_basic_constraints, "critical,CA:FALSE"},
           {NID_key_usage, "critical,digitalSignature"},
           {NID_ext_key_usage, "serverAuth"},
           {NID_subject_alt_name, san},
           {NID_subject_key_identifier, "hash"},
           {NID_authority_key_identifier, "keyid"}}) {
    X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
  }
  X509_sign(x, issuer.key.get(), EVP_sha256());
  Bytes der = der_of(x);
  X509_free(x);
  return der;
}

X509* d2i(const Bytes& der) {
  const unsigned char* p = der.data();
  return d2i_X509(nullptr, &p, static_cast<long>(der.size()));
}

struct Fixture {
  std::vector<Bytes> leaves;
  std::vector<std::string> hosts;  // the name asked for chain i
  std::vector<bool> expect_valid;
  Bytes issuing, intermediate, root;
  TimePoint now;
};

bool peer_verify(X509_STORE* store, X509* leaf, X509* issuing, X509* intermediate, const std::string& host) {
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  sk_X509_push(untrusted, issuing);
  sk_X509_push(untrusted, intermediate);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, untrusted);
  X509_VERIFY_PARAM* p = X509_STORE_CTX_get0_param(ctx);
  X509_VERIFY_PARAM_set_flags(p, X509_V_FLAG_X509_STRICT);
  X509_VERIFY_PARAM_set_purpose(p, X509_PURPOSE_SSL_SERVER);
  X509_VERIFY_PARAM_set_hostflags(p, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
  X509_VERIFY_PARAM_set1_host(p, host.c_str(), 0);
  const bool ok = X509_verify_cert(ctx) == 1;
  X509_STORE_CTX_free(ctx);
  sk_X509_free(untrusted);
  ERR_clear_error();
  return ok;
}

verify::Options options_for(const Fixture& f, size_t i) {
  verify::Options o;
  o.at = f.now;
  o.purpose = verify::Purpose::kServer;
  o.dns_name = f.hosts[i];
  return o;
}

std::string codes(const verify::Result& r) {
  std::string out = r.valid ? "valid" : "invalid";
  for (const auto& x : r.findings) out += " " + x.code;
  return out;
}

std::atomic<int> g_wrong{0};

// Runs `work(i)` for i in [0, n) on `threads` threads; returns chains/s.
double run(int threads, size_t n, const std::function<void(size_t)>& work) {
  std::atomic<size_t> next{0};
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (size_t i = next++; i < n; i = next++) work(i);
    });
  }
  for (auto& t : pool) t.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return static_cast<double>(n) / s;
}

}  // namespace
}  // namespace herald

int main(int argc, char** argv) {
  using namespace herald;
  size_t chains = 20000;
  std::string only;  // run one mode (for profiling)
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--chains") == 0) chains = std::stoul(argv[i + 1]);
    if (std::strcmp(argv[i], "--only") == 0) only = argv[i + 1];
  }
  SystemClock clock;
  auto h = ca::create_hierarchy(clock, {});
  if (!h) {
    std::fprintf(stderr, "hierarchy: %s\n", h.error().describe().c_str());
    return 1;
  }
  Fixture f;
  f.now = clock.now();
  f.issuing = h->issuing.cert.der();
  f.intermediate = h->intermediate.cert.der();
  f.root = h->root.cert.der();
  EVP_PKEY* leaf_key = EVP_EC_gen("P-256");
  // Two fresh sets of leaves (the peer and each Verifier/new run must not
  // see a leaf twice), generated before timing.
  const size_t total = 2 * chains;
  for (size_t i = 0; i < total; ++i) {
    f.leaves.push_back(make_leaf(h->issuing, leaf_key, static_cast<int>(i), f.now));
    const bool right = i % 8 != 7;
    f.hosts.push_back(right ? "svc" + std::to_string(i) + ".internal" : "other.internal");
    f.expect_valid.push_back(right);
  }
  EVP_PKEY_free(leaf_key);

  X509* root = d2i(f.root);
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, root);
  X509_free(root);

  std::printf("# %zu chains per run (leaf + issuing + intermediate, P-256, root as anchor), %s, %u cores\n",
              chains, OpenSSL_version(OPENSSL_VERSION), std::thread::hardware_concurrency());
  std::printf("%-16s %8s %12s %12s\n", "mode", "threads", "chains/s", "vs peer-parse");

  for (int threads : {1, 2}) {
    // The peer's parsing path.
    auto want = [&](const char* mode) { return only.empty() || only == mode; };
    const double peer = !want("peer-parse") ? 1 : run(threads, chains, [&](size_t i) {
      X509* leaf = d2i(f.leaves[i]);
      X509* issuing = d2i(f.issuing);
      X509* intermediate = d2i(f.intermediate);
      if (peer_verify(store, leaf, issuing, intermediate, f.hosts[i]) != f.expect_valid[i]) ++g_wrong;
      X509_free(leaf);
      X509_free(issuing);
      X509_free(intermediate);
    });
    std::printf("%-16s %8d %12.0f %12s\n", "peer-parse", threads, peer, "1.00x");

    // Pre-parsed (the peer's ceiling without parsing).
    std::vector<X509*> parsed;
    for (size_t i = 0; i < chains; ++i) parsed.push_back(d2i(f.leaves[i]));
    X509* issuing = d2i(f.issuing);
    X509* intermediate = d2i(f.intermediate);
    const double pre = !want("peer-preparsed") ? 0 : run(threads, chains, [&](size_t i) {
      if (peer_verify(store, parsed[i], issuing, intermediate, f.hosts[i]) != f.expect_valid[i]) ++g_wrong;
    });
    for (auto* x : parsed) X509_free(x);
    X509_free(issuing);
    X509_free(intermediate);
    std::printf("%-16s %8d %12.0f %11.2fx\n", "peer-preparsed", threads, pre, pre / peer);

    const std::vector<Bytes> presented{f.issuing, f.intermediate};
    const double reference = !want("verify()") ? 0 : run(threads, chains / 4, [&](size_t i) {
      if (verify::verify(f.leaves[i], presented, {f.root}, options_for(f, i)).valid != f.expect_valid[i]) ++g_wrong;
    });
    std::printf("%-16s %8d %12.0f %11.2fx\n", "verify()", threads, reference, reference / peer);

    // Every chain a new leaf (the second half of the leaves: never seen).
    verify::Verifier fresh({f.root});
    std::vector<std::string> got(chains);
    const double fresh_rate = !want("Verifier/new") ? 0 : run(threads, chains, [&](size_t k) {
      const size_t i = chains + k;
      auto r = fresh.verify(f.leaves[i], presented, options_for(f, i));
      if (r.valid != f.expect_valid[i]) ++g_wrong;
      if (k % 16 == 0) got[k] = codes(r);
    });
    for (size_t k = 0; want("Verifier/new") && k < chains; k += 16) {
      const size_t i = chains + k;
      if (got[k] != codes(verify::verify(f.leaves[i], presented, {f.root}, options_for(f, i)))) ++g_wrong;
    }
    std::printf("%-16s %8d %12.0f %11.2fx   (%llu of %zu leaves by the fast leaf step)\n", "Verifier/new",
                threads, fresh_rate, fresh_rate / peer,
                static_cast<unsigned long long>(fresh.stats().fast_leaves), chains);

    // Leaves from a working set of 1,000 seen before.
    verify::Verifier warm({f.root});
    for (size_t i = 0; want("Verifier/seen") && i < 1000; ++i) (void)warm.verify(f.leaves[i], presented, options_for(f, i));
    const double seen_rate = !want("Verifier/seen") ? 0 : run(threads, chains, [&](size_t k) {
      const size_t i = k % 1000;
      auto r = warm.verify(f.leaves[i], presented, options_for(f, i));
      if (r.valid != f.expect_valid[i]) ++g_wrong;
      if (k % 16 == 0) got[k] = codes(r);
    });
    for (size_t k = 0; want("Verifier/seen") && k < chains; k += 16) {
      const size_t i = k % 1000;
      if (got[k] != codes(verify::verify(f.leaves[i], presented, {f.root}, options_for(f, i)))) ++g_wrong;
    }
    std::printf("%-16s %8d %12.0f %11.2fx\n", "Verifier/seen", threads, seen_rate, seen_rate / peer);
  }
  // The floor for a chain with a leaf never seen, on one core: OpenSSL
  // parsing the leaf (d2i_X509, which decodes its public key through the
  // provider decoders) and one ECDSA P-256 verification by its issuer.
  {
    const size_t n = std::min<size_t>(chains, 4000);
    X509* issuing = d2i(f.issuing);
    EVP_PKEY* key = X509_get0_pubkey(issuing);
    std::vector<X509*> parsed(n);
    auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < n; ++i) parsed[i] = d2i(f.leaves[i]);
    auto t1 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < n; ++i) {
      if (X509_verify(parsed[i], key) != 1) ++g_wrong;
    }
    auto t2 = std::chrono::steady_clock::now();
    const double parse_us = std::chrono::duration<double, std::micro>(t1 - t0).count() / static_cast<double>(n);
    const double sig_us = std::chrono::duration<double, std::micro>(t2 - t1).count() / static_cast<double>(n);
    for (auto* x : parsed) X509_free(x);
    X509_free(issuing);
    std::printf("floor per new leaf when OpenSSL parses it, one core: d2i_X509 %.1f us + P-256 verify %.1f us = "
                "%.1f us -> at most %.0f chains/s per core\n",
                parse_us, sig_us, parse_us + sig_us, 1e6 / (parse_us + sig_us));
  }
  X509_STORE_free(store);
  if (g_wrong > 0) {
    std::printf("FAIL: %d verdicts wrong or different from verify()\n", g_wrong.load());
    return 1;
  }
  std::printf("all verdicts checked: correct\n");
  return 0;
}
