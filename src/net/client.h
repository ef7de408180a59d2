#pragma once
// A small HTTPS client (one request per connection) for the CLI's calls to
// `herald serve`: TLS 1.2+, server verified against a CA file and the URL's
// host, optional client certificate (mutual TLS).

#include <string>
#include <vector>

#include "base/error.h"
#include "net/http.h"

namespace herald::net {

struct ClientTls {
  std::string ca_pem;    // trust anchors for the server
  std::string cert_pem;  // client certificate (+ chain), optional
  std::string key_pem;   // its key (unencrypted PEM, in memory only)
};

// `url`: https://HOST:PORT/path. Returns the response (any status); errors
// only for URL, connection or TLS failures.
[[nodiscard]] Result<Response> https_request(
    const std::string& method, const std::string& url,
    const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body,
    const ClientTls& tls, std::chrono::seconds timeout = std::chrono::seconds(30));

// `url`: http://HOST[:PORT]/path, plain HTTP/1.1, one request, no redirect
// followed (a 3xx is returned as it is). The connection must be made within
// `timeout`, and the response read within `timeout` of the request being
// sent. A body over `max_body` bytes is an error (kIo), never truncated.
// For fetching CRLs and OCSP responses named in certificates.
[[nodiscard]] Result<Response> http_request(
    const std::string& method, const std::string& url,
    const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body,
    std::chrono::seconds timeout, size_t max_body);

}  // namespace herald::net
