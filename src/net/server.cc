#include "net/server.h"

#include <openssl/ssl.h>
#include <sys/resource.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "net/tls_internal.h"
#include "obs/log.h"
#include "obs/metrics.h"

namespace herald::net {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// ---------------------------------------------------------------- Request/Response

std::string_view Request::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return {};
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string Request::query_param(std::string_view name) const {
  auto values = query_params(name);
  return values.empty() ? "" : std::move(values.front());
}

std::vector<std::string> Request::query_params(std::string_view name) const {
  std::vector<std::string> out;
  std::string_view q = query;
  while (!q.empty()) {
    auto amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == name)
      out.push_back(eq == pair.npos ? "" : percent_decode(pair.substr(eq + 1)));
    if (amp == q.npos) break;
    q.remove_prefix(amp + 1);
  }
  return out;
}

void Response::set_header(std::string name, std::string value) {
  for (auto& [k, v] : headers) {
    if (beast::iequals(k, name)) {
      v = std::move(value);
      return;
    }
  }
  headers.emplace_back(std::move(name), std::move(value));
}

std::shared_ptr<Deferred> Response::defer() {
  if (!deferred_) deferred_ = std::make_shared<Deferred>();
  return deferred_;
}

bool Deferred::complete(Response res) {
  std::function<void(Response)> deliver;
  {
    std::lock_guard lock(mu_);
    if (state_ != State::kOpen) return false;
    state_ = State::kDone;
    on_cancel_ = nullptr;
    if (!deliver_) {
      early_ = std::move(res);
      return true;
    }
    deliver = std::move(deliver_);
  }
  deliver(std::move(res));
  return true;
}

bool Deferred::open() const {
  std::lock_guard lock(mu_);
  return state_ == State::kOpen;
}

void Deferred::on_cancel(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    if (state_ == State::kOpen) {
      on_cancel_ = std::move(fn);
      return;
    }
    if (state_ == State::kDone) return;
  }
  if (fn) fn();  // cancelled already
}

void Deferred::attach(std::function<void(Response)> deliver) {
  std::optional<Response> early;
  {
    std::lock_guard lock(mu_);
    if (state_ == State::kOpen) {
      deliver_ = std::move(deliver);
      return;
    }
    if (state_ == State::kDone && early_) early.swap(early_);
  }
  if (early) deliver(std::move(*early));
}

bool Deferred::cancel() {
  std::function<void()> fn;
  {
    std::lock_guard lock(mu_);
    if (state_ != State::kOpen) return false;
    state_ = State::kCancelled;
    deliver_ = nullptr;
    fn = std::move(on_cancel_);
  }
  if (fn) fn();
  return true;
}

// ---------------------------------------------------------------- server internals

namespace {

struct Listener;

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // A strong reference, or null once the session's destruction has begun
  // (its destructor waits for the registry's lock to unregister it).
  virtual std::shared_ptr<SessionBase> alive() = 0;
  virtual void on_server_stop() = 0;
};

}  // namespace

// One io_context per I/O thread, each run by its thread alone: a connection
// lives on one context, so its handlers never hop threads and no strand or
// cross-thread wake-up is needed. The first context also runs the acceptors,
// signals and timers.
struct Server::Impl {
  Impl(int n, int workers_n) : threads(n < 1 ? 1 : n) {
    for (int i = 0; i < threads; ++i) {
      contexts.push_back(std::make_unique<asio::io_context>(1));
      guards.emplace_back(contexts.back()->get_executor());
    }
    if (workers_n > 0) workers.emplace(static_cast<std::size_t>(workers_n));
  }
  int threads;
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::atomic<size_t> next_context{0};
  asio::io_context& ioc() { return *contexts.front(); }
  asio::io_context& session_context() {
    return *contexts[next_context.fetch_add(1, std::memory_order_relaxed) % contexts.size()];
  }
  void stop_all() {
    for (auto& g : guards) g.reset();
    for (auto& c : contexts) c->stop();
  }
  std::optional<asio::thread_pool> workers;
  std::atomic<bool> stopping{false};
  std::vector<std::shared_ptr<Listener>> listeners;
  std::optional<asio::signal_set> signals;
  std::function<void()> on_hup;
  std::vector<std::shared_ptr<asio::steady_timer>> timers;
  std::vector<std::shared_ptr<std::function<void()>>> timers_keepalive;
  std::optional<asio::steady_timer> force_stop;
  std::mutex mu;
  std::set<SessionBase*> sessions;
  // attach_metrics(): null until then.
  obs::Family<obs::Counter>* accept_errors = nullptr;
  obs::Family<obs::Counter>* limit_reached = nullptr;
  obs::Family<obs::Gauge>* connections_open = nullptr;

