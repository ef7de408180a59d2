#pragma once
// Moves a CA's state from one store to another (herald store migrate: the
// embedded SQLite file into PostgreSQL, when one node becomes several).

#include <cstdint>
#include <map>
#include <string>

#include "base/clock.h"
#include "base/error.h"
#include "store/store.h"

namespace herald::store {

struct MigrateReport {
  int64_t certificates = 0;  // every record: valid, revoked, on hold, expired
  int64_t revoked = 0;
  int64_t tokens = 0;          // API tokens (revoked ones stay revoked)
  int64_t eab_keys = 0;        // unused External Account Binding keys (still usable)
  int64_t eab_keys_bound = 0;  // used ones, bound to the same accounts as before
  int64_t accounts = 0;        // ACME accounts (same ids, so the same account URLs)
  int64_t audit_entries = 0;   // the whole audit log, in order, times unchanged
  int64_t used_token_ids = 0;  // unexpired one-time-token ids: still refused
  int64_t deployments = 0;     // herald scan's sightings (first and last seen kept)
  int64_t discovered = 0;      // foreign certificates they presented
  std::map<std::string, uint64_t> crl_numbers;  // the destination continues above these
};

// Copies into `to`, which must hold no certificate (kAlreadyExists):
// - every certificate record with its status (no new audit entries);
// - the audit log, every row in order with its time, action, serial and
//   detail (issuance, revocations, operator actions);
// - the API tokens; the EAB keys, used ones bound to the same accounts;
// - the ACME accounts with their ids, provisioners, keys and documents, so
//   an existing client's "kid" (https://HOST/acme/PROVISIONER/acct/ID) is an
//   account of the destination too and it keeps working without
//   registering again;
// - the one-time-token ids used and not yet expired at `now`, so a token
//   used before the move is refused after it;
// - herald scan's deployments (first and last seen, chain, problems) and the
//   foreign certificates discovered;
// - the CRL numbers (the destination's next CRL of each CA gets a number
//   above any the source handed out).
// Then checks the count of each (kConflict on a mismatch).
// Not moved: ACME orders and authorizations. They live hours (an order
// expires unfinalized, a valid one's certificate is in the inventory): a
// client whose order was open when the CA moved gets "not found" for it and
// orders again, as after any expiry. The per-identifier and per-account
// order rate limits count from the move (they count orders).
// A failure part way leaves `to` partly filled: drop and recreate that
// database before trying again.
[[nodiscard]] Result<MigrateReport> migrate(Store& from, Store& to, TimePoint now);

}  // namespace herald::store
