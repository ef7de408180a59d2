#include "net/proxy.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "base/json_line.h"
#include "net/server.h"
#include "net/tls_internal.h"
#include "obs/metrics.h"

namespace herald::net {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
using Clock = std::chrono::steady_clock;

namespace {

// Body bytes relayed per step, per direction: what bounds a connection's
// memory whatever the body size (plus the read buffers, capped below).
constexpr std::size_t kRelayBuffer = 16 * 1024;
// A pooled backend connection idle for longer is checked with poll() first.
constexpr std::chrono::milliseconds kPollAfter{250};
// Room kept free for one read while a body streams (see relay_request).
constexpr std::size_t kBodyReadRoom = 2 * kRelayBuffer;
// Upstream response header cap.
constexpr std::uint32_t kUpstreamHeaderLimit = 64 * 1024;
// Beast reads up to 64 KiB at a time into a dynamic buffer.
constexpr std::size_t kReadAhead = 64 * 1024;
constexpr std::chrono::seconds kDrainTime{10};
constexpr std::chrono::seconds kShutdownTime{2};

// ---------------------------------------------------------------- session tickets

// Session-ticket keys (RFC 5077 format as OpenSSL uses it: 16-byte name,
// AES-256-CBC key, HMAC-SHA256 key), rotated every kRotation. The newest key
// seals new tickets; the older ones still open theirs (and the ticket is
// renewed). The ring belongs to the ProxyServer and is attached to every
// TLS context its listeners use, so a certificate reload keeps tickets valid.
class TicketKeyRing {
 public:
  static constexpr std::chrono::hours kRotation{1};
  static constexpr std::size_t kKept = 3;  // a ticket opens for 2 to 3 hours

  struct Key {
    std::array<unsigned char, 16> name{};
    std::array<unsigned char, 32> aes{};
    std::array<unsigned char, 32> hmac{};
    Clock::time_point born;
  };

  ~TicketKeyRing() {
    for (auto& k : keys_) OPENSSL_cleanse(&k, sizeof k);
  }

  // The key sealing new tickets; false if no randomness.
  bool current(Key& out) {
    std::lock_guard lock(mu_);
    const auto now = Clock::now();
    if (keys_.empty() || now - keys_.front().born >= kRotation) {
      Key k;
      if (RAND_bytes(k.name.data(), 16) != 1 || RAND_bytes(k.aes.data(), 32) != 1 ||
          RAND_bytes(k.hmac.data(), 32) != 1) {
        return false;
      }
      k.born = now;
      keys_.push_front(k);
      while (keys_.size() > kKept) {
        OPENSSL_cleanse(&keys_.back(), sizeof(Key));
        keys_.pop_back();
      }
    }
    out = keys_.front();
    return true;
  }
  // 0: unknown name; 1: the current key; 2: an older one (renew the ticket).
  int find(const unsigned char* name, Key& out) {
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < keys_.size(); ++i) {
      if (std::memcmp(keys_[i].name.data(), name, 16) == 0) {
        out = keys_[i];
        return i == 0 ? 1 : 2;
      }
    }
    return 0;
  }

 private:
  std::mutex mu_;
  std::deque<Key> keys_;  // newest first
};

struct Route;

// What the proxy attaches to an SSL_CTX it configured.
struct CtxState {
  std::shared_ptr<TicketKeyRing> ring;
};

void free_ctx_state(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*idx*/, long /*argl*/,
                    void* /*argp*/) {
  delete static_cast<CtxState*>(ptr);
}

int ctx_index() {
  static const int idx = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, free_ctx_state);
  return idx;
}
int ssl_index() {  // the Route of a connection
  static const int idx = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return idx;
}

int ticket_key_cb(SSL* ssl, unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* cctx,
                  EVP_MAC_CTX* hctx, int enc) {
  auto* state = static_cast<CtxState*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_index()));
  if (!state) return -1;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  TicketKeyRing::Key k;
  int rc = 1;
  if (enc) {
    if (!state->ring->current(k) || RAND_bytes(iv, 16) != 1) return -1;
    std::memcpy(key_name, k.name.data(), 16);
    if (EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr, k.aes.data(), iv) != 1) rc = -1;
  } else {
    rc = state->ring->find(key_name, k);
    if (rc == 0) return 0;  // unknown key: a full handshake
    // 2: accepted, and a fresh ticket goes out after this resumption too
    // (OpenSSL sends none after a resumed TLS 1.3 handshake otherwise, and a
    // client uses each ticket once, RFC 8446 C.4: every other connection
    // would be a full handshake).
    rc = 2;
    if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr, k.aes.data(), iv) != 1) rc = -1;
  }
  if (rc > 0 && EVP_MAC_CTX_set_params(hctx, params) != 1) rc = -1;
  if (rc > 0 && EVP_MAC_init(hctx, k.hmac.data(), k.hmac.size(), params) != 1) rc = -1;
  OPENSSL_cleanse(&k, sizeof k);
  return rc;
}

// Client certificates are requested and never judged here: admit() decides.
int accept_any(int /*preverify_ok*/, X509_STORE_CTX* /*ctx*/) { return 1; }
int skip_verification(X509_STORE_CTX* ctx, void* /*arg*/) {
  // Not verified: SSL_get_verify_result() must not read X509_V_OK.
  X509_STORE_CTX_set_error(ctx, X509_V_ERR_APPLICATION_VERIFICATION);
  return 1;
}

}  // namespace

// ---------------------------------------------------------------- routes

namespace {

// A connection (either mode), for the stop registry.
class ConnBase {
 public:
  virtual ~ConnBase() = default;
  virtual std::shared_ptr<ConnBase> alive() = 0;
  virtual void on_server_stop() = 0;
};

struct UpstreamConn {
  explicit UpstreamConn(asio::any_io_executor ex)
      : stream(std::move(ex)), buffer(kUpstreamHeaderLimit + kReadAhead) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  Clock::time_point idle_since;
};

}  // namespace

struct ProxyServer::Impl {
  explicit Impl(int n) : threads(n < 1 ? 1 : n) {
    for (int i = 0; i < threads; ++i) {
      contexts.push_back(std::make_unique<asio::io_context>(1));
      guards.emplace_back(contexts.back()->get_executor());
    }
  }
  ~Impl();

  int threads;
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::atomic<std::size_t> next_context{0};
  asio::io_context& ioc() { return *contexts.front(); }
  std::size_t pick_context() {
    return next_context.fetch_add(1, std::memory_order_relaxed) % contexts.size();
  }
  void stop_all() {
    for (auto& g : guards) g.reset();
    for (auto& c : contexts) c->stop();
    if (admin) admin->stop();
  }

  std::shared_ptr<TicketKeyRing> ring = std::make_shared<TicketKeyRing>();
  std::atomic<bool> stopping{false};
  std::vector<std::shared_ptr<Route>> routes;
  std::optional<asio::signal_set> signals;
  std::function<void()> on_hup;
  std::vector<std::shared_ptr<asio::steady_timer>> timers;
  std::vector<std::shared_ptr<std::function<void()>>> ticks;
  std::vector<std::shared_ptr<asio::steady_timer>> sweepers;  // one per context
  std::optional<asio::steady_timer> force_stop;
  std::mutex mu;
  std::set<ConnBase*> conns;
  std::unique_ptr<Server> admin;
  std::thread admin_thread;

