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
                               const std::string& trust_pem, TimePoint now) {
  HERALD_TRY(auto leaves, x509::Certificate::from_pem(leaf_pem));
  HERALD_TRY(auto chain, x509::Certificate::from_pem(chain_pem));
  HERALD_TRY(auto anchors, x509::Certificate::from_pem(trust_pem));
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
  const auto* p = reinterpret_cast<const unsigned char*>(res.body.data());
  ossl::OcspResponsePtr resp(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(res.body.size())));
  if (!resp)
    return ossl::error(ErrorCode::kMalformedInput, "OCSP " + url + ": not an OCSP response");
  if (OCSP_response_status(resp.get()) != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
    return make_error(
        ErrorCode::kIo,
        "OCSP " + url + ": status " + OCSP_response_status_str(OCSP_response_status(resp.get())));
  }
  ossl::OcspBasicRespPtr basic(OCSP_response_get1_basic(resp.get()));
  if (!basic) return ossl::error(ErrorCode::kMalformedInput, "OCSP " + url + ": no basic response");

  std::unique_ptr<X509_STORE, ossl::Deleter<X509_STORE_free>> store(X509_STORE_new());
  ossl::X509StackPtr untrusted(sk_X509_new_null());
  if (!store || !untrusted) return ossl::error(ErrorCode::kCrypto, "cannot allocate a store");
  for (const auto& a : anchors) X509_STORE_add_cert(store.get(), &a.x509());
  for (const auto& c : chain) {
    X509_up_ref(&c.x509());
    sk_X509_push(untrusted.get(), &c.x509());
  }
  X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store.get()),
                             static_cast<time_t>(now.time_since_epoch().count()));
  if (OCSP_basic_verify(basic.get(), untrusted.get(), store.get(), 0) <= 0) {
    return ossl::error(ErrorCode::kBadSignature, "OCSP " + url + ": the response does not verify");
  }
  int status = -1, reason = 0;
  ASN1_GENERALIZEDTIME *rev = nullptr, *thisupd = nullptr, *nextupd = nullptr;
  if (OCSP_resp_find_status(basic.get(), id.get(), &status, &reason, &rev, &thisupd, &nextupd) !=
      1) {
    return make_error(ErrorCode::kMalformedInput,
                      "OCSP " + url + ": no status for this certificate in the response");
  }
  if (status == V_OCSP_CERTSTATUS_REVOKED) return OcspStatus::kRevoked;  // revocation is final
  ossl::Asn1TimePtr at(ASN1_TIME_set(nullptr, static_cast<time_t>(now.time_since_epoch().count())));
  // Current within 5 minutes of clock skew (compared with `now`, not the wall clock).
  if (at && thisupd && ASN1_TIME_compare(thisupd, at.get()) > 0) {
    ossl::Asn1TimePtr skew(
        ASN1_TIME_set(nullptr, static_cast<time_t>(now.time_since_epoch().count()) + 300));
    if (skew && ASN1_TIME_compare(thisupd, skew.get()) > 0) {
      return make_error(ErrorCode::kNotValid, "OCSP " + url + ": the response is not yet valid");
    }
  }
  if (at && nextupd && ASN1_TIME_compare(nextupd, at.get()) < 0) {
    return make_error(ErrorCode::kNotValid, "OCSP " + url + ": the response is stale");
  }
  return status == V_OCSP_CERTSTATUS_GOOD ? OcspStatus::kGood : OcspStatus::kUnknown;
}

}  // namespace herald::agent
