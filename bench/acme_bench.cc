// ACME throughput benchmark client (issue #4): full RFC 8555 orders per
// second against any ACME server (Herald, pebble), one program for both.
// See docs/benchmarks.md for results and bench/acme_bench.sh for a run
// against both servers.
//
//   acme_bench --directory URL --ca FILE [--workers N] [--orders M] [--warmup K]
//              [--poll-cap-ms MS] [--label NAME]
//
// Each worker owns one persistent TLS connection (HTTP/1.1 keep-alive,
// verified against --ca and the URL's host or IP) and one ES256 account
// (created before timing). Per order, all signed with the account's kid:
//   newOrder (one dns identifier, unique per run/worker/order)
//   POST-as-GET the authorization
//   POST {} to its http-01 challenge (the server must short-circuit
//     validation: Herald's [acme] insecure_skip_validation, pebble's
//     PEBBLE_VA_ALWAYS_VALID=1)
//   poll the authorization until valid (at least one POST-as-GET)
//   finalize with a P-256 CSR (keys and CSRs made before timing starts)
//   poll the order until valid (at least one POST-as-GET)
//   POST-as-GET the certificate (PEM chain; its leaf is checked afterwards)
// Polls: the first one immediately; after a non-final answer, sleep for
// Retry-After (or --poll-cap-ms when absent) capped at --poll-cap-ms.
// Nonces: every response's Replay-Nonce is kept; a badNonce is retried once.
//
// Per order it records the wall time and the sum of its requests' round
// trips (write of the request to the last byte of the response): on loopback
// that is the server's time plus a little, the "server-side time" bound.
// --orders is the total over all workers (timed); --warmup K is per worker
// (not timed). Any unexpected status or ACME error stops the run with a
// message and exit status 1: a broken run never prints a rate.

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "acme/jws.h"
#include "base/encoding.h"
#include "ossl/ossl.h"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using herald::ossl::EvpPkeyPtr;

// Anything that makes the run invalid.
struct Fail : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::atomic<bool> g_stop{false};

struct Url {
  std::string host;       // without brackets
  std::string port;
  std::string authority;  // host:port as in the URL
  std::string target;     // path + query
};

Url parse_url(const std::string& url) {
  if (!url.starts_with("https://")) throw Fail("not an https:// URL: " + url);
  std::string rest = url.substr(8);
  auto slash = rest.find('/');
  Url u;
  u.authority = rest.substr(0, slash);
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  u.host = u.authority;
  u.port = "443";
  if (auto colon = u.authority.rfind(':');
      colon != std::string::npos && u.authority.back() != ']') {
    u.host = u.authority.substr(0, colon);
    u.port = u.authority.substr(colon + 1);
  }
  if (u.host.size() > 2 && u.host.front() == '[') u.host = u.host.substr(1, u.host.size() - 2);
  return u;
}

std::string shorten(std::string s, size_t n = 600) {
  if (s.size() > n) s = s.substr(0, n) + "...";
  return s;
}

// ---------------------------------------------------------------- one keep-alive TLS connection

struct Reply {
  http::response<http::string_body> res;
  int64_t rtt_ns = 0;
  [[nodiscard]] int status() const { return static_cast<int>(res.result_int()); }
  [[nodiscard]] std::string header(http::field f) const { return std::string(res[f]); }
  [[nodiscard]] std::string header(std::string_view name) const {
    return std::string(res[beast::string_view(name.data(), name.size())]);
  }
};

// Synchronous Beast I/O has no timeout (tcp_stream's expiry applies to async
// operations only): a watchdog thread calls abort_if_stalled(), which shuts
// the socket down under a request that has waited too long, so a server that
// stops answering fails the run instead of hanging it.
class Connection {
 public:
  Connection(asio::ssl::context& ctx, Url origin) : ctx_(ctx), origin_(std::move(origin)) {}

