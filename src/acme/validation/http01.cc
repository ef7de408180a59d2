// http-01 (RFC 8555 §8.3).

#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "acme/validation/common.h"
#include "acme/validation/connect.h"
#include "acme/validation/validator.h"

namespace herald::acme::validation {

namespace {

namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
namespace asio = boost::asio;
namespace beast = boost::beast;
using detail::failure;
using detail::printable;

constexpr std::string_view kChallenge = "http-01";
constexpr size_t kMaxHeaderBytes = 16 * 1024;

struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;    // lowercased name or canonical IP text (no brackets)
  uint16_t port = 0;
  std::string target;  // path and query, starting with '/'

  [[nodiscard]] std::string to_string() const {
    bool default_port = (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
    return scheme + "://" + detail::host_for_url(host) +
           (default_port ? "" : ":" + std::to_string(port)) + target;
  }
};

std::string lowercase(std::string s) {
  for (char& c : s) c = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  return s;
}

// The next URL for a redirect from `base` to `location`, or why it is
// refused (Let's Encrypt's rules, with the ports taken from Settings).
tl::expected<Url, std::string> follow(const Settings& s, const Url& base,
                                      std::string_view location) {
  if (location.empty()) return tl::unexpected(std::string("the Location header is empty"));
  for (char c : location) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7F)
      return tl::unexpected("the Location " + printable(location) +
                            " holds spaces, control or non-ASCII bytes");
  }
  if (auto hash = location.find('#'); hash != std::string_view::npos)
    location = location.substr(0, hash);
  Url next;
  std::string_view rest = location;
  // An absolute URL starts with a scheme: letters, then ':' before any '/', '?'.
  size_t colon = location.find(':');
  size_t first_delim = location.find_first_of("/?");
  if (colon != std::string_view::npos && colon > 0 && colon < first_delim) {
    std::string scheme = lowercase(std::string(location.substr(0, colon)));
    if (scheme != "http" && scheme != "https")
      return tl::unexpected("the redirect to " + printable(location) +
                            " is not to http or https; only those are followed");
    next.scheme = scheme;
    rest = location.substr(colon + 1);
    if (!rest.starts_with("//"))
      return tl::unexpected("the redirect to " + printable(location) + " has no host");
  } else {
    next.scheme = base.scheme;
  }
  if (rest.starts_with("//")) {
    rest.remove_prefix(2);
    size_t end = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    if (authority.find('@') != std::string_view::npos)
      return tl::unexpected("the redirect to " + printable(location) +
                            " carries user information; refused");
    std::string_view host = authority, port_text;
    if (authority.starts_with("[")) {
      size_t close = authority.find(']');
      if (close == std::string_view::npos)
        return tl::unexpected("the redirect to " + printable(location) + " has a malformed host");
      host = authority.substr(1, close - 1);
      std::string_view after = authority.substr(close + 1);
      if (!after.empty() && !after.starts_with(":"))
        return tl::unexpected("the redirect to " + printable(location) + " has a malformed host");
      if (!after.empty()) port_text = after.substr(1);
      auto ip = detail::parse_ip(host);
      if (!ip || ip->size != 16)
        return tl::unexpected("the redirect to " + printable(location) +
                              " has a malformed IPv6 address");
      next.host = ip->text;
    } else {
      if (auto c = authority.find(':'); c != std::string_view::npos) {
        host = authority.substr(0, c);
        port_text = authority.substr(c + 1);
      }
      auto ip = detail::parse_ip(host);
      if (ip && ip->size == 4) {
        next.host = ip->text;
      } else if (detail::is_host_name(host)) {
        next.host = lowercase(std::string(host));
      } else {
        return tl::unexpected("the redirect to " + printable(location) +
                              " does not name a valid host");
      }
    }
    const uint16_t allowed = next.scheme == "http" ? s.http01_port : s.https_port;
    next.port = allowed;
    if (!port_text.empty()) {
      unsigned long port = 0;
      bool digits =
          port_text.size() <= 5 && std::all_of(port_text.begin(), port_text.end(),
                                               [](char c) { return c >= '0' && c <= '9'; });
      if (digits) port = std::stoul(std::string(port_text));
      if (!digits || port != allowed)
        return tl::unexpected("the redirect to " + printable(location) + " names port " +
                              std::string(port_text) + "; only " + std::to_string(allowed) +
                              " is followed for " + next.scheme);
    }
    next.target = rest.empty() || rest.front() == '?' ? "/" + std::string(rest) : std::string(rest);
  } else {
    next.host = base.host;
    next.port = base.port;
    if (rest.starts_with("/")) {
      next.target = rest;
    } else {
      // Relative reference: replace the last segment of the base path.
      std::string base_path = base.target.substr(0, base.target.find('?'));
      if (rest.starts_with("?")) {
        next.target = base_path + std::string(rest);
      } else {
        next.target = base_path.substr(0, base_path.rfind('/') + 1) + std::string(rest);
      }
    }
  }
  return next;
}

