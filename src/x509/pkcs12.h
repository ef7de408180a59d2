#pragma once
// PKCS#12 bundles (RFC 7292) of a key, its certificate and the chain, for
// software that wants one password-protected file (Java, .NET, browsers).
// `herald issue --p12` and `herald agent`'s pkcs12 output both come here.

#include <openssl/evp.h>

#include <string>
#include <vector>

#include "base/error.h"
#include "x509/certificate.h"

namespace herald::x509 {

// DER. OpenSSL 3's defaults: PBES2 (PBKDF2) with AES-256-CBC for the key and
// the certificates, HMAC-SHA256 MAC. `friendly_name` labels the key.
[[nodiscard]] Result<std::string> make_pkcs12(EVP_PKEY& key, const Certificate& leaf,
                                              const std::vector<const Certificate*>& chain,
                                              const std::string& password,
                                              const std::string& friendly_name);

}  // namespace herald::x509
