#pragma once
// Plain request/response values exchanged between the HTTP server and the
// handlers. Nothing here depends on Boost: handlers never see Beast.

#include <chrono>
#include <functional>
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

  [[nodiscard]] std::string_view header(std::string_view lowercase_name) const;
  // A query parameter, percent-decoded; "" if absent.
  [[nodiscard]] std::string query_param(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool close = false;  // close the connection after this response

  void set_header(std::string name, std::string value);
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
