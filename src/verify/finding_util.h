#pragma once
// Building findings (verify.h) from OpenSSL objects: shared by the path
// checks (verify.cc) and revocation (revocation.cc). Internal to src/verify.

#include <openssl/x509.h>

#include <string>

#include "verify/verify.h"

namespace herald::verify::detail {

std::string name_text(const X509_NAME* name);  // RFC 2253
std::string subject_of(X509* x);
std::string serial_of(X509* x);                // hex, colon-separated
std::string time_text(const ASN1_TIME* t);

Finding finding(std::string code, int depth, X509* x, std::string expected, std::string found,
                std::string hint);

}  // namespace herald::verify::detail