  bool abort_if_stalled(std::chrono::seconds limit) {
    const int64_t since = in_flight_since_.load();
    if (since == 0 || Clock::now().time_since_epoch().count() - since <
                          std::chrono::duration_cast<Clock::duration>(limit).count())
      return false;
    std::lock_guard lock(mu_);
    if (stream_ && !stalled_) {
      stalled_ = true;
      ::shutdown(beast::get_lowest_layer(*stream_).socket().native_handle(), SHUT_RDWR);
    }
    return true;
  }

  Reply request(http::verb verb, const std::string& target, const std::string& content_type,
                const std::string& body) {
    if (!stream_) connect();
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, origin_.authority);
    req.set(http::field::user_agent, "herald-acme-bench");
    if (!content_type.empty()) req.set(http::field::content_type, content_type);
    req.body() = body;
    req.prepare_payload();
    beast::error_code ec;
    const auto t0 = Clock::now();
    in_flight_since_ = t0.time_since_epoch().count();
    http::write(*stream_, req, ec);
    http::response_parser<http::string_body> parser;
    parser.body_limit(4 << 20);
    if (verb == http::verb::head) parser.skip(true);
    if (!ec) http::read(*stream_, buffer_, parser, ec);
    const auto t1 = Clock::now();
    in_flight_since_ = 0;
    if (ec && stalled_)
      throw Fail("no answer to " + target + " within the --timeout: the server stalled");
    if (ec) throw Fail("request " + target + " failed: " + ec.message());
    Reply r{parser.release(), std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()};
    if (!r.res.keep_alive()) {
      // The server ends the connection: reopen it before the next request.
      stream_->shutdown(ec);
      std::lock_guard lock(mu_);
      stream_.reset();
      ++reconnects_;
    }
    return r;
  }

  [[nodiscard]] int reconnects() const { return reconnects_; }

 private:
  void connect() {
    {
      std::lock_guard lock(mu_);
      stream_.emplace(ioc_, ctx_);
    }
    buffer_.clear();
    SSL* ssl = stream_->native_handle();
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    beast::error_code ec;
    (void)asio::ip::make_address(origin_.host, ec);
    if (!ec) {
      X509_VERIFY_PARAM_set1_ip_asc(param, origin_.host.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl, origin_.host.c_str());
      X509_VERIFY_PARAM_set1_host(param, origin_.host.c_str(), 0);
    }
    tcp::resolver resolver(ioc_);
    auto endpoints = resolver.resolve(origin_.host, origin_.port, ec);
    if (ec) throw Fail("cannot resolve " + origin_.host + ": " + ec.message());
    beast::get_lowest_layer(*stream_).connect(endpoints, ec);
    if (ec) throw Fail("cannot connect to " + origin_.authority + ": " + ec.message());
    beast::get_lowest_layer(*stream_).socket().set_option(tcp::no_delay(true));
    stream_->handshake(asio::ssl::stream_base::client, ec);
    if (ec) {
      long v = SSL_get_verify_result(ssl);
      throw Fail("TLS handshake with " + origin_.authority + " failed: " +
                 (v != X509_V_OK ? X509_verify_cert_error_string(v) : ec.message()));
    }
  }

  asio::io_context ioc_;
  asio::ssl::context& ctx_;
  Url origin_;
  std::mutex mu_;  // stream_'s lifetime, against the watchdog
  std::optional<beast::ssl_stream<beast::tcp_stream>> stream_;
  beast::flat_buffer buffer_;
  int reconnects_ = 0;
  std::atomic<int64_t> in_flight_since_{0};  // Clock ticks; 0 when idle
  std::atomic<bool> stalled_{false};
};

// ---------------------------------------------------------------- keys, CSRs

EvpPkeyPtr p256_key() {
  EvpPkeyPtr k(EVP_EC_gen("P-256"));
  if (!k) throw Fail("cannot generate a P-256 key: " + herald::ossl::drain_errors());
  return k;
}

