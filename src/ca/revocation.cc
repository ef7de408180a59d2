#include "ca/revocation.h"

namespace herald::ca {

Result<store::CertRecord> revoke(const Clock& clock, store::Inventory& inventory,
                                 const Serial& serial, x509::RevocationReason reason) {
  if (reason == x509::RevocationReason::kRemoveFromCrl) {
    HERALD_TRY_VOID(inventory.release_hold(serial));
  } else {
    HERALD_TRY_VOID(inventory.revoke(serial, reason, clock.now()));
  }
  HERALD_TRY(auto rec, inventory.find(serial));
  if (!rec) return make_error(ErrorCode::kInternal, "revoked record vanished");
  return std::move(*rec);
}

Result<CrlResult> generate_crl(const Clock& clock, store::Inventory& inventory,
                               const keys::Signer& signer, const x509::Certificate& ca_cert,
                               std::string_view ca_name, std::chrono::seconds validity) {
  if (EVP_PKEY_eq(X509_get0_pubkey(&ca_cert.x509()), signer.public_key().pkey.get()) != 1) {
    return make_error(ErrorCode::kInvalidArgument,
                      "the signing key does not belong to the " + std::string(ca_name) + " CA");
  }
  const TimePoint now = clock.now();
  x509::CrlSpec spec;
  HERALD_TRY(spec.entries, inventory.revoked_by(ca_cert.serial(), now));
  HERALD_TRY(spec.number, inventory.next_crl_number(ca_name));
  spec.this_update = now;
  spec.next_update = now + validity;
  spec.authority_key_id = ca_cert.subject_key_id();
  HERALD_TRY(auto der, x509::build_crl(spec, *X509_get_subject_name(&ca_cert.x509()), signer));
  return CrlResult{std::move(der), spec.number, spec.entries.size(), spec.next_update};
}

}  // namespace herald::ca
