#include "net/client.h"

#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <cctype>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "ossl/ossl.h"

namespace herald::net {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// abort_ runs under the lock: disarm() (at the end of the request, before
// its io_context goes away) waits for an abort in progress.
void CancelToken::cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  if (abort_) abort_();
}

bool CancelToken::cancelled() const {
  std::lock_guard lock(mu_);
  return cancelled_;
}

void CancelToken::arm(std::function<void()> abort) {
  std::lock_guard lock(mu_);
  abort_ = std::move(abort);
  if (cancelled_) abort_();
}

void CancelToken::disarm() {
  std::lock_guard lock(mu_);
  abort_ = nullptr;
}

namespace {

// OpenSSL 3 makes a new SSL_CTX expensive (every cipher and digest is
// fetched from the providers): the client contexts are kept, one per set of
// trust anchors, and only the per-connection client certificate differs.
Result<std::shared_ptr<asio::ssl::context>> client_context(const ClientTls& tls) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<asio::ssl::context>> cache;
  const bool system = tls.empty_ca == ClientTls::EmptyCa::kSystemDefault;
  HERALD_TRY(auto digest, ossl::sha256(std::span(reinterpret_cast<const uint8_t*>(tls.ca_pem.data()),
                                                 tls.ca_pem.size())));
  const std::string key = std::string(system ? "s" : "r") + to_hex(digest);
  {
    std::lock_guard lock(mu);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX* c = ctx->native_handle();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  X509_STORE* store = SSL_CTX_get_cert_store(c);
  auto bio = ossl::mem_bio(tls.ca_pem);
  int anchors = 0;
  while (X509* ca = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, ca);
    X509_free(ca);
    ++anchors;
  }
  ossl::clear_errors();
  const bool blank = tls.ca_pem.find_first_not_of(" \t\r\n") == std::string::npos;
  if (anchors == 0 && blank && system) {
    if (SSL_CTX_set_default_verify_paths(c) != 1) {
      ossl::clear_errors();
      return make_error(ErrorCode::kIo, "cannot load the system's trusted CA certificates");
    }
  } else if (anchors == 0) {
    return make_error(ErrorCode::kMalformedInput, "no CA certificate to verify the server with");
  }
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
  std::lock_guard lock(mu);
  if (cache.size() >= 16) cache.clear();  // a handful of CAs in practice
  cache.emplace(key, ctx);
  return ctx;
}

}  // namespace