struct Fetched {
  int status = 0;
  std::string location;
  std::string body;
  bool body_too_large = false;
};

template <typename Stream>
tl::expected<Fetched, Outcome> exchange(asio::io_context& ioc, Stream& stream, const Url& url,
                                        const std::string& address, const Settings& s,
                                        std::string_view purpose) {
  const std::string where = url.to_string() + " (" + detail::address_with_port(address, url.port) +
                            ") for " + std::string(purpose);
  http::request<http::empty_body> req{http::verb::get, url.target, 11};
  req.set(http::field::host, detail::host_for_url(url.host));
  req.set(http::field::user_agent, "Herald-ACME-validation/1");
  req.set(http::field::accept, "*/*");
  req.set(http::field::connection, "close");
  auto ec = detail::run_one(
      ioc, [&](auto&& h) { http::async_write(stream, req, std::forward<decltype(h)>(h)); });
  if (ec)
    return tl::unexpected(failure("connection", "sending the request to " + where + ": " +
                                                    detail::error_text(ec, s.timeout)));
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(kMaxHeaderBytes));
  parser.body_limit(s.max_body_bytes);
  ec = detail::run_one(ioc, [&](auto&& h) {
    http::async_read(stream, buffer, parser, std::forward<decltype(h)>(h));
  });
  Fetched f;
  if (ec == http::error::body_limit && parser.is_header_done()) {
    f.body_too_large = true;
  } else if (ec == ssl::error::stream_truncated && parser.is_header_done() && !parser.is_done()) {
    // The peer closed without close_notify; a body delimited by the end of
    // the connection is complete all the same (HTTP/1.1 §8 of RFC 9112).
    beast::error_code eof_ec;
    parser.put_eof(eof_ec);
    if (eof_ec)
      return tl::unexpected(failure("connection", "reading the response from " + where + ": " +
                                                      detail::error_text(ec, s.timeout)));
  } else if (ec) {
    std::string what =
        parser.is_header_done() ? "reading the response body from " : "reading the response from ";
    return tl::unexpected(
        failure("connection", what + where + ": " + detail::error_text(ec, s.timeout)));
  }
  const auto& res = parser.get();
  f.status = static_cast<int>(res.result_int());
  if (auto it = res.find(http::field::location); it != res.end()) f.location = it->value();
  f.body = res.body();
  return f;
}

// `own`: the identifier's own addresses, set by the first fetch (the
// identifier itself) and judged against by the following ones (redirects).
tl::expected<Fetched, Outcome> fetch(const Settings& s, const Url& url, std::string_view purpose,
                                     std::vector<ValidationRecord>& records,
                                     std::vector<std::string>& own, bool first) {
  records.push_back({url.to_string(), url.host, url.port, {}, {}});
  auto addresses = detail::resolve(s, url.host, purpose);
  if (!addresses) return tl::unexpected(addresses.error());
  records.back().addresses_resolved = *addresses;
  std::string refused;
  auto allowed = detail::dialable(s, *addresses, first ? nullptr : &own, refused);
  if (first) own = allowed;
  if (allowed.empty()) {
    if (first)
      return tl::unexpected(failure("rejectedIdentifier",
                                    std::string(purpose) + ": the validator does not connect to " +
                                        url.host + ": " + refused));
    return tl::unexpected(failure("connection", "refusing to follow a redirect to " +
                                                    url.to_string() + " for " +
                                                    std::string(purpose) + ": " + refused));
  }
  asio::io_context ioc;
  auto tcp =
      detail::connect_first(ioc, allowed, url.port, s.timeout,
                            std::string(purpose) + " (" + url.to_string() + ")", records.back());
  if (!tcp) return tl::unexpected(tcp.error());
  const std::string address = records.back().address_used;
  if (url.scheme == "http") return exchange(ioc, *tcp, url, address, s, purpose);

  // https (after a redirect): no certificate verification (RFC 8555 §8.3).
  ssl::context ctx(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.native_handle(), SSL_VERIFY_NONE, nullptr);
  beast::ssl_stream<beast::tcp_stream> stream(std::move(*tcp), ctx);
  if (!detail::parse_ip(url.host))
    SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str());
  auto ec = detail::run_one(ioc, [&](auto&& h) {
    stream.async_handshake(ssl::stream_base::client, std::forward<decltype(h)>(h));
  });
  if (ec) {
    const std::string where = url.to_string() + " (" +
                              detail::address_with_port(address, url.port) + ") for " +
                              std::string(purpose);
    return tl::unexpected(
        failure(detail::is_timeout(ec) ? "connection" : "tls",
                "TLS handshake with " + where + ": " + detail::error_text(ec, s.timeout)));
  }
  return exchange(ioc, stream, url, address, s, purpose);
}

