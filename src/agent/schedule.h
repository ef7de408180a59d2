#pragma once
// When the agent renews: pure functions of times, no clock or randomness of
// their own (the caller passes `now` and a jitter draw).

#include <chrono>
#include <optional>

#include "base/clock.h"

namespace herald::agent {

struct Lifetime {
  TimePoint start;      // max(notBefore, when the certificate was obtained)
  TimePoint not_after;  // notAfter
};

// The certificate's useful lifetime: from notBefore, or from when it was
// obtained if that is later (Herald backdates notBefore by 5 minutes, which
// would otherwise make a 2-minute certificate look 7 minutes long and due at
// once), clamped into [notBefore, notAfter].
[[nodiscard]] Lifetime lifetime_of(TimePoint not_before, TimePoint not_after,
                                   std::optional<TimePoint> obtained);

struct RenewalRule {
  double renew_at = 2.0 / 3.0;  // share of the lifetime after which to renew, (0, 1)
  double jitter = 0.05;         // +- this share of the lifetime, drawn once per certificate
};

// start + renew_at * L + jitter_draw * jitter * L, with jitter_draw in
// [-1, 1], clamped to [start, not_after - max(1 s, L / 50)] so that a jitter
// never pushes the renewal past expiry.
[[nodiscard]] TimePoint renewal_time(const Lifetime& life, const RenewalRule& rule,
                                     double jitter_draw);

struct BackoffRule {
  std::chrono::seconds min{5};    // delay after the first failure
  std::chrono::seconds max{300};  // cap of the doubling
};

// Delay before the attempt after `failures` consecutive failures (>= 1):
// min * 2^(failures-1), capped at max.
[[nodiscard]] std::chrono::seconds backoff_delay(const BackoffRule& rule, int failures);

// When to try again after `failures` consecutive failures at `now`. While a
// certificate is still valid (`valid_until` in the future) the retry never
// lands after it expires: the delay shrinks to half the time left (at least
// 1 s), so the last attempts crowd before expiry instead of after it.
[[nodiscard]] TimePoint next_retry(const BackoffRule& rule, int failures, TimePoint now,
                                   std::optional<TimePoint> valid_until);

}  // namespace herald::agent