  void add(SessionBase* s) {
    std::lock_guard lock(mu);
    sessions.insert(s);
  }
  void remove(SessionBase* s) {
    std::lock_guard lock(mu);
    sessions.erase(s);
    if (stopping && sessions.empty() && force_stop) {
      asio::post(ioc(), [this] {
        if (force_stop) force_stop->cancel();
      });
    }
  }
  void wait_signal();
  void begin_stop();
};

namespace {

struct Listener : std::enable_shared_from_this<Listener> {
  Listener(Server::Impl& s, tcp::acceptor a, std::shared_ptr<TlsContextHolder> t, Handler h,
           Limits l, Dispatch d, InlinePredicate i)
      : server(s),
        acceptor(std::move(a)),
        tls(std::move(t)),
        handler(std::move(h)),
        limits(l),
        dispatch(d),
        runs_inline(std::move(i)),
        backoff_timer(s.ioc()) {
    const std::string name = tls ? "https" : "http";
    if (s.accept_errors) {
      for (const char* reason : {"emfile", "enfile", "nobufs", "other"})
        accept_errors[reason_index(reason)] = &s.accept_errors->with({name, reason});
    }
    if (s.limit_reached) limit_reached = &s.limit_reached->with({name});
    if (s.connections_open) connections_open = &s.connections_open->with({name});
  }
  Server::Impl& server;
  tcp::acceptor acceptor;
  std::shared_ptr<TlsContextHolder> tls;
  Handler handler;
  Limits limits;
  Dispatch dispatch;
  InlinePredicate runs_inline;

  // Accepting runs on the first context (the acceptor's); so do `paused`,
  // `backoff` and the timer. `open` is updated by the sessions' threads too.
  asio::steady_timer backoff_timer;
  std::chrono::milliseconds backoff{0};
  bool paused = false;  // at max_connections: resumed when a connection closes
  std::atomic<size_t> open{0};
  obs::Counter* accept_errors[4] = {};
  obs::Counter* limit_reached = nullptr;
  obs::Gauge* connections_open = nullptr;

  static size_t reason_index(std::string_view reason) {
    return reason == "emfile" ? 0 : reason == "enfile" ? 1 : reason == "nobufs" ? 2 : 3;
  }
  void accept();
  void on_accept_error(const beast::error_code& ec);
  // A session starts or ends (any thread).
  void opened() {
    open.fetch_add(1, std::memory_order_relaxed);
    if (connections_open) connections_open->add(1);
  }
  void closed() {
    if (connections_open) connections_open->add(-1);
    // Only the close that takes the count below the cap can find the
    // listener paused; accept() re-checks the count on the acceptor's thread.
    // Stopping, nothing is resumed (and the first context may be gone).
    if (open.fetch_sub(1, std::memory_order_acq_rel) == limits.max_connections &&
        limits.max_connections != 0 && !server.stopping) {
      asio::post(acceptor.get_executor(), [self = shared_from_this()] {
        if (!self->paused) return;
        self->paused = false;
        self->accept();
      });
    }
  }
};

// The HTTP layer's own refusals, before any handler runs.
std::string problem_body(int status, std::string_view type, std::string_view detail) {
  return "{\"type\":\"urn:herald:problem:" + std::string(type) + "\",\"title\":\"" +
         std::string(type) + "\",\"status\":" + std::to_string(status) + ",\"detail\":\"" +
         std::string(detail) + "\"}";
}

template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(Stream stream, std::shared_ptr<Listener> listener, std::shared_ptr<TlsContext> tls_ctx)
      : stream_(std::move(stream)), listener_(std::move(listener)), tls_ctx_(std::move(tls_ctx)) {
    listener_->server.add(this);
    listener_->opened();
  }
  ~Session() override {
    // A deferred request still open (the contexts stopped under it): its
    // holder's complete() must not reach this session any more.
    if (deferred_) deferred_->cancel();
    listener_->server.remove(this);
    listener_->closed();
  }