Result<Response> https_request(const std::string& method, const std::string& url,
                               const std::vector<std::pair<std::string, std::string>>& headers,
                               const std::string& body, const ClientTls& tls,
                               std::chrono::seconds timeout, CancelToken* cancel) {
  if (!url.starts_with("https://"))
    return make_error(ErrorCode::kInvalidArgument, "not an https:// URL: " + url);
  std::string rest = url.substr(8);
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  std::string target = slash == std::string::npos ? "/" : rest.substr(slash);
  std::string host = authority, port = "443";
  if (auto colon = authority.rfind(':'); colon != std::string::npos && authority.back() != ']') {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);

  HERALD_TRY(auto ctx, client_context(tls));
  ossl::X509Ptr leaf;
  ossl::EvpPkeyPtr key;
  std::vector<ossl::X509Ptr> extras;
  if (!tls.cert_pem.empty()) {
    auto cb = ossl::mem_bio(tls.cert_pem);
    leaf.reset(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
    auto kb = ossl::mem_bio(tls.key_pem);
    key.reset(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
    while (X509* extra = PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr)) extras.emplace_back(extra);
    ossl::clear_errors();
    if (!leaf || !key) {
      return make_error(ErrorCode::kMalformedInput,
                        "the client certificate and key do not match or cannot be read");
    }
  }

  asio::io_context ioc;
  beast::ssl_stream<beast::tcp_stream> stream(ioc, *ctx);
  SSL* ssl = stream.native_handle();
  if (leaf) {
    // The client certificate goes on this connection only: the context is shared.
    bool ok = SSL_use_certificate(ssl, leaf.get()) == 1 && SSL_use_PrivateKey(ssl, key.get()) == 1 &&
              SSL_check_private_key(ssl) == 1;
    for (const auto& x : extras) ok = ok && SSL_add1_chain_cert(ssl, x.get()) == 1;
    if (!ok) {
      ossl::clear_errors();
      return make_error(ErrorCode::kMalformedInput,
                        "the client certificate and key do not match or cannot be read");
    }
  }
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  asio::ip::address ip;
  beast::error_code ec;
  ip = asio::ip::make_address(host, ec);
  if (!ec) {
    X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl, host.c_str());
    X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
  }
  tcp::resolver resolver(ioc);
  auto endpoints = resolver.resolve(host, port, ec);
  if (ec) return make_error(ErrorCode::kIo, "cannot resolve " + host + ": " + ec.message());
  // Beast's timeouts apply to asynchronous operations only: each step runs
  // asynchronously to completion, under one deadline for the whole exchange.
  auto& tcp_layer = beast::get_lowest_layer(stream);
  tcp_layer.expires_after(timeout);
  // A cancel() from another thread posts the socket's cancel into this
  // io_context, so the step in progress (or the next one) ends with
  // operation_aborted; disarmed before the stream goes away.
  struct Disarm {
    CancelToken* t;
    ~Disarm() {
      if (t) t->disarm();
    }
  } disarm{cancel};
  if (cancel) {
    cancel->arm([&ioc, &tcp_layer] { asio::post(ioc, [&tcp_layer] { tcp_layer.cancel(); }); });
  }
  auto cancelled = [cancel] { return cancel && cancel->cancelled(); };
  auto run = [&ioc, &cancelled](auto&& start) {
    beast::error_code out;
    if (cancelled()) return beast::error_code(asio::error::operation_aborted);
    start([&out](beast::error_code e, auto&&...) { out = e; });
    ioc.restart();
    ioc.run();
    if (!out && cancelled()) out = asio::error::operation_aborted;
    return out;
  };
  auto timed_out = [&](const beast::error_code& e) { return e == beast::error::timeout; };
  auto aborted = [&](const beast::error_code& e) {
    return e == asio::error::operation_aborted && cancelled();
  };
  ec = run([&](auto h) { tcp_layer.async_connect(endpoints, h); });
  if (aborted(ec)) return make_error(ErrorCode::kIo, "cancelled");
  if (ec) {
    return make_error(ErrorCode::kIo, "cannot connect to " + authority + ": " +
                                          (timed_out(ec) ? "timed out" : ec.message()));
  }
  ec = run([&](auto h) { stream.async_handshake(asio::ssl::stream_base::client, h); });
  if (aborted(ec)) return make_error(ErrorCode::kIo, "cancelled");
  if (ec) {
    long v = SSL_get_verify_result(ssl);
    return make_error(ErrorCode::kIo,
                      "TLS handshake with " + authority + " failed: " +
                          (v != X509_V_OK ? X509_verify_cert_error_string(v)
                                          : (timed_out(ec) ? "timed out" : ec.message())));
  }
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, authority);
  req.set(http::field::user_agent, "herald");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  ec = run([&](auto h) { http::async_write(stream, req, h); });
  if (aborted(ec)) return make_error(ErrorCode::kIo, "cancelled");
  if (ec) {
    return make_error(ErrorCode::kIo, "cannot send the request: " +
                                          (timed_out(ec) ? "timed out" : ec.message()));
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(4 << 20);
  ec = run([&](auto h) { http::async_read(stream, buffer, parser, h); });
  if (aborted(ec)) return make_error(ErrorCode::kIo, "cancelled");
  if (ec) {
    return make_error(ErrorCode::kIo, "cannot read the response: " +
                                          (timed_out(ec) ? "timed out after " +
                                                               std::to_string(timeout.count()) + " s"
                                                         : ec.message()));
  }
  Response res;
  res.status = static_cast<int>(parser.get().result_int());
  for (const auto& f : parser.get())
    res.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  res.body = std::move(parser.get().body());
  tcp_layer.expires_after(std::chrono::seconds(2));
  if (!cancelled()) (void)run([&](auto h) { stream.async_shutdown(h); });  // best effort
  return res;
}

