#pragma once
// Is the certificate on disk revoked? One OCSP request (RFC 6960) to the
// http:// responder named in the certificate's AIA; the response is judged by
// the verification library (verify/revocation.h: signed by the issuer or a
// responder it authorized, current within 5 minutes of skew, the path to the
// trust anchors valid), the one place that decides what an OCSP answer is
// worth.

#include <string>

#include "base/clock.h"
#include "base/error.h"
#include "verify/verify.h"

namespace herald::agent {

enum class OcspStatus { kGood, kRevoked, kUnknown };

// `leaf_pem`: the certificate; `chain_pem`: its issuing CA first, then the
// rest of the chain; `verifier`: holds the trust anchors (and keeps the CA
// certificates parsed between calls). kUnknown: the responder does not know
// the certificate. An error when no responder is named, it cannot be
// reached, or its answer is not one to believe (the reason says why).
[[nodiscard]] Result<OcspStatus> ocsp_status(const std::string& leaf_pem,
                                             const std::string& chain_pem,
                                             const verify::Verifier& verifier, TimePoint now);

}  // namespace herald::agent