  obs::Family<obs::Counter>* handshakes = nullptr;
  obs::Family<obs::Gauge>* open_gauge = nullptr;
  obs::Family<obs::Counter>* upstream_errors = nullptr;
  obs::Family<obs::Histogram>* request_seconds = nullptr;

  void add(ConnBase* c) {
    std::lock_guard lock(mu);
    conns.insert(c);
  }
  void remove(ConnBase* c) {
    std::lock_guard lock(mu);
    conns.erase(c);
    if (stopping && conns.empty() && force_stop) {
      asio::post(ioc(), [this] {
        if (force_stop) force_stop->cancel();
      });
    }
  }
  void begin_stop();
  void wait_signal();
  void sweep(std::size_t index);
};

namespace {

struct Route : std::enable_shared_from_this<Route> {
  Route(ProxyServer::Impl& s, tcp::acceptor a, ProxyListener l, tcp::endpoint b)
      : server(s),
        cfg(std::move(l)),
        acceptor(std::move(a)),
        backend(b),
        backoff_timer(s.ioc()),
        pools(s.contexts.size()) {
    if (s.handshakes) {
      hs_allow = &s.handshakes->with({cfg.name, "allow"});
      hs_refuse = &s.handshakes->with({cfg.name, "refuse"});
      hs_failed = &s.handshakes->with({cfg.name, "failed"});
    }
    if (s.open_gauge) open_gauge = &s.open_gauge->with({cfg.name});
    if (s.upstream_errors) upstream_errors = &s.upstream_errors->with({cfg.name});
    if (s.request_seconds) request_seconds = &s.request_seconds->with({cfg.name});
    pool_cap = std::max<std::size_t>(
        1, (cfg.upstream_pool_size + s.contexts.size() - 1) / s.contexts.size());
    if (cfg.upstream_pool_size == 0) pool_cap = 0;
  }

  ProxyServer::Impl& server;
  ProxyListener cfg;
  std::optional<tcp::acceptor> acceptor;
  tcp::endpoint backend;
  std::optional<asio::steady_timer> backoff_timer;
  std::chrono::milliseconds backoff{0};
  bool paused = false;
  std::atomic<std::size_t> open{0};
  // Idle keep-alive backend connections, one pool per I/O context, each
  // touched by its context's thread only.
  std::vector<std::deque<std::unique_ptr<UpstreamConn>>> pools;
  std::size_t pool_cap = 1;

  obs::Counter* hs_allow = nullptr;
  obs::Counter* hs_refuse = nullptr;
  obs::Counter* hs_failed = nullptr;
  obs::Gauge* open_gauge = nullptr;
  obs::Counter* upstream_errors = nullptr;
  obs::Histogram* request_seconds = nullptr;

  void accept();
  void on_accept_error(const beast::error_code& ec);
  void opened() {
    open.fetch_add(1, std::memory_order_relaxed);
    if (open_gauge) open_gauge->add(1);
  }
  void closed() {
    if (open_gauge) open_gauge->add(-1);
    const std::size_t max = cfg.limits.max_connections;
    if (open.fetch_sub(1, std::memory_order_acq_rel) == max && max != 0 && !server.stopping) {
      asio::post(server.ioc(), [self = shared_from_this()] {
        if (!self->paused) return;
        self->paused = false;
        self->accept();
      });
    }
  }

  // A pooled connection for context `index` that still looks alive, or null.
  std::unique_ptr<UpstreamConn> take(std::size_t index) {
    auto& pool = pools[index];
    while (!pool.empty()) {
      auto c = std::move(pool.back());
      pool.pop_back();
      if (usable(*c)) return c;
      beast::error_code ignored;
      c->stream.socket().close(ignored);
    }
    return nullptr;
  }
  void give_back(std::size_t index, std::unique_ptr<UpstreamConn> c) {
    auto& pool = pools[index];
    if (server.stopping || pool.size() >= pool_cap) {
      beast::error_code ignored;
      c->stream.socket().close(ignored);
      return;
    }
    c->stream.expires_never();
    c->idle_since = Clock::now();
    pool.push_back(std::move(c));
  }
  // Not timed out, not closed by the backend (no EOF or stray bytes waiting).
  // A connection idle for less than kPollAfter is taken without asking the
  // kernel (a poll() per request, ~3 % of a small request's CPU): a backend
  // that closed it just now is the race a check cannot close anyway, and a
  // request that finds the connection dead is retried on a new one.
  bool usable(UpstreamConn& c) const {
    const auto idle = Clock::now() - c.idle_since;
    if (idle >= cfg.upstream_idle_timeout) return false;
    if (c.buffer.size() != 0) return false;
    if (idle < kPollAfter) return true;
    const int fd = c.stream.socket().native_handle();
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) != 0) return false;  // readable (EOF, reset, data) or error
    return true;
  }
  void sweep(std::size_t index) {
    auto& pool = pools[index];
    for (auto it = pool.begin(); it != pool.end();) {
      if (server.stopping || !usable(**it)) {
        beast::error_code ignored;
        (*it)->stream.socket().close(ignored);
        it = pool.erase(it);
      } else {
        ++it;
      }
    }
  }
};

std::string problem(int status, std::string_view type, std::string_view title,
                    std::string_view detail, std::string_view reason) {
  JsonLine j;
  j.str("type", "urn:herald:problem:" + std::string(type)).str("title", title).num("status", status);
  if (!detail.empty()) j.str("detail", detail);
  if (!reason.empty()) j.str("reason", reason);
  std::string out = j.finish();
  out.pop_back();  // the body, without the line's newline
  return out;
}

Bytes der_of(X509& x) {
  unsigned char* p = nullptr;
  const int len = i2d_X509(&x, &p);
  Bytes out;
  if (len > 0) out.assign(p, p + len);
  OPENSSL_free(p);
  return out;
}

PeerInfo peer_of(SSL* ssl, const std::string& remote) {
  PeerInfo peer;
  peer.remote_address = remote;
  peer.resumed = SSL_session_reused(ssl) == 1;
  if (const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) peer.sni = sni;
  peer.tls_version = SSL_get_version(ssl);
  // On a resumed session the leaf comes from the session; the rest of the
  // chain is not kept in a ticket.
  X509* leaf = SSL_get0_peer_certificate(ssl);
  if (!leaf) return peer;
  peer.chain.push_back(der_of(*leaf));
  if (peer.resumed) return peer;
  // Server side: OpenSSL's chain excludes the leaf (skip it if present anyway).
  if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl)) {
    for (int i = 0; i < sk_X509_num(chain); ++i) {
      X509* c = sk_X509_value(chain, i);
      if (i == 0 && X509_cmp(c, leaf) == 0) continue;
      peer.chain.push_back(der_of(*c));
    }
  }
  return peer;
}

Admission call_admit(const Route& route, const PeerInfo& peer) {
  if (!route.cfg.admit) {
    Admission a;
    a.http_status = 500;
    a.reason = "no_policy";
    a.detail = "The proxy has no admission policy.";
    return a;
  }
  try {
    return route.cfg.admit(peer);
  } catch (const std::exception&) {
    Admission a;
    a.http_status = 500;
    a.reason = "policy_error";
    a.detail = "The admission policy failed.";
    return a;
  }
}

std::string remote_of(beast::tcp_stream& s) {
  beast::error_code ec;
  auto ep = s.socket().remote_endpoint(ec);
  return ec ? std::string() : ep.address().to_string();
}

