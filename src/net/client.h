#pragma once
// A small HTTPS client (one request per connection) for the CLI's calls to
// `herald serve`: TLS 1.2+, server verified against a CA file and the URL's
// host, optional client certificate (mutual TLS).

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "base/error.h"
#include "net/http.h"

namespace herald::net {

struct ClientTls {
  std::string ca_pem;    // trust anchors for the server
  std::string cert_pem;  // client certificate (+ chain), optional
  std::string key_pem;   // its key (unencrypted PEM, in memory only)
  // An empty ca_pem is an error (kRefuse: Herald's own clients always name
  // the CA they trust), or means the system's default verify paths
  // (kSystemDefault: the ACME client, which may talk to a public CA).
  enum class EmptyCa { kRefuse, kSystemDefault };
  EmptyCa empty_ca = EmptyCa::kRefuse;
};

// Lets another thread abort a request in flight: after cancel() the request
// fails at once (kIo, "cancelled") at whichever step it is, connecting,
// handshaking, writing or waiting for the answer (a long poll). Thread-safe;
// once cancelled it stays cancelled.
class CancelToken {
 public:
  void cancel();
  [[nodiscard]] bool cancelled() const;
  // For https_request: `abort` runs at cancel() (at once if already
  // cancelled) until disarm(). It must be safe to call from any thread.
  void arm(std::function<void()> abort);
  void disarm();

 private:
  mutable std::mutex mu_;
  bool cancelled_ = false;
  std::function<void()> abort_;
};

// `url`: https://HOST:PORT/path. Returns the response (any status); errors
// only for URL, connection or TLS failures (and cancellation).
[[nodiscard]] Result<Response> https_request(
    const std::string& method, const std::string& url,
    const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body,
    const ClientTls& tls, std::chrono::seconds timeout = std::chrono::seconds(30),
    CancelToken* cancel = nullptr);

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
