#pragma once
// The leaf step of a chain whose CA part the Verifier has already verified
// (verify.h): the leaf's DER is walked here and its parts decoded one by one
// with OpenSSL, except its public key, which verifying a leaf never needs
// (OpenSSL 3.0's d2i_X509 spends most of its time decoding it). Accept-only:
// `fast_leaf_valid` says true only when every rule verify() applies holds
// for a plain leaf (the extensions Herald and common CAs issue, exact name
// matches, no revocation asked); anything else, and every failure, returns
// false and the full path decides, findings and all. Internal to src/verify.

#include <openssl/evp.h>

#include <cstdint>

#include "verify/verify.h"

namespace herald::verify::detail {

struct KnownIssuer {
  Bytes subject_der;          // the issuing CA's subject name (DER), as the leaf's issuer must read
  Bytes ski;                  // its subject key identifier
  EVP_PKEY* key = nullptr;    // its public key (EC), owned by its cached certificate
  int64_t not_before = 0;     // the window in which every CA certificate of the part is valid
  int64_t not_after = 0;
  int intermediates = 0;      // CA certificates between the leaf and the anchor
};

// The issuer name (DER TLV) of a DER certificate, or empty if it is not
// shaped like one.
Bytes issuer_name_der(const Bytes& der);

// `check_signature` false: the caller knows this leaf's signature by this
// issuer verified (Verifier's memo).
[[nodiscard]] bool fast_leaf_valid(const Bytes& der, const KnownIssuer& issuer, const Options& o,
                                   bool check_signature = true);

}  // namespace herald::verify::detail
