#pragma once
// The [alerts] table of herald.toml (parsed by server/config.cc;
// docs/configuration.md): expiry thresholds, how often `herald serve`
// evaluates them, and where alerts go (the log, webhooks). A webhook with a
// `partner` receives only that partner's notices (revocations of
// certificates whose owner label is partner=<name>), never expiry alerts.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace herald::alerts {

struct WebhookConfig {
  std::string name;  // for logs, alert records and dead letters
  std::string url;   // http:// or https:// only; never a redirect's target
  std::string
      secret_file;      // the HMAC key (file contents, trailing newline dropped), relative to DIR
  std::string partner;  // "" = expiry alerts; else this partner's notices only
  // https:// only: a PEM bundle of the CAs that the webhook's server
  // certificate must chain to, instead of the system's trust store (a
  // receiver on an internal CA); relative to DIR. "" = the system store.
  std::string ca_file;
};

struct AlertsConfig {
  bool enabled = false;  // an [alerts] table is present
  // Alert when a certificate has at most this many days left (each once).
  std::vector<int> days{30, 15, 7, 1};
  // And when at most this share of its lifetime is left (percent, 0 = off).
  double lifetime_percent = 10;
  // How far ahead the share-of-lifetime threshold is looked for (bounds
  // each evaluation's reading of the inventory).
  std::chrono::seconds lifetime_window{90 * 24 * 3600};
  std::chrono::seconds interval{60};  // between evaluations
  bool log = true;                    // a stderr line per alert
  // Webhook delivery: attempts in all, the delay before the second attempt
  // (doubling after each failure, at most retry_max), each attempt's timeout.
  int max_attempts = 5;
  std::chrono::milliseconds retry_initial{1000};
  std::chrono::milliseconds retry_max{60000};
  std::chrono::seconds timeout{10};
  size_t max_pending = 1000;  // deliveries waiting; more are dropped (counted)
  std::vector<WebhookConfig> webhooks;
};

}  // namespace herald::alerts