// The head of an HTTP/1.1 message written into one string: the proxy's
// fast path for a message that goes out whole (a request without a body,
// a response whose body already arrived), one buffer and one send instead
// of Beast's serializer walking every field as buffers of its own.
template <class Fields>
void append_fields(std::string& out, const Fields& fields) {
  for (const auto& f : fields) {
    out.append(f.name_string().data(), f.name_string().size());
    out += ": ";
    out.append(f.value().data(), f.value().size());
    out += "\r\n";
  }
  out += "\r\n";
}

template <class Body>
void append_head(std::string& out, const http::request<Body>& m) {
  out.append(m.method_string().data(), m.method_string().size());
  out += ' ';
  out.append(m.target().data(), m.target().size());
  out += m.version() == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n";
  append_fields(out, m);
}

template <class Body>
void append_head(std::string& out, const http::response<Body>& m) {
  out += m.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(m.result_int());
  out += ' ';
  const std::string_view reason =
      m.reason().empty() ? std::string_view(http::obsolete_reason(m.result()))
                         : std::string_view(m.reason());
  out.append(reason.data(), reason.size());
  out += "\r\n";
  append_fields(out, m);
}

void lower(std::string& s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

// Removes the hop-by-hop headers (RFC 9110 §7.6.1): Connection and the
// headers it names, Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade, and
// Transfer-Encoding (the caller re-frames the body). Content-Length and Host
// stay even if Connection names them: framing is not the client's to undo.
template <class Fields>
void strip_hop_by_hop(Fields& f) {
  std::vector<std::string> named;
  for (const auto& field : f) {
    if (field.name() != http::field::connection) continue;
    for (auto token : http::token_list{field.value()}) {
      std::string n(token);
      lower(n);
      if (n != "content-length" && n != "host") named.push_back(std::move(n));
    }
  }
  for (auto& n : named) f.erase(n);
  for (auto field : {http::field::connection, http::field::keep_alive,
                     http::field::proxy_connection, http::field::te, http::field::trailer,
                     http::field::upgrade, http::field::transfer_encoding}) {
    f.erase(field);
  }
}

bool is_disconnect(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::ssl::error::stream_truncated;
}

// ---------------------------------------------------------------- connections

// What both modes share: the TLS handshake, the peer, admission, closing.
template <class Derived>
class ConnCommon : public ConnBase, public std::enable_shared_from_this<Derived> {
 public:
  ConnCommon(TlsStream stream, std::shared_ptr<Route> route, std::shared_ptr<TlsContext> ctx,
             std::size_t index)
      : client_(std::move(stream)), route_(std::move(route)), ctx_(std::move(ctx)), index_(index) {
    route_->server.add(this);
    route_->opened();
    SSL_set_ex_data(client_.native_handle(), ssl_index(), route_.get());
  }
  ~ConnCommon() override {
    route_->server.remove(this);
    route_->closed();
  }
  std::shared_ptr<ConnBase> alive() override { return this->weak_from_this().lock(); }

  void start() {
    auto self = this->shared_from_this();
    remote_ = remote_of(beast::get_lowest_layer(client_));
    beast::get_lowest_layer(client_).expires_after(route_->cfg.limits.read_timeout);
    client_.async_handshake(asio::ssl::stream_base::server, [self](beast::error_code ec) {
      if (ec) {
        if (self->route_->hs_failed) self->route_->hs_failed->inc();
        beast::get_lowest_layer(self->client_).close();
        return;
      }
      self->peer_ = peer_of(self->client_.native_handle(), self->remote_);
      self->admission_ = call_admit(*self->route_, self->peer_);
      self->allowed_ = self->admission_.verdict == Admission::Verdict::kAllow;
      if (auto* c = self->allowed_ ? self->route_->hs_allow : self->route_->hs_refuse) c->inc();
      self->on_admitted();
    });
  }

 protected:
  // Sends close_notify (bounded by kShutdownTime), then closes the socket,
  // without waiting for the client's close_notify in return (RFC 8446 §6.1
  // allows it; nginx does the same): a client that never answers must not
  // hold the connection, nor a graceful stop, for kShutdownTime.
  void close_client() {
    if (client_closing_) return;
    client_closing_ = true;
    SSL* ssl = client_.native_handle();
    SSL_set_shutdown(ssl, SSL_get_shutdown(ssl) | SSL_RECEIVED_SHUTDOWN);
    auto self = this->shared_from_this();
    beast::get_lowest_layer(client_).expires_after(kShutdownTime);
    client_.async_shutdown(
        [self](beast::error_code) { beast::get_lowest_layer(self->client_).close(); });
  }
  void report(AccessRecord& rec) {
    rec.remote_address = remote_;
    rec.identity = admission_.identity;
    if (rec.verdict.empty()) rec.verdict = allowed_ ? "allow" : "refuse";
    if (!allowed_ && rec.verdict == "refuse") rec.reason = admission_.reason;
    if (route_->request_seconds)
      route_->request_seconds->observe(std::chrono::duration<double>(rec.duration).count());
    if (rec.upstream_error && route_->upstream_errors) route_->upstream_errors->inc();
    if (route_->cfg.on_request) {
      try {
        route_->cfg.on_request(rec);
      } catch (const std::exception&) {  // a logger's failure is not the client's
      }
    }
  }

  TlsStream client_;
  std::shared_ptr<Route> route_;
  std::shared_ptr<TlsContext> ctx_;  // kept across reloads for this connection
  std::size_t index_;                // the I/O context (pool) of this connection
  std::string remote_;
  PeerInfo peer_;
  Admission admission_;
  bool allowed_ = false;
  bool client_closing_ = false;
};

// ------------------------------------------------ HTTP mode

class HttpConn : public ConnCommon<HttpConn> {
 public:
  using ConnCommon::ConnCommon;

  void on_server_stop() override {
    auto self = shared_from_this();
    asio::post(client_.get_executor(), [self] {
      // Waiting for a request (or still handshaking): close now. A request
      // in flight finishes, then the connection closes.
      if (!self->busy_) {
        beast::error_code ignored;
        beast::get_lowest_layer(self->client_).socket().cancel(ignored);
      }
    });
  }

  void on_admitted() {
    beast::get_lowest_layer(client_).expires_never();
    read_request(true);
  }

 private:
  const Limits& limits() const { return route_->cfg.limits; }

  // Between keep-alive requests the connection may stay silent for
  // idle_timeout; a request's header must then arrive within read_timeout.
  void read_request(bool first) {
    busy_ = false;
    if (route_->server.stopping) return close_client();
    req_p_.emplace();
    req_p_->header_limit(static_cast<std::uint32_t>(limits().max_header_bytes));
    req_p_->body_limit(boost::none);  // bodies are streamed, never held
    req_s_.reset();
    res_p_.reset();
    res_s_.reset();
    if (first || cbuf_.size() > 0) return read_header();
    idle_ = true;
    beast::get_lowest_layer(client_).expires_after(limits().idle_timeout);
    auto self = shared_from_this();
    client_.async_read_some(cbuf_.prepare(4096), [self](beast::error_code ec, std::size_t n) {
      self->idle_ = false;
      if (ec) return self->close_client();
      self->cbuf_.commit(n);
      self->read_header();
    });
  }

  void read_header() {
    beast::get_lowest_layer(client_).expires_after(limits().read_timeout);
    auto self = shared_from_this();
    http::async_read_header(client_, cbuf_, *req_p_,
                            [self](beast::error_code ec, std::size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec) {
      if (is_disconnect(ec) || ec == beast::error::timeout || ec == asio::error::operation_aborted)
        return close_client();
      const int status = ec == http::error::header_limit ? 431 : 400;
      rec_ = {};
      t0_ = Clock::now();
      rec_.verdict = allowed_ ? "allow" : "refuse";
      return respond_local(
          status,
          problem(status, status == 431 ? "header-too-large" : "malformed-http",
                  status == 431 ? "Request Header Fields Too Large" : "Bad Request",
                  status == 431 ? "the request header exceeds the proxy's limit"
                                : "the request is not valid HTTP/1.1",
                  ""),
          "application/problem+json", true);
    }
    busy_ = true;
    auto& m = req_p_->get();
    rec_ = {};
    t0_ = Clock::now();
    rec_.method = std::string(m.method_string());
    rec_.target = std::string(m.target());
    version_ = m.version() == 10 ? 10 : 11;
    head_ = m.method() == http::verb::head;
    client_keep_alive_ = m.keep_alive();
    attempt_ = 0;
    body_streamed_ = false;
    response_started_ = false;

    const std::string_view target = m.target();
    const std::string_view path = target.substr(0, target.find('?'));
    if (!route_->cfg.health_path.empty() && path == route_->cfg.health_path) {
      rec_.verdict = "health";
      HealthAnswer h;
      if (route_->cfg.health) {
        try {
          h = route_->cfg.health();
        } catch (const std::exception&) {
          h = {500, "{\"status\":\"error\"}"};
        }
      } else {
        h.body = "{\"status\":\"ok\"}";
      }
      // A body we did not read: close after answering.
      return respond_local(h.status, std::move(h.body), "application/json", !req_p_->is_done());
    }
    if (allowed_ && admission_.recheck) {
      // Revoked or expired since the connection was admitted?
      std::optional<Admission> again;
      try {
        again = admission_.recheck();
      } catch (const std::exception&) {
        again.reset();
      }
      if (again && again->verdict != Admission::Verdict::kAllow) {
        allowed_ = false;
        admission_ = std::move(*again);
        rec_.identity = admission_.identity;
      }
    }
    if (!allowed_) {
      int status = admission_.http_status;
      if (status < 400 || status > 599) status = 403;
      const std::string title =
          std::string(http::obsolete_reason(static_cast<http::status>(status)));
      return respond_local(
          status, problem(status, "access-denied", title, admission_.detail, admission_.reason),
          "application/problem+json", true);
    }
    if (m.method() == http::verb::connect) {  // no tunnels through an HTTP route
      return respond_local(
          405,
          problem(405, "method-not-allowed", "Method Not Allowed", "CONNECT is not relayed", ""),
          "application/problem+json", true);
    }
    prepare_upstream_request();
    if (expect_continue_) {
      // The proxy answers 100-continue itself, then streams the body.
      auto self = shared_from_this();
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      beast::get_lowest_layer(client_).expires_after(limits().read_timeout);
      return asio::async_write(client_, asio::buffer(kContinue.data(), kContinue.size()),
                               [self](beast::error_code wec, std::size_t) {
                                 if (wec) return self->client_failed();
                                 self->get_upstream();
                               });
    }
    get_upstream();
  }

  void prepare_upstream_request() {
    auto& m = req_p_->get();
    expect_continue_ = false;
    if (auto it = m.find(http::field::expect); it != m.end()) {
      expect_continue_ = beast::iequals(it->value(), "100-continue");
      m.erase(http::field::expect);
    }
    std::string prior_xff;
    if (auto it = m.find("X-Forwarded-For"); it != m.end()) prior_xff = it->value();
    strip_hop_by_hop(m);
    // Identity headers the client may try to forge.
    std::vector<std::string> strip;
    for (const auto& f : m) {
      std::string n(f.name_string());
      lower(n);
      for (const auto& prefix : route_->cfg.strip_header_prefixes) {
        if (!prefix.empty() && n.size() >= prefix.size() &&
            beast::iequals(std::string_view(n).substr(0, prefix.size()), prefix)) {
          strip.push_back(n);
          break;
        }
      }
    }
    for (const auto& n : strip) m.erase(n);
    m.erase("X-Forwarded-For");
    m.set("X-Forwarded-For", prior_xff.empty() ? remote_ : prior_xff + ", " + remote_);
    m.set("X-Forwarded-Proto", "https");
    for (const auto& [k, v] : admission_.headers) m.set(k, v);
    m.version(11);
    if (req_p_->chunked()) {
      m.chunked(true);
    } else if (!req_p_->content_length()) {
      m.erase(http::field::content_length);
    }
  }

  // A pooled connection, else a new one.
  void get_upstream() {
    ++attempt_;
    if (attempt_ == 1) {
      if (auto c = route_->take(index_)) {
        up_ = std::move(c);
        up_reused_ = true;
        return send_request_header();
      }
    }
    up_reused_ = false;
    up_ = std::make_unique<UpstreamConn>(client_.get_executor());
    up_->stream.expires_after(route_->cfg.upstream_connect_timeout);
    auto self = shared_from_this();
    up_->stream.async_connect(route_->backend, [self](beast::error_code ec) {
      if (ec) return self->upstream_failed("the backend cannot be reached");
      self->up_->stream.socket().set_option(tcp::no_delay(true), ec);
      self->send_request_header();
    });
  }

  // Whether a failure on a reused connection may be retried on a new one:
  // nothing of the response arrived and no body byte has been sent.
  bool may_retry() const { return up_reused_ && attempt_ == 1 && !body_streamed_; }

  void send_request_header() {
    up_->stream.expires_after(limits().read_timeout);
    auto self = shared_from_this();
    if (req_p_->is_done() && !req_p_->get().chunked()) {
      // No body to relay: the head in one buffer, one send.
      wire_.clear();
      append_head(wire_, req_p_->get());
      return asio::async_write(up_->stream, asio::buffer(wire_),
                               [self](beast::error_code ec, std::size_t) {
                                 if (ec) {
                                   if (self->may_retry()) return self->retry();
                                   return self->upstream_failed(
                                       "the backend closed the connection");
                                 }
                                 self->read_response();
                               });
    }
    req_s_.emplace(req_p_->get());
    http::async_write_header(up_->stream, *req_s_, [self](beast::error_code ec, std::size_t) {
      if (ec) {
        if (self->may_retry()) return self->retry();
        return self->upstream_failed("the backend closed the connection");
      }
      self->relay_request();
    });
  }

  void retry() {
    beast::error_code ignored;
    up_->stream.socket().close(ignored);
    up_.reset();
    req_s_.reset();
    get_upstream();
  }

  // Beast's buffer_body relay: read what fits in req_buf_, write it, repeat.
  void relay_request() {
    auto& body = req_p_->get().body();
    if (req_p_->is_done()) {
      body.data = nullptr;
      body.size = 0;
      body.more = false;
      return write_request_body();
    }
    body.data = req_buf_.data();
    body.size = req_buf_.size();
    // Beast reads at most the buffer's free capacity (at least 512 bytes):
    // a buffer grown only to the header's size read a streamed body ~500
    // bytes per receive. Room for two relay buffers per read.
    if (cbuf_.capacity() < kBodyReadRoom) cbuf_.reserve(kBodyReadRoom);
    beast::get_lowest_layer(client_).expires_after(limits().read_timeout);
    auto self = shared_from_this();
    http::async_read(client_, cbuf_, *req_p_, [self](beast::error_code ec, std::size_t) {
      if (ec == http::error::need_buffer) ec = {};
      if (ec) return self->client_failed();
      auto& b = self->req_p_->get().body();
      const std::size_t got = self->req_buf_.size() - b.size;
      b.size = got;
      b.data = self->req_buf_.data();
      b.more = !self->req_p_->is_done();
      self->rec_.bytes_in += got;
      self->write_request_body();
    });
  }

  void write_request_body() {
    if (req_s_->is_done()) return read_response();
    up_->stream.expires_after(limits().read_timeout);
    auto self = shared_from_this();
    auto& b = req_p_->get().body();
    if (b.size > 0) body_streamed_ = true;
    http::async_write(up_->stream, *req_s_, [self](beast::error_code ec, std::size_t) {
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        if (self->may_retry()) return self->retry();
        return self->upstream_failed("the backend closed the connection");
      }
      if (self->req_s_->is_done()) return self->read_response();
      self->relay_request();
    });
  }

  void read_response() {
    res_s_.reset();
    res_p_.emplace();
    res_p_->header_limit(kUpstreamHeaderLimit);
    res_p_->body_limit(boost::none);
    if (head_) res_p_->skip(true);
    up_->stream.expires_after(limits().read_timeout);
    auto self = shared_from_this();
    http::async_read_header(
        up_->stream, up_->buffer, *res_p_,
        [self](beast::error_code ec, std::size_t n) { self->on_response_header(ec, n); });
  }

  void on_response_header(beast::error_code ec, std::size_t n) {
    if (ec) {
      const bool nothing = n == 0 && (ec == http::error::end_of_stream || ec == asio::error::eof ||
                                      ec == asio::error::connection_reset);
      if (nothing && may_retry()) return retry();
      return upstream_failed(ec == beast::error::timeout ? "the backend did not answer in time"
                                                         : "the backend failed");
    }
    auto& m = res_p_->get();
    const unsigned status = m.result_int();
    if (status / 100 == 1) {
      if (status == 101) return upstream_failed("the backend switched protocols");
      return read_response();  // an interim answer: the final one follows
    }
    upstream_keep_alive_ = m.keep_alive();
    strip_hop_by_hop(m);
    const bool delimited_by_close =
        !res_p_->is_done() && !res_p_->chunked() && !res_p_->content_length();
    if (delimited_by_close) upstream_keep_alive_ = false;
    if (version_ == 10) {
      // No chunked framing for HTTP/1.0: a body of unknown length ends with the connection.
      if (res_p_->chunked() || delimited_by_close) client_keep_alive_ = false;
    } else if (res_p_->chunked() || delimited_by_close) {
      m.chunked(true);
    }
    if (route_->server.stopping || !req_p_->is_done()) client_keep_alive_ = false;
    m.version(version_);
    m.keep_alive(client_keep_alive_);
    rec_.status = static_cast<int>(status);
    res_s_.emplace(m);
    switch (take_buffered_body()) {
      case Buffered::kBroken:
        return upstream_failed("the backend sent a malformed body");
      case Buffered::kSome:
        response_started_ = true;
        if (res_p_->is_done() && !m.chunked()) return write_whole_response();
        return write_response_body();  // the header and that body in one record
      case Buffered::kNone:
        break;
    }
    response_started_ = true;
    beast::get_lowest_layer(client_).expires_after(limits().read_timeout);
    auto self = shared_from_this();
    http::async_write_header(client_, *res_s_, [self](beast::error_code wec, std::size_t) {
      if (wec) return self->client_failed();
      self->relay_response();
    });
  }

  // After the response header: moves body bytes that already arrived with
  // it (a small response usually comes whole in one read) into res_buf_,
  // with no I/O, so the header and that body go out in one TLS record and
  // one send. False if nothing arrived yet: the header then goes out alone
  // at once (a streamed response must not wait for its first body byte).
  enum class Buffered { kNone, kSome, kBroken };
  Buffered take_buffered_body() {
    auto& body = res_p_->get().body();
    if (!res_p_->is_done() && up_->buffer.size() == 0) return Buffered::kNone;
    body.data = res_buf_.data();
    body.size = res_buf_.size();
    if (up_->buffer.capacity() < kBodyReadRoom) up_->buffer.reserve(kBodyReadRoom);
    while (!res_p_->is_done() && up_->buffer.size() > 0 && body.size > 0) {
      beast::error_code ec;
      const std::size_t used = res_p_->put(up_->buffer.data(), ec);
      up_->buffer.consume(used);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) return Buffered::kBroken;
      if (used == 0) break;  // the rest has not arrived
    }
    const std::size_t got = res_buf_.size() - body.size;
    body.size = got;
    body.data = got > 0 ? res_buf_.data() : nullptr;
    body.more = !res_p_->is_done();
    return got > 0 || res_p_->is_done() ? Buffered::kSome : Buffered::kNone;
  }

  void relay_response() {
    auto& body = res_p_->get().body();
    if (res_p_->is_done()) {
      body.data = nullptr;
      body.size = 0;
      body.more = false;
      return write_response_body();
    }
    body.data = res_buf_.data();
    body.size = res_buf_.size();
    if (up_->buffer.capacity() < kBodyReadRoom) up_->buffer.reserve(kBodyReadRoom);
    up_->stream.expires_after(limits().read_timeout);
    auto self = shared_from_this();
    http::async_read(up_->stream, up_->buffer, *res_p_, [self](beast::error_code ec, std::size_t) {
      if (ec == http::error::need_buffer) ec = {};
      auto& b = self->res_p_->get().body();
      if (ec == http::error::end_of_stream && self->res_p_->is_done()) ec = {};
      if (ec) {
        self->rec_.upstream_error = true;
        return self->finish(false);  // the response is cut: only closing tells the client
      }
      const std::size_t got = self->res_buf_.size() - b.size;
      b.size = got;
      b.data = self->res_buf_.data();
      b.more = !self->res_p_->is_done();
      self->write_response_body();
    });
  }

  // The whole response (head and the body that arrived with it) in one
  // buffer: one TLS record, one send.
  void write_whole_response() {
    const auto& body = res_p_->get().body();
    wire_.clear();
    append_head(wire_, res_p_->get());
    const std::size_t size = body.data ? body.size : 0;
    if (size > 0) wire_.append(static_cast<const char*>(body.data), size);
    beast::get_lowest_layer(client_).expires_after(limits().read_timeout);
    auto self = shared_from_this();
    asio::async_write(client_, asio::buffer(wire_), [self, size](beast::error_code ec, std::size_t) {
      if (ec) return self->client_failed();
      self->rec_.bytes_out += size;
      self->finish(true);
    });
  }

  void write_response_body() {
    if (res_s_->is_done()) return finish(true);
    beast::get_lowest_layer(client_).expires_after(limits().read_timeout);
    auto self = shared_from_this();
    const std::size_t size = res_p_->get().body().size;
    http::async_write(client_, *res_s_, [self, size](beast::error_code ec, std::size_t) {
      if (ec == http::error::need_buffer) ec = {};
      if (ec) return self->client_failed();
      self->rec_.bytes_out += size;
      if (self->res_s_->is_done()) return self->finish(true);
      self->relay_response();
    });
  }

  // The exchange is over: report, pool the backend connection, next request.
  void finish(bool complete) {
    rec_.duration = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0_);
    report(rec_);
    if (complete && upstream_keep_alive_ && res_p_->is_done() && req_p_->is_done() &&
        up_->buffer.size() == 0) {
      route_->give_back(index_, std::move(up_));
    } else if (up_) {
      beast::error_code ignored;
      up_->stream.socket().close(ignored);
    }
    up_.reset();
    if (complete && client_keep_alive_ && !route_->server.stopping) return read_request(false);
    if (!complete) return beast::get_lowest_layer(client_).close();  // no close_notify: cut
    close_client();
  }

  void upstream_failed(const char* detail) {
    rec_.upstream_error = true;
    if (up_) {
      beast::error_code ignored;
      up_->stream.socket().close(ignored);
      up_.reset();
    }
    if (response_started_) return finish(false);
    respond_local(502, problem(502, "bad-gateway", "Bad Gateway", detail, ""),
                  "application/problem+json", !req_p_ || !req_p_->is_done());
  }

  void client_failed() {
    if (up_) {
      beast::error_code ignored;
      up_->stream.socket().close(ignored);
      up_.reset();
    }
    rec_.duration = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0_);
    report(rec_);
    beast::get_lowest_layer(client_).close();
  }

  // An answer of the proxy's own (health, refusal, 502, malformed request).
  void respond_local(int status, std::string body, const char* type, bool close) {
    local_ = {};
    local_.version(version_);
    local_.result(static_cast<http::status>(status));
    local_.set(http::field::server, "herald-proxy");
    local_.set(http::field::content_type, type);
    local_.body() = std::move(body);
    const bool keep = !close && client_keep_alive_ && !route_->server.stopping;
    local_.keep_alive(keep);
    local_.prepare_payload();
    if (head_) local_.body().clear();
    rec_.status = status;
    beast::get_lowest_layer(client_).expires_after(limits().read_timeout);
    auto self = shared_from_this();
    http::async_write(client_, local_, [self, keep](beast::error_code ec, std::size_t n) {
      self->rec_.bytes_out += n;
      self->rec_.duration =
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - self->t0_);
      self->report(self->rec_);
      if (ec) return beast::get_lowest_layer(self->client_).close();
      if (keep) return self->read_request(false);
      self->close_client();
    });
  }

  beast::flat_buffer cbuf_{kReadAhead + 64 * 1024};
  std::optional<http::request_parser<http::buffer_body>> req_p_;
  std::optional<http::request_serializer<http::buffer_body>> req_s_;
  std::optional<http::response_parser<http::buffer_body>> res_p_;
  std::optional<http::response_serializer<http::buffer_body>> res_s_;
  http::response<http::string_body> local_;
  std::unique_ptr<UpstreamConn> up_;
  std::array<char, kRelayBuffer> req_buf_{};
  std::array<char, kRelayBuffer> res_buf_{};
  std::string wire_;  // a head (and small body) written whole
  AccessRecord rec_;
  Clock::time_point t0_;
  unsigned version_ = 11;
  bool head_ = false;
  bool idle_ = false;
  bool busy_ = false;  // a request is being answered
  bool client_keep_alive_ = true;
  bool upstream_keep_alive_ = false;
  bool up_reused_ = false;
  bool body_streamed_ = false;
  bool response_started_ = false;
  bool expect_continue_ = false;
  int attempt_ = 0;
};