  void start() {
    auto self = this->shared_from_this();
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(listener_->limits.read_timeout);
      stream_.async_handshake(asio::ssl::stream_base::server, [self](beast::error_code ec) {
        if (ec) return;  // failed handshakes just close
        self->capture_peer();
        self->read(true);
      });
    } else {
      read(true);
    }
  }

  std::shared_ptr<SessionBase> alive() override { return this->weak_from_this().lock(); }
  void on_server_stop() override {
    auto self = this->shared_from_this();
    asio::post(stream_.get_executor(), [self] {
      if (self->waiting_) return self->stop_waiting();
      if (!self->in_flight_) beast::get_lowest_layer(self->stream_).cancel();
    });
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;
  static constexpr std::size_t kFirstRead = 4096;

  void capture_peer() {
    if constexpr (kTls) {
      SSL* ssl = stream_.native_handle();
      peer_verified_ = SSL_get_verify_result(ssl) == X509_V_OK;
      if (X509* leaf = SSL_get0_peer_certificate(ssl)) {
        peer_chain_.push_back(der_of(*leaf));
        // Server side: the chain excludes the leaf.
        if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl)) {
          for (int i = 0; i < sk_X509_num(chain); ++i)
            peer_chain_.push_back(der_of(*sk_X509_value(chain, i)));
        }
      } else {
        peer_verified_ = false;
      }
    }
  }

  static Bytes der_of(X509& x) {
    unsigned char* p = nullptr;
    int len = i2d_X509(&x, &p);
    Bytes out;
    if (len > 0) out.assign(p, p + len);
    OPENSSL_free(p);
    return out;
  }

  // A request must arrive whole within read_timeout of its first byte. A new
  // connection's first byte is due at once (read_timeout from the accept, or
  // from the TLS handshake); between keep-alive requests the connection may
  // sit idle for idle_timeout until the next request's first byte arrives.
  void read(bool first) {
    if (listener_->server.stopping) return close();
    parser_.emplace();
    parser_->body_limit(listener_->limits.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(listener_->limits.max_header_bytes));
    if (first || buffer_.size() > 0) return read_request();  // pipelined: the bytes are here
    beast::get_lowest_layer(stream_).expires_after(listener_->limits.idle_timeout);
    auto self = this->shared_from_this();
    stream_.async_read_some(buffer_.prepare(kFirstRead),
                            [self](beast::error_code ec, std::size_t n) {
                              if (ec) return self->close();  // idle timeout, EOF, reset, stop
                              self->buffer_.commit(n);
                              self->read_request();
                            });
  }

  void read_request() {
    beast::get_lowest_layer(stream_).expires_after(listener_->limits.read_timeout);
    auto self = this->shared_from_this();
    http::async_read(stream_, buffer_, *parser_,
                     [self](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
        ec == asio::error::eof) {
      return close();
    }
    if (ec) {
      int status = ec == http::error::body_limit     ? 413
                   : ec == http::error::header_limit ? 431
                                                     : 400;
      const char* type = status == 413   ? "request-too-large"
                         : status == 431 ? "header-too-large"
                                         : "malformed-http";
      const char* detail = status == 413   ? "the request body exceeds the server's limit"
                           : status == 431 ? "the request header exceeds the server's limit"
                                           : "the request is not valid HTTP/1.1";
      // A 413 (and some 400s) come after the header was read: the client's
      // own id is known then. Beast refuses a Content-Length over the limit
      // once every field is parsed but before it calls the header done.
      const bool header_read = status == 413 || parser_->is_header_done();
      std::string_view given;
      std::string method, path;
      if (header_read) {
        given = parser_->get()["X-Request-Id"];
        method = std::string(parser_->get().method_string());
        const std::string_view target = parser_->get().target();
        path = std::string(target.substr(0, target.find('?')));
      }
      request_id_ = id_for(given);
      log_refusal(status, type, method, path);
      Response r;
      r.status = status;
      r.body = problem_body(status, type, detail);
      r.set_header("Content-Type", "application/problem+json");
      r.close = true;
      linger_ = true;  // the client may still be sending what we refused
      return write(std::move(r), false);
    }
    in_flight_ = true;
    auto& msg = parser_->get();
    request_id_ = id_for(msg["X-Request-Id"]);
    Request req;
    req.request_id = request_id_;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    auto q = req.target.find('?');
    req.path = req.target.substr(0, q);
    if (q != std::string::npos) req.query = req.target.substr(q + 1);
    for (const auto& f : msg) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req.headers.emplace_back(std::move(name), std::string(f.value()));
    }
    req.body = std::move(msg.body());
    beast::error_code ep_ec;
    auto ep = beast::get_lowest_layer(stream_).socket().remote_endpoint(ep_ec);
    if (!ep_ec) req.remote_address = ep.address().to_string();
    req.tls = kTls;
    req.peer_chain = peer_chain_;
    req.peer_verified = peer_verified_;
    const bool keep_alive = msg.keep_alive();
    const unsigned version = msg.version() == 10 ? 10 : 11;
    const bool head = req.method == "HEAD";

    if (listener_->dispatch == Dispatch::kWorkers && listener_->server.workers &&
        !(listener_->runs_inline && listener_->runs_inline(req))) {
      auto self = this->shared_from_this();
      asio::post(*listener_->server.workers,
                 [self, req = std::move(req), keep_alive, head, version]() mutable {
                   Response res = self->call_handler(req);
                   asio::post(self->stream_.get_executor(),
                              [self, res = std::move(res), keep_alive, head, version]() mutable {
                                self->respond(std::move(res), keep_alive, head, version);
                              });
                 });
      return;
    }
    respond(call_handler(req), keep_alive, head, version);
  }

  static std::string id_for(std::string_view given) {
    return obs::valid_request_id(given) ? std::string(given) : obs::new_request_id();
  }

  // The server's own answers (the handler never saw the request) get a line
  // of their own; the handler's caller logs the rest. Method and path only
  // when the header was read; never a header value but the id, never a body.
  void log_refusal(int status, std::string_view type, std::string_view method,
                   std::string_view path) {
    if (!obs::log_enabled(obs::LogLevel::kInfo)) return;
    std::string remote;
    beast::error_code ep_ec;
    auto ep = beast::get_lowest_layer(stream_).socket().remote_endpoint(ep_ec);
    if (!ep_ec) remote = ep.address().to_string();
    std::vector<obs::LogField> f{{"request_id", request_id_},
                                 {"status", status},
                                 {"error", type},
                                 {"listener", kTls ? "https" : "http"},
                                 {"remote", remote}};
    if (!method.empty()) f.emplace_back("method", method);
    if (!path.empty()) f.emplace_back("path", path);
    obs::log(obs::LogLevel::kInfo, "request refused", f);
  }

  void respond(Response res, bool keep_alive, bool head, unsigned version) {
    if (auto d = res.deferred()) return wait_for(std::move(d), keep_alive, head, version);
    write(std::move(res), keep_alive, head, version);
  }

  // ------------------------------------------------ deferred answers
  //
  // While a deferred request waits, the connection has no read or idle
  // timeout; a read is kept pending on it (the "watch") so that a peer that
  // closes or resets the connection cancels the request at once. Bytes the
  // peer sends meanwhile (a pipelined request) are kept in buffer_, within
  // the request caps. When the answer is written on a kept-alive
  // connection, the watch goes on as the wait for the next request's first
  // byte, bounded by idle_timeout (idle_timer_, since the stream's own
  // timer cannot be set on a read already pending).
  void wait_for(std::shared_ptr<Deferred> d, bool keep_alive, bool head, unsigned version) {
    deferred_ = d;
    waiting_ = true;
    pending_ = Pending{keep_alive, head, version};
    beast::get_lowest_layer(stream_).expires_never();
    watch();
    std::weak_ptr<Session> weak = this->weak_from_this();
    auto ex = stream_.get_executor();
    d->attach([weak, ex](Response r) {
      asio::post(ex, [weak, r = std::move(r)]() mutable {
        if (auto self = weak.lock()) self->on_deferred(std::move(r));
      });
    });
    if (listener_->server.stopping) stop_waiting();
  }

  void watch() {
    watching_ = true;
    auto self = this->shared_from_this();
    stream_.async_read_some(buffer_.prepare(kFirstRead),
                            [self](beast::error_code ec, std::size_t n) { self->on_watch(ec, n); });
  }

  void on_watch(beast::error_code ec, std::size_t n) {
    watching_ = false;
    idle_phase_ = false;
    if (idle_timer_) idle_timer_->cancel();
    if (!ec) buffer_.commit(n);
    if (resume_) {  // answered, kept alive, and a pipelined request is already here
      resume_ = false;
      if (ec && ec != asio::error::operation_aborted) return close();
      return read(false);
    }
    const bool too_much =
        buffer_.size() > listener_->limits.max_header_bytes + listener_->limits.max_body_bytes;
    if (ec || close_after_watch_ || too_much) {
      close_after_watch_ = false;
      if (waiting_) {  // the peer went away before the answer: cancel the request
        waiting_ = false;
        if (deferred_) deferred_->cancel();
        deferred_.reset();
      }
      if (writing_) {  // the write's handler closes
        peer_gone_ = true;
        return;
      }
      return close();
    }
    if (waiting_ || writing_) return watch();
    read(false);  // the answer is written: these are the next request's first bytes
  }

  // The holder completed the request (posted to this connection's thread).
  void on_deferred(Response r) {
    if (!waiting_) return;  // cancelled meanwhile
    waiting_ = false;
    deferred_.reset();
    write(std::move(r), pending_.keep_alive, pending_.head, pending_.version);
  }

  // Server stop: a waiting request is answered 503 and the connection closed.
  void stop_waiting() {
    if (!waiting_) return;
    if (deferred_) deferred_->cancel();
    log_refusal(503, "unavailable", {}, {});  // request_id_ is still the waiting request's
    Response r;
    r.status = 503;
    r.body = problem_body(503, "unavailable", "the server is stopping");
    r.set_header("Content-Type", "application/problem+json");
    r.set_header("Retry-After", "1");
    r.close = true;
    on_deferred(std::move(r));
  }

  // The answer to a deferred request is written while the watch is pending.
  void after_deferred_write(beast::error_code ec) {
    beast::error_code ignored;
    if (ec || peer_gone_ || !res_.keep_alive() || listener_->server.stopping) {
      close_after_watch_ = true;
      beast::get_lowest_layer(stream_).socket().cancel(ignored);
      return;
    }
    if (buffer_.size() > 0) {
      resume_ = true;
      beast::get_lowest_layer(stream_).socket().cancel(ignored);
      return;
    }
    idle_phase_ = true;
    if (!idle_timer_) idle_timer_.emplace(stream_.get_executor());
    idle_timer_->expires_after(listener_->limits.idle_timeout);
    const uint64_t gen = ++idle_gen_;
    std::weak_ptr<Session> weak = this->weak_from_this();  // the watch read keeps the session
    idle_timer_->async_wait([weak, gen](beast::error_code wait_ec) {
      auto self = weak.lock();
      if (wait_ec || !self || gen != self->idle_gen_ || !self->idle_phase_ || !self->watching_)
        return;
      self->close_after_watch_ = true;
      beast::error_code ignored2;
      beast::get_lowest_layer(self->stream_).socket().cancel(ignored2);
    });
  }

  Response call_handler(const Request& req) {
    Response res;
    try {
      listener_->handler(req, res);
    } catch (const std::exception&) {
      res = Response{};
      res.status = 500;
      res.body = problem_body(500, "internal", "the handler failed");
      res.set_header("Content-Type", "application/problem+json");
    }
    return res;
  }

  void write(Response r, bool keep_alive, bool head = false, unsigned version = 11) {
    res_ = {};
    // Answer in the request's version: an HTTP/1.0 keep-alive client (ab)
    // needs "Connection: keep-alive", which Beast adds for 1.0 only.
    res_.version(version);
    res_.result(static_cast<http::status>(r.status));
    res_.set(http::field::server, "herald");
    for (auto& [k, v] : r.headers) res_.set(k, v);
    // Every answer names its request: the handler's own X-Request-Id if it
    // set one, else this request's (a deferred answer, a refusal, a 500).
    if (res_.find("X-Request-Id") == res_.end() && !request_id_.empty())
      res_.set("X-Request-Id", request_id_);
    res_.body() = std::move(r.body);
    res_.keep_alive(keep_alive && !r.close && !listener_->server.stopping);
    res_.prepare_payload();
    if (head) res_.body().clear();  // HEAD: the GET answer's headers (and Content-Length), no body
    beast::get_lowest_layer(stream_).expires_after(listener_->limits.read_timeout);
    auto self = this->shared_from_this();
    writing_ = true;
    http::async_write(stream_, res_, [self](beast::error_code ec, std::size_t) {
      self->in_flight_ = false;
      self->writing_ = false;
      if (self->watching_) return self->after_deferred_write(ec);
      if (self->peer_gone_) return self->close();
      if (!ec && self->linger_) return self->linger();
      if (ec || !self->res_.keep_alive()) return self->close();
      self->read(false);
    });
  }

  // After refusing a request mid-body (413, 431, 400) the client may still be
  // sending it. Closing with unread data makes the kernel reset the
  // connection, and the client can lose the answer it has not read yet; so
  // read and discard what arrives (at most kLingerBytes, kLingerTime), then close.
  static constexpr std::size_t kLingerBytes = 1 << 20;
  static constexpr std::chrono::seconds kLingerTime{2};
  void linger() {
    if (lingered_ == 0) beast::get_lowest_layer(stream_).expires_after(kLingerTime);
    auto self = this->shared_from_this();
    stream_.async_read_some(asio::buffer(linger_buf_), [self](beast::error_code ec, std::size_t n) {
      self->lingered_ += n;
      if (ec || self->lingered_ >= kLingerBytes || self->listener_->server.stopping)
        return self->close();
      self->linger();
    });
  }

  void close() {
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
      auto self = this->shared_from_this();
      stream_.async_shutdown(
          [self](beast::error_code) { beast::get_lowest_layer(self->stream_).close(); });
    } else {
      beast::error_code ec;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      stream_.close();
    }
  }

  Stream stream_;
  std::shared_ptr<Listener> listener_;
  std::shared_ptr<TlsContext> tls_ctx_;  // keeps the context alive across reloads
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  std::vector<Bytes> peer_chain_;
  bool peer_verified_ = false;
  bool in_flight_ = false;
  bool writing_ = false;
  bool linger_ = false;
  // The id of the request being answered (one at a time per connection: a
  // pipelined request is not parsed before the answer is written), for
  // answers the handler did not give one and the refusals' log lines.
  std::string request_id_;
  // A deferred request (wait_for()).
  struct Pending {
    bool keep_alive = true;
    bool head = false;
    unsigned version = 11;
  };
  std::shared_ptr<Deferred> deferred_;
  Pending pending_;
  bool waiting_ = false;            // deferred and not answered yet
  bool watching_ = false;           // the watch read is pending
  bool close_after_watch_ = false;  // close once the watch read ends
  bool resume_ = false;             // read the next request once the watch read ends
  bool peer_gone_ = false;
  bool idle_phase_ = false;  // answered, kept alive, the watch waits for the next request
  uint64_t idle_gen_ = 0;
  std::optional<asio::steady_timer> idle_timer_;
  std::size_t lingered_ = 0;
  std::array<char, 16 * 1024> linger_buf_{};
};

