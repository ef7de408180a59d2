#pragma once
// SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) parsed from DER.
//
// EC P-256/P-384/P-521 and Ed25519 keys are decoded without OpenSSL 3.0's
// generic decoder (slow: ~100 µs per key, openssl#17950) by importing the raw
// point through the provider's key management, which still checks that the
// point is on the curve. Every other algorithm goes through d2i_PUBKEY.

#include <memory>
#include <span>

#include "base/encoding.h"
#include "base/error.h"
#include "keys/key_type.h"
#include "ossl/ossl.h"

namespace herald::keys {

struct PublicKey {
  KeyInfo info;
  Bytes spki_der;                  // the whole SubjectPublicKeyInfo
  Bytes algorithm_der;             // its AlgorithmIdentifier
  Bytes key_bits;                  // the subjectPublicKey BIT STRING content (no unused-bits octet)
  std::shared_ptr<EVP_PKEY> pkey;  // for signature verification

  // SHA-1 of key_bits: the key identifier of RFC 5280 §4.2.1.2 method (1).
  [[nodiscard]] Result<Bytes> key_identifier() const;
};

[[nodiscard]] Result<PublicKey> parse_public_key(std::span<const uint8_t> spki_der);
[[nodiscard]] Result<PublicKey> public_key_of(EVP_PKEY& key);

// An EC public key from its uncompressed point (0x04 || X || Y) on `group`
// ("P-256", "P-384", "P-521"), through the fast path above; a point not on the
// curve is kMalformedInput. Also used for JWKs (acme/jws.h).
[[nodiscard]] Result<ossl::EvpPkeyPtr> import_ec_point(const char* group,
                                                       std::span<const uint8_t> point);

}  // namespace herald::keys
