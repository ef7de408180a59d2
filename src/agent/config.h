#pragma once
// The agent's configuration: from command-line flags (one certificate) or an
// agent.toml (several), both through the same specs and checks.
//
// agent.toml:
//   server = "https://ca.internal:8443"     # herald serve
//   trust = "/etc/herald/root.pem"          # anchors for the server's TLS certificate
//   token_file = "/etc/herald/agent.token"  # optional: first issuance, fallback
//   trust_bundle = "/etc/herald/bundle.pem" # optional
//   trust_bundle_interval = "10m"           # optional
//   retry_min = "5s"                        # optional
//   retry_max = "5m"                        # optional
//   metrics_listen = "127.0.0.1:9479"       # optional: GET /metrics
//   revocation_check = "5m"                 # optional: OCSP poll, or "off"
//   [[certificate]]                         # one table per certificate
//   profile = "server"
//   cn = "web.internal"
//   sans = ["dns:web.internal", "ip:10.0.0.5"]
//   key_type = "ec-p256"     ttl = "24h"     renew_at = 0.66     jitter = 0.05
//   cert = "/etc/nginx/tls/cert.pem"   key = "/etc/nginx/tls/key.pem"
//   chain = "/etc/nginx/tls/chain.pem" combined = "..."           # optional
//   reload = "systemctl reload nginx"  reload_timeout = "30s"     # optional

#include <optional>
#include <string>
#include <vector>

#include "agent/agent.h"

namespace herald::agent {

struct CertSpec {
  std::string profile, cn, key_type = "ec-p256", cert, key;
  std::vector<std::string> sans;  // "dns:a,ip:b" items, comma lists allowed
  std::optional<std::string> ttl, chain, combined, reload;
  double renew_at = 0.66, jitter = 0.05;
  std::string reload_timeout = "30s";
  int test_write_delay_ms = 0;
};

struct AgentSpec {
  std::string server, trust;  // URL, trust anchor file
  std::optional<std::string> token_file, trust_bundle, metrics_listen;
  std::string retry_min = "5s", retry_max = "5m", trust_bundle_interval = "10m";
  std::string revocation_check = "5m";  // or "off"
};

// Checks every value and reads the trust anchors (and the token file once,
// to fail early). A server certificate's CN that is a DNS name or an IP is
// added to its SANs, as `herald issue` does.
[[nodiscard]] Result<CertConfig> make_cert_config(const CertSpec& s);
[[nodiscard]] Result<AgentConfig> make_agent_config(const AgentSpec& s,
                                                    std::vector<CertConfig> certs);

// agent.toml as above; `origin` names the file in errors ("FILE:LINE: ...").
struct ParsedConfig {
  AgentSpec agent;
  std::vector<CertSpec> certs;
};
[[nodiscard]] Result<ParsedConfig> parse_config(std::string_view text, const std::string& origin);

}  // namespace herald::agent
