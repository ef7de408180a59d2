#pragma once
// PKCS#10 certification requests (RFC 2986), parsed from untrusted input.
//
// parse_csr() reads the DER with Herald's strict reader (base/der.h) rather
// than d2i_X509_REQ, which in OpenSSL 3.0 runs the slow generic key decoder
// on every request. The subject is decoded by d2i_X509_NAME and the
// extensionRequest attribute by d2i_X509_EXTENSIONS (neither touches keys).
// Only the requested SANs and whether CA:TRUE is asked for are read from the
// extensions: the profile, not the CSR, decides what the certificate carries.
//
// verify_csr_signature() checks proof of possession: the signature over
// certificationRequestInfo with the CSR's own key, and that the signature
// algorithm matches the key type.

#include <span>
#include <string>
#include <vector>

#include "base/encoding.h"
#include "base/error.h"
#include "keys/public_key.h"
#include "x509/san.h"

namespace herald::x509 {

enum class SignatureHash { kSha1, kSha256, kSha384, kSha512, kNone /* Ed25519 */ };

struct Csr {
  Bytes der;
  std::span<const uint8_t> tbs;        // certificationRequestInfo (view into der)
  std::span<const uint8_t> signature;  // view into der
  std::string signature_algorithm;     // "ecdsa-with-SHA256", "sha1WithRSAEncryption", ...
  SignatureHash hash = SignatureHash::kSha256;
  keys::KeyAlgorithm signature_key_algorithm = keys::KeyAlgorithm::kOther;
  keys::PublicKey public_key;
  Bytes subject_der;
  std::string subject;      // RFC 2253
  std::string common_name;  // "" if none
  std::vector<San> requested_sans;
  bool requests_ca = false;

  Csr() = default;
  Csr(const Csr&) = delete;  // the spans point into der
  Csr(Csr&&) = default;      // vector moves keep their buffer
  Csr& operator=(Csr&&) = default;
};

// Accepts PEM ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST") or DER.
[[nodiscard]] Result<Csr> parse_csr(std::span<const uint8_t> pem_or_der);
[[nodiscard]] Status verify_csr_signature(const Csr& csr);

// A DER CSR for `key` (the clients' side: herald renew, herald agent): the
// CN when not empty, the SANs as a requested extension, signed with SHA-256
// (Ed25519: no digest).
[[nodiscard]] Result<Bytes> make_csr(EVP_PKEY& key, const std::string& cn, const std::vector<San>& sans = {});

}  // namespace herald::x509
