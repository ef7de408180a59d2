#include "verify/revocation.h"

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include "verify/finding_util.h"

namespace herald::verify::detail {

RevocationSources parse_sources(const Options& options, std::vector<Finding>& out) {
  RevocationSources s;
  for (size_t i = 0; i < options.crls.size(); ++i) {
    const unsigned char* p = options.crls[i].data();
    X509_CRL* c = d2i_X509_CRL(nullptr, &p, static_cast<long>(options.crls[i].size()));
    ERR_clear_error();
    if (c) {
      s.crls.emplace_back(c);
    } else {
      Finding f = finding("malformed_crl", -1, nullptr, "a DER CRL",
                          "CRL #" + std::to_string(i + 1) + " does not parse",
                          "revocation cannot be checked with it");
      f.severity = Severity::kWarning;
      out.push_back(std::move(f));
    }
  }
  return s;
}

// Interim: the path's CRLs checked by OpenSSL (CRL_CHECK_ALL), as before
// revocation had a module of its own.
void check_revocation(const std::vector<X509*>& path, const RevocationSources& sources,
                      const Options& options, std::vector<Finding>& out) {
  std::unique_ptr<X509_STORE, ossl::Deleter<X509_STORE_free>> store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), path.back());
  for (const auto& crl : sources.crls) X509_STORE_add_crl(store.get(), crl.get());
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  for (size_t i = 1; i + 1 < path.size(); ++i) sk_X509_push(untrusted, path[i]);
  std::unique_ptr<X509_STORE_CTX, ossl::Deleter<X509_STORE_CTX_free>> ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), path.front(), untrusted);
  X509_VERIFY_PARAM* p = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_flags(p, X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_CRL_CHECK |
                                     X509_V_FLAG_CRL_CHECK_ALL | X509_V_FLAG_X509_STRICT);
  X509_VERIFY_PARAM_set_time(p, options.at.time_since_epoch().count());
  const int ok = X509_verify_cert(ctx.get());
  ERR_clear_error();
  sk_X509_free(untrusted);
  if (ok == 1) return;
  const int err = X509_STORE_CTX_get_error(ctx.get());
  const int depth = X509_STORE_CTX_get_error_depth(ctx.get());
  X509* x = X509_STORE_CTX_get_current_cert(ctx.get());
  if (err == X509_V_ERR_CERT_REVOKED) {
    out.push_back(finding("revoked", depth, x, "not revoked", "on the issuer's CRL",
                          depth == 0 ? "issue a new certificate" : "the CA was revoked"));
  } else {
    Finding f = finding("revocation_unavailable", depth, x, "a current CRL from its issuer",
                        X509_verify_cert_error_string(err), "fetch the issuer's current CRL");
    if (options.revocation == RevocationPolicy::kSoft) f.severity = Severity::kWarning;
    out.push_back(std::move(f));
  }
}

}  // namespace herald::verify::detail
