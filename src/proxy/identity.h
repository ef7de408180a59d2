#pragma once
// Who a verified client certificate names, and the headers that carry it to
// the backend. Names come from the SANs (and, only when a route asks for
// them, the subject's O and OU): the CN is never trusted as an identity.

#include <string>
#include <utility>
#include <vector>

#include "base/error.h"
#include "x509/certificate.h"

namespace herald::proxy {

struct Identity {
  std::string subject;      // RFC 2253
  std::string serial;       // uppercase hex
  std::string fingerprint;  // SHA-256, lowercase hex without separators
  std::vector<std::string> dns, uris, ips, emails;
  std::string spiffe_id;    // the URI SAN with scheme spiffe, when there is exactly one
  std::vector<std::string> organizations, units;  // subject O and OU
  std::string issuer_subject;
};

// From the leaf of a verified path.
[[nodiscard]] Identity identity_of(const x509::Certificate& leaf);

// The names of the headers the proxy sets; a client's own copies (any
// header starting with "x-client-cert-") are removed before these are added.
inline constexpr const char* kHeaderPrefix = "x-client-cert-";

// X-Client-Cert-Verified: SUCCESS, -Subject, -SAN ("DNS:a, URI:b, IP:c"),
// -Serial, -Fingerprint (sha256 hex), -Spiffe-Id (when present). Values
// are printable ASCII: anything else is percent-encoded, so a certificate
// cannot smuggle a line break into a header.
[[nodiscard]] std::vector<std::pair<std::string, std::string>> identity_headers(
    const Identity& id);
// For a connection without a certificate on an optional route.
[[nodiscard]] std::vector<std::pair<std::string, std::string>> anonymous_headers();

// "serial=... spiffe=spiffe://... san=..." for the access log (bounded).
[[nodiscard]] std::string log_identity(const Identity& id);

// Printable ASCII only (0x21-0x7e and space); '%' and others as %XX.
[[nodiscard]] std::string header_safe(std::string_view s);

}  // namespace herald::proxy
