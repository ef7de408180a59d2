#include "policy/config.h"

#include <arpa/inet.h>
#include <toml++/toml.h>

#include <set>

#include "base/duration.h"
#include "x509/san.h"

namespace herald::policy {

bool IpRange::contains(const Bytes& ip) const {
  if (ip.size() != network.size()) return false;
  int bits = prefix;
  for (size_t i = 0; i < ip.size() && bits > 0; ++i, bits -= 8) {
    uint8_t mask = bits >= 8 ? 0xFF : static_cast<uint8_t>(0xFF << (8 - bits));
    if ((ip[i] & mask) != network[i]) return false;
  }
  return true;
}

Result<IpRange> parse_ip_range(std::string_view cidr) {
  auto bad = [&](const std::string& why) {
    return make_error(ErrorCode::kInvalidArgument,
                      "invalid IP range '" + std::string(cidr) + "': " + why);
  };
  auto slash = cidr.find('/');
  Bytes ip = x509::ip_octets(cidr.substr(0, slash));
  if (ip.empty()) return bad("not an IP address");
  int max = static_cast<int>(ip.size() * 8);
  int prefix = max;
  if (slash != cidr.npos) {
    std::string p(cidr.substr(slash + 1));
    if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != p.npos)
      return bad("bad prefix length");
    prefix = std::stoi(p);
    if (prefix > max) return bad("prefix length too long");
  }
  IpRange r{ip, prefix, std::string(cidr)};
  int bits = prefix;
  for (auto& b : r.network) {
    uint8_t mask = bits >= 8 ? 0xFF : bits <= 0 ? 0 : static_cast<uint8_t>(0xFF << (8 - bits));
    if ((b & mask) != b) return bad("host bits set (did you mean the network address?)");
    bits -= 8;
  }
  return r;
}

const ProfileRules& Policy::rules(Profile p) const {
  switch (p) {
    case Profile::kServer:
      return server;
    case Profile::kClient:
      return client;
    case Profile::kSpiffe:
      return spiffe;
    case Profile::kOcspSigner:
      break;
  }
  // No request may name the ocsp-signer profile: no TTL, no name is allowed.
  static const ProfileRules kNothing{};
  return kNothing;
}

namespace {

const std::vector<std::string> kDefaultDns = {"localhost", ".internal", ".test", ".local",
                                              ".home.arpa"};
const std::vector<std::string> kDefaultIps = {"127.0.0.0/8",   "::1/128",        "10.0.0.0/8",
                                              "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"};

std::vector<IpRange> ranges(const std::vector<std::string>& texts) {
  std::vector<IpRange> out;
  for (const auto& t : texts) out.push_back(*parse_ip_range(t));
  return out;
}

std::string quoted_list(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", \"" : "\"") + v[i] + "\"";
  return out + "]";
}

class Reader {
 public:
  explicit Reader(std::string_view source) : source_(source) {}

  tl::unexpected<Error> error_at(const toml::source_region& where, const std::string& what) const {
    return make_error(ErrorCode::kMalformedInput,
                      std::string(source_) + ":" + std::to_string(where.begin.line) + ": " + what);
  }

  Status only_keys(const toml::table& t, const std::string& path,
                   std::set<std::string> allowed) const {
    for (auto&& [k, v] : t) {
      if (!allowed.count(std::string(k.str()))) {
        return error_at(k.source(), "unknown key '" + (path.empty() ? "" : path + ".") +
                                        std::string(k.str()) + "'");
      }
    }
    return {};
  }

  Status string(const toml::table& t, const char* key, const std::string& path,
                std::string& out) const {
    const toml::node* n = t.get(key);
    if (!n) return {};
    if (!n->is_string()) return error_at(n->source(), path + "." + key + " must be a string");
    out = *n->value<std::string>();
    return {};
  }

  Status duration(const toml::table& t, const char* key, const std::string& path,
                  std::chrono::seconds& out) const {
    std::string text;
    HERALD_TRY_VOID(string(t, key, path, text));
    if (text.empty()) return {};
    auto d = parse_duration(text);
    if (!d) return error_at(t.get(key)->source(), path + "." + key + ": " + d.error().message);
    out = *d;
    return {};
  }