// ------------------------------------------------ TCP mode

// Relays bytes both ways through one buffer per direction. The client's
// close_notify (or EOF) half-closes the backend (shutdown of its write side);
// the backend's EOF ends the client side with close_notify. An error on
// either side closes both. Inactivity in both directions for idle_timeout
// closes both.
class TcpConn : public ConnCommon<TcpConn> {
 public:
  TcpConn(TlsStream stream, std::shared_ptr<Route> route, std::shared_ptr<TlsContext> ctx,
          std::size_t index)
      : ConnCommon(std::move(stream), std::move(route), std::move(ctx), index),
        backend_(client_.get_executor()),
        idle_timer_(client_.get_executor()),
        recheck_timer_(client_.get_executor()) {}

  // Stopping: relays go on until they end or the drain time runs out.
  void on_server_stop() override {}

  void on_admitted() {
    t0_ = Clock::now();
    beast::get_lowest_layer(client_).expires_never();
    if (!allowed_) {
      rec_.verdict = "refuse";
      finish_record();
      return close_client();
    }
    backend_.expires_after(route_->cfg.upstream_connect_timeout);
    auto self = shared_from_this();
    backend_.async_connect(route_->backend, [self](beast::error_code ec) {
      if (ec) {
        self->rec_.upstream_error = true;
        self->finish_record();
        return self->close_client();
      }
      self->backend_.expires_never();
      self->backend_.socket().set_option(tcp::no_delay(true), ec);
      self->last_activity_ = Clock::now();
      self->arm_idle();
      self->arm_recheck();
      self->client_to_backend();
      self->backend_to_client();
    });
  }