void Listener::accept() {
  if (server.stopping || !acceptor.is_open()) return;
  if (limits.max_connections != 0 && open.load(std::memory_order_acquire) >= limits.max_connections) {
    // Stop accepting: new clients wait in the kernel's backlog (no descriptor
    // spent on them) until closed() resumes us.
    paused = true;
    if (limit_reached) limit_reached->inc();
    return;
  }
  auto self = shared_from_this();
  acceptor.async_accept(
      server.session_context(), [self](beast::error_code ec, tcp::socket socket) {
        if (ec) return self->on_accept_error(ec);
        self->backoff = std::chrono::milliseconds(0);
        socket.set_option(tcp::no_delay(true), ec);
        if (self->tls) {
          auto ctx = self->tls->current();
          auto s = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
              beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)), ctx->ctx),
              self, ctx);
          s->start();
        } else {
          auto s = std::make_shared<Session<beast::tcp_stream>>(
              beast::tcp_stream(std::move(socket)), self, nullptr);
          s->start();
        }
        self->accept();
      });
}

// Out of descriptors (EMFILE, ENFILE) or kernel memory, accept() fails at once
// for as long as the condition lasts, with the connection still pending: re-arming
// at once spins a core. Wait 10 ms, doubling up to 1 s, reset by the next
// success. A client that gave up before we accepted it (ECONNABORTED) is no
// condition at all: accept the next one at once.
void Listener::on_accept_error(const beast::error_code& ec) {
  if (ec == asio::error::operation_aborted || !acceptor.is_open() || server.stopping) return;
  if (ec == asio::error::connection_aborted) return accept();
  const int e = ec.category() == asio::error::get_system_category() ? ec.value() : 0;
  const char* reason = e == EMFILE                    ? "emfile"
                       : e == ENFILE                  ? "enfile"
                       : e == ENOBUFS || e == ENOMEM  ? "nobufs"
                                                      : "other";
  if (auto* c = accept_errors[reason_index(reason)]) c->inc();
  using std::chrono::milliseconds;
  backoff = std::min(milliseconds(1000), std::max(milliseconds(10), backoff * 2));
  backoff_timer.expires_after(backoff);
  backoff_timer.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
    if (wait_ec) return;  // cancelled: stopping
    self->accept();
  });
}

}  // namespace

