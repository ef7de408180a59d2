#pragma once
// The Signer interface the core signs through (ARCHITECTURE.md): a file key
// today, a PKCS#11 key later. The digest follows the key: SHA-256 for P-256
// and RSA, SHA-384 for P-384, SHA-512 for P-521, none for Ed25519.

#include <memory>
#include <string>

#include "base/error.h"
#include "keys/public_key.h"
#include "ossl/ossl.h"

namespace herald::keys {

class Signer {
 public:
  virtual ~Signer() = default;
  [[nodiscard]] virtual const PublicKey& public_key() const = 0;
  // "ecdsa-with-SHA256", "sha256WithRSAEncryption", "ED25519", ...
  [[nodiscard]] virtual std::string signature_algorithm() const = 0;
  // Sets the signature algorithm fields and signs. Thread-safe.
  [[nodiscard]] virtual Status sign(X509& cert) const = 0;
  [[nodiscard]] virtual Status sign(X509_CRL& crl) const = 0;
  // For structures Herald encodes itself (large CRLs): the DER
  // AlgorithmIdentifier of signatures this signer makes, and a signature
  // over `tbs` (DER of the to-be-signed structure).
  [[nodiscard]] virtual Bytes algorithm_identifier_der() const = 0;
  [[nodiscard]] virtual Result<Bytes> sign_data(std::span<const uint8_t> tbs) const = 0;
  // Signs a BasicOCSPResponse (RFC 6960 §4.2.1) as `responder_cert`, whose
  // public key must be this signer's: responderID byKey (SHA-1 of the key
  // BIT STRING), `responder_cert` appended to `certs`, producedAt left as
  // the caller set it (the core passes time in; OpenSSL would read the clock).
  [[nodiscard]] virtual Status sign(OCSP_BASICRESP& resp, X509& responder_cert) const = 0;
};

// A signer over an in-memory private key (decrypted from a file).
class KeySigner final : public Signer {
 public:
  static Result<std::unique_ptr<KeySigner>> create(ossl::EvpPkeyPtr key);

  [[nodiscard]] const PublicKey& public_key() const override { return public_key_; }
  [[nodiscard]] std::string signature_algorithm() const override;
  [[nodiscard]] Status sign(X509& cert) const override;
  [[nodiscard]] Status sign(X509_CRL& crl) const override;
  [[nodiscard]] Bytes algorithm_identifier_der() const override;
  [[nodiscard]] Result<Bytes> sign_data(std::span<const uint8_t> tbs) const override;
  [[nodiscard]] Status sign(OCSP_BASICRESP& resp, X509& responder_cert) const override;

 private:
  KeySigner(ossl::EvpPkeyPtr key, PublicKey pub, const EVP_MD* md)
      : key_(std::move(key)), public_key_(std::move(pub)), md_(md) {}
  ossl::EvpPkeyPtr key_;
  PublicKey public_key_;
  const EVP_MD* md_;  // nullptr for Ed25519
};

}  // namespace herald::keys
