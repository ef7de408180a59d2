#include "proxy/config.h"

#include <toml++/toml.h>

#include <set>

#include "base/duration.h"
#include "base/fs.h"
#include "net/endpoint.h"

namespace herald::proxy {

namespace {

Status readable(const std::string& what, const std::string& path) {
  if (path.empty()) return make_error(ErrorCode::kInvalidArgument, what + ": no file given");
  HERALD_TRY(auto text, fs::read_file(path, 16 << 20));
  (void)text;
  return {};
}

}  // namespace

Result<ProxyConfig> make_proxy_config(const ProxySpec& s) {
  ProxyConfig c;
  if (s.routes.empty()) return make_error(ErrorCode::kInvalidArgument, "no route to serve");
  std::set<std::string> names, listens;
  for (const auto& r : s.routes) {
    const std::string in = "route '" + r.name + "': ";
    auto fail = [&](const std::string& what) {
      return make_error(ErrorCode::kInvalidArgument, in + what);
    };
    if (!names.insert(r.name).second) return fail("two routes have this name");
    if (!listens.insert(r.listen).second) return fail("two routes listen on " + r.listen);
    RouteConfig rc;
    rc.policy.name = r.name;
    auto listen = net::parse_endpoint(r.listen);
    if (!listen) return fail("listen: " + listen.error().message);
    auto backend = net::parse_endpoint(r.backend);
    if (!backend) return fail("backend: " + backend.error().message);
    rc.listen_host = listen->host;
    rc.listen_port = listen->port;
    rc.backend_host = backend->host;
    rc.backend_port = backend->port;
    if (r.mode == "http") {
      rc.mode = net::ProxyMode::kHttp;
    } else if (r.mode == "tcp") {
      rc.mode = net::ProxyMode::kTcp;
    } else {
      return fail("mode '" + r.mode + "': http or tcp");
    }
    if (r.client_cert == "required") {
      rc.policy.require_client_cert = true;
    } else if (r.client_cert == "optional") {
      rc.policy.require_client_cert = false;
    } else {
      return fail("client_cert '" + r.client_cert + "': required or optional");
    }
    auto mode = parse_revocation_mode(r.revocation);
    if (!mode) return fail(mode.error().message);
    rc.policy.revocation = *mode;
    rc.policy.rules.allow_spiffe = r.allow_spiffe;
    for (const auto& p : r.allow_san) {
      (p.find("://") != std::string::npos ? rc.policy.rules.allow_uri : rc.policy.rules.allow_dns)
          .push_back(p);
    }
    rc.policy.rules.allow_o = r.allow_o;
    rc.policy.rules.allow_ou = r.allow_ou;
    rc.policy.rules.allow_issuer = r.allow_issuer;
    if (auto st = check_rules(rc.policy.rules); !st) return fail(st.error().message);
    if (!r.health_path.empty() && r.health_path.front() != '/')
      return fail("health_path must start with '/'");
    if (!r.health_path.empty() && rc.mode == net::ProxyMode::kTcp)
      return fail("health_path is for mode http (a TCP route has no paths)");
    rc.health_path = r.health_path;
    auto timeout = parse_duration(r.timeout);
    if (!timeout || timeout->count() < 1 || timeout->count() > 3600)
      return fail("timeout '" + r.timeout + "': 1s to 1h");
    rc.timeout = *timeout;
    for (const auto& u : r.crl_urls) {
      if (u.rfind("http://", 0) != 0) return fail("crl_urls: '" + u + "' is not an http:// URL");
    }
    rc.crl_urls = r.crl_urls;
    if (auto st = readable(in + "cert", r.cert); !st) return tl::unexpected(st.error());
    if (auto st = readable(in + "key", r.key); !st) return tl::unexpected(st.error());
    if (auto st = readable(in + "trust", r.trust); !st) return tl::unexpected(st.error());
    if (r.chain) {
      if (auto st = readable(in + "chain", *r.chain); !st) return tl::unexpected(st.error());
    }
    rc.cert = r.cert;
    rc.key = r.key;
    rc.trust = r.trust;
    rc.chain = r.chain;
    c.routes.push_back(std::move(rc));
  }
  if (s.admin_listen) {
    HERALD_TRY(auto ep, net::parse_endpoint(*s.admin_listen));
    c.admin_host = ep.host;
    c.admin_port = ep.port;
  }
  if (s.ca_feed) {
    std::string u = *s.ca_feed;
    while (!u.empty() && u.back() == '/') u.pop_back();
    if (u.rfind("https://", 0) != 0) {
      return make_error(ErrorCode::kInvalidArgument,
                        "ca_feed must be https://HOST:PORT of herald serve, not '" + *s.ca_feed + "'");
    }
    c.ca_feed = u;
    c.ca_feed_trust = s.ca_feed_trust.value_or(c.routes.front().trust);
    HERALD_TRY_VOID(readable("ca_feed_trust", c.ca_feed_trust));
  } else if (s.ca_feed_trust) {
    return make_error(ErrorCode::kInvalidArgument, "ca_feed_trust without ca_feed");
  }
  if (s.threads < 0 || s.threads > 256) {
    return make_error(ErrorCode::kInvalidArgument, "threads: 1 to 256 (0: one per core)");
  }
  c.threads = s.threads;
  c.access_log = s.access_log;
  return c;
}

Result<ProxySpec> parse_proxy_toml(std::string_view text, const std::string& origin) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    return make_error(ErrorCode::kMalformedInput, origin + ":" +
                                                      std::to_string(e.source().begin.line) + ": " +
                                                      std::string(e.description()));
  }
  auto at = [&](const toml::node& n, const std::string& what) {
    return make_error(ErrorCode::kMalformedInput,
                      origin + ":" + std::to_string(n.source().begin.line) + ": " + what);
  };
  auto str = [&](const toml::node& n, const std::string& key) -> Result<std::string> {
    if (!n.is_string()) return at(n, "'" + key + "' must be a string");
    return *n.value<std::string>();
  };
  auto strs = [&](const toml::node& n, const std::string& key) -> Result<std::vector<std::string>> {
    const toml::array* a = n.as_array();
    if (!a) return at(n, "'" + key + "' must be an array of strings");
    std::vector<std::string> out;
    for (const auto& x : *a) {
      HERALD_TRY(auto v, str(x, key));
      out.push_back(std::move(v));
    }
    return out;
  };
  ProxySpec s;
  for (auto&& [k, v] : root) {
    const std::string key(k.str());
    if (key == "route") continue;
    if (key == "admin_listen") {
      HERALD_TRY(s.admin_listen, str(v, key));
    } else if (key == "ca_feed") {
      HERALD_TRY(s.ca_feed, str(v, key));
    } else if (key == "ca_feed_trust") {
      HERALD_TRY(s.ca_feed_trust, str(v, key));
    } else if (key == "threads") {
      if (!v.is_integer()) return at(v, "'threads' must be an integer");
      s.threads = static_cast<int>(*v.value<int64_t>());
    } else if (key == "access_log") {
      if (!v.is_boolean()) return at(v, "'access_log' must be true or false");
      s.access_log = *v.value<bool>();
    } else {
      return at(v, "unknown key '" + key + "'");
    }
  }
  const toml::node* routes = root.get("route");
  if (!routes || !routes->is_array_of_tables()) {
    return make_error(ErrorCode::kMalformedInput, origin + ": no [[route]] table: nothing to serve");
  }
  for (const auto& item : *routes->as_array()) {
    RouteSpec r;
    r.name.clear();
    for (auto&& [k, v] : *item.as_table()) {
      const std::string key(k.str());
      std::string* one = key == "name"          ? &r.name
                         : key == "listen"      ? &r.listen
                         : key == "backend"     ? &r.backend
                         : key == "mode"        ? &r.mode
                         : key == "cert"        ? &r.cert
                         : key == "key"         ? &r.key
                         : key == "trust"       ? &r.trust
                         : key == "client_cert" ? &r.client_cert
                         : key == "revocation"  ? &r.revocation
                         : key == "health_path" ? &r.health_path
                         : key == "timeout"     ? &r.timeout
                                                : nullptr;
      std::vector<std::string>* many = key == "allow_spiffe"   ? &r.allow_spiffe
                                       : key == "allow_san"    ? &r.allow_san
                                       : key == "allow_o"      ? &r.allow_o
                                       : key == "allow_ou"     ? &r.allow_ou
                                       : key == "allow_issuer" ? &r.allow_issuer
                                       : key == "crl_urls"     ? &r.crl_urls
                                                               : nullptr;
      if (one) {
        HERALD_TRY(*one, str(v, key));
      } else if (many) {
        HERALD_TRY(*many, strs(v, key));
      } else if (key == "chain") {
        HERALD_TRY(r.chain, str(v, key));
      } else {
        return at(v, "unknown key 'route." + key + "'");
      }
    }
    if (r.name.empty()) r.name = "route" + std::to_string(s.routes.size() + 1);
    s.routes.push_back(std::move(r));
  }
  return s;
}

}  // namespace herald::proxy