FdLimit raise_fd_limit() {
  FdLimit out;
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    out.error = std::strerror(errno);
    return out;
  }
  out.before = out.soft = rl.rlim_cur;
  out.hard = rl.rlim_max;
  rlim_t target = rl.rlim_max;
  if (target == RLIM_INFINITY) {  // the kernel's ceiling is fs.nr_open
    std::ifstream nr_open("/proc/sys/fs/nr_open");
    unsigned long long n = 0;
    target = (nr_open >> n) && n > 0 ? static_cast<rlim_t>(n) : 1048576;
  }
  if (target <= rl.rlim_cur) return out;
  rlimit raised = rl;
  raised.rlim_cur = target;
  if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) {
    out.error = std::strerror(errno);
    return out;
  }
  out.soft = target;
  return out;
}

size_t connection_cap(size_t configured, const FdLimit& fd, size_t listeners) {
  // Keep room for everything else: the inventory, key and CA files, ACME
  // validation sockets, the worker threads' files.
  constexpr uint64_t kReserve = 256;
  if (fd.soft == 0 || listeners == 0) return configured;
  const uint64_t room = fd.soft > kReserve + 16 * listeners ? (fd.soft - kReserve) / listeners : 16;
  if (configured == 0 || configured > room) return static_cast<size_t>(room);
  return configured;
}

