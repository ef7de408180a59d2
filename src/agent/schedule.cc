#include "agent/schedule.h"

#include <algorithm>
#include <cmath>

namespace herald::agent {

using std::chrono::seconds;

Lifetime lifetime_of(TimePoint not_before, TimePoint not_after, std::optional<TimePoint> obtained) {
  TimePoint start = not_before;
  if (obtained && *obtained > start) start = std::min(*obtained, not_after);
  return {start, not_after};
}

TimePoint renewal_time(const Lifetime& life, const RenewalRule& rule, double jitter_draw) {
  const double total = static_cast<double>((life.not_after - life.start).count());
  if (total <= 0) return life.start;
  const double draw = std::clamp(jitter_draw, -1.0, 1.0);
  const double offset = total * rule.renew_at + draw * rule.jitter * total;
  TimePoint t = life.start + seconds(static_cast<int64_t>(std::llround(offset)));
  const seconds margin = std::max(seconds(1), seconds(static_cast<int64_t>(total / 50)));
  TimePoint latest = life.not_after - margin;
  if (latest < life.start) latest = life.start;
  return std::clamp(t, life.start, latest);
}

seconds backoff_delay(const BackoffRule& rule, int failures) {
  seconds d = std::max(rule.min, seconds(1));
  for (int i = 1; i < failures && d < rule.max; ++i) d *= 2;
  return std::min(d, std::max(rule.max, seconds(1)));
}

TimePoint next_retry(const BackoffRule& rule, int failures, TimePoint now,
                     std::optional<TimePoint> valid_until) {
  seconds d = backoff_delay(rule, failures);
  if (valid_until && *valid_until > now && now + d >= *valid_until) {
    d = std::max(seconds(1), (*valid_until - now) / 2);
  }
  return now + d;
}

}  // namespace herald::agent