// DER CSR: CN = name, SAN dNSName = name, signed with a fresh P-256 key.
std::string csr_b64(const std::string& name) {
  EvpPkeyPtr key = p256_key();
  herald::ossl::X509ReqPtr req(X509_REQ_new());
  X509_NAME* subject = X509_REQ_get_subject_name(req.get());
  bool ok = req && X509_REQ_set_version(req.get(), 0) == 1 &&
            X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                       reinterpret_cast<const unsigned char*>(name.c_str()), -1,
                                       -1, 0) == 1 &&
            X509_REQ_set_pubkey(req.get(), key.get()) == 1;
  if (ok) {
    STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION* san =
        X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, ("DNS:" + name).c_str());
    ok = exts && san && sk_X509_EXTENSION_push(exts, san) > 0 &&
         X509_REQ_add_extensions(req.get(), exts) == 1;
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  }
  ok = ok && X509_REQ_sign(req.get(), key.get(), EVP_sha256()) > 0;
  int len = ok ? i2d_X509_REQ(req.get(), nullptr) : -1;
  if (len <= 0) throw Fail("cannot build a CSR: " + herald::ossl::drain_errors());
  std::vector<uint8_t> der(static_cast<size_t>(len));
  unsigned char* p = der.data();
  i2d_X509_REQ(req.get(), &p);
  return herald::base64url_encode(der);
}

// ---------------------------------------------------------------- the ACME client

// The steps of an order, for the per-step breakdown.
enum Step { kNewOrder, kAuthz, kChallenge, kAuthzPoll, kFinalize, kOrderPoll, kCertificate, kSteps };
constexpr const char* kStepNames[kSteps] = {"newOrder", "authz",    "challenge",  "authz poll",
                                            "finalize", "order poll", "certificate"};

struct OrderStats {
  int64_t step_ns[kSteps] = {};  // round trips per step (summed over retries and polls)
  int step_requests[kSteps] = {};
  int64_t wall_ns = 0;
  int64_t req_ns = 0;
  int requests = 0;
  int polls = 0;  // POST-as-GETs after the first of each poll loop
  int bad_nonces = 0;
};

struct Options {
  std::string directory;
  std::string ca_file;
  int workers = 1;
  int orders = 100;
  int warmup = 5;
  int poll_cap_ms = 50;
  int timeout_s = 30;
  std::string label;
};

struct Directory {
  std::string new_nonce, new_account, new_order;
};

class Client {
 public:
  Client(asio::ssl::context& ctx, const Options& o, const Url& origin)
      : opt_(o), origin_(origin), conn_(ctx, origin) {}

  void start() {
    OrderStats scratch;
    Reply d = conn_.request(http::verb::get, origin_.target, "", "");
    if (d.status() != 200)
      throw Fail("GET " + opt_.directory + ": HTTP " + std::to_string(d.status()) + " " +
                 shorten(d.res.body()));
    json j = json::parse(d.res.body(), nullptr, false);
    if (!j.is_object() || !j.contains("newNonce") || !j.contains("newAccount") ||
        !j.contains("newOrder"))
      throw Fail("the directory lacks newNonce/newAccount/newOrder: " + shorten(d.res.body()));
    dir_ = {j["newNonce"], j["newAccount"], j["newOrder"]};
    key_ = p256_key();
    auto jwk = herald::acme::key_to_jwk(*key_);
    if (!jwk) throw Fail("key_to_jwk: " + jwk.error().describe());
    jwk_ = *jwk;
    Reply r = post(dir_.new_account, json{{"termsOfServiceAgreed", true}}.dump(), scratch, true);
    expect(r, {201, 200}, "newAccount");
    kid_ = r.header(http::field::location);
    if (kid_.empty()) throw Fail("newAccount answered without a Location");
  }

