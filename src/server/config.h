#pragma once
// `herald serve` settings: the [server] table and [[provisioners]] of
// DIR/herald.toml (docs/configuration.md). Every key has a safe default;
// unknown keys and bad values are refused with the line and the reason.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "alerts/config.h"
#include "base/error.h"
#include "net/endpoint.h"
#include "policy/profile.h"
#include "policy/scope.h"
#include "x509/san.h"

namespace herald::server {

// kAdmin: the dashboard (/ui/) and its read-only API (/v1/overview, ...), every
// certificate whatever its issuer.
enum class Permission { kSign, kRevoke, kRead, kAdmin };

struct ProvisionerConfig {
  std::string name;
  // "token" (bearer API tokens) | "jwk" (one-time signed tokens) | "acme" (RFC 8555 at
  // /acme/<name>/directory: the first of `profiles`, DNS names matching allowed_dns
  // ("*" = any) and, if allow_ip, IP addresses, once their control is proven)
  std::string type;
  std::string public_key_file;  // jwk: PEM public key (P-256 or Ed25519), relative to DIR
  std::vector<policy::Profile> profiles;
  // The names it may request, on top of the profile policy (policy/scope.h):
  // DNS patterns (policy.*.allowed_dns syntax), IP ranges, URI SANs (exact
  // or prefix*), client CNs (exact or one '*'). Once any is set, a name type
  // whose list is empty is refused. All empty: the profile policy alone.
  std::vector<std::string> allowed_dns;
  std::vector<std::string> allowed_ips;  // CIDRs, as written
  std::vector<std::string> allowed_uris;
  std::vector<std::string> allowed_cn;
  policy::NameScope scope;  // the lists above, parsed (acme: allowed_dns and allow_ip)
  std::vector<Permission> permissions;
  // acme only
  bool allow_ip = true;
  std::optional<std::chrono::seconds> ttl;  // certificate lifetime (default: the profile's)
  bool require_eab = false;                 // External Account Binding (RFC 8555 §7.3.4)
  [[nodiscard]] bool can(Permission p) const;
  [[nodiscard]] bool allows(policy::Profile p) const;
};

// HOST:PORT (net/endpoint.h, shared with herald proxy).
using net::Endpoint;
using net::parse_endpoint;

// [acme]: how challenges are validated, lifetimes and limits.
struct AcmeConfig {
  uint16_t http01_port = 80;
  uint16_t tlsalpn01_port = 443;
  std::string dns_resolver;  // "HOST:PORT"; "" = the system resolver
  std::chrono::seconds validation_timeout{10};
  // Test and benchmark setting: challenges are valid without being checked.
  bool insecure_skip_validation = false;
  std::chrono::seconds order_lifetime{24 * 3600};
  std::chrono::seconds authz_lifetime{24 * 3600};
  int orders_per_account_per_hour = 300;
  int orders_per_identifier_per_hour = 50;
  // Issue 9: abuse limits (docs/configuration.md [acme]).
  // CIDRs the validator never dials; unset: acme::validation::kDefaultDeniedRanges.
  std::optional<std::vector<std::string>> validation_denied_ranges;
  int max_identifiers_per_order = 100;
  int max_pending_orders_per_account = 100;   // 0: no limit
  int new_accounts_per_address_per_hour = 20;  // 0: no limit
  int validations_per_account = 2;             // in flight at once; 0: no limit
  int validations_per_order = 2;
};

// [dashboard]: who else may read the dashboard (/ui/ and its API).
struct DashboardConfig {
  // Client certificates that log in as an admin (read-only, the dashboard
  // only): one issued by this Herald's issuing CA, not revoked, in date,
  // with the clientAuth EKU, and a SAN equal (type and value) to one of
  // these ("uri:spiffe://corp/admin/alice", "dns:ops-admin.internal"; the
  // x509/san.h syntax, no wildcard). The subject's CN never counts.
  std::vector<x509::San> admin_client_names;
};

struct ServerConfig {
  Endpoint listen{"127.0.0.1", 8443};       // HTTPS: REST API (and everything else)
  Endpoint http_listen{"127.0.0.1", 8080};  // plain HTTP: OCSP, CRLs, CA certificates, health
  int threads = 0;         // I/O threads; 0: one per core
  int worker_threads = 0;  // API handlers and background work (they wait on fsync); 0: 8 per core
  size_t max_body_bytes = 64 * 1024;
  size_t max_header_bytes = 8 * 1024;
  std::chrono::seconds read_timeout{10};
  std::chrono::seconds idle_timeout{30};
  // Open connections per listener; at the cap a listener stops accepting until
  // one closes. herald serve lowers it to fit the descriptor limit.
  size_t max_connections = 4096;
  // GET /v1/revocations long polls waiting at once: in all, and per client
  // certificate; 429 beyond.
  size_t feed_max_waiters = 1024;
  size_t feed_max_waiters_per_client = 4;
  double issuance_rate_per_second = 100;  // per client address, burst twice that
  std::chrono::seconds ocsp_validity{24 * 3600};
  // Certificates whose OCSP answers stay in memory (least recently used out;
  // the rest are read from the store): about 1.2 kB each.
  size_t ocsp_cache_entries = 50000;
  std::chrono::seconds crl_validity{24 * 3600};
  // Retention (store/retention.h): prune the records of certificates that
  // expired more than this long ago, a batch at a time on the lease holder
  // (server/retention.cc). Off (nullopt) by default. [server] retention = "365d".
  std::optional<std::chrono::seconds> retention;
  std::vector<std::string> tls_names{"localhost",
                                     "127.0.0.1"};  // SANs of the server's own certificate
  std::vector<ProvisionerConfig> provisioners;
  AcmeConfig acme;
  alerts::AlertsConfig alerts;  // [alerts] (alerts/config.h)
  DashboardConfig dashboard;    // [dashboard]

  [[nodiscard]] const ProvisionerConfig* provisioner(std::string_view name) const;
};

[[nodiscard]] Result<ServerConfig> parse_server_config(std::string_view toml_text,
                                                       std::string_view source);

}  // namespace herald::server