 private:
  // Every second: still admitted? (Admission::recheck: revoked or expired.)
  void arm_recheck() {
    if (!admission_.recheck) return;
    auto self = shared_from_this();
    recheck_timer_.expires_after(std::chrono::seconds(1));
    recheck_timer_.async_wait([self](beast::error_code ec) {
      if (ec || self->done_) return;
      std::optional<Admission> again;
      try {
        again = self->admission_.recheck();
      } catch (const std::exception&) {
        again.reset();
      }
      if (again && again->verdict != Admission::Verdict::kAllow) {
        self->allowed_ = false;
        self->admission_ = std::move(*again);
        self->rec_.verdict = "refuse";
        return self->abort();
      }
      self->arm_recheck();
    });
  }

  void arm_idle() {
    auto self = shared_from_this();
    idle_timer_.expires_after(route_->cfg.limits.idle_timeout);
    idle_timer_.async_wait([self](beast::error_code ec) {
      if (ec || self->done_) return;
      if (Clock::now() - self->last_activity_ >= self->route_->cfg.limits.idle_timeout)
        return self->abort();
      self->arm_idle();
    });
  }

  void client_to_backend() {
    auto self = shared_from_this();
    client_.async_read_some(asio::buffer(up_buf_), [self](beast::error_code ec, std::size_t n) {
      if (self->done_) return;
      if (ec) {
        if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
          self->c2b_done_ = true;  // half-close towards the backend
          beast::error_code ignored;
          self->backend_.socket().shutdown(tcp::socket::shutdown_send, ignored);
          return self->maybe_end();
        }
        if (ec == asio::error::operation_aborted && self->b2c_done_) return;  // ending
        return self->abort();
      }
      self->last_activity_ = Clock::now();
      self->rec_.bytes_in += n;
      asio::async_write(self->backend_, asio::buffer(self->up_buf_.data(), n),
                        [self](beast::error_code wec, std::size_t) {
                          if (self->done_) return;
                          if (wec) return self->abort();
                          self->client_to_backend();
                        });
    });
  }

  void backend_to_client() {
    auto self = shared_from_this();
    backend_.async_read_some(asio::buffer(down_buf_), [self](beast::error_code ec, std::size_t n) {
      if (self->done_) return;
      if (ec) {
        if (ec == asio::error::eof) {
          self->b2c_done_ = true;
          return self->maybe_end();
        }
        self->rec_.upstream_error = true;
        return self->abort();
      }
      self->last_activity_ = Clock::now();
      asio::async_write(self->client_, asio::buffer(self->down_buf_.data(), n),
                        [self, n](beast::error_code wec, std::size_t) {
                          if (self->done_) return;
                          if (wec) return self->abort();
                          self->rec_.bytes_out += n;
                          self->backend_to_client();
                        });
    });
  }

  // The backend is done sending: close_notify to the client. If the client
  // is still sending, its pending read is cancelled first (one TLS operation
  // reads at a time): what it sends afterwards is dropped.
  void maybe_end() {
    if (!b2c_done_) return;  // the client half-closed: the backend still answers
    done_ = true;
    idle_timer_.cancel();
    recheck_timer_.cancel();
    beast::error_code ignored;
    if (!c2b_done_) beast::get_lowest_layer(client_).socket().cancel(ignored);
    backend_.socket().close(ignored);
    finish_record();
    auto self = shared_from_this();
    asio::post(client_.get_executor(), [self] { self->close_client(); });
  }

  void abort() {
    if (done_) return;
    done_ = true;
    idle_timer_.cancel();
    recheck_timer_.cancel();
    beast::error_code ignored;
    backend_.socket().close(ignored);
    beast::get_lowest_layer(client_).close();
    finish_record();
  }

  void finish_record() {
    if (recorded_) return;
    recorded_ = true;
    rec_.duration = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0_);
    report(rec_);
  }

  beast::tcp_stream backend_;
  asio::steady_timer idle_timer_;
  asio::steady_timer recheck_timer_;
  std::array<char, kRelayBuffer> up_buf_{};
  std::array<char, kRelayBuffer> down_buf_{};
  AccessRecord rec_;
  Clock::time_point t0_;
  Clock::time_point last_activity_;
  bool c2b_done_ = false;
  bool b2c_done_ = false;
  bool done_ = false;
  bool recorded_ = false;
};

