#pragma once
// The HTTP/1.1 server: Boost.Asio/Beast underneath, one io_context run by a
// thread per core, plain and TLS (1.2/1.3) listeners, keep-alive, request
// body and header caps, read and idle timeouts (a slow client cannot hold a
// worker), and a graceful stop: listeners close, in-flight requests finish
// and get "Connection: close", then run() returns.
//
// A handler may answer later (Response::defer, net/http.h): the request then
// holds no thread while it waits (a long poll), its connection has no read
// or idle timeout meanwhile, a peer that closes cancels it, and stop()
// answers every waiting request 503 with "Connection: close".

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/error.h"
#include "net/http.h"
#include "net/tls.h"

namespace herald::obs {
class Registry;
}

namespace herald::net {

// Where a listener's handler runs: on the I/O threads (it must not block:
// OCSP from memory, CRL files), or on the worker pool (it may wait on the
// inventory's fsync; the I/O threads keep serving meanwhile).
enum class Dispatch { kInline, kWorkers };
// On a kWorkers listener, the requests for which this returns true run on the
// I/O thread all the same: handlers that never wait on a commit save the hop
// to the pool and back (two thread wake-ups per request).
using InlinePredicate = std::function<bool(const Request&)>;

class Server {
 public:
  // io_threads run the network (one per core is right); worker_threads run
  // kWorkers handlers and the every() tasks (0: everything on the I/O threads).
  explicit Server(int io_threads, int worker_threads = 0);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port (port 0 picks a free one) and returns the bound port.
  // `tls` null: plain HTTP.
  [[nodiscard]] Result<uint16_t> listen(const std::string& host, uint16_t port,
                                        std::shared_ptr<TlsContextHolder> tls, Handler handler,
                                        Limits limits, Dispatch dispatch = Dispatch::kInline,
                                        InlinePredicate runs_inline = {});
  // SIGTERM/SIGINT call stop(); SIGHUP calls on_hup (from an io thread).
  void handle_signals(std::function<void()> on_hup);
  // Runs the io threads; returns after stop() once in-flight requests are done.
  void run();
  // Thread-safe, idempotent.
  void stop();
  [[nodiscard]] bool stopping() const;
  // Counts into `registry` (which must outlive the server): failed accepts
  // herald_accept_errors_total{listener,reason}, pauses at max_connections
  // herald_connection_limit_reached_total{listener}, open connections
  // herald_connections_open{listener}; listener is "https" or "http". Call
  // before listen().
  void attach_metrics(obs::Registry& registry);
  // Schedules `fn` every `period` (on the worker pool if there is one, else
  // the I/O threads) until stop(); runs never overlap.
  void every(std::chrono::milliseconds period, std::function<void()> fn);

  struct Impl;  // defined in server.cc (Boost stays out of this header)

 private:
  std::unique_ptr<Impl> impl_;
};

// The process's descriptor limit (RLIMIT_NOFILE).
struct FdLimit {
  uint64_t before = 0;  // soft limit found
  uint64_t soft = 0;    // soft limit now
  uint64_t hard = 0;
  std::string error;  // why raising failed, if it did
};
// Raises the soft limit to the hard one (to fs.nr_open if unlimited).
FdLimit raise_fd_limit();
// max_connections per listener that leaves descriptors for the rest of the
// process: the configured value, lowered to fit `listeners` listeners under
// the soft limit (0 configured: only that bound).
[[nodiscard]] size_t connection_cap(size_t configured, const FdLimit& fd, size_t listeners);

}  // namespace herald::net
