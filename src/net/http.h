#pragma once
// Plain request/response values exchanged between the HTTP server and the
// handlers. Nothing here depends on Boost: handlers never see Beast.

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/encoding.h"

namespace herald::net {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as received: "/v1/certs?status=valid"
  std::string path;    // target without the query
  std::string query;   // after '?', undecoded
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  std::string body;
  std::string remote_address;
  bool tls = false;
  // The client certificate chain as presented (leaf first, DER), and
  // whether OpenSSL verified it against the server's client-CA store
  // (chain and validity; any EKU).
  std::vector<Bytes> peer_chain;
  bool peer_verified = false;
  // The id the server answers with in X-Request-Id (every answer carries
  // one, a deferred one too): the client's own X-Request-Id if
  // obs::valid_request_id accepts it, else a fresh obs::new_request_id().
  std::string request_id;

  [[nodiscard]] std::string_view header(std::string_view lowercase_name) const;
  // A query parameter, percent-decoded; "" if absent (the first if repeated).
  [[nodiscard]] std::string query_param(std::string_view name) const;
  // Every value of a query parameter, percent-decoded, in order.
  [[nodiscard]] std::vector<std::string> query_params(std::string_view name) const;
};

class Deferred;

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool close = false;  // close the connection after this response

  void set_header(std::string name, std::string value);

  // Answers later: the handler returns without an answer (status, headers
  // and body of this Response are then ignored) and whoever holds the
  // returned handle answers from any thread with Deferred::complete(). A
  // deferred request holds no I/O or worker thread; its connection waits
  // without read or idle timeout, watching for the peer to go away. Call at
  // most once per request (a second call returns the same handle).
  [[nodiscard]] std::shared_ptr<Deferred> defer();
  [[nodiscard]] const std::shared_ptr<Deferred>& deferred() const { return deferred_; }

 private:
  std::shared_ptr<Deferred> deferred_;
};

// The answer to a deferred request (Response::defer), thread-safe. It ends
// exactly once: completed by its holder, or cancelled by the server because
// the peer closed the connection or the server is stopping (the server then
// answers 503 with "Connection: close" itself). After that, complete() is a
// no-op that returns false.
class Deferred {
 public:
  // Sends `res` as the answer (any thread; the write happens on the
  // connection's own thread). False if the request had already ended.
  bool complete(Response res);
  // Whether complete() can still take effect.
  [[nodiscard]] bool open() const;
  // `fn` runs once if the request is cancelled (never after complete()), on
  // a network thread and under no lock of this object, so it may call back
  // into whoever holds the handle; if it was cancelled already, `fn` runs
  // now, on the caller's thread. Lets a holder drop its state (a waiter
  // slot) as soon as the client is gone. One callback; a later call replaces it.
  void on_cancel(std::function<void()> fn);

  // The server's side (net/server.cc). attach: where complete() delivers
  // (an answer completed before attach is delivered by attach itself).
  // cancel: ends the request without an answer; false if it had ended.
  void attach(std::function<void(Response)> deliver);
  bool cancel();

 private:
  enum class State { kOpen, kDone, kCancelled };
  mutable std::mutex mu_;
  State state_ = State::kOpen;
  std::optional<Response> early_;  // completed before attach()
  std::function<void(Response)> deliver_;
  std::function<void()> on_cancel_;
};

using Handler = std::function<void(const Request&, Response&)>;

struct Limits {
  size_t max_body_bytes = 64 * 1024;
  size_t max_header_bytes = 8 * 1024;
  // A whole request (header and body) must arrive within read_timeout of its
  // first byte (a connection's first request: of the accept, or of the TLS
  // handshake, itself bounded by read_timeout). Between keep-alive requests a
  // connection may stay silent for idle_timeout, then it is closed.
  std::chrono::seconds read_timeout{10};
  std::chrono::seconds idle_timeout{30};
  // Open connections per listener; at the cap the listener stops accepting
  // until one closes (new clients wait in the kernel's backlog). 0: no cap.
  size_t max_connections = 4096;
};

[[nodiscard]] std::string percent_decode(std::string_view s);

}  // namespace herald::net