// ---------------------------------------------------------------- TLS context

int status_cb(SSL* ssl, void* /*arg*/) {
  auto* route = static_cast<Route*>(SSL_get_ex_data(ssl, ssl_index()));
  if (!route || !route->cfg.ocsp_staple) return SSL_TLSEXT_ERR_NOACK;
  std::shared_ptr<const Bytes> der;
  try {
    der = route->cfg.ocsp_staple();
  } catch (const std::exception&) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  if (!der || der->empty()) return SSL_TLSEXT_ERR_NOACK;
  auto* copy = static_cast<unsigned char*>(OPENSSL_malloc(der->size()));
  if (!copy) return SSL_TLSEXT_ERR_NOACK;
  std::memcpy(copy, der->data(), der->size());
  if (SSL_set_tlsext_status_ocsp_resp(ssl, copy, static_cast<long>(der->size())) != 1) {
    OPENSSL_free(copy);
    return SSL_TLSEXT_ERR_NOACK;
  }
  return SSL_TLSEXT_ERR_OK;
}

int alpn_cb(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
            unsigned int inlen, void* /*arg*/) {
  auto* route = static_cast<Route*>(SSL_get_ex_data(ssl, ssl_index()));
  if (!route || route->cfg.mode != ProxyMode::kHttp) return SSL_TLSEXT_ERR_NOACK;
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kHttp11, sizeof kHttp11, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// Makes a context the holder built fit for the proxy, once (the first
// connection after a reload does it, on the accepting thread, before any
// handshake uses the context): TLS 1.2/1.3, ECDHE AEAD suites, X25519 and
// P-256, a client certificate requested but not judged, tickets sealed with
// the server's key ring, OCSP stapling, ALPN.
Status configure_ctx(TlsContext& t, const std::shared_ptr<TicketKeyRing>& ring) {
  SSL_CTX* ctx = t.ctx.native_handle();
  if (SSL_CTX_get_ex_data(ctx, ctx_index())) return {};
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1 ||
      SSL_CTX_set_ciphersuites(
          ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256") != 1 ||
      SSL_CTX_set1_groups_list(ctx, "X25519:P-256") != 1) {
    return ossl::error(ErrorCode::kCrypto, "TLS: cannot set the proxy's protocol parameters");
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any);
  SSL_CTX_set_cert_verify_callback(ctx, skip_verification, nullptr);
  static const unsigned char kSidCtx[] = "herald-proxy";
  SSL_CTX_set_session_id_context(ctx, kSidCtx, sizeof kSidCtx - 1);
  // Stateless tickets only: nothing per session is kept in the context, so a
  // reload (a new context) resumes the old context's sessions.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_timeout(ctx, 2 * 3600);
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_cb);
  // One ticket per handshake (OpenSSL's default is 2): a client uses one
  // per connection, and each costs the server a copy of the session with the
  // client's certificate decoded again (OpenSSL 3.0 re-parses the session it
  // seals; ~0.15 ms of CPU here, a tenth of a full mTLS handshake).
  SSL_CTX_set_num_tickets(ctx, 1);
  SSL_CTX_set_tlsext_status_cb(ctx, status_cb);
  SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, nullptr);
  auto* state = new CtxState{ring};
  if (SSL_CTX_set_ex_data(ctx, ctx_index(), state) != 1) {
    delete state;
    return ossl::error(ErrorCode::kCrypto, "TLS: cannot attach the ticket keys");
  }
  return {};
}

