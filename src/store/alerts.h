#pragma once
// What expiry alerts and webhooks keep in the store (src/alerts/ uses it,
// `herald alert` and the dashboard read it): claims that make each alert go
// out once (across restarts and across nodes sharing the store), the alerts
// sent, the silences operators set, and the deliveries that exhausted their
// retries (dead letters). Both adapters implement it (sqlite_alerts.cc,
// postgres_alerts.cc).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/error.h"

namespace herald::store {

// One alert delivered (or attempted) to one target.
struct AlertRecord {
  int64_t id = 0;      // the store's
  std::string key;     // "expiry:<serial>:30d", "revoked:<serial>:partner-a", ...
  std::string kind;    // "expiry", "ca_expiry", "crl_next_update", "revocation"
  std::string serial;  // hex, "" if none (a CRL)
  TimePoint at;
  std::string target;  // "log" or the webhook's name
  std::string result;  // "delivered", "queued", "dead_letter", "dropped", "silenced"
};

// A silence: alerts for certificates whose owner has the label
// owner_key=owner_value, or for one serial, are not sent until ends_at.
struct Silence {
  int64_t id = 0;
  std::string owner_key;  // "" unless by owner label
  std::string owner_value;
  std::string serial;  // "" unless by serial (hex)
  TimePoint ends_at;
  std::string reason;
  std::string created_by;  // "cli:<user>" ...
  TimePoint created_at;
};

// A webhook delivery that failed every attempt.
struct DeadLetter {
  int64_t id = 0;
  std::string target;   // the webhook's name
  std::string url;      // where it was sent (no secret in it)
  std::string payload;  // the JSON body
  std::string last_error;
  int attempts = 0;
  TimePoint at;
};

class AlertStore {
 public:
  virtual ~AlertStore() = default;
  // Claims `key` at `at`: true if this call is the first ever to claim it
  // (the caller then sends the alert), false if it was claimed before (by
  // this process, an earlier run, or another node). Durable on return.
  [[nodiscard]] virtual Result<bool> claim_alert(std::string_view key, TimePoint at) = 0;
  // Records an alert sent (or its fate); the record's id is ignored.
  [[nodiscard]] virtual Status record_alert(const AlertRecord& alert) = 0;
  // The most recent alerts, newest first, at most `limit`.
  [[nodiscard]] virtual Result<std::vector<AlertRecord>> recent_alerts(size_t limit) = 0;

  // Returns the new silence's id. Exactly one of owner_key (with
  // owner_value) and serial must be set (kInvalidArgument otherwise).
  [[nodiscard]] virtual Result<int64_t> add_silence(const Silence& silence) = 0;
  // Silences whose ends_at is after `now`, oldest first.
  [[nodiscard]] virtual Result<std::vector<Silence>> active_silences(TimePoint now) = 0;
  // kNotFound if there is no silence `id`.
  [[nodiscard]] virtual Status remove_silence(int64_t id) = 0;

  // Records a delivery that exhausted its retries; the record's id is ignored.
  [[nodiscard]] virtual Status add_dead_letter(const DeadLetter& letter) = 0;
  // The most recent dead letters, newest first, at most `limit`.
  [[nodiscard]] virtual Result<std::vector<DeadLetter>> dead_letters(size_t limit) = 0;
};

}  // namespace herald::store
