#pragma once
// Fetching what certificates point at for revocation: the CRLs named in
// their CRL distribution points, and OCSP responses from the responders
// named in their AIA. `herald verify --crl-fetch / --ocsp` and `herald
// proxy` use it; this is I/O at the edge, and the library (src/verify,
// pure) judges what was fetched.
//
// Only the http:// URLs written in the certificates of the built path are
// dialled (CRLs and OCSP travel over plain HTTP: RFC 5280 §4.2.1.13, RFC
// 6960 Appendix A.1); other schemes are skipped with a note; no redirect is
// followed; each request must connect within kFetchTimeout and be answered
// within kFetchTimeout; bodies are capped (kMaxCrlBytes, kMaxOcspBytes); at
// most kMaxUrlsPerCertificate URLs are tried per certificate. A failure is
// a warning finding ("revocation_fetch_failed") naming the URL and the
// reason, never an error of the command.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "base/encoding.h"
#include "verify/verify.h"

namespace herald::fetch {

constexpr std::chrono::seconds kFetchTimeout{5};
constexpr size_t kMaxCrlBytes = 10 << 20;
constexpr size_t kMaxOcspBytes = 1 << 20;
constexpr size_t kMaxUrlsPerCertificate = 4;
constexpr size_t kOcspNonceBytes = 32;  // RFC 9654 §2.1: at least 32 octets recommended

struct Fetched {
  std::vector<Bytes> crls;            // DER
  std::vector<Bytes> ocsp_responses;  // DER
  std::optional<Bytes> nonce;         // the nonce octets sent in every OCSP request
  std::vector<std::string> log;       // what was fetched: "CRL http://... (812 bytes)"
  std::vector<verify::Finding> problems;
};

struct FetchWhat {
  bool crls = false;  // every non-anchor certificate's CDP
  // Every non-anchor certificate's OCSP responder (AIA), POST with a nonce;
  // a certificate that names no http:// responder has its CRL fetched
  // instead (Herald's CA certificates carry only a CDP).
  bool ocsp = false;
};

// `chain`: the path verify() built, leaf first, trust anchor last (DER).
[[nodiscard]] Fetched fetch_revocation(const std::vector<Bytes>& chain, FetchWhat what);

// The pieces, for callers that cache per URL (the proxy):
// every URI of the certificate's CRL distribution points / OCSP responders
// (any scheme; only http:// ones are fetched), empty for a malformed one.
[[nodiscard]] std::vector<std::string> crl_urls(const Bytes& cert_der);
[[nodiscard]] std::vector<std::string> ocsp_urls(const Bytes& cert_der);
[[nodiscard]] bool is_http(const std::string& url);
// GET one CRL (DER, or the first of a PEM file); errors name the URL's
// problem (connection, HTTP status, not a CRL).
[[nodiscard]] Result<Bytes> fetch_crl(const std::string& url);
// POST an OCSP request (SHA-1 CertID, no nonce: the answer may be cached
// and shared) about `cert` issued by `issuer`; the DER OCSPResponse.
[[nodiscard]] Result<Bytes> fetch_ocsp(const Bytes& cert_der, const Bytes& issuer_der,
                                       const std::string& url);

}  // namespace herald::fetch