void Route::accept() {
  if (server.stopping || !acceptor || !acceptor->is_open()) return;
  const std::size_t max = cfg.limits.max_connections;
  if (max != 0 && open.load(std::memory_order_acquire) >= max) {
    paused = true;
    return;
  }
  const std::size_t index = server.pick_context();
  auto self = shared_from_this();
  acceptor->async_accept(
      *server.contexts[index], [self, index](beast::error_code ec, tcp::socket socket) {
        if (ec) return self->on_accept_error(ec);
        self->backoff = std::chrono::milliseconds(0);
        socket.set_option(tcp::no_delay(true), ec);
        auto ctx = self->cfg.tls ? self->cfg.tls->current() : nullptr;
        if (!ctx || !configure_ctx(*ctx, self->server.ring)) {
          beast::error_code ignored;
          socket.close(ignored);
          if (self->hs_failed) self->hs_failed->inc();
          return self->accept();
        }
        TlsStream stream(beast::tcp_stream(std::move(socket)), ctx->ctx);
        if (self->cfg.mode == ProxyMode::kHttp) {
          std::make_shared<HttpConn>(std::move(stream), self, ctx, index)->start();
        } else {
          std::make_shared<TcpConn>(std::move(stream), self, ctx, index)->start();
        }
        self->accept();
      });
}

void Route::on_accept_error(const beast::error_code& ec) {
  if (ec == asio::error::operation_aborted || !acceptor || !acceptor->is_open() || server.stopping)
    return;
  if (ec == asio::error::connection_aborted) return accept();
  using std::chrono::milliseconds;
  backoff = std::min(milliseconds(1000), std::max(milliseconds(10), backoff * 2));
  backoff_timer->expires_after(backoff);
  backoff_timer->async_wait([self = shared_from_this()](beast::error_code wait_ec) {
    if (wait_ec) return;
    self->accept();
  });
}

}  // namespace

// ---------------------------------------------------------------- ProxyServer