  // One full order for `name`, with the CSR made beforehand.
  OrderStats order(const std::string& name, const std::string& csr) {
    OrderStats st;
    const auto t0 = Clock::now();
    // 1. newOrder
    step_ = kNewOrder;
    Reply r = post(dir_.new_order,
                   json{{"identifiers", json::array({json{{"type", "dns"}, {"value", name}}})}}
                       .dump(),
                   st);
    expect(r, {201}, "newOrder");
    const std::string order_url = r.header(http::field::location);
    json order = body_json(r, "newOrder");
    if (order_url.empty()) throw Fail("newOrder answered without a Location");
    if (!order.contains("authorizations") || order["authorizations"].size() != 1 ||
        !order.contains("finalize"))
      throw Fail("newOrder: unexpected order " + shorten(r.res.body()));
    const std::string authz_url = order["authorizations"][0];
    const std::string finalize_url = order["finalize"];
    // 2. the authorization
    step_ = kAuthz;
    r = post(authz_url, "", st);
    expect(r, {200}, "authorization");
    json authz = body_json(r, "authorization");
    if (authz.value("status", "") != "valid") {
      if (authz.value("status", "") != "pending")
        throw Fail("new authorization is " + authz.value("status", "?") + ": " +
                   shorten(r.res.body()));
      std::string chall_url;
      for (const auto& ch : authz["challenges"])
        if (ch.value("type", "") == "http-01") chall_url = ch.value("url", "");
      if (chall_url.empty()) throw Fail("no http-01 challenge: " + shorten(r.res.body()));
      // 3. respond to the challenge
      step_ = kChallenge;
      r = post(chall_url, "{}", st);
      expect(r, {200}, "challenge");
      json ch = body_json(r, "challenge");
      if (ch.value("status", "") == "invalid")
        throw Fail("challenge invalid (is validation short-circuited?): " + shorten(r.res.body()));
    }
    // 4. poll the authorization
    step_ = kAuthzPoll;
    poll(authz_url, "valid", "authorization", st);
    // 5. finalize
    step_ = kFinalize;
    r = post(finalize_url, json{{"csr", csr}}.dump(), st);
    expect(r, {200}, "finalize");
    json fin = body_json(r, "finalize");
    if (fin.value("status", "") == "invalid")
      throw Fail("finalize: order invalid: " + shorten(r.res.body()));
    // 6. poll the order
    step_ = kOrderPoll;
    json done = poll(order_url, "valid", "order", st);
    if (!done.contains("certificate") || !done["certificate"].is_string())
      throw Fail("valid order without a certificate URL: " + done.dump());
    // 7. download
    step_ = kCertificate;
    r = post(done["certificate"], "", st);
    expect(r, {200}, "certificate download");
    st.wall_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
    check_certificate(r.res.body(), name);
    return st;
  }

  [[nodiscard]] int reconnects() const { return conn_.reconnects(); }
  Connection& connection() { return conn_; }

 private:
  Reply timed(http::verb verb, const std::string& url, const std::string& body, OrderStats& st) {
    const Step step = step_;
    Url u = parse_url(url);
    if (u.authority != origin_.authority)
      throw Fail("the server sent a URL on another origin: " + url);
    Reply r = conn_.request(verb, u.target, body.empty() ? "" : "application/jose+json", body);
    st.req_ns += r.rtt_ns;
    ++st.requests;
    st.step_ns[step] += r.rtt_ns;
    ++st.step_requests[step];
    if (auto n = r.header("Replay-Nonce"); !n.empty()) nonce_ = n;
    return r;
  }

  // A signed POST (payload "" = POST-as-GET); retries once on badNonce.
  Reply post(const std::string& url, const std::string& payload, OrderStats& st,
             bool with_jwk = false) {
    for (int attempt = 0;; ++attempt) {
      if (nonce_.empty()) {
        Reply n = timed(http::verb::head, dir_.new_nonce, "", st);
        if (nonce_.empty())
          throw Fail("newNonce (HTTP " + std::to_string(n.status()) + ") gave no Replay-Nonce");
      }
      json header{{"alg", "ES256"}, {"nonce", nonce_}, {"url", url}};
      if (with_jwk) header["jwk"] = jwk_;
      else header["kid"] = kid_;
      nonce_.clear();
      auto body = herald::acme::sign_jws_request(header, payload, *key_);
      if (!body) throw Fail("sign_jws_request: " + body.error().describe());
      Reply r = timed(http::verb::post, url, *body, st);
      if (r.status() == 400 && attempt == 0 && problem_type(r) == "badNonce") {
        ++st.bad_nonces;
        continue;
      }
      return r;
    }
  }