// ---------------------------------------------------------------- Server

Server::Server(int io_threads, int worker_threads)
    : impl_(std::make_unique<Impl>(io_threads, worker_threads)) {}
Server::~Server() = default;

Result<uint16_t> Server::listen(const std::string& host, uint16_t port,
                                std::shared_ptr<TlsContextHolder> tls, Handler handler,
                                Limits limits, Dispatch dispatch, InlinePredicate runs_inline) {
  beast::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) return make_error(ErrorCode::kInvalidArgument, "invalid listen address '" + host + "'");
  tcp::acceptor acceptor(impl_->ioc());
  tcp::endpoint ep(address, port);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error(ErrorCode::kIo, "cannot listen on " + host + ":" + std::to_string(port) +
                                          ": " + ec.message());
  }
  uint16_t bound = acceptor.local_endpoint().port();
  auto l = std::make_shared<Listener>(*impl_, std::move(acceptor), std::move(tls),
                                      std::move(handler), limits, dispatch,
                                      std::move(runs_inline));
  impl_->listeners.push_back(l);
  l->accept();
  return bound;
}

void Server::Impl::begin_stop() {
  if (stopping.exchange(true)) return;
  for (auto& l : listeners) {
    beast::error_code ignored;
    l->acceptor.close(ignored);
    l->backoff_timer.cancel();
  }
  for (auto& t : timers) t->cancel();
  if (signals) signals->cancel();
  // Strong references taken under the lock: a session whose last reference
  // is dropping on another thread is skipped, never touched after it is gone.
  std::vector<std::shared_ptr<SessionBase>> live;
  {
    std::lock_guard lock(mu);
    for (auto* s : sessions) {
      if (auto p = s->alive()) live.push_back(std::move(p));
    }
    // In-flight requests get this long to finish before the io threads stop.
    // When the last session ends the timer is cancelled; either way every
    // context stops then.
    force_stop.emplace(ioc(), std::chrono::seconds(10));
    force_stop->async_wait([this](beast::error_code) { stop_all(); });
    if (sessions.empty()) force_stop->cancel();
  }
  for (auto& s : live) s->on_server_stop();
  live.clear();  // outside the lock: a last reference may end a session, which takes it
}

