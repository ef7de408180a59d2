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
  int64_t tokens = 0;        // API tokens (revoked ones stay revoked)
  int64_t eab_keys = 0;      // unused External Account Binding keys
  int64_t eab_keys_bound = 0;  // used ones: not moved (their accounts are not)
  std::map<std::string, uint64_t> crl_numbers;  // the destination continues above these
};

// Copies into `to`, which must hold no certificate (kAlreadyExists): every
// certificate record with its status, the API tokens, the unused EAB keys,
// and the CRL numbers (the destination's next CRL of each CA gets a number
// above any the source handed out). Then checks the counts (kConflict on a
// mismatch). Not moved: ACME accounts and orders (clients register again),
// the audit log (the destination records each certificate's issue entry
// anew), one-time-token ids (short-lived). A failure part way leaves `to`
// partly filled: drop and recreate that database before trying again.
[[nodiscard]] Result<MigrateReport> migrate(Store& from, Store& to, TimePoint now);

}  // namespace herald::store