  Status strings(const toml::table& t, const char* key, const std::string& path,
                 std::vector<std::string>& out) const {
    const toml::node* n = t.get(key);
    if (!n) return {};
    const toml::array* arr = n->as_array();
    if (!arr) return error_at(n->source(), path + "." + key + " must be an array of strings");
    out.clear();
    for (const auto& item : *arr) {
      if (!item.is_string())
        return error_at(item.source(), path + "." + key + " must contain only strings");
      out.push_back(*item.value<std::string>());
    }
    return {};
  }

  Status integer(const toml::table& t, const char* key, const std::string& path, int64_t lo,
                 int64_t hi, int64_t& out) const {
    const toml::node* n = t.get(key);
    if (!n) return {};
    if (!n->is_integer()) return error_at(n->source(), path + "." + key + " must be an integer");
    int64_t v = *n->value<int64_t>();
    if (v < lo || v > hi) {
      return error_at(n->source(), path + "." + key + " must be between " + std::to_string(lo) +
                                       " and " + std::to_string(hi));
    }
    out = v;
    return {};
  }

  Status profile(const toml::table& root, const char* name, ProfileRules& rules) const {
    const toml::node* n = root.get(name);
    if (!n) return {};
    const toml::table* t = n->as_table();
    std::string path = std::string("policy.") + name;
    if (!t) return error_at(n->source(), path + " must be a table");
    HERALD_TRY_VOID(only_keys(
        *t, path,
        {"default_ttl", "max_ttl", "allowed_dns", "allowed_ips", "allowed_uri_prefixes"}));
    HERALD_TRY_VOID(duration(*t, "default_ttl", path, rules.default_ttl));
    HERALD_TRY_VOID(duration(*t, "max_ttl", path, rules.max_ttl));
    HERALD_TRY_VOID(strings(*t, "allowed_dns", path, rules.allowed_dns));
    for (const auto& p : rules.allowed_dns) {
      std::string check = p == "*" ? "x" : p.starts_with(".") ? p.substr(1) : p;
      if (!x509::is_valid_dns_name(check, true)) {
        return error_at(t->get("allowed_dns")->source(),
                        path + ".allowed_dns: invalid pattern '" + p + "'");
      }
    }
    std::vector<std::string> ips;
    if (t->get("allowed_ips")) {
      HERALD_TRY_VOID(strings(*t, "allowed_ips", path, ips));
      rules.allowed_ips.clear();
      for (const auto& ip : ips) {
        auto r = parse_ip_range(ip);
        if (!r)
          return error_at(t->get("allowed_ips")->source(),
                          path + ".allowed_ips: " + r.error().message);
        rules.allowed_ips.push_back(*r);
      }
    }
    HERALD_TRY_VOID(strings(*t, "allowed_uri_prefixes", path, rules.allowed_uri_prefixes));
    if (rules.default_ttl > rules.max_ttl) {
      return error_at(t->source(), path + ".default_ttl is longer than " + path + ".max_ttl");
    }
    return {};
  }

 private:
  std::string_view source_;
};

}  // namespace

Policy default_policy() {
  Policy p;
  p.server = {std::chrono::hours(24 * 90),
              std::chrono::hours(24 * 397),
              kDefaultDns,
              ranges(kDefaultIps),
              {}};
  p.client = {std::chrono::hours(24 * 30),
              std::chrono::hours(24 * 397),
              kDefaultDns,
              ranges(kDefaultIps),
              {}};
  p.spiffe = {std::chrono::hours(1), std::chrono::hours(24), {}, {}, {}};
  p.allowed_key_types = {"rsa", "ec-p256", "ec-p384", "ec-p521", "ed25519"};
  return p;
}

