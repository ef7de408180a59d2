#pragma once
// Private keys: generation and encryption at rest.
//
// At rest every key is an encrypted PKCS#8 PEM ("ENCRYPTED PRIVATE KEY"):
// PBES2 with scrypt (N=2^14, r=8, p=1, 16-byte salt) and AES-256-CBC, which
// `openssl pkey` and other PKCS#8 readers decrypt. The passphrase never
// appears in an error message.

#include <string>
#include <string_view>

#include "base/error.h"
#include "keys/key_type.h"
#include "ossl/ossl.h"

namespace herald::keys {

[[nodiscard]] Result<ossl::EvpPkeyPtr> generate_key(KeyType type);

// PEM "ENCRYPTED PRIVATE KEY". The passphrase must not be empty.
[[nodiscard]] Result<std::string> encrypt_private_key(EVP_PKEY& key, std::string_view passphrase);
// PEM "PRIVATE KEY" (unencrypted PKCS#8), for handing a leaf key to its owner.
[[nodiscard]] Result<std::string> private_key_pem(EVP_PKEY& key);

// Reads an encrypted (or, with an empty passphrase, plain) PKCS#8 PEM.
// A wrong passphrase is kBadPassphrase; a corrupt file kMalformedInput.
[[nodiscard]] Result<ossl::EvpPkeyPtr> decrypt_private_key(std::string_view pem,
                                                           std::string_view passphrase);

// A strong random passphrase (32 bytes, base64url) for the quick-start path.
[[nodiscard]] Result<std::string> random_passphrase();

}  // namespace herald::keys
