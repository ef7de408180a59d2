#pragma once
// The agent's configuration: from command-line flags (one certificate) or an
// agent.toml (several), both through the same specs and checks.
//
// agent.toml:
//   server = "https://ca.internal:8443"     # herald serve
//   trust = "/etc/herald/root.pem"          # anchors for the server's TLS certificate
//   token_file = "/etc/herald/agent.token"  # a way to obtain (one of three):
//   # or: provisioner = "ci"  ott_key = "/etc/herald/ci.key.pem"  ott_password_file = "..."
//   # or: [acme] directory = "https://.../directory"  (see AcmeSpec; server optional)
//   trust_bundle = "/etc/herald/bundle.pem" # optional
//   trust_bundle_interval = "10m"           # optional
//   retry_min = "5s"                        # optional
//   retry_max = "5m"                        # optional
//   metrics_listen = "127.0.0.1:9479"       # optional: GET /metrics
//   revocation_check = "5m"                 # optional: OCSP poll, or "off"
//   revocation_feed = "on"                  # optional: follow the CA's feed (daemon)
//   [[spiffe_bundle]]                       # optional, repeatable: federation
//   url = "https://partner:8443/v1/spiffe/bundle"  trust = "partner-root.pem"
//   file = "/etc/herald/partner-bundle.pem"        # interval = "5m" (default: the hint)
//   [[certificate]]                         # one table per certificate
//   profile = "server"
//   cn = "web.internal"
//   sans = ["dns:web.internal", "ip:10.0.0.5"]
//   key_type = "ec-p256"     ttl = "24h"     renew_at = 0.66     jitter = 0.05
//   cert = "/etc/nginx/tls/cert.pem"   key = "/etc/nginx/tls/key.pem"
//   chain = "/etc/nginx/tls/chain.pem" combined = "..."           # optional
//   reload = "systemctl reload nginx"  reload_timeout = "30s"     # optional
//   reload_signal = "HUP"  reload_pid_file = "/run/nginx.pid"      # or: a signal
//   pkcs12 = "/etc/app/tls.p12"  pkcs12_password_file = "/etc/app/p12.pass"  # optional
//   file_owner = "www-data"  file_group = "ssl-cert"  key_mode = "0640"  # optional (root only)
//   owner = "team=web,service=api"     # optional: owner labels in the inventory

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
  std::optional<std::string> reload_signal, reload_pid_file;  // e.g. "HUP", "/run/nginx.pid"
  std::optional<std::string> pkcs12, pkcs12_password_file;
  std::optional<std::string> file_owner, file_group;  // user and group names or numbers
  std::optional<std::string> owner;  // owner labels "team=web,service=api"
  std::string key_mode = "0600";            // 0600, 0640, 0400 or 0440
  int test_write_delay_ms = 0;
};

// [acme] in agent.toml, --acme* flags (source.h AcmeSettings).
struct AcmeSpec {
  std::string directory;
  std::optional<std::string> account_key, email, eab_kid, eab_hmac_key_file, webroot, dns_hook;
  std::string challenge = "http-01";  // http-01 (standalone) | webroot | dns-01
  std::string http_listen = "0.0.0.0:80";
};

// [[spiffe_bundle]] in agent.toml, --spiffe-bundle* flags.
struct SpiffeBundleSpec {
  std::string url, trust, file;
  std::optional<std::string> interval;
};

struct AgentSpec {
  std::string server, trust;  // URL, trust anchor file
  std::optional<std::string> token_file, trust_bundle, metrics_listen;
  // one-time tokens signed with a jwk provisioner's key
  std::optional<std::string> provisioner, ott_key, ott_password_file;
  std::optional<AcmeSpec> acme;
  std::vector<SpiffeBundleSpec> spiffe_bundles;
  std::string retry_min = "5s", retry_max = "5m", trust_bundle_interval = "10m";
  std::string revocation_check = "5m";  // or "off"
  std::string revocation_feed = "on";   // or "off"
};

// Checks every value and reads the trust anchors (and the token file once,
// to fail early). A server certificate's CN that is a DNS name or an IP is
// added to its SANs, as `herald issue` does.
[[nodiscard]] Result<CertConfig> make_cert_config(const CertSpec& s);
// Exactly one way to obtain (token_file, provisioner + ott_key, or acme) or
// none (renewal over mutual TLS only, of certificates already in place).
// `clock` (for one-time tokens and ACME) must outlive the configuration.
[[nodiscard]] Result<AgentConfig> make_agent_config(const AgentSpec& s,
                                                    std::vector<CertConfig> certs,
                                                    const Clock& clock);

// agent.toml as above; `origin` names the file in errors ("FILE:LINE: ...").
struct ParsedConfig {
  AgentSpec agent;
  std::vector<CertSpec> certs;
};
[[nodiscard]] Result<ParsedConfig> parse_config(std::string_view text, const std::string& origin);

}  // namespace herald::agent