Result<Config> parse_config(std::string_view text, std::string_view source) {
  Config cfg;
  cfg.policy = default_policy();
  Reader rd(source);
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return rd.error_at(e.source(), std::string(e.description()));
  }
  HERALD_TRY_VOID(rd.only_keys(root, "", {"ca", "policy", "server", "provisioners", "acme", "store", "alerts", "dashboard"}));
  if (const toml::node* n = root.get("ca")) {
    const toml::table* ca = n->as_table();
    if (!ca) return rd.error_at(n->source(), "ca must be a table");
    HERALD_TRY_VOID(rd.only_keys(*ca, "ca", {"organization", "base_url"}));
    HERALD_TRY_VOID(rd.string(*ca, "organization", "ca", cfg.ca.organization));
    HERALD_TRY_VOID(rd.string(*ca, "base_url", "ca", cfg.ca.base_url));
    const auto& url = cfg.ca.base_url;
    if (!url.empty() && !url.starts_with("http://") && !url.starts_with("https://")) {
      return rd.error_at(ca->get("base_url")->source(),
                         "ca.base_url must start with http:// or https://");
    }
    while (!cfg.ca.base_url.empty() && cfg.ca.base_url.back() == '/') cfg.ca.base_url.pop_back();
  }
  if (const toml::node* n = root.get("policy")) {
    const toml::table* pol = n->as_table();
    if (!pol) return rd.error_at(n->source(), "policy must be a table");
    HERALD_TRY_VOID(rd.only_keys(*pol, "policy",
                                 {"allowed_key_types", "min_rsa_bits", "max_sans",
                                  "spiffe_trust_domain", "server", "client", "spiffe"}));
    Policy& p = cfg.policy;
    HERALD_TRY_VOID(rd.strings(*pol, "allowed_key_types", "policy", p.allowed_key_types));
    for (const auto& k : p.allowed_key_types) {
      if (k != "rsa" && k != "ec-p256" && k != "ec-p384" && k != "ec-p521" && k != "ed25519") {
        return rd.error_at(pol->get("allowed_key_types")->source(),
                           "policy.allowed_key_types: unknown key type '" + k +
                               "' (use rsa, ec-p256, ec-p384, ec-p521, ed25519)");
      }
    }
    int64_t v = p.min_rsa_bits;
    HERALD_TRY_VOID(rd.integer(*pol, "min_rsa_bits", "policy", 2048, 8192, v));
    p.min_rsa_bits = static_cast<int>(v);
    v = static_cast<int64_t>(p.max_sans);
    HERALD_TRY_VOID(rd.integer(*pol, "max_sans", "policy", 1, 1000, v));
    p.max_sans = static_cast<size_t>(v);
    HERALD_TRY_VOID(rd.string(*pol, "spiffe_trust_domain", "policy", p.spiffe_trust_domain));
    if (!x509::is_valid_dns_name(p.spiffe_trust_domain, false)) {
      return rd.error_at(pol->get("spiffe_trust_domain")->source(),
                         "policy.spiffe_trust_domain must be a DNS-like name");
    }
    HERALD_TRY_VOID(rd.profile(*pol, "server", p.server));
    HERALD_TRY_VOID(rd.profile(*pol, "client", p.client));
    HERALD_TRY_VOID(rd.profile(*pol, "spiffe", p.spiffe));
  }
  return cfg;
}

std::string default_config_text(const CaSettings& ca) {
  Policy p = default_policy();
  std::string ips = quoted_list(kDefaultIps);
  std::string dns = quoted_list(kDefaultDns);
  return "# Herald configuration. Reference: docs/configuration.md\n"
         "\n"
         "[ca]\n"
         "organization = \"" +
         ca.organization +
         "\"\n"
         "# Base URL of the CRL/OCSP endpoints written into issued certificates\n"
         "# (CRL distribution point, AIA). Empty: none.\n"
         "base_url = \"" +
         ca.base_url +
         "\"\n"
         "\n"
         "[policy]\n"
         "allowed_key_types = [\"rsa\", \"ec-p256\", \"ec-p384\", \"ec-p521\", \"ed25519\"]\n"
         "min_rsa_bits = 2048\n"
         "max_sans = 100\n"
         "spiffe_trust_domain = \"" +
         p.spiffe_trust_domain +
         "\"\n"
         "\n"
         "# DNS patterns: \"name\" exact, \"*.suffix\" one label below, \".suffix\" any depth "
         "below, \"*\" any.\n"
         "[policy.server]\n"
         "default_ttl = \"90d\"\n"
         "max_ttl = \"397d\"\n"
         "allowed_dns = " +
         dns +
         "\n"
         "allowed_ips = " +
         ips +
         "\n"
         "allowed_uri_prefixes = []\n"
         "\n"
         "[policy.client]\n"
         "default_ttl = \"30d\"\n"
         "max_ttl = \"397d\"\n"
         "allowed_dns = " +
         dns +
         "\n"
         "allowed_ips = " +
         ips +
         "\n"
         "allowed_uri_prefixes = []\n"
         "\n"
         "[policy.spiffe]\n"
         "default_ttl = \"1h\"\n"
         "max_ttl = \"24h\"\n";
}

}  // namespace herald::policy
