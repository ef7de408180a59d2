#pragma once
// The streaming data plane of `herald proxy` (docs/proxy.md): TLS listeners
// that ask for a client certificate, hand the presented chain to a policy
// callback (src/proxy/ decides: verification, revocation, allow-lists), and
// then relay to a backend, either as an HTTP/1.1 reverse proxy (keep-alive
// on both sides, bodies of any size streamed through bounded buffers, never
// buffered whole) or as plain bytes (TCP mode).
//
// Boost stays inside net: nothing here names Beast or Asio. The policy never
// sees a socket, and the data plane never decides who may pass.
//
// Per connection, after the TLS handshake (full or resumed):
//   1. admit(PeerInfo) is called once, with the chain the client presented
//      (the leaf alone on a resumed session). It runs on an I/O thread and
//      must not block (the policy works from memory: verifier cache,
//      revocation sets).
//   2. TCP mode: kAllow relays bytes both ways until either side closes;
//      anything else closes the connection (the backend is never dialled).
//   3. HTTP mode, for each request on the connection:
//      - the health path (if set) is answered by health(), certificate or
//        not, and never forwarded;
//      - a refused connection gets Admission::http_status with a small
//        application/problem+json body naming the reason, then
//        "Connection: close"; the backend is never dialled;
//      - an admitted request has every header whose name starts with one of
//        strip_header_prefixes removed (so a client cannot forge the
//        identity headers), hop-by-hop headers removed (RFC 9110 §7.6.1),
//        X-Forwarded-For / X-Forwarded-Proto set, Admission::headers added,
//        and is streamed to the backend over a pooled keep-alive
//        connection; the response is streamed back.
//   4. on_request (HTTP: per request; TCP: per connection, at its end)
//      receives an AccessRecord for the access log and the metrics.
//
// As implemented (src/net/proxy.cc):
// - TLS: the proxy configures the holder's context itself, once, before the
//   first handshake on it (listen(), then the first connection after each
//   reload): TLS 1.2/1.3, ECDHE with AES-GCM or ChaCha20-Poly1305, groups
//   X25519 and P-256, a client certificate requested (SSL_VERIFY_PEER, not
//   required) and never verified by OpenSSL (admit() judges the chain; a
//   TlsConfig::client_ca_pem only names those CAs in the CertificateRequest),
//   ALPN http/1.1 in HTTP mode, OCSP stapling from ocsp_staple(), and
//   stateless session tickets sealed by a key ring of the ProxyServer
//   (rotated hourly, the last three keys open tickets), so tickets survive
//   reloads. No server-side session cache.
// - Refusal body: {"type":"urn:herald:problem:access-denied","title":<reason
//   phrase of http_status>,"status":<http_status>,"detail":<detail>,
//   "reason":<reason>} (detail/reason omitted when empty); a status outside
//   400..599 becomes 403. Backend unreachable or failing before the response
//   started: 502 {"type":"urn:herald:problem:bad-gateway",...}; failing
//   after: the client connection is cut (no close_notify). A refusal or a
//   502 after a partly read request body ends with "Connection: close".
// - Health: HealthAnswer as application/json; a health request with a body
//   closes the connection after the answer.
// - Limits: max_header_bytes caps the request header (431); max_body_bytes
//   is NOT applied (bodies are streamed; the backend decides). read_timeout
//   bounds the handshake, a request header, each step of body relay in
//   either direction (an inactivity bound, not a whole-body one), and the
//   wait for the backend's response header; idle_timeout bounds the silence
//   between keep-alive requests (HTTP) or in both directions at once (TCP).
//   max_connections: the listener pauses accepting at the cap.
// - Memory per HTTP connection: two 16 KiB relay buffers and two read
//   buffers capped at 128 KiB, whatever the body sizes.
// - "Expect: 100-continue" is answered by the proxy and not forwarded;
//   CONNECT is refused 405; Upgrade is hop-by-hop, so no WebSocket.
// - The request is sent whole before the response is read: a backend that
//   answers early (413) and closes while the body still streams yields 502.
// - The backend pool is per I/O thread (upstream_pool_size split evenly);
//   a request is retried once on a new connection if a pooled one fails
//   before any response byte and before any body byte was sent.
// - backend_host is resolved once, at listen().
// - stop(): listeners close, idle and handshaking HTTP connections close,
//   requests in flight finish (their response says "Connection: close" if
//   not started yet); TCP relays run until they end; after 10 s the rest is
//   cut and run() returns.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/encoding.h"
#include "base/error.h"
#include "net/http.h"
#include "net/tls.h"

