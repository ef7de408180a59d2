#pragma once
// Retention (issue #15): removing certificate records long past their
// expiry, in small batches, so the inventory stops growing forever.
//
// Which records may go ("prunable" at `now` for a cutoff `expired_before`):
//   not_after < expired_before AND not_after <= now, and the profile is not
//   one of the hierarchy's CAs (root-ca, intermediate-ca, issuing-ca).
// - Never an unexpired certificate, whatever the cutoff: a record in date
//   is still answered for (OCSP) and, if revoked, still listed.
// - CRLs lose nothing they must list: a revoked certificate is listed on its
//   CA's CRL only until it expires (Inventory::revoked_by: status revoked
//   AND not_after > now; RFC 5280 5.3 lets an entry go after the
//   certificate's expiry, and Herald's CRLs carry no ExpiredCertsOnCRL), so
//   a certificate with not_after <= now is on no CRL Herald signs from now on.
// - The hierarchy's CA certificates are kept even when expired: few, and
//   every other record names one as its issuer.
// - Herald serve's own TLS and OCSP-signer certificates are ordinary records
//   here: it renews them at two thirds of their lifetime and never uses an
//   expired one, so only expired (unused) ones go.
//
// With a record go the rows that exist only for it: its search rows
// (cert_names, cert_labels: SQLite's delete trigger, PostgreSQL's ON DELETE
// CASCADE) and its pre-signed OCSP answer (ocsp_answers). Kept: the audit
// log (history is never rewritten; entries name the serial only), and the
// deployments `herald scan` recorded (each row carries the leaf's subject,
// notAfter and chain itself, so "expired but still deployed" stays visible
// after the record went; a later scan of that leaf sees it as foreign).
//
// Each call is one short transaction over an index range on not_after
// (oldest first), so a batch costs the same however large the inventory
// and issuance waits at most one batch.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "base/serial.h"

namespace herald::store {

class RetentionStore {
 public:
  virtual ~RetentionStore() = default;
  // Up to `limit` prunable certificates (rule above), oldest notAfter first.
  // Read only: for archiving a batch before deleting it, and for --dry-run.
  [[nodiscard]] virtual Result<std::vector<Serial>> prunable(TimePoint expired_before,
                                                             TimePoint now, size_t limit) = 0;
  // How many are prunable (a count from the not_after index).
  [[nodiscard]] virtual Result<int64_t> count_prunable(TimePoint expired_before,
                                                       TimePoint now) = 0;
  // Deletes those of `serials` that are still prunable (the rule is checked
  // again in the delete itself), with their search rows and OCSP answer, in
  // one transaction. Returns the serials deleted. At most a few thousand
  // serials per call.
  [[nodiscard]] virtual Result<std::vector<Serial>> delete_prunable(
      const std::vector<Serial>& serials, TimePoint expired_before, TimePoint now) = 0;
  // prunable() and delete_prunable() in one transaction: at most `batch`
  // records, oldest first. Returns the serials deleted (empty: nothing left).
  [[nodiscard]] virtual Result<std::vector<Serial>> prune_expired(TimePoint expired_before,
                                                                  TimePoint now, size_t batch) = 0;
};

}  // namespace herald::store
