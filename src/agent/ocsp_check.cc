#include "agent/ocsp_check.h"

#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "net/client.h"
#include "ossl/ossl.h"
#include "x509/certificate.h"

namespace herald::agent {

namespace {

constexpr auto kTimeout = std::chrono::seconds(5);
constexpr size_t kMaxResponse = 1 << 20;

}  // namespace

Result<OcspStatus> ocsp_status(const std::string& leaf_pem, const std::string& chain_pem,
                               const verify::Verifier& verifier, TimePoint now) {
  HERALD_TRY(auto leaves, x509::Certificate::from_pem(leaf_pem));
  HERALD_TRY(auto chain, x509::Certificate::from_pem(chain_pem));
  X509& leaf = leaves.front().x509();
  X509& issuer = chain.front().x509();

  std::string url;
  {
    STACK_OF(OPENSSL_STRING)* urls = X509_get1_ocsp(&leaf);
    for (int i = 0; urls && i < sk_OPENSSL_STRING_num(urls); ++i) {
      std::string u = sk_OPENSSL_STRING_value(urls, i);
      if (u.starts_with("http://")) {
        url = u;
        break;
      }
    }
    X509_email_free(urls);
  }
  if (url.empty()) {
    return make_error(ErrorCode::kNotFound, "the certificate names no http:// OCSP responder");
  }

  ossl::OcspCertIdPtr id(OCSP_cert_to_id(EVP_sha1(), &leaf, &issuer));
  ossl::OcspRequestPtr req(OCSP_REQUEST_new());
  if (!id || !req) return ossl::error(ErrorCode::kCrypto, "cannot build the OCSP request");
  OCSP_CERTID* id_copy = OCSP_CERTID_dup(id.get());
  if (!id_copy || !OCSP_request_add0_id(req.get(), id_copy)) {
    OCSP_CERTID_free(id_copy);
    return ossl::error(ErrorCode::kCrypto, "cannot build the OCSP request");
  }
  unsigned char* der = nullptr;
  int len = i2d_OCSP_REQUEST(req.get(), &der);
  if (len <= 0) return ossl::error(ErrorCode::kCrypto, "cannot encode the OCSP request");
  std::string body(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);

  HERALD_TRY(auto res,
             net::http_request("POST", url, {{"Content-Type", "application/ocsp-request"}}, body,
                               kTimeout, kMaxResponse));
  if (res.status != 200) {
    return make_error(ErrorCode::kIo, "OCSP " + url + ": HTTP " + std::to_string(res.status));
  }

  // The verification library judges the answer for the whole path.
  verify::Options o;
  o.at = now;
  o.ocsp_responses = {Bytes(res.body.begin(), res.body.end())};
  o.revocation = verify::RevocationPolicy::kSoft;
  std::vector<Bytes> intermediates;
  for (const auto& c : chain) intermediates.push_back(c.der());
  const auto r = verifier.verify(leaves.front().der(), intermediates, o);
  std::string unusable;
  for (const auto& f : r.findings) {
    if (f.code == "revoked" && f.depth == 0) return OcspStatus::kRevoked;  // revocation is final
    if (f.depth == 0 && f.code == "revocation_unavailable") unusable = f.found;
  }
  if (!r.valid) {
    const std::string why = r.findings.empty() ? "invalid" : r.findings.front().code + ": " + r.findings.front().found;
    return make_error(ErrorCode::kNotValid, "the certificate's path is not valid (" + why + ")");
  }
  if (!unusable.empty()) {
    if (unusable.find("unknown") != std::string::npos) return OcspStatus::kUnknown;
    return make_error(ErrorCode::kNotValid, "OCSP " + url + ": " + unusable);
  }
  return OcspStatus::kGood;
}

}  // namespace herald::agent