Result<Response> http_request(const std::string& method, const std::string& url,
                              const std::vector<std::pair<std::string, std::string>>& headers,
                              const std::string& body, std::chrono::seconds timeout, size_t max_body) {
  if (url.size() < 8 || !std::equal(url.begin(), url.begin() + 7, "http://", [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == b;
      }))
    return make_error(ErrorCode::kInvalidArgument, "not an http:// URL: " + url);
  std::string rest = url.substr(7);
  auto end = rest.find_first_of("/?#");
  std::string authority = rest.substr(0, end);
  std::string target = end == std::string::npos ? "/" : rest.substr(end);
  if (auto hash = target.find('#'); hash != std::string::npos) target.resize(hash);
  if (target.empty() || target[0] != '/') target.insert(0, "/");
  if (authority.empty() || authority.find('@') != std::string::npos)
    return make_error(ErrorCode::kInvalidArgument, "no usable host in " + url);
  std::string host = authority, port = "80";
  if (auto colon = authority.rfind(':'); colon != std::string::npos && authority.back() != ']') {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host.empty() || port.empty() || port.find_first_not_of("0123456789") != std::string::npos)
    return make_error(ErrorCode::kInvalidArgument, "no usable host or port in " + url);

  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::error_code ec;
  auto run = [&ioc](auto&& start) {
    beast::error_code out;
    start([&out](beast::error_code e, auto&&...) { out = e; });
    ioc.restart();
    ioc.run();
    return out;
  };
  auto timed_out = [](const beast::error_code& e) {
    return e == beast::error::timeout || e == asio::error::operation_aborted;
  };
  // Resolution under the same deadline as the connection.
  tcp::resolver resolver(ioc);
  tcp::resolver::results_type endpoints;
  asio::steady_timer timer(ioc, timeout);
  timer.async_wait([&resolver](beast::error_code e) {
    if (!e) resolver.cancel();
  });
  resolver.async_resolve(host, port, [&](beast::error_code e, tcp::resolver::results_type r) {
    ec = e;
    endpoints = std::move(r);
    timer.cancel();
  });
  ioc.run();
  if (ec) {
    return make_error(ErrorCode::kIo, "cannot resolve " + host + ": " +
                                          (timed_out(ec) ? "timed out" : ec.message()));
  }
  stream.expires_after(timeout);
  ec = run([&](auto h) { stream.async_connect(endpoints, h); });
  if (ec) {
    return make_error(ErrorCode::kIo, "cannot connect to " + authority + ": " +
                                          (timed_out(ec) ? "timed out after " + std::to_string(timeout.count()) + " s"
                                                         : ec.message()));
  }
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, authority);
  req.set(http::field::user_agent, "herald");
  req.set(http::field::connection, "close");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  stream.expires_after(timeout);
  ec = run([&](auto h) { http::async_write(stream, req, h); });
  if (ec) {
    return make_error(ErrorCode::kIo, "cannot send the request to " + authority + ": " +
                                          (timed_out(ec) ? "timed out" : ec.message()));
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_body);
  parser.header_limit(16 * 1024);
  ec = run([&](auto h) { http::async_read(stream, buffer, parser, h); });
  if (ec == http::error::body_limit) {
    return make_error(ErrorCode::kIo, "the response from " + authority + " is larger than " +
                                          std::to_string(max_body) + " bytes");
  }
  if (ec) {
    return make_error(ErrorCode::kIo, "cannot read the response from " + authority + ": " +
                                          (timed_out(ec) ? "timed out after " + std::to_string(timeout.count()) + " s"
                                                         : ec.message()));
  }
  Response res;
  res.status = static_cast<int>(parser.get().result_int());
  for (const auto& f : parser.get())
    res.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  res.body = std::move(parser.get().body());
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  return res;
}

}  // namespace herald::net
