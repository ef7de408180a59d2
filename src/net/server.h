#pragma once
// The HTTP/1.1 server: Boost.Asio/Beast underneath, one io_context run by a
// thread per core, plain and TLS (1.2/1.3) listeners, keep-alive, request
// body and header caps, read and idle timeouts (a slow client cannot hold a
// worker), and a graceful stop: listeners close, in-flight requests finish
// and get "Connection: close", then run() returns.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/error.h"
#include "net/http.h"
#include "net/tls.h"

namespace herald::net {

class Server {
 public:
  explicit Server(int threads);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port (port 0 picks a free one) and returns the bound port.
  // `tls` null: plain HTTP.
  [[nodiscard]] Result<uint16_t> listen(const std::string& host, uint16_t port,
                                        std::shared_ptr<TlsContextHolder> tls, Handler handler,
                                        Limits limits);
  // SIGTERM/SIGINT call stop(); SIGHUP calls on_hup (from an io thread).
  void handle_signals(std::function<void()> on_hup);
  // Runs the io threads; returns after stop() once in-flight requests are done.
  void run();
  // Thread-safe, idempotent.
  void stop();
  [[nodiscard]] bool stopping() const;
  // Schedules `fn` every `period` on the io threads until stop().
  void every(std::chrono::milliseconds period, std::function<void()> fn);

  struct Impl;  // defined in server.cc (Boost stays out of this header)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace herald::net
