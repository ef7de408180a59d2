#include "store/acme_limits.h"

#include <algorithm>

namespace herald::store {

namespace {
int64_t unix_seconds(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
}  // namespace

Status window_limit(int64_t found, int64_t oldest_created, TimePoint now,
                    const AcmeOrderLimits& limits, int64_t limit, const std::string& what) {
  if (limit <= 0 || found < limit) return {};
  const int64_t retry =
      std::max<int64_t>(1, oldest_created + limits.window.count() - unix_seconds(now));
  Error e{ErrorCode::kRateLimited,
          what + " " + std::to_string(found) + " orders in the last " +
              std::to_string(limits.window.count() / 60) + " minutes (limit " +
              std::to_string(limit) + ")",
          {}};
  e.with("retry_after", std::to_string(retry));
  return tl::unexpected(std::move(e));
}

Status pending_limit(int64_t found, int64_t first_expiry, TimePoint now,
                     const AcmeOrderLimits& limits) {
  if (limits.pending_per_account <= 0 || found < limits.pending_per_account) return {};
  Error e{ErrorCode::kRateLimited,
          "this account has " + std::to_string(found) + " pending orders (limit " +
              std::to_string(limits.pending_per_account) +
              "): finalize them, deactivate their authorizations, or wait until they expire",
          {}};
  e.with("retry_after", std::to_string(std::max<int64_t>(1, first_expiry - unix_seconds(now))));
  return tl::unexpected(std::move(e));
}

}  // namespace herald::store
