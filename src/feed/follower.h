#pragma once
// Follows `herald serve`'s revocation feed (GET /v1/revocations, a long
// poll over mutual TLS) on a thread of its own: the renewal agent replaces
// a revoked certificate, and the mTLS proxy refuses one, within about a
// second of the revocation, with one open request instead of a CRL or OCSP
// fetch per certificate. The follower authenticates with a certificate of
// the same CA (the agent: one it manages; the proxy: its own).
//
// While the feed is not followed (no certificate yet, the CA unreachable,
// 429 over its waiter cap, an older server without the feed) connected()
// is false and the caller falls back to OCSP or CRLs.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "net/client.h"

namespace herald::feed {

class Follower {
 public:
  struct Credentials {
    std::string cert_pem;  // leaf (+ chain)
    std::string key_pem;
  };
  struct Hooks {
    // The client certificate to present; nullopt: none yet (retried).
    std::function<std::optional<Credentials>()> credentials;
    // A certificate (uppercase hex serial, as Serial::hex()) was revoked or
    // put on hold. Called on the watch's thread.
    std::function<void(const std::string& serial)> revoked;
    // Optional: every page's changes, for callers that keep their own state
    // (each serial's current status, in order); `reset` first when the feed
    // was reset (drop what was learned from it).
    std::function<void(const std::vector<std::pair<std::string, bool>>& changes, bool reset)> page;
    std::function<void(const std::string& line)> log;
  };
  // `wait`: how long each long poll may be held by the server.
  // `server_url`: https://HOST:PORT of herald serve; `trust_pem`: anchors for
  // its TLS certificate.
  // `start_since`: nullopt follows from now on (the agent: its own
  // certificates were checked at start); 0 reads the whole history first
  // (the proxy: every certificate revoked so far), page by page.
  Follower(std::string server_url, std::string trust_pem, Hooks hooks,
           std::chrono::seconds wait = std::chrono::seconds(30),
           std::optional<int64_t> start_since = std::nullopt);
  ~Follower();  // stop()
  Follower(const Follower&) = delete;
  Follower& operator=(const Follower&) = delete;

  void start();
  // Aborts a poll in flight and joins the thread; idempotent.
  void stop();
  [[nodiscard]] bool connected() const { return connected_.load(); }
  // Connected, and the history asked for at the start has been read to its
  // end (the last page was not full): the reported state is complete.
  [[nodiscard]] bool caught_up() const { return connected_.load() && caught_up_.load(); }
  // When the last page arrived (steady clock; epoch: never): the feed's lag
  // is at most now - last_page() + the server's wait.
  [[nodiscard]] std::chrono::steady_clock::time_point last_page() const;

 private:
  void run();
  // Sleeps up to `d`; false when stopped meanwhile.
  bool sleep_for(std::chrono::milliseconds d);

  std::string url_, trust_pem_;
  std::atomic<int64_t> last_page_ns_{0};
  Hooks hooks_;
  std::chrono::seconds wait_;
  std::atomic<bool> connected_{false};
  std::atomic<bool> caught_up_{false};
  std::optional<int64_t> start_since_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  net::CancelToken cancel_;
  std::thread thread_;
};

}  // namespace herald::feed
