#pragma once
// Revocation (RFC 5280 reasons) and CRL generation from the inventory.

#include <chrono>
#include <string_view>

#include "base/clock.h"
#include "base/error.h"
#include "keys/signer.h"
#include "store/inventory.h"
#include "x509/certificate.h"
#include "x509/crl.h"

namespace herald::ca {

// Revokes `serial`. removeFromCRL releases a certificateHold instead.
// Returns the record as it now stands.
[[nodiscard]] Result<store::CertRecord> revoke(const Clock& clock, store::Inventory& inventory,
                                               const Serial& serial, x509::RevocationReason reason);

struct CrlResult {
  Bytes der;
  uint64_t number = 0;
  size_t entries = 0;
  TimePoint next_update;
};

// Signs a fresh v2 CRL for the CA `ca_cert` (whose key is behind `signer`),
// listing every unexpired certificate it issued that is revoked. The CRL
// number comes from the inventory (monotonic, persisted) under `ca_name`.
[[nodiscard]] Result<CrlResult> generate_crl(const Clock& clock, store::Inventory& inventory,
                                             const keys::Signer& signer,
                                             const x509::Certificate& ca_cert,
                                             std::string_view ca_name,
                                             std::chrono::seconds validity);

}  // namespace herald::ca