ProxyServer::Impl::~Impl() {
  stopping = true;
  // Tear down in an order Asio accepts: objects bound to a context go before
  // it, and the connections still queued in a context (destroyed with it)
  // unregister while the registry exists.
  for (auto& c : contexts) c->stop();
  signals.reset();
  timers.clear();
  sweepers.clear();
  ticks.clear();  // they hold the timers too
  force_stop.reset();
  for (auto& r : routes) {
    r->acceptor.reset();
    r->backoff_timer.reset();
    for (auto& pool : r->pools) pool.clear();
  }
  guards.clear();
  contexts.clear();
}

void ProxyServer::Impl::sweep(std::size_t index) {
  for (auto& r : routes) r->sweep(index);
}

void ProxyServer::Impl::begin_stop() {
  if (stopping.exchange(true)) return;
  for (auto& r : routes) {
    beast::error_code ignored;
    if (r->acceptor) r->acceptor->close(ignored);
    if (r->backoff_timer) r->backoff_timer->cancel();
  }
  for (auto& t : timers) t->cancel();
  if (signals) signals->cancel();
  for (std::size_t i = 0; i < contexts.size(); ++i)
    asio::post(*contexts[i], [this, i] { sweep(i); });  // closes the pooled connections
  if (admin) admin->stop();
  std::vector<std::shared_ptr<ConnBase>> live;
  {
    std::lock_guard lock(mu);
    for (auto* c : conns) {
      if (auto p = c->alive()) live.push_back(std::move(p));
    }
    force_stop.emplace(ioc(), kDrainTime);
    force_stop->async_wait([this](beast::error_code) { stop_all(); });
    if (conns.empty()) force_stop->cancel();
  }
  for (auto& c : live) c->on_server_stop();
  live.clear();
}

void ProxyServer::Impl::wait_signal() {
  signals->async_wait([this](beast::error_code ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      if (on_hup) on_hup();
      wait_signal();
      return;
    }
    begin_stop();
  });
}

ProxyServer::ProxyServer(int io_threads) : impl_(std::make_unique<Impl>(io_threads)) {}
ProxyServer::~ProxyServer() {
  if (impl_->admin_thread.joinable()) {
    impl_->admin->stop();
    impl_->admin_thread.join();
  }
}

Result<uint16_t> ProxyServer::listen(ProxyListener listener) {
  if (!listener.tls) return make_error(ErrorCode::kInvalidArgument, "proxy listener without TLS");
  if (listener.backend_host.empty() || listener.backend_port == 0)
    return make_error(ErrorCode::kInvalidArgument, "proxy listener without a backend");
  beast::error_code ec;
  auto address = asio::ip::make_address(listener.host, ec);
  if (ec)
    return make_error(ErrorCode::kInvalidArgument,
                      "invalid listen address '" + listener.host + "'");
  tcp::resolver resolver(impl_->ioc());
  auto found = resolver.resolve(listener.backend_host, std::to_string(listener.backend_port), ec);
  if (ec || found.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "cannot resolve backend '" + listener.backend_host + "': " + ec.message());
  }
  const tcp::endpoint backend = found.begin()->endpoint();
  for (auto& p : listener.strip_header_prefixes) lower(p);
  auto first = listener.tls->current();
  if (!first)
    return make_error(ErrorCode::kInvalidArgument, "proxy listener without a TLS context");
  HERALD_TRY_VOID(configure_ctx(*first, impl_->ring));

  tcp::acceptor acceptor(impl_->ioc());
  tcp::endpoint ep(address, listener.port);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error(ErrorCode::kIo, "cannot listen on " + listener.host + ":" +
                                          std::to_string(listener.port) + ": " + ec.message());
  }
  const uint16_t bound = acceptor.local_endpoint().port();
  auto route = std::make_shared<Route>(*impl_, std::move(acceptor), std::move(listener), backend);
  impl_->routes.push_back(route);
  route->accept();
  return bound;
}

Result<uint16_t> ProxyServer::listen_admin(const std::string& host, uint16_t port,
                                           Handler handler) {
  if (!impl_->admin) impl_->admin = std::make_unique<Server>(1);
  Limits limits;
  return impl_->admin->listen(host, port, nullptr, std::move(handler), limits);
}

void ProxyServer::attach_metrics(obs::Registry& registry) {
  impl_->handshakes = &registry.counter(
      "herald_proxy_handshakes",
      "TLS handshakes by route and result (allow, refuse: the admission verdict; failed)",
      {"route", "result"});
  impl_->open_gauge = &registry.gauge("herald_proxy_connections_open",
                                      "Open client connections by route", {"route"});
  impl_->upstream_errors = &registry.counter("herald_proxy_upstream_errors",
                                             "Requests (HTTP) or connections (TCP) whose backend "
                                             "could not be reached or failed mid-stream",
                                             {"route"});
  impl_->request_seconds = &registry.histogram(
      "herald_proxy_request_seconds",
      "Time from a request's header to the end of its response (TCP: connection lifetime)",
      {"route"}, obs::latency_buckets());
}

void ProxyServer::handle_signals(std::function<void()> on_hup) {
  impl_->on_hup = std::move(on_hup);
  impl_->signals.emplace(impl_->ioc(), SIGTERM, SIGINT, SIGHUP);
  impl_->wait_signal();
}

void ProxyServer::every(std::chrono::milliseconds period, std::function<void()> fn) {
  auto timer = std::make_shared<asio::steady_timer>(impl_->ioc());
  impl_->timers.push_back(timer);
  auto tick = std::make_shared<std::function<void()>>();
  std::weak_ptr<std::function<void()>> weak_tick = tick;
  Impl* impl = impl_.get();
  *tick = [impl, timer, period, fn = std::move(fn), weak_tick] {
    timer->expires_after(period);
    timer->async_wait([impl, fn, weak_tick](beast::error_code ec) {
      if (ec || impl->stopping) return;
      fn();
      if (auto t = weak_tick.lock()) (*t)();
    });
  };
  (*tick)();
  impl_->ticks.push_back(tick);
}

void ProxyServer::run() {
  Impl* impl = impl_.get();
  // Every second each context closes its pooled backend connections that
  // timed out or were closed by the backend.
  for (std::size_t i = 0; i < impl->contexts.size(); ++i) {
    auto timer = std::make_shared<asio::steady_timer>(*impl->contexts[i]);
    impl->sweepers.push_back(timer);
    auto tick = std::make_shared<std::function<void()>>();
    std::weak_ptr<std::function<void()>> weak = tick;
    *tick = [impl, timer, i, weak] {
      timer->expires_after(std::chrono::seconds(1));
      timer->async_wait([impl, i, weak](beast::error_code ec) {
        if (ec || impl->stopping) return;
        impl->sweep(i);
        if (auto t = weak.lock()) (*t)();
      });
    };
    asio::post(*impl->contexts[i], [tick] { (*tick)(); });
    impl->ticks.push_back(tick);
  }
  if (impl->admin) impl->admin_thread = std::thread([impl] { impl->admin->run(); });
  std::vector<std::thread> extra;
  for (int i = 1; i < impl->threads; ++i)
    extra.emplace_back([impl, i] { impl->contexts[static_cast<std::size_t>(i)]->run(); });
  impl->ioc().run();
  for (auto& t : extra) t.join();
  if (impl->admin_thread.joinable()) impl->admin_thread.join();
}

void ProxyServer::stop() {
  asio::post(impl_->ioc(), [impl = impl_.get()] { impl->begin_stop(); });
}

}  // namespace herald::net
