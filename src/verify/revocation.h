#pragma once
// Revocation of the certificates of a built path: RFC 5280 §6.3 (CRLs) and
// RFC 6960 (OCSP responses), under Options::revocation. Pure, like verify.h:
// the CRLs and responses are handed in, nothing is fetched, no clock is read
// (Options::at is the time). Internal to src/verify: callers set
// Options.{crls, ocsp_responses, ocsp_nonce, revocation} and call verify().
//
// Every certificate of the path except the trust anchor is checked, each
// against the next certificate of the path as its issuer. A certificate is
// "covered" by a usable CRL or a usable OCSP response; a revoked entry in
// either is an error finding `revoked` (reason name and date in `found`).
// A certificate that nothing covers gets `revocation_unavailable`: an error
// under kHard, a warning under kSoft. Every CRL or response that was
// rejected for a certificate gets a warning (`crl_unusable`,
// `ocsp_unusable`) saying why, and the reasons are repeated in the
// `revocation_unavailable` finding (an invalid result keeps only its first
// error).
//
// A CRL is usable for a certificate when (RFC 5280 §6.3.3):
// - its issuer name equals the certificate's issuer name (indirect CRLs are
//   not supported: an issuingDistributionPoint with indirectCRL, or an entry
//   with certificateIssuer, makes the CRL unusable);
// - its signature verifies with the key of the path's issuer, and that
//   issuer, when it has a keyUsage extension, asserts cRLSign (a CA without
//   keyUsage may sign CRLs: x509-limbo crl::issuer-no-keyusage-extension);
// - thisUpdate <= at <= nextUpdate; a CRL without nextUpdate is not usable
//   (RFC 5280 §5.1.2.5: conforming CRL issuers MUST include it);
// - it carries a CRL number (§5.2.3: MUST; limbo crl::crlnumber-missing);
// - it has no critical CRL or entry extension Herald does not understand
//   (understood: CRL number, AKI, issuer alt name, issuingDistributionPoint;
//   reasonCode, invalidityDate on entries), and is not a delta CRL (delta
//   CRLs are not supported: one given alone leaves the certificate uncovered,
//   with a finding saying so);
// - its issuingDistributionPoint, if any, covers the certificate:
//   onlyContainsUserCerts / onlyContainsCACerts matching the certificate's
//   basicConstraints, no onlyContainsAttributeCerts, no onlySomeReasons (a
//   partial CRL does not cover every reason and partial CRLs are not
//   combined), and a distributionPoint name equal to one of the
//   certificate's CRL distribution point names when both are present (RFC
//   5280 §6.3.3 (b)(2)(i)); a certificate distribution point limited to some
//   reasons, or naming a cRLIssuer, is not served either.
// An entry with the certificate's serial means revoked (removeFromCRL: not
// revoked; certificateHold: revoked, on hold). A CRL that is authentic but
// not current (the time checks above) cannot show a certificate is good,
// but an entry on it other than certificateHold still means revoked:
// revocation is final (RFC 5280 §3.3), so a stale CRL cannot un-revoke a
// certificate under kSoft.
//
// An OCSP response is usable for a certificate when (RFC 6960):
// - responseStatus is successful and it holds a BasicOCSPResponse;
// - one of its SingleResponses has a CertID naming the certificate: the
//   serial, and issuerNameHash / issuerKeyHash computed from the path's
//   issuer in the CertID's own hash algorithm (any digest OpenSSL knows);
// - it is signed by the issuer itself, or by a delegated responder
//   certificate included in the response that the issuer signed, that
//   carries the id-kp-OCSPSigning EKU and is valid at `at` (§4.2.2.2);
//   responderID must name the signer (byName or byKey);
// - thisUpdate <= at + 5 min (clock skew); nextUpdate >= at when present;
//   when nextUpdate is absent (§4.2.2.1: "newer information is always
//   available") the response is accepted only if thisUpdate is at most
//   7 days before `at`;
// - when Options::ocsp_nonce is set, the response carries the nonce
//   extension and its extnValue equals the nonce, either as given or as the
//   content of the DER OCTET STRING there (RFC 9654 §2.1);
// - it has no critical response or single extension other than the nonce.
// good covers the certificate, revoked is an error `revoked`, unknown
// leaves it uncovered (with an `ocsp_unusable` warning). As for CRLs, an
// authentic revoked status (signature, signer and critical extensions
// checked) counts whatever its times or nonce, except certificateHold.
//
// Bad input: at most kMaxRevocationSources CRLs and as many responses are
// looked at, at most kMaxSingleResponses SingleResponses per response;
// every parse is OpenSSL's DER decoder; nothing loops on the input beyond
// one pass over its entries.

#include <openssl/ocsp.h>
#include <openssl/x509.h>

#include <memory>
#include <vector>

#include "ossl/ossl.h"
#include "verify/verify.h"

namespace herald::verify::detail {

constexpr size_t kMaxRevocationSources = 64;  // CRLs, and OCSP responses, per verify()
constexpr int kMaxSingleResponses = 256;      // per OCSP response

struct ParsedOcsp {
  ossl::OcspResponsePtr response;
  ossl::OcspBasicRespPtr basic;  // null unless successful with a BasicOCSPResponse
  int status = -1;               // responseStatus
};

// The CRLs and OCSP responses of Options, parsed once per verify() call.
// index: the 1-based position in Options, for findings.
struct RevocationSources {
  std::vector<ossl::X509CrlPtr> crls;
  std::vector<size_t> crl_index;
  std::vector<ParsedOcsp> ocsp;
  std::vector<size_t> ocsp_index;
};

// Parses options.crls and options.ocsp_responses; each one that does not
// parse (or has trailing bytes) becomes a warning finding ("malformed_crl",
// "malformed_ocsp_response") in `out` and is left out, as are those beyond
// kMaxRevocationSources. Nothing is parsed under RevocationPolicy::kOff.
RevocationSources parse_sources(const Options& options, std::vector<Finding>& out);

// Checks every certificate of `path` (leaf first, trust anchor last; the
// anchor itself is not checked) against `sources` under options.revocation,
// appending findings to `out`. An error finding makes the path invalid.
void check_revocation(const std::vector<X509*>& path, const RevocationSources& sources,
                      const Options& options, std::vector<Finding>& out);

}  // namespace herald::verify::detail
