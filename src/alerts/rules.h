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

// The X-Herald-Signature header's value: "sha256=" and the lower-case hex
// HMAC-SHA256, under the webhook's secret, of `timestamp` (the
// X-Herald-Timestamp header's value: unix seconds, decimal) "." `body`
// (Stripe's scheme). Signing the timestamp with the body binds them: a
// captured delivery replayed later with a fresh timestamp fails the check.
[[nodiscard]] std::string signature_header(std::string_view secret, std::string_view timestamp,
                                           std::string_view body);

// What a receiver checks (docs/operations.md; tests/integration/
// webhook_receiver.py does the same in Python): `timestamp` is decimal unix
// seconds within `tolerance` of `now` either way, and `signature` equals
// signature_header(secret, timestamp, body), compared in constant time.
[[nodiscard]] bool verify_signature(std::string_view secret, std::string_view timestamp,
                                    std::string_view body, std::string_view signature,
                                    TimePoint now,
                                    std::chrono::seconds tolerance = std::chrono::minutes(5));

// The wait before attempt `attempt` (2 = the first retry): retry_initial
// doubled per earlier failure, at most retry_max.
[[nodiscard]] std::chrono::milliseconds retry_delay(const AlertsConfig& cfg, int attempt);

}  // namespace herald::alerts
