#pragma once
// The pure parts of expiry alerts: which thresholds a certificate has
// crossed, whether a silence covers it, the webhook signature and the retry
// schedule. No I/O, no clock: time is a parameter.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "alerts/config.h"
#include "base/clock.h"
#include "store/alerts.h"
#include "store/inventory.h"

namespace herald::alerts {

// A threshold crossed: its label ("30d", "7d", "10pct"), for the alert's
// dedup key, and how tight it is (seconds left at the threshold; smaller is
// tighter).
struct Crossed {
  std::string label;
  std::chrono::seconds at_remaining{0};
};

// The thresholds of `cfg` that a certificate valid [not_before, not_after)
// has crossed at `now`, loosest first; empty once it has expired.
[[nodiscard]] std::vector<Crossed> crossed_thresholds(const AlertsConfig& cfg, TimePoint not_before,
                                                      TimePoint not_after, TimePoint now);

// The dedup key of one alert: "<kind>:<id>:<label>".
[[nodiscard]] std::string alert_key(std::string_view kind, std::string_view id,
                                    std::string_view label);

// The silence among `silences` (active ones) that covers a certificate with
// this serial (hex) and owner labels, if any.
[[nodiscard]] const store::Silence* silenced_by(const std::vector<store::Silence>& silences,
                                                std::string_view serial_hex,
                                                const store::Labels& owner);

// The X-Herald-Signature header's value for `body`: "sha256=" and the
// lower-case hex HMAC-SHA256 of the body under the webhook's secret. The
// body carries its own "sent_at", so the signature covers the time too (a
// receiver refuses old or replayed deliveries by it).
[[nodiscard]] std::string signature_header(std::string_view secret, std::string_view body);

// The wait before attempt `attempt` (2 = the first retry): retry_initial
// doubled per earlier failure, at most retry_max.
[[nodiscard]] std::chrono::milliseconds retry_delay(const AlertsConfig& cfg, int attempt);

}  // namespace herald::alerts