void Server::Impl::wait_signal() {
  signals->async_wait([this](beast::error_code ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      if (on_hup) on_hup();
      wait_signal();
      return;
    }
    begin_stop();  // SIGTERM, SIGINT
  });
}

void Server::handle_signals(std::function<void()> on_hup) {
  impl_->on_hup = std::move(on_hup);
  impl_->signals.emplace(impl_->ioc(), SIGTERM, SIGINT, SIGHUP);
  impl_->wait_signal();
}

void Server::stop() {
  asio::post(impl_->ioc(), [this] { impl_->begin_stop(); });
}

bool Server::stopping() const { return impl_->stopping; }

void Server::attach_metrics(obs::Registry& registry) {
  impl_->accept_errors = &registry.counter(
      "herald_accept_errors", "Failed accepts by listener and reason (emfile, enfile, nobufs, other)",
      {"listener", "reason"});
  impl_->limit_reached = &registry.counter(
      "herald_connection_limit_reached",
      "Times a listener reached max_connections and paused accepting", {"listener"});
  impl_->connections_open =
      &registry.gauge("herald_connections_open", "Open connections by listener", {"listener"});
}

void Server::every(std::chrono::milliseconds period, std::function<void()> fn) {
  auto timer = std::make_shared<asio::steady_timer>(impl_->ioc());
  impl_->timers.push_back(timer);
  auto tick = std::make_shared<std::function<void()>>();
  std::weak_ptr<std::function<void()>> weak_tick = tick;
  *tick = [this, timer, period, fn = std::move(fn), weak_tick] {
    timer->expires_after(period);
    timer->async_wait([this, timer, fn, weak_tick](beast::error_code ec) {
      if (ec || impl_->stopping) return;
      auto run_and_rearm = [this, fn, weak_tick] {
        if (impl_->stopping) return;
        fn();
        if (auto t = weak_tick.lock()) (*t)();
      };
      if (impl_->workers)
        asio::post(*impl_->workers, run_and_rearm);
      else
        run_and_rearm();
    });
  };
  (*tick)();
  impl_->timers_keepalive.push_back(tick);
}

void Server::run() {
  std::vector<std::thread> extra;
  for (int i = 1; i < impl_->threads; ++i)
    extra.emplace_back([this, i] { impl_->contexts[static_cast<size_t>(i)]->run(); });
  impl_->ioc().run();
  for (auto& t : extra) t.join();
  if (impl_->workers) impl_->workers->join();
}

}  // namespace herald::net
