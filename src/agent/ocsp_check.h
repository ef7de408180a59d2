#pragma once
// Is the certificate on disk revoked? One OCSP request (RFC 6960) to the
// http:// responder named in the certificate's AIA, the response verified
// (signed by the issuer or a responder it authorized, chaining to the trust
// anchors; current by thisUpdate/nextUpdate) before its status is believed.

#include <string>

#include "base/clock.h"
#include "base/error.h"

namespace herald::agent {

enum class OcspStatus { kGood, kRevoked, kUnknown };

// `leaf_pem`: the certificate; `chain_pem`: its issuing CA first, then the
// rest of the chain; `trust_pem`: the anchors. An error when no responder is
// named, it cannot be reached, or its answer does not verify.
[[nodiscard]] Result<OcspStatus> ocsp_status(const std::string& leaf_pem,
                                             const std::string& chain_pem,
                                             const std::string& trust_pem, TimePoint now);

}  // namespace herald::agent
