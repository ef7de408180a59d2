#pragma once
// Follows `herald serve`'s revocation feed (GET /v1/revocations, a long
// poll over mutual TLS) on a thread of its own, so that a certificate
// revoked on the CA is replaced within about a second, with one open
// request per agent instead of an OCSP request per certificate. The agent
// authenticates with one of the certificates it manages.
//
// While the feed is not followed (no valid certificate yet, the CA
// unreachable, 429 over its waiter cap, an older server without the feed)
// connected() is false and the agent falls back to OCSP polling.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "agent/client.h"
#include "net/client.h"

namespace herald::agent {

class RevocationWatch {
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
    std::function<void(const std::string& line)> log;
  };
  // `wait`: how long each long poll may be held by the server.
  RevocationWatch(ServerRef server, Hooks hooks,
                  std::chrono::seconds wait = std::chrono::seconds(30));
  ~RevocationWatch();  // stop()
  RevocationWatch(const RevocationWatch&) = delete;
  RevocationWatch& operator=(const RevocationWatch&) = delete;

  void start();
  // Aborts a poll in flight and joins the thread; idempotent.
  void stop();
  [[nodiscard]] bool connected() const { return connected_.load(); }

 private:
  void run();
  // Sleeps up to `d`; false when stopped meanwhile.
  bool sleep_for(std::chrono::milliseconds d);

  ServerRef server_;
  Hooks hooks_;
  std::chrono::seconds wait_;
  std::atomic<bool> connected_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  net::CancelToken cancel_;
  std::thread thread_;
};

}  // namespace herald::agent
