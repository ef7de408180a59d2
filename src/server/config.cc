#include "server/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <set>
#include <tuple>

#include "acme/validation/validator.h"
#include "base/duration.h"
#include "x509/san.h"

namespace herald::server {

bool ProvisionerConfig::can(Permission p) const {
  return std::find(permissions.begin(), permissions.end(), p) != permissions.end();
}
bool ProvisionerConfig::allows(policy::Profile p) const {
  return std::find(profiles.begin(), profiles.end(), p) != profiles.end();
}

const ProvisionerConfig* ServerConfig::provisioner(std::string_view name) const {
  for (const auto& p : provisioners) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

namespace {

struct Ctx {
  std::string_view source;
  tl::unexpected<Error> at(const toml::node& n, const std::string& what) const {
    return make_error(
        ErrorCode::kMalformedInput,
        std::string(source) + ":" + std::to_string(n.source().begin.line) + ": " + what);
  }
};

Status check_keys(const Ctx& c, const toml::table& t, const std::string& path,
                  const std::set<std::string>& allowed) {
  for (auto&& [k, v] : t) {
    if (!allowed.count(std::string(k.str())))
      return c.at(v, "unknown key '" + path + "." + std::string(k.str()) + "'");
  }
  return {};
}

Result<std::string> get_string(const Ctx& c, const toml::node& n, const std::string& what) {
  if (!n.is_string()) return c.at(n, what + " must be a string");
  return *n.value<std::string>();
}

Result<std::vector<std::string>> get_strings(const Ctx& c, const toml::node& n,
                                             const std::string& what) {
  const toml::array* a = n.as_array();
  if (!a) return c.at(n, what + " must be an array of strings");
  std::vector<std::string> out;
  for (const auto& item : *a) {
    if (!item.is_string()) return c.at(item, what + " must contain only strings");
    out.push_back(*item.value<std::string>());
  }
  return out;
}

Result<std::chrono::seconds> get_duration(const Ctx& c, const toml::node& n,
                                          const std::string& what) {
  HERALD_TRY(auto text, get_string(c, n, what));
  auto d = parse_duration(text);
  if (!d) return c.at(n, what + ": " + d.error().message);
  return *d;
}

Result<int64_t> get_int(const Ctx& c, const toml::node& n, const std::string& what, int64_t lo,
                        int64_t hi) {
  if (!n.is_integer()) return c.at(n, what + " must be an integer");
  int64_t v = *n.value<int64_t>();
  if (v < lo || v > hi)
    return c.at(n, what + " must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return v;
}

Result<ProvisionerConfig> parse_provisioner(const Ctx& c, const toml::table& t) {
  HERALD_TRY_VOID(
      check_keys(c, t, "provisioners",
                 {"name", "type", "profiles", "allowed_dns", "allowed_ips", "allowed_uris",
                  "allowed_cn", "permissions", "public_key_file", "allow_ip", "ttl",
                  "require_eab"}));
  ProvisionerConfig p;
  const toml::node* name = t.get("name");
  if (!name) return c.at(t, "a provisioner needs a name");
  HERALD_TRY(p.name, get_string(c, *name, "provisioners.name"));
  bool name_ok = !p.name.empty() && p.name.size() <= 64 &&
                 std::all_of(p.name.begin(), p.name.end(), [](char ch) {
                   return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_';
                 });
  if (!name_ok) return c.at(*name, "provisioner name must be 1-64 letters, digits, '-' or '_'");
  p.type = "token";
  if (const toml::node* n = t.get("type")) {
    HERALD_TRY(p.type, get_string(c, *n, "provisioners.type"));
    if (p.type != "token" && p.type != "jwk" && p.type != "acme")
      return c.at(*n, "provisioners.type must be \"token\", \"jwk\" or \"acme\"");
  }
  for (const char* key : {"allow_ip", "ttl", "require_eab"}) {
    if (t.get(key) && p.type != "acme")
      return c.at(*t.get(key), std::string("provisioners.") + key + " is for acme provisioners");
  }
  if (const toml::node* n = t.get("allow_ip")) {
    auto v = n->value<bool>();
    if (!v) return c.at(*n, "provisioners.allow_ip must be true or false");
    p.allow_ip = *v;
  }
  if (const toml::node* n = t.get("require_eab")) {
    auto v = n->value<bool>();
    if (!v) return c.at(*n, "provisioners.require_eab must be true or false");
    p.require_eab = *v;
  }
  if (const toml::node* n = t.get("ttl")) {
    HERALD_TRY(auto text, get_string(c, *n, "provisioners.ttl"));
    auto d = parse_duration(text);
    if (!d) return c.at(*n, "provisioners.ttl: " + d.error().message);
    p.ttl = *d;
  }
  if (const toml::node* n = t.get("public_key_file")) {
    HERALD_TRY(p.public_key_file, get_string(c, *n, "provisioners.public_key_file"));
  }
  if (p.type == "jwk" && p.public_key_file.empty()) {
    return c.at(t, "a jwk provisioner needs public_key_file (herald token keygen --provisioner " +
                       p.name + ")");
  }
  std::vector<std::string> profiles = {"server", "client"};
  if (p.type == "acme") profiles = {"server"};
  if (const toml::node* n = t.get("profiles")) {
    HERALD_TRY(profiles, get_strings(c, *n, "provisioners.profiles"));
  }
  for (const auto& name_text : profiles) {
    auto prof = policy::parse_profile(name_text);
    if (!prof) return c.at(*t.get("profiles"), "provisioners.profiles: " + prof.error().message);
    p.profiles.push_back(*prof);
  }
  if (const toml::node* n = t.get("allowed_dns")) {
    HERALD_TRY(p.allowed_dns, get_strings(c, *n, "provisioners.allowed_dns"));
  }
  for (const char* key : {"allowed_ips", "allowed_uris", "allowed_cn"}) {
    if (t.get(key) && p.type == "acme") {
      return c.at(*t.get(key), std::string("provisioners.") + key +
                                   " is not for acme provisioners (they use allowed_dns and "
                                   "allow_ip)");
    }
  }
  std::vector<policy::IpRange> ips;
  if (const toml::node* n = t.get("allowed_ips")) {
    HERALD_TRY(p.allowed_ips, get_strings(c, *n, "provisioners.allowed_ips"));
    for (const auto& cidr : p.allowed_ips) {
      auto r = policy::parse_ip_range(cidr);
      if (!r) return c.at(*n, "provisioners.allowed_ips: " + r.error().message);
      ips.push_back(*r);
    }
  }
  if (const toml::node* n = t.get("allowed_uris")) {
    HERALD_TRY(p.allowed_uris, get_strings(c, *n, "provisioners.allowed_uris"));
  }
  if (const toml::node* n = t.get("allowed_cn")) {
    HERALD_TRY(p.allowed_cn, get_strings(c, *n, "provisioners.allowed_cn"));
    for (const auto& pat : p.allowed_cn) {
      if (pat.empty() || std::count(pat.begin(), pat.end(), '*') > 1)
        return c.at(*n, "provisioners.allowed_cn: '" + pat +
                            "' must be a name, or a name with one '*' (e.g. \"svc-*\")");
    }
  }
  const std::string owner = "provisioner '" + p.name + "'";
  if (p.type == "acme") {
    // Identifiers are DNS names and IPs whose control was proven; nothing else.
    std::vector<std::string> dns = p.allowed_dns;
    if (dns.empty()) dns = {"*"};
    if (p.allow_ip) ips = {*policy::parse_ip_range("0.0.0.0/0"), *policy::parse_ip_range("::/0")};
    p.scope = policy::NameScope::of(owner, std::move(dns), std::move(ips), {}, {});
    p.scope.restricted = true;
  } else {
    p.scope = policy::NameScope::of(owner, p.allowed_dns, std::move(ips), p.allowed_uris,
                                    p.allowed_cn);
  }
  std::vector<std::string> perms = {"sign"};
  if (const toml::node* n = t.get("permissions")) {
    HERALD_TRY(perms, get_strings(c, *n, "provisioners.permissions"));
  }
  for (const auto& perm : perms) {
    if (perm == "sign")
      p.permissions.push_back(Permission::kSign);
    else if (perm == "revoke")
      p.permissions.push_back(Permission::kRevoke);
    else if (perm == "read")
      p.permissions.push_back(Permission::kRead);
    else if (perm == "admin")
      p.permissions.push_back(Permission::kAdmin);
    else
      return c.at(*t.get("permissions"),
                  "provisioners.permissions: unknown '" + perm + "' (sign, revoke, read, admin)");
  }
  return p;
}


// [alerts] (alerts/config.h, docs/configuration.md).
Result<alerts::AlertsConfig> parse_alerts(const Ctx& c, const toml::node& n) {
  const toml::table* t = n.as_table();
  if (!t) return c.at(n, "alerts must be a table");
  HERALD_TRY_VOID(check_keys(c, *t, "alerts",
                             {"days", "lifetime_percent", "lifetime_window", "interval", "log",
                              "max_attempts", "retry_initial", "retry_max", "timeout",
                              "max_pending", "webhooks"}));
  alerts::AlertsConfig a;
  a.enabled = true;
  if (const toml::node* v = t->get("days")) {
    const toml::array* arr = v->as_array();
    if (!arr) return c.at(*v, "alerts.days must be an array of integers");
    a.days.clear();
    for (const auto& d : *arr) {
      HERALD_TRY(auto days, get_int(c, d, "alerts.days", 1, 3650));
      a.days.push_back(static_cast<int>(days));
    }
  }
  if (const toml::node* v = t->get("lifetime_percent")) {
    if (!v->is_number()) return c.at(*v, "alerts.lifetime_percent must be a number");
    a.lifetime_percent = v->is_integer() ? static_cast<double>(*v->value<int64_t>())
                                         : *v->value<double>();
    if (a.lifetime_percent < 0 || a.lifetime_percent >= 100)
      return c.at(*v, "alerts.lifetime_percent must be at least 0 and below 100 (0: off)");
  }
  for (auto [key, field] : {std::pair{"lifetime_window", &a.lifetime_window},
                            std::pair{"interval", &a.interval}, std::pair{"timeout", &a.timeout}}) {
    if (const toml::node* v = t->get(key)) {
      HERALD_TRY(*field, get_duration(c, *v, std::string("alerts.") + key));
      if (field->count() <= 0) return c.at(*v, std::string("alerts.") + key + " must be positive");
    }
  }
  for (auto [key, field] : {std::pair{"retry_initial", &a.retry_initial},
                            std::pair{"retry_max", &a.retry_max}}) {
    if (const toml::node* v = t->get(key)) {
      HERALD_TRY(auto d, get_duration(c, *v, std::string("alerts.") + key));
      if (d.count() <= 0) return c.at(*v, std::string("alerts.") + key + " must be positive");
      *field = std::chrono::duration_cast<std::chrono::milliseconds>(d);
    }
  }
  if (a.retry_max < a.retry_initial) a.retry_max = a.retry_initial;
  if (const toml::node* v = t->get("log")) {
    if (!v->is_boolean()) return c.at(*v, "alerts.log must be true or false");
    a.log = *v->value<bool>();
  }
  if (const toml::node* v = t->get("max_attempts")) {
    HERALD_TRY(auto m, get_int(c, *v, "alerts.max_attempts", 1, 20));
    a.max_attempts = static_cast<int>(m);
  }
  if (const toml::node* v = t->get("max_pending")) {
    HERALD_TRY(auto m, get_int(c, *v, "alerts.max_pending", 1, 100000));
    a.max_pending = static_cast<size_t>(m);
  }
  if (const toml::node* v = t->get("webhooks")) {
    const toml::array* arr = v->as_array();
    if (!arr) return c.at(*v, "alerts.webhooks must be an array of tables");
    for (const auto& item : *arr) {
      const toml::table* w = item.as_table();
      if (!w) return c.at(item, "alerts.webhooks must be an array of tables");
      HERALD_TRY_VOID(
          check_keys(c, *w, "alerts.webhooks", {"name", "url", "secret_file", "partner", "ca_file"}));
      alerts::WebhookConfig h;
      for (auto [key, field] : {std::pair{"name", &h.name}, std::pair{"url", &h.url},
                                std::pair{"secret_file", &h.secret_file}}) {
        const toml::node* f = w->get(key);
        if (!f) return c.at(item, std::string("alerts.webhooks: '") + key + "' is required");
        HERALD_TRY(*field, get_string(c, *f, std::string("alerts.webhooks.") + key));
        if (field->empty())
          return c.at(*f, std::string("alerts.webhooks.") + key + " must not be empty");
      }
      if (const toml::node* f = w->get("partner")) {
        HERALD_TRY(h.partner, get_string(c, *f, "alerts.webhooks.partner"));
      }
      const std::string_view url = h.url;
      const bool http = url.substr(0, 7) == "http://", https = url.substr(0, 8) == "https://";
      const std::string_view rest = url.substr(http ? 7 : https ? 8 : 0);
      const std::string_view authority = rest.substr(0, rest.find('/'));
      if ((!http && !https) || authority.empty())
        return c.at(*w->get("url"), "alerts.webhooks.url must be an http:// or https:// URL");
      if (authority.find('@') != std::string_view::npos)
        return c.at(*w->get("url"),
                    "alerts.webhooks.url must not carry credentials (use secret_file)");
      if (const toml::node* f = w->get("ca_file")) {
        HERALD_TRY(h.ca_file, get_string(c, *f, "alerts.webhooks.ca_file"));
        if (h.ca_file.empty()) return c.at(*f, "alerts.webhooks.ca_file must not be empty");
        if (!https)
          return c.at(*f, "alerts.webhooks.ca_file is for an https:// url only");
      }
      for (const auto& other : a.webhooks) {
        if (other.name == h.name)
          return c.at(item, "duplicate alerts.webhooks name '" + h.name + "'");
      }
      a.webhooks.push_back(std::move(h));
    }
  }
  return a;
}
}  // namespace

Result<ServerConfig> parse_server_config(std::string_view text, std::string_view source) {
  Ctx c{source};
  ServerConfig cfg;
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return make_error(ErrorCode::kMalformedInput, std::string(source) + ":" +
                                                      std::to_string(e.source().begin.line) + ": " +
                                                      std::string(e.description()));
  }
  if (const toml::node* n = root.get("server")) {
    const toml::table* t = n->as_table();
    if (!t) return c.at(*n, "server must be a table");
    HERALD_TRY_VOID(
        check_keys(c, *t, "server",
                   {"listen", "http_listen", "threads", "worker_threads", "max_body_bytes",
                    "max_header_bytes", "read_timeout", "idle_timeout", "max_connections",
                    "issuance_rate_per_second", "ocsp_validity", "crl_validity", "tls_names",
                    "feed_max_waiters", "feed_max_waiters_per_client", "ocsp_cache_entries",
                    "retention"}));
    for (auto [key, ep] :
         {std::pair{"listen", &cfg.listen}, std::pair{"http_listen", &cfg.http_listen}}) {
      if (const toml::node* v = t->get(key)) {
        HERALD_TRY(auto s, get_string(c, *v, std::string("server.") + key));
        auto e = parse_endpoint(s);
        if (!e) return c.at(*v, std::string("server.") + key + ": " + e.error().message);
        *ep = *e;
      }
    }
    if (const toml::node* v = t->get("threads")) {
      HERALD_TRY(cfg.threads, get_int(c, *v, "server.threads", 0, 256));
    }
    if (const toml::node* v = t->get("worker_threads")) {
      HERALD_TRY(cfg.worker_threads, get_int(c, *v, "server.worker_threads", 0, 1024));
    }
    if (const toml::node* v = t->get("max_body_bytes")) {
      HERALD_TRY(auto n, get_int(c, *v, "server.max_body_bytes", 1024, 16 << 20));
      cfg.max_body_bytes = static_cast<size_t>(n);
    }
    if (const toml::node* v = t->get("max_header_bytes")) {
      HERALD_TRY(auto n, get_int(c, *v, "server.max_header_bytes", 1024, 1 << 20));
      cfg.max_header_bytes = static_cast<size_t>(n);
    }
    if (const toml::node* v = t->get("read_timeout")) {
      HERALD_TRY(cfg.read_timeout, get_duration(c, *v, "server.read_timeout"));
    }
    if (const toml::node* v = t->get("idle_timeout")) {
      HERALD_TRY(cfg.idle_timeout, get_duration(c, *v, "server.idle_timeout"));
    }
    if (const toml::node* v = t->get("max_connections")) {
      HERALD_TRY(auto n, get_int(c, *v, "server.max_connections", 1, 1 << 20));
      cfg.max_connections = static_cast<size_t>(n);
    }
    if (const toml::node* v = t->get("feed_max_waiters")) {
      HERALD_TRY(auto n, get_int(c, *v, "server.feed_max_waiters", 0, 1 << 20));
      cfg.feed_max_waiters = static_cast<size_t>(n);
    }
    if (const toml::node* v = t->get("feed_max_waiters_per_client")) {
      HERALD_TRY(auto n, get_int(c, *v, "server.feed_max_waiters_per_client", 0, 1024));
      cfg.feed_max_waiters_per_client = static_cast<size_t>(n);
    }
    if (const toml::node* v = t->get("ocsp_cache_entries")) {
      HERALD_TRY(auto n, get_int(c, *v, "server.ocsp_cache_entries", 0, 10'000'000));
      cfg.ocsp_cache_entries = static_cast<size_t>(n);
    }
    if (const toml::node* v = t->get("retention")) {
      HERALD_TRY(auto d, get_duration(c, *v, "server.retention"));
      if (d < std::chrono::minutes(1)) {
        return c.at(*v, "server.retention must be at least 1m (how long after expiry a "
                        "certificate's record is kept, e.g. \"365d\")");
      }
      cfg.retention = d;
    }
    if (const toml::node* v = t->get("ocsp_validity")) {
      HERALD_TRY(cfg.ocsp_validity, get_duration(c, *v, "server.ocsp_validity"));
    }
    if (const toml::node* v = t->get("crl_validity")) {
      HERALD_TRY(cfg.crl_validity, get_duration(c, *v, "server.crl_validity"));
    }
    if (const toml::node* v = t->get("issuance_rate_per_second")) {
      if (!v->is_number() || *v->value<double>() <= 0)
        return c.at(*v, "server.issuance_rate_per_second must be a positive number");
      cfg.issuance_rate_per_second = *v->value<double>();
    }
    if (const toml::node* v = t->get("tls_names")) {
      HERALD_TRY(cfg.tls_names, get_strings(c, *v, "server.tls_names"));
      if (cfg.tls_names.empty())
        return c.at(*v, "server.tls_names must name at least one DNS name or IP");
    }
  }
  if (const toml::node* n = root.get("acme")) {
    const toml::table* t = n->as_table();
    if (!t) return c.at(*n, "acme must be a table");
    HERALD_TRY_VOID(check_keys(c, *t, "acme",
                               {"http01_port", "tlsalpn01_port", "dns_resolver",
                                "validation_timeout", "insecure_skip_validation", "order_lifetime",
                                "authz_lifetime", "orders_per_account_per_hour",
                                "orders_per_identifier_per_hour", "validation_denied_ranges",
                                "max_identifiers_per_order", "max_pending_orders_per_account",
                                "new_accounts_per_address_per_hour", "validations_per_account",
                                "validations_per_order"}));
    AcmeConfig& a = cfg.acme;
    if (const toml::node* v = t->get("http01_port")) {
      HERALD_TRY(auto port, get_int(c, *v, "acme.http01_port", 1, 65535));
      a.http01_port = static_cast<uint16_t>(port);
    }
    if (const toml::node* v = t->get("tlsalpn01_port")) {
      HERALD_TRY(auto port, get_int(c, *v, "acme.tlsalpn01_port", 1, 65535));
      a.tlsalpn01_port = static_cast<uint16_t>(port);
    }
    if (const toml::node* v = t->get("dns_resolver")) {
      HERALD_TRY(a.dns_resolver, get_string(c, *v, "acme.dns_resolver"));
      if (!a.dns_resolver.empty()) {
        auto e = parse_endpoint(a.dns_resolver);
        if (!e) return c.at(*v, "acme.dns_resolver: " + e.error().message);
      }
    }
    if (const toml::node* v = t->get("insecure_skip_validation")) {
      auto b = v->value<bool>();
      if (!b) return c.at(*v, "acme.insecure_skip_validation must be true or false");
      a.insecure_skip_validation = *b;
    }
    for (auto [key, field] : {std::pair{"validation_timeout", &a.validation_timeout},
                              std::pair{"order_lifetime", &a.order_lifetime},
                              std::pair{"authz_lifetime", &a.authz_lifetime}}) {
      if (const toml::node* v = t->get(key)) {
        HERALD_TRY(auto text, get_string(c, *v, std::string("acme.") + key));
        auto d = parse_duration(text);
        if (!d) return c.at(*v, std::string("acme.") + key + ": " + d.error().message);
        *field = *d;
      }
    }
    if (const toml::node* v = t->get("orders_per_account_per_hour")) {
      HERALD_TRY(a.orders_per_account_per_hour,
                 get_int(c, *v, "acme.orders_per_account_per_hour", 0, 100000000));
    }
    if (const toml::node* v = t->get("orders_per_identifier_per_hour")) {
      HERALD_TRY(a.orders_per_identifier_per_hour,
                 get_int(c, *v, "acme.orders_per_identifier_per_hour", 0, 100000000));
    }
    if (const toml::node* v = t->get("validation_denied_ranges")) {
      HERALD_TRY(auto ranges, get_strings(c, *v, "acme.validation_denied_ranges"));
      for (const auto& r : ranges) {
        if (!acme::validation::parse_cidr(r))
          return c.at(*v, "acme.validation_denied_ranges: '" + r +
                              "' is not an address range (\"169.254.0.0/16\", \"fe80::/10\")");
      }
      a.validation_denied_ranges = std::move(ranges);
    }
    for (auto [key, field, lo] : {std::tuple{"max_identifiers_per_order", &a.max_identifiers_per_order, 1},
                                  std::tuple{"max_pending_orders_per_account",
                                             &a.max_pending_orders_per_account, 0},
                                  std::tuple{"new_accounts_per_address_per_hour",
                                             &a.new_accounts_per_address_per_hour, 0},
                                  std::tuple{"validations_per_account", &a.validations_per_account, 0},
                                  std::tuple{"validations_per_order", &a.validations_per_order, 0}}) {
      if (const toml::node* v = t->get(key)) {
        HERALD_TRY(*field, get_int(c, *v, std::string("acme.") + key, lo, 1000000));
      }
    }
  }
  if (const toml::node* n = root.get("alerts")) {
    HERALD_TRY(cfg.alerts, parse_alerts(c, *n));
  }
  if (const toml::node* n = root.get("dashboard")) {
    const toml::table* t = n->as_table();
    if (!t) return c.at(*n, "dashboard must be a table");
    HERALD_TRY_VOID(check_keys(c, *t, "dashboard", {"admin_client_names"}));
    if (const toml::node* v = t->get("admin_client_names")) {
      HERALD_TRY(auto names, get_strings(c, *v, "dashboard.admin_client_names"));
      for (const auto& text : names) {
        // The type may be written in capitals ("URI:spiffe://..."), as openssl prints it.
        std::string typed = text;
        for (size_t i = 0; i < typed.size() && typed[i] != ':'; ++i)
          typed[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(typed[i])));
        auto san = x509::parse_san(typed);
        if (!san)
          return c.at(*v, "dashboard.admin_client_names: " + san.error().message +
                              " (for example \"uri:spiffe://corp/admin/alice\")");
        if (san->type == x509::SanType::kDns && san->value.find('*') != std::string::npos)
          return c.at(*v, "dashboard.admin_client_names: '" + text +
                              "': a wildcard is not an identity, name one client");
        if (std::find(cfg.dashboard.admin_client_names.begin(),
                      cfg.dashboard.admin_client_names.end(),
                      *san) == cfg.dashboard.admin_client_names.end())
          cfg.dashboard.admin_client_names.push_back(std::move(*san));
      }
    }
  }
  if (const toml::node* n = root.get("provisioners")) {
    const toml::array* arr = n->as_array();
    if (!arr) return c.at(*n, "provisioners must be an array of tables ([[provisioners]])");
    for (const auto& item : *arr) {
      const toml::table* t = item.as_table();
      if (!t) return c.at(item, "provisioners must be an array of tables ([[provisioners]])");
      HERALD_TRY(auto p, parse_provisioner(c, *t));
      if (cfg.provisioner(p.name)) return c.at(item, "duplicate provisioner name '" + p.name + "'");
      cfg.provisioners.push_back(std::move(p));
    }
  }
  return cfg;
}

}  // namespace herald::server