namespace herald::obs {
class Registry;
}

namespace herald::net {

struct PeerInfo {
  std::vector<Bytes> chain;  // DER, leaf first, as presented; empty: no certificate
  bool resumed = false;      // a resumed TLS session (chain = the leaf)
  std::string remote_address;
  std::string sni;
  std::string tls_version;   // "TLSv1.3"
};

struct Admission {
  enum class Verdict { kAllow, kRefuse };
  Verdict verdict = Verdict::kRefuse;
  int http_status = 403;  // refusals in HTTP mode (401 when no certificate was presented)
  std::string reason;     // short code for logs and metric labels: "revoked", "unknown_ca", ...
  std::string detail;     // one human sentence, sent in the problem body
  // Added to every request of an admitted connection (after stripping).
  std::vector<std::pair<std::string, std::string>> headers;
  // For the access log: "serial=... spiffe=...".
  std::string identity;
  // Admitted connections only, optional: judged again before each request of
  // the connection (HTTP) and every second (TCP relay), so that a
  // certificate revoked or expired while its connection stays open is cut
  // off too. A refusal it returns is answered like one from admit() (HTTP:
  // its status and problem, then the connection closes; TCP: closed). Must
  // not block: it runs on an I/O thread.
  std::function<std::optional<Admission>()> recheck;
};

enum class ProxyMode { kHttp, kTcp };

struct AccessRecord {
  std::string remote_address;
  std::string identity;       // Admission::identity
  std::string verdict;        // "allow" | "refuse" | "health"
  std::string reason;         // Admission::reason for refusals
  std::string method, target; // HTTP mode
  int status = 0;             // HTTP status sent to the client (0 in TCP mode)
  uint64_t bytes_in = 0;      // from the client (request body / TCP bytes)
  uint64_t bytes_out = 0;     // to the client
  std::chrono::microseconds duration{0};
  bool upstream_error = false;  // the backend could not be reached or failed mid-stream
};

struct HealthAnswer {
  int status = 200;
  std::string body;  // application/json
};

struct ProxyListener {
  std::string name;  // route name, for metric labels and logs
  std::string host;
  uint16_t port = 0;  // 0: pick a free one
  // Server certificate + key; client certificates are requested (optional at
  // the TLS level: admit() decides). reload() on the holder swaps it for new
  // handshakes while open connections keep theirs.
  std::shared_ptr<TlsContextHolder> tls;
  ProxyMode mode = ProxyMode::kHttp;
  std::string backend_host;
  uint16_t backend_port = 0;
  std::vector<std::string> strip_header_prefixes = {"x-client-cert-"};  // lowercase
  std::string health_path;  // "" = none
  std::function<Admission(const PeerInfo&)> admit;
  std::function<HealthAnswer()> health;
  std::function<void(const AccessRecord&)> on_request;
  // The DER OCSP response to staple for the server certificate, or null.
  std::function<std::shared_ptr<const Bytes>()> ocsp_staple;
  Limits limits;  // header size, read/idle timeouts, max connections
  std::chrono::seconds upstream_connect_timeout{5};
  std::chrono::seconds upstream_idle_timeout{60};  // pooled backend connections
  size_t upstream_pool_size = 64;                  // idle backend connections kept
};

class ProxyServer {
 public:
  explicit ProxyServer(int io_threads);
  ~ProxyServer();
  ProxyServer(const ProxyServer&) = delete;
  ProxyServer& operator=(const ProxyServer&) = delete;

  // Binds and returns the bound port. Call before run().
  [[nodiscard]] Result<uint16_t> listen(ProxyListener listener);
  // Plain-HTTP listener for /healthz and /metrics (the handler decides).
  [[nodiscard]] Result<uint16_t> listen_admin(const std::string& host, uint16_t port,
                                              Handler handler);
  // herald_proxy_handshakes_total{route,result} (result: allow | refuse, the
  // admission verdict, or failed: the TLS handshake failed),
  // herald_proxy_connections_open{route},
  // herald_proxy_upstream_errors_total{route}, herald_proxy_request_seconds{route}
  // (histogram). Call before listen().
  void attach_metrics(obs::Registry& registry);
  // SIGTERM/SIGINT: stop() (graceful: listeners close, requests in flight
  // finish, then run() returns); SIGHUP: on_hup on an I/O thread.
  void handle_signals(std::function<void()> on_hup);
  void every(std::chrono::milliseconds period, std::function<void()> fn);
  void run();
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace herald::net