bool is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

std::string_view trim_trailing_whitespace(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' ||
                        s.back() == '\n' || s.back() == '\f' || s.back() == '\v'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

Outcome validate_http01(const Settings& s, std::string_view identifier_type,
                        std::string_view identifier, std::string_view token,
                        std::string_view key_authorization) {
  auto target = detail::check_identifier(identifier_type, identifier, kChallenge);
  if (!target) return target.error();
  if (!detail::is_base64url(token))
    return failure("malformed",
                   "http-01: the token " + printable(token) + " is not base64url (RFC 8555 §8.3)");
  if (!detail::is_key_authorization(key_authorization))
    return failure("malformed", "http-01: the key authorization " + printable(key_authorization) +
                                    " is not <token>.<thumbprint>");

  const std::string purpose = std::string(kChallenge) + " of " + target->host;
  std::vector<ValidationRecord> records;
  Url url{"http", target->host, s.http01_port, "/.well-known/acme-challenge/" + std::string(token)};
  std::vector<std::string> own;  // the identifier's addresses (see Settings::denied_ranges)
  for (int redirects = 0;;) {
    auto fetched = fetch(s, url, purpose, records, own, redirects == 0);
    if (!fetched) {
      Outcome o = std::move(fetched.error());
      o.records = std::move(records);
      return o;
    }
    const std::string where = url.to_string() + " (" +
                              detail::address_with_port(records.back().address_used, url.port) +
                              ")";
    if (is_redirect(fetched->status) && !fetched->location.empty()) {
      if (redirects >= s.max_redirects)
        return failure("connection",
                       "too many redirects: " + where + " redirects again after " +
                           std::to_string(redirects) + " (at most " +
                           std::to_string(s.max_redirects) + " are followed)",
                       std::move(records));
      auto next = follow(s, url, fetched->location);
      if (!next)
        return failure(
            "connection",
            "following the redirect from " + where + " for " + purpose + ": " + next.error(),
            std::move(records));
      url = std::move(*next);
      ++redirects;
      continue;
    }
    if (fetched->status != 200) {
      std::string detail = "fetching " + where + " for " + purpose + ": HTTP status " +
                           std::to_string(fetched->status);
      if (is_redirect(fetched->status)) detail += " without a Location header";
      // Never the body itself: it may come from a host the client does not own.
      if (!fetched->body.empty())
        detail += " (a " + std::to_string(fetched->body.size()) + "-byte body, not shown)";
      return failure("unauthorized", detail, std::move(records));
    }
    if (fetched->body_too_large)
      return failure("incorrectResponse",
                     "fetching " + where + " for " + purpose +
                         ": the response body did not match the key authorization (it is over "
                         "the " + std::to_string(s.max_body_bytes) + "-byte limit; expected " +
                         printable(key_authorization) + ")",
                     std::move(records));
    if (trim_trailing_whitespace(fetched->body) != key_authorization)
      return failure("incorrectResponse",
                     "fetching " + where + " for " + purpose +
                         ": the response body did not match the key authorization (" +
                         std::to_string(fetched->body.size()) + " bytes; expected the " +
                         std::to_string(key_authorization.size()) + "-byte " +
                         printable(key_authorization) + ")",
                     std::move(records));
    Outcome ok;
    ok.valid = true;
    ok.records = std::move(records);
    return ok;
  }
}

}  // namespace herald::acme::validation
