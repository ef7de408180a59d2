#pragma once
// Expiry alerts and partner notices for `herald serve` (docs/operations.md,
// "Expiry alerts and webhooks").
//
// Evaluation (on the node holding the store's singleton lease): the
// inventory's valid certificates expiring within the widest threshold, read
// in pages (never the whole inventory at once), the CA certificates among
// them, the CRLs this node serves, and certificates discovered by `herald
// scan` that Herald did not issue. The tightest threshold a certificate has
// crossed is claimed in the store ("expiry:<serial>:7d"): the first claim
// sends the alert, so each goes out once, across restarts and nodes (a
// certificate first seen with 5 days left gets the 7-day alert only). A silence (owner
// label or serial, until its end) holds the alert back unclaimed: it goes
// out if the certificate is still within the threshold when the silence ends.
//
// Delivery: a stderr line, and a POST to each configured webhook (JSON body,
// X-Herald-Timestamp: unix seconds of the attempt, X-Herald-Signature:
// sha256=<HMAC-SHA256 of timestamp "." body>, rules.h),
// retried with exponential backoff up to max_attempts, then recorded as a
// dead letter. Only configured URLs are dialled, no redirect is followed,
// each attempt has a timeout and a bounded response. Deliveries wait in a
// bounded queue (max_pending; beyond it they are dropped and counted).
// Everything runs on one worker thread: tick() and revoked() never block.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "alerts/config.h"
#include "alerts/rules.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/serial.h"
#include "store/store.h"

namespace herald::alerts {

using Headers = std::vector<std::pair<std::string, std::string>>;
// One POST: the HTTP status, or an error (connection, TLS, timeout).
// `ca_pem`: for https://, the CAs the server must chain to ("" = the
// system's trust store).
using Transport = std::function<Result<int>(const std::string& url, const std::string& ca_pem,
                                            const Headers& headers, const std::string& body,
                                            std::chrono::seconds timeout)>;
// net::http_request / net::https_request (the webhook's ca_file, else the
// system trust store): one request, no redirect followed, response body
// capped at 64 KiB.
[[nodiscard]] Transport http_transport();

// A CRL this node serves, for the nextUpdate alert.
struct CrlWindow {
  std::string name;  // "issuing", "intermediate", "root"
  TimePoint this_update;
  TimePoint next_update;
};

// A CA certificate of this Herald, announced once to each partner webhook
// (a rotation brings a new one, announced in turn).
struct CaAnnouncement {
  std::string level;  // "root", "intermediate", "issuing"
  std::string serial_hex;
  std::string subject;
  std::string fingerprint_sha256;
  TimePoint not_after;
  std::string pem;
};

class Alerter {
 public:
  struct Wiring {
    const Clock& clock;
    store::Store& store;
    // The CRLs served now (may be empty); called on the worker thread.
    std::function<std::vector<CrlWindow>()> crls;
    Transport transport;  // empty: http_transport()
    size_t page = 500;    // inventory rows read per query
    // The CA certificates in use: each partner webhook is told of each one
    // once ("ca_certificate" notices), so a partner learns of a rotation.
    std::vector<CaAnnouncement> cas = {};
  };
  // Reads each webhook's secret file and ca_file (relative paths from
  // `dir`); an unreadable or empty one, or a ca_file without a certificate,
  // is an error naming the file, never its content.
  [[nodiscard]] static Result<std::unique_ptr<Alerter>> create(AlertsConfig cfg,
                                                               const std::filesystem::path& dir,
                                                               Wiring wiring);
  // Stops the worker (a delivery in flight ends within its timeout);
  // deliveries still waiting are recorded as dead letters.
  ~Alerter();
  Alerter(const Alerter&) = delete;
  Alerter& operator=(const Alerter&) = delete;

  // Starts the worker thread (create() does not, so tests can drive it).
  void start();
  // A reload (SIGHUP): stops this alerter's worker (a delivery in flight
  // ends within its timeout) and moves the deliveries still waiting to
  // `next`, the alerter of the new configuration, each to the webhook of the
  // same name and partner, with its attempt count and retry time (it is
  // signed anew, with the new secret, when sent). Those whose webhook is
  // gone stay here and become dead letters when this alerter is destroyed;
  // those beyond `next`'s max_pending are dropped (recorded). Returns how
  // many moved.
  size_t hand_over(Alerter& next);
  // Every tick of herald serve: asks the worker for an evaluation when one
  // is due and this node holds the singleton lease. Never blocks.
  void tick(bool singleton);
  // A revocation-state change seen by this node: if the certificate's owner
  // is a partner with a webhook, a notice goes to it (once in all nodes).
  void revoked(const Serial& serial);

  // The worker's steps, public for tests (run on the caller's thread).
  [[nodiscard]] Status evaluate(TimePoint now);
  void handle_revoked(const Serial& serial, TimePoint now);
  // Sends every delivery due by `now` (one attempt each).
  void deliver_due(std::chrono::steady_clock::time_point now);
  [[nodiscard]] size_t pending() const;
  [[nodiscard]] uint64_t dropped() const { return dropped_.load(); }
  [[nodiscard]] uint64_t evaluations() const { return evaluations_.load(); }

 private:
  struct Webhook {
    WebhookConfig config;
    std::string secret;
    std::string ca_pem;  // the ca_file's contents, or "" (the system store)
  };
  struct Delivery {
    size_t webhook = 0;
    std::string key, kind, serial, body;
    int attempt = 1;  // the next attempt's number
    std::chrono::steady_clock::time_point next_at;
    std::string last_error;
  };
  Alerter(AlertsConfig cfg, std::vector<Webhook> hooks, Wiring wiring);
  void run();
  // Claims the tightest threshold crossed; its label if this call won it.
  std::optional<std::string> claim(std::string_view kind, std::string_view id,
                                   const std::vector<Crossed>& crossed, TimePoint now);
  // The log line and the webhooks (those for `partner`, or the general ones).
  void dispatch(const std::string& key, const std::string& kind, const std::string& serial,
                const std::string& body, const std::string& log_line, const std::string& partner,
                TimePoint now);
  void finish(const Delivery& d, const std::string& result, TimePoint now);

  AlertsConfig cfg_;
  std::vector<Webhook> hooks_;
  Wiring w_;
  std::unordered_set<std::string> known_;  // keys claimed (by anyone), to spare the store
  static constexpr size_t kMaxKnown = 200000;
  static constexpr size_t kMaxRevocations = 10000;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Delivery> queue_;
  std::deque<Serial> revocations_;
  bool stop_ = false;
  bool evaluate_requested_ = false;
  bool handed_over_ = false;  // deliveries arrived from hand_over(): recompute the wake-up
  std::optional<std::chrono::steady_clock::time_point> last_evaluation_;
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> evaluations_{0};
  std::thread worker_;
};

}  // namespace herald::alerts
