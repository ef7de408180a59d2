#pragma once
// `herald proxy`'s configuration: proxy.toml (several routes) or the
// one-route flags, both through the same checks (docs/proxy.md).
//
//   admin_listen = "127.0.0.1:9480"        # optional: GET /healthz, /metrics (plain HTTP)
//   threads = 2                            # I/O threads (default: the cores)
//   ca_feed = "https://ca.internal:8443"   # optional: herald serve's revocation feed
//   ca_feed_trust = "/etc/herald/root.pem" # its TLS anchor and the feed's root (default: route 1's trust)
//   access_log = true                      # one JSON line per request on stderr
//
//   [[route]]
//   name = "api"                       listen = "0.0.0.0:8443"   backend = "127.0.0.1:8080"
//   mode = "http"                      # or "tcp"
//   cert = "/etc/herald/proxy.pem"     key = "/etc/herald/proxy.key"   chain = "..."  # chain optional
//   trust = "/etc/herald/bundle.pem"   # CAs whose client certificates are accepted
//   client_cert = "required"           # or "optional"
//   revocation = "hard"                # hard | soft | off
//   allow_spiffe = ["spiffe://example.org/ns/payments/*"]
//   allow_san = ["billing.internal", "*.web.internal", "https://partner.example/*"]
//   allow_o = [], allow_ou = [], allow_issuer = ["SHA256 fingerprint or CN=..."]
//   health_path = "/healthz"           # answered without a client certificate
//   timeout = "60s"                    # request head, backend's first byte, idle relay
//   crl_urls = ["http://ca:8080/crl/issuing.crl"]  # prefetched at start

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "net/proxy.h"
#include "proxy/route.h"

namespace herald::proxy {

struct RouteSpec {
  std::string name = "default", listen, backend, mode = "http", cert, key, trust;
  std::optional<std::string> chain;
  std::string client_cert = "required", revocation = "hard";
  std::vector<std::string> allow_spiffe, allow_san, allow_o, allow_ou, allow_issuer, crl_urls;
  std::string health_path;
  std::string timeout = "60s";
};

struct ProxySpec {
  std::optional<std::string> admin_listen, ca_feed, ca_feed_trust;
  int threads = 0;
  bool access_log = true;
  std::vector<RouteSpec> routes;
};

struct RouteConfig {
  RoutePolicy policy;
  std::string listen_host, backend_host;
  uint16_t listen_port = 0, backend_port = 0;
  net::ProxyMode mode = net::ProxyMode::kHttp;
  std::string cert, key, trust;
  std::optional<std::string> chain;
  std::string health_path;
  std::vector<std::string> crl_urls;
  // A client's request head must arrive, and the backend must start its
  // answer, within this long; a relay that makes no progress for this long
  // is closed (nginx's client_header_timeout and proxy_read_timeout: 60 s).
  std::chrono::seconds timeout{60};
};

struct ProxyConfig {
  std::vector<RouteConfig> routes;
  std::optional<std::string> admin_host;
  uint16_t admin_port = 0;
  std::optional<std::string> ca_feed;  // https://HOST:PORT
  std::string ca_feed_trust;           // file
  int threads = 0;
  bool access_log = true;
};

// Every value checked (addresses, modes, allow-list patterns, files named
// and readable); kInvalidArgument naming the route and the value.
[[nodiscard]] Result<ProxyConfig> make_proxy_config(const ProxySpec& s);
// proxy.toml; `origin` names the file in errors ("FILE:LINE: ...").
[[nodiscard]] Result<ProxySpec> parse_proxy_toml(std::string_view text, const std::string& origin);

}  // namespace herald::proxy
