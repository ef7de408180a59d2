#pragma once
// Certificate profiles: what a certificate of each kind carries, decided by
// Herald and never copied from a request.
//
//   server  EKU serverAuth; KU digitalSignature (+keyEncipherment for RSA);
//           at least one DNS/IP SAN; CN copied into the SANs.   default 90d
//   client  EKU clientAuth; KU digitalSignature.                 default 30d
//   spiffe  EKU serverAuth+clientAuth; KU digitalSignature (+keyEncipherment
//           for RSA); exactly one spiffe:// URI SAN.              default 1h
//   ocsp-signer  EKU OCSPSigning only; KU digitalSignature; ocsp-nocheck;
//           no SAN. The issuing CA's delegated OCSP responder (RFC 6960
//           §4.2.2.2), issued by Herald itself (Authority::issue_ocsp_signer):
//           parse_profile refuses it, so no request can ask for it.

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "keys/key_type.h"
#include "x509/builder.h"

namespace herald::policy {

enum class Profile { kServer, kClient, kSpiffe, kOcspSigner };

// The profiles a request may name (kProfileChoices); never kOcspSigner.
[[nodiscard]] Result<Profile> parse_profile(std::string_view name);
[[nodiscard]] std::string_view profile_name(Profile p);  // "server", ..., "ocsp-signer"
constexpr std::string_view kProfileChoices = "server|client|spiffe";

struct ProfileTemplate {
  unsigned key_usage = 0;
  std::vector<x509::ExtendedKeyUsage> ext_key_usage;
};

[[nodiscard]] ProfileTemplate profile_template(Profile p, const keys::KeyInfo& key);

}  // namespace herald::policy
