#pragma once
// What an ACME order limit decides once a store has counted: the same rule
// and the same words for every adapter (each adapter only counts, inside
// its write transaction; see AcmeStore::acme_insert_order).

#include <cstdint>
#include <string>

#include "base/clock.h"
#include "base/error.h"
#include "store/acme_store.h"

namespace herald::store {

// `found` orders created within limits.window before `now` (counted up to
// `limit`), the oldest created at `oldest_created` (unix seconds): over the
// limit, kRateLimited naming `what` ("this account created", "example.com
// was ordered") with retry_after = seconds until the oldest leaves the window.
[[nodiscard]] Status window_limit(int64_t found, int64_t oldest_created, TimePoint now,
                                  const AcmeOrderLimits& limits, int64_t limit,
                                  const std::string& what);

// `found` open (pending or ready, unexpired) orders of the account (counted
// up to limits.pending_per_account), the first expiring at `first_expiry`
// (unix seconds): at the limit, kRateLimited with retry_after = seconds until
// that one expires.
[[nodiscard]] Status pending_limit(int64_t found, int64_t first_expiry, TimePoint now,
                                   const AcmeOrderLimits& limits);

}  // namespace herald::store