  json poll(const std::string& url, const std::string& want, const char* what, OrderStats& st) {
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    for (int i = 0;; ++i) {
      if (i > 0) ++st.polls;
      Reply r = post(url, "", st);
      expect(r, {200}, what);
      json j = body_json(r, what);
      const std::string s = j.value("status", "");
      if (s == want) return j;
      if (s != "pending" && s != "processing" && s != "ready")
        throw Fail(std::string(what) + " became " + s + ": " + shorten(r.res.body()));
      if (Clock::now() > deadline)
        throw Fail(std::string(what) + " still " + s + " after 30 s");
      int ms = opt_.poll_cap_ms;
      if (auto ra = r.header(http::field::retry_after); !ra.empty()) {
        char* end = nullptr;
        long secs = std::strtol(ra.c_str(), &end, 10);
        if (end && *end == '\0' && secs >= 0 && secs < 3600)
          ms = std::min<long>(ms, secs * 1000);
      }
      if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    }
  }

  static std::string problem_type(const Reply& r) {
    json j = json::parse(r.res.body(), nullptr, false);
    if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) return "";
    std::string t = j["type"];
    const std::string prefix = "urn:ietf:params:acme:error:";
    return t.starts_with(prefix) ? t.substr(prefix.size()) : t;
  }

  static void expect(const Reply& r, std::initializer_list<int> ok, const char* what) {
    for (int s : ok)
      if (r.status() == s) return;
    throw Fail(std::string(what) + ": HTTP " + std::to_string(r.status()) + " " +
               shorten(r.res.body()));
  }

  static json body_json(const Reply& r, const char* what) {
    json j = json::parse(r.res.body(), nullptr, false);
    if (!j.is_object()) throw Fail(std::string(what) + ": not a JSON object: " + shorten(r.res.body()));
    return j;
  }

  static void check_certificate(const std::string& pem, const std::string& name) {
    auto bio = herald::ossl::mem_bio(pem);
    herald::ossl::X509Ptr leaf(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!leaf) throw Fail("the certificate download is not PEM: " + shorten(pem, 200));
    if (X509_check_host(leaf.get(), name.c_str(), name.size(), 0, nullptr) != 1)
      throw Fail("the downloaded certificate is not for " + name);
    herald::ossl::clear_errors();
  }

  const Options& opt_;
  Url origin_;
  Connection conn_;
  Directory dir_;
  EvpPkeyPtr key_;
  json jwk_;
  std::string kid_;
  std::string nonce_;
  Step step_ = kNewOrder;
};

// ---------------------------------------------------------------- main

double pct(std::vector<int64_t> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size()));
  if (i >= v.size()) i = v.size() - 1;
  return static_cast<double>(v[i]) / 1e6;
}

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "acme_bench: " << why << "\n"
            << "usage: acme_bench --directory URL --ca FILE [--workers N] [--orders M]\n"
               "                  [--warmup K] [--poll-cap-ms MS] [--timeout S] [--label NAME]\n"
               "  --orders M       timed orders in total, split over the workers (default 100)\n"
               "  --warmup K       untimed orders per worker first (default 5)\n"
               "  --poll-cap-ms    longest sleep between polls (default 50)\n"
               "  --timeout S      fail if a request gets no answer within S seconds (default 30)\n";
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    auto num = [&](int lo) {
      std::string v = val();
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < lo || n > 100000000) usage("bad value for " + a);
      return static_cast<int>(n);
    };
    if (a == "--directory") o.directory = val();
    else if (a == "--ca") o.ca_file = val();
    else if (a == "--workers") o.workers = num(1);
    else if (a == "--orders") o.orders = num(1);
    else if (a == "--warmup") o.warmup = num(0);
    else if (a == "--poll-cap-ms") o.poll_cap_ms = num(0);
    else if (a == "--timeout") o.timeout_s = num(1);
    else if (a == "--label") o.label = val();
    else if (a == "-h" || a == "--help") usage("help");
    else usage("unknown argument " + a);
  }
  if (o.directory.empty() || o.ca_file.empty()) usage("--directory and --ca are required");
  if (o.orders < o.workers) usage("--orders must be at least --workers");
  return o;
}

