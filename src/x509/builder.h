#pragma once
// Building the to-be-signed certificate (RFC 5280 §4.1) from a specification.
// Pure: no clock, no I/O; the caller passes times, serial and keys.
//
// The subject public key is set from the SPKI's parts with
// X509_PUBKEY_set0_param, never through an EVP_PKEY: in OpenSSL 3.0,
// X509_set_pubkey re-encodes the key through the provider encoders (~170 µs,
// openssl#19119), which dominated issuance.

#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/encoding.h"
#include "base/error.h"
#include "base/serial.h"
#include "keys/public_key.h"
#include "ossl/ossl.h"
#include "x509/san.h"

namespace herald::x509 {

// keyUsage bits (RFC 5280 §4.2.1.3), as a mask.
enum KeyUsage : unsigned {
  kDigitalSignature = 1u << 0,
  kNonRepudiation = 1u << 1,
  kKeyEncipherment = 1u << 2,
  kDataEncipherment = 1u << 3,
  kKeyAgreement = 1u << 4,
  kKeyCertSign = 1u << 5,
  kCrlSign = 1u << 6,
};

enum class ExtendedKeyUsage { kServerAuth, kClientAuth, kOcspSigning };

struct CertificateSpec {
  Serial serial;
  std::string organization;  // subject O (may be empty)
  std::string common_name;   // subject CN (may be empty if SANs are present)
  TimePoint not_before;
  TimePoint not_after;
  const keys::PublicKey* subject_key = nullptr;
  bool is_ca = false;
  std::optional<int> path_len;
  unsigned key_usage = 0;
  std::vector<ExtendedKeyUsage> ext_key_usage;
  std::vector<San> sans;
  Bytes authority_key_id;  // empty: omitted (self-signed root)
  std::vector<std::string> crl_urls;
  std::vector<std::string> ocsp_urls;
  std::vector<std::string> ca_issuer_urls;
  // id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1): relying parties need not check
  // this certificate's revocation. Only for OCSP responder certificates.
  bool ocsp_no_check = false;
};

// An unsigned certificate with subject, issuer, validity, key and extensions
// (basicConstraints, keyUsage, extKeyUsage, SKI, AKI, SAN, CDP, AIA,
// ocsp-nocheck: NULL value, non-critical).
// issuer == nullptr means self-signed (issuer name = subject name).
[[nodiscard]] Result<ossl::X509Ptr> build_certificate(const CertificateSpec& spec,
                                                      const X509_NAME* issuer);

// DER of a signed certificate.
[[nodiscard]] Result<Bytes> encode_der(X509& cert);

[[nodiscard]] int nid_of(ExtendedKeyUsage eku);

}  // namespace herald::x509
