#pragma once
// Revocation of the certificates of a built path (RFC 5280 §6.3 CRLs, RFC
// 6960 OCSP responses), under Options::revocation. Pure, like verify.h: the
// CRLs and responses are handed in, nothing is fetched. Internal to
// src/verify: callers set Options.{crls, ocsp_responses, ocsp_nonce,
// revocation} and call verify().

#include <openssl/ocsp.h>
#include <openssl/x509.h>

#include <vector>

#include "ossl/ossl.h"
#include "verify/verify.h"

namespace herald::verify::detail {

struct OcspResponseDeleter {
  void operator()(OCSP_RESPONSE* r) const { OCSP_RESPONSE_free(r); }
};

// The CRLs and OCSP responses of Options, parsed once per verify() call.
struct RevocationSources {
  std::vector<ossl::X509CrlPtr> crls;
  std::vector<std::unique_ptr<OCSP_RESPONSE, OcspResponseDeleter>> ocsp;
};

// Parses options.crls and options.ocsp_responses; each one that does not
// parse becomes a warning finding ("malformed_crl", "malformed_ocsp_response")
// in `out` and is left out.
RevocationSources parse_sources(const Options& options, std::vector<Finding>& out);

// Checks every certificate of `path` (leaf first, trust anchor last; the
// anchor itself is not checked) against `sources` under options.revocation,
// appending findings to `out`. An error finding makes the path invalid.
void check_revocation(const std::vector<X509*>& path, const RevocationSources& sources,
                      const Options& options, std::vector<Finding>& out);

}  // namespace herald::verify::detail
