#pragma once
// A finding about a certificate: the one type for what the pre-issuance lint
// (policy/lint.h) and path verification (verify/verify.h) have to say. Model:
// BoringSSL pki/cert_errors.h — a stable code, the certificate it concerns,
// what was expected, what was found, and one line of what to do.

#include <string>

namespace herald::x509 {

enum class Severity { kError, kWarning };

struct Finding {
  std::string code;  // stable: "expired", "hostname_mismatch", "serial.not_positive", ...
  Severity severity = Severity::kError;
  int depth = 0;          // in a chain: 0 = the leaf; -1 = not about one certificate
  std::string subject;    // of the certificate concerned (RFC 2253), when known
  std::string serial;     // hex
  std::string expected;
  std::string found;
  std::string hint;       // one line of what to do
};

}  // namespace herald::x509