int run(const Options& o) {
  const Url origin = parse_url(o.directory);
  std::ifstream in(o.ca_file);
  if (!in) throw Fail("cannot read " + o.ca_file);
  std::stringstream ss;
  ss << in.rdbuf();
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  SSL_CTX* c = ctx.native_handle();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  const std::string ca_pem = ss.str();  // mem_bio does not copy
  auto bio = herald::ossl::mem_bio(ca_pem);
  int anchors = 0;
  while (X509* ca = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(SSL_CTX_get_cert_store(c), ca);
    X509_free(ca);
    ++anchors;
  }
  herald::ossl::clear_errors();
  if (anchors == 0) throw Fail("no certificate in " + o.ca_file);
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);

  // Names unique per run: servers may reuse valid authorizations for a name.
  uint8_t rnd[4];
  RAND_bytes(rnd, sizeof rnd);
  char run_id[16];
  std::snprintf(run_id, sizeof run_id, "r%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);

  struct Work {
    std::vector<std::string> names, csrs;  // warmup first, then timed
    std::vector<OrderStats> stats;        // timed only
    std::string error;
    int reconnects = 0;
    Clock::time_point end;
  };
  std::vector<Work> work(static_cast<size_t>(o.workers));
  // Keys and CSRs for every order, before anything is timed.
  for (int w = 0; w < o.workers; ++w) {
    const int timed = o.orders / o.workers + (w < o.orders % o.workers ? 1 : 0);
    for (int i = 0; i < o.warmup + timed; ++i) {
      const std::string name = std::string(run_id) + "-w" + std::to_string(w) + "-o" +
                               std::to_string(i) + ".bench.test";
      work[w].names.push_back(name);
      work[w].csrs.push_back(csr_b64(name));
    }
  }

  std::vector<std::unique_ptr<Client>> clients;
  for (int w = 0; w < o.workers; ++w) clients.push_back(std::make_unique<Client>(ctx, o, origin));
  std::atomic<bool> done{false};
  std::thread watchdog([&] {
    while (!done) {
      for (auto& c : clients) (void)c->connection().abort_if_stalled(std::chrono::seconds(o.timeout_s));
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  std::barrier sync(o.workers + 1);
  std::vector<std::thread> threads;
  for (int w = 0; w < o.workers; ++w) {
    threads.emplace_back([&, w] {
      Work& me = work[w];
      Client* client = clients[w].get();
      bool arrived = false;
      try {
        client->start();
        for (int i = 0; i < o.warmup && !g_stop; ++i) client->order(me.names[i], me.csrs[i]);
        sync.arrive_and_wait();  // all ready: timing starts
        arrived = true;
        for (size_t i = o.warmup; i < me.names.size() && !g_stop; ++i)
          me.stats.push_back(client->order(me.names[i], me.csrs[i]));
      } catch (const std::exception& e) {
        me.error = e.what();
        g_stop = true;
      }
      if (!arrived) sync.arrive_and_wait();
      me.end = Clock::now();
      me.reconnects = client->reconnects();
    });
  }
  auto cpu_seconds = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  };
  sync.arrive_and_wait();
  const auto start = Clock::now();
  const double cpu0 = cpu_seconds();
  for (auto& t : threads) t.join();
  const double client_cpu = cpu_seconds() - cpu0;
  done = true;
  watchdog.join();
  Clock::time_point end = start;
  std::vector<int64_t> wall, req;
  int failures = 0, reconnects = 0;
  int64_t requests = 0, polls = 0, bad_nonces = 0;
  std::vector<int64_t> step_ns[kSteps];
  int64_t step_requests[kSteps] = {};
  for (int w = 0; w < o.workers; ++w) {
    const Work& me = work[w];
    end = std::max(end, me.end);
    reconnects += me.reconnects;
    if (!me.error.empty()) {
      ++failures;
      std::cerr << "acme_bench: worker " << w << " FAILED: " << me.error << "\n";
    }
    for (const auto& s : me.stats) {
      wall.push_back(s.wall_ns);
      req.push_back(s.req_ns);
      requests += s.requests;
      polls += s.polls;
      bad_nonces += s.bad_nonces;
      for (int k = 0; k < kSteps; ++k) {
        step_ns[k].push_back(s.step_ns[k]);
        step_requests[k] += s.step_requests[k];
      }
    }
  }
  const double secs = std::chrono::duration<double>(end - start).count();
  const size_t n = wall.size();
  const double rate = secs > 0 ? static_cast<double>(n) / secs : 0;
  const double rpo = n ? static_cast<double>(requests) / static_cast<double>(n) : 0;
  const double ppo = n ? static_cast<double>(polls) / static_cast<double>(n) : 0;
  std::printf("%s%sdirectory         %s\n", o.label.c_str(), o.label.empty() ? "" : ": ",
              o.directory.c_str());
  std::printf("workers %d, warmup %d per worker, poll cap %d ms\n", o.workers, o.warmup,
              o.poll_cap_ms);
  std::printf("orders completed  %zu of %d in %.2f s\n", n, o.orders, secs);
  std::printf("failures          %d\n", failures);
  std::printf("orders/s          %.1f\n", rate);
  std::printf("order wall time   p50 %.2f ms  p99 %.2f ms\n", pct(wall, 50), pct(wall, 99));
  std::printf("summed requests   p50 %.2f ms  p99 %.2f ms   (server-side time, upper bound)\n",
              pct(req, 50), pct(req, 99));
  std::printf("requests/order    %.2f  (polls after the first %.2f, badNonce retries %lld, "
              "reconnects %d)\n",
              rpo, ppo, static_cast<long long>(bad_nonces), reconnects);
  std::printf("client CPU        %.2f ms/order (this program, all threads, timed part)\n",
              n ? client_cpu * 1000 / static_cast<double>(n) : 0.0);
  std::printf("per step (round trips per order, summed over polls and retries):\n");
  for (int k = 0; k < kSteps; ++k) {
    std::printf("  %-12s p50 %6.2f ms  p99 %6.2f ms  requests/order %.2f\n", kStepNames[k],
                pct(step_ns[k], 50), pct(step_ns[k], 99),
                n ? static_cast<double>(step_requests[k]) / static_cast<double>(n) : 0.0);
  }
  // One line for scripts.
  std::printf("RESULT label=%s workers=%d orders=%zu failures=%d secs=%.3f rate=%.2f "
              "wall_p50=%.3f wall_p99=%.3f server_p50=%.3f server_p99=%.3f req_per_order=%.2f "
              "polls_per_order=%.2f bad_nonces=%lld reconnects=%d client_cpu_ms=%.3f\n",
              o.label.empty() ? "-" : o.label.c_str(), o.workers, n, failures, secs, rate,
              pct(wall, 50), pct(wall, 99), pct(req, 50), pct(req, 99), rpo, ppo,
              static_cast<long long>(bad_nonces), reconnects,
              n ? client_cpu * 1000 / static_cast<double>(n) : 0.0);
  std::fflush(stdout);
  if (failures > 0 || static_cast<int>(n) != o.orders) {
    std::cerr << "acme_bench: the run FAILED (" << n << " of " << o.orders
              << " orders completed); the numbers above are not a result\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::cerr << "acme_bench: " << e.what() << "\n";
    return 1;
  }
}
