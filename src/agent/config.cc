#include "agent/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <set>

#include "base/duration.h"
#include "base/fs.h"

namespace herald::agent {

namespace {

Result<std::chrono::seconds> positive_duration(const std::string& what, const std::string& v) {
  auto d = parse_duration(v);
  if (!d || d->count() <= 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      what + " '" + v + "' is not a positive duration (e.g. 30s, 5m)");
  }
  return *d;
}

}  // namespace

Result<CertConfig> make_cert_config(const CertSpec& s) {
  CertConfig c;
  if (s.cert.empty() || s.key.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "a certificate needs both cert and key files");
  }
  c.paths.cert = s.cert;
  c.paths.key = s.key;
  if (s.chain) c.paths.chain = *s.chain;
  if (s.combined) c.paths.combined = *s.combined;
  std::set<std::filesystem::path> distinct{c.paths.cert, c.paths.key};
  if (s.chain) distinct.insert(*s.chain);
  if (s.combined) distinct.insert(*s.combined);
  if (distinct.size() != 2u + (s.chain ? 1 : 0) + (s.combined ? 1 : 0)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "cert, key, chain and combined must be different files (" + s.cert + ")");
  }
  if (s.profile.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "which profile? (" + s.cert + ")");
  }
  HERALD_TRY(c.key_type, keys::parse_key_type(s.key_type));
  c.id.profile = s.profile;
  c.id.cn = s.cn;
  c.id.ttl = s.ttl;
  if (s.ttl) HERALD_TRY_VOID(positive_duration("ttl", *s.ttl));
  for (const auto& item : s.sans) {
    HERALD_TRY(auto list, x509::parse_san_list(item));
    c.id.sans.insert(c.id.sans.end(), list.begin(), list.end());
  }
  if (s.profile == "server" && !s.cn.empty()) {
    auto san = x509::parse_san("ip:" + s.cn);
    if (!san) san = x509::parse_san("dns:" + s.cn);
    if (san && std::find(c.id.sans.begin(), c.id.sans.end(), *san) == c.id.sans.end()) {
      c.id.sans.insert(c.id.sans.begin(), *san);
    }
  }
  if (s.cn.empty() && c.id.sans.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "give the certificate " + s.cert + " a name: a CN and/or SANs");
  }
  if (!(s.renew_at > 0 && s.renew_at < 1)) {
    return make_error(ErrorCode::kInvalidArgument, "renew-at must be between 0 and 1 (exclusive)");
  }
  if (!(s.jitter >= 0 && s.jitter < 0.5)) {
    return make_error(ErrorCode::kInvalidArgument, "jitter must be in [0, 0.5)");
  }
  c.rule.renew_at = s.renew_at;
  c.rule.jitter = s.jitter;
  c.reload = s.reload;
  HERALD_TRY(auto rt, positive_duration("reload timeout", s.reload_timeout));
  c.reload_timeout = rt;
  c.write_step_delay = std::chrono::milliseconds(s.test_write_delay_ms);
  return c;
}

Result<AgentConfig> make_agent_config(const AgentSpec& s, std::vector<CertConfig> certs) {
  AgentConfig cfg;
  std::string url = s.server;
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (!url.starts_with("https://")) {
    return make_error(
        ErrorCode::kInvalidArgument,
        "the server must be https://HOST:PORT of herald serve, not '" + s.server + "'");
  }
  cfg.server.url = url;
  if (s.trust.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "which trust anchor for the server? (--trust)");
  }
  HERALD_TRY(cfg.server.trust_pem, fs::read_file(s.trust, 1 << 20));
  if (s.token_file) {
    // Read now only to fail early; it is read again at each use (rotation).
    HERALD_TRY(auto t, fs::read_file(*s.token_file, 16 * 1024));
    (void)t;
    cfg.token_file = *s.token_file;
  }
  HERALD_TRY(cfg.backoff.min, positive_duration("retry-min", s.retry_min));
  HERALD_TRY(cfg.backoff.max, positive_duration("retry-max", s.retry_max));
  if (cfg.backoff.max < cfg.backoff.min) cfg.backoff.max = cfg.backoff.min;
  if (s.trust_bundle) cfg.trust_bundle = *s.trust_bundle;
  cfg.metrics_listen = s.metrics_listen;
  if (s.revocation_check == "off") {
    cfg.revocation_check = std::chrono::seconds(0);
  } else {
    HERALD_TRY(cfg.revocation_check, positive_duration("revocation-check", s.revocation_check));
  }
  HERALD_TRY(cfg.trust_bundle_interval,
             positive_duration("trust-bundle-interval", s.trust_bundle_interval));
  if (certs.empty()) return make_error(ErrorCode::kInvalidArgument, "no certificate to manage");
  std::set<std::filesystem::path> seen;
  for (const auto& c : certs) {
    if (!seen.insert(c.paths.cert).second || !seen.insert(c.paths.key).second) {
      return make_error(ErrorCode::kInvalidArgument, "two certificates share the file " +
                                                         c.paths.cert.string() + " or " +
                                                         c.paths.key.string());
    }
  }
  cfg.certs = std::move(certs);
  return cfg;
}

Result<ParsedConfig> parse_config(std::string_view text, const std::string& origin) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    return make_error(
        ErrorCode::kMalformedInput,
        origin + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description()));
  }
  auto at = [&](const toml::node& n, const std::string& what) {
    return make_error(ErrorCode::kMalformedInput,
                      origin + ":" + std::to_string(n.source().begin.line) + ": " + what);
  };
  auto str = [&](const toml::node& n, const std::string& key) -> Result<std::string> {
    if (!n.is_string()) return at(n, "'" + key + "' must be a string");
    return *n.value<std::string>();
  };
  auto num = [&](const toml::node& n, const std::string& key) -> Result<double> {
    if (!n.is_number()) return at(n, "'" + key + "' must be a number");
    return *n.value<double>();
  };
  ParsedConfig out;
  for (auto&& [k, v] : root) {
    const std::string key(k.str());
    if (key == "certificate") continue;
    if (key == "server") {
      HERALD_TRY(out.agent.server, str(v, key));
    } else if (key == "trust") {
      HERALD_TRY(out.agent.trust, str(v, key));
    } else if (key == "token_file") {
      HERALD_TRY(out.agent.token_file, str(v, key));
    } else if (key == "trust_bundle") {
      HERALD_TRY(out.agent.trust_bundle, str(v, key));
    } else if (key == "trust_bundle_interval") {
      HERALD_TRY(out.agent.trust_bundle_interval, str(v, key));
    } else if (key == "retry_min") {
      HERALD_TRY(out.agent.retry_min, str(v, key));
    } else if (key == "retry_max") {
      HERALD_TRY(out.agent.retry_max, str(v, key));
    } else if (key == "revocation_check") {
      HERALD_TRY(out.agent.revocation_check, str(v, key));
    } else if (key == "metrics_listen") {
      HERALD_TRY(out.agent.metrics_listen, str(v, key));
    } else {
      return at(v, "unknown key '" + key + "'");
    }
  }
  const toml::node* certs = root.get("certificate");
  if (!certs || !certs->is_array_of_tables()) {
    return make_error(ErrorCode::kMalformedInput,
                      origin + ": no [[certificate]] table: nothing to manage");
  }
  for (const auto& item : *certs->as_array()) {
    const toml::table& t = *item.as_table();
    CertSpec c;
    for (auto&& [k, v] : t) {
      const std::string key(k.str());
      if (key == "profile") {
        HERALD_TRY(c.profile, str(v, key));
      } else if (key == "cn") {
        HERALD_TRY(c.cn, str(v, key));
      } else if (key == "sans") {
        const toml::array* a = v.as_array();
        if (!a) return at(v, "'sans' must be an array of strings");
        for (const auto& s : *a) {
          HERALD_TRY(auto one, str(s, "sans"));
          c.sans.push_back(one);
        }
      } else if (key == "key_type") {
        HERALD_TRY(c.key_type, str(v, key));
      } else if (key == "ttl") {
        HERALD_TRY(c.ttl, str(v, key));
      } else if (key == "cert") {
        HERALD_TRY(c.cert, str(v, key));
      } else if (key == "key") {
        HERALD_TRY(c.key, str(v, key));
      } else if (key == "chain") {
        HERALD_TRY(c.chain, str(v, key));
      } else if (key == "combined") {
        HERALD_TRY(c.combined, str(v, key));
      } else if (key == "reload") {
        HERALD_TRY(c.reload, str(v, key));
      } else if (key == "reload_timeout") {
        HERALD_TRY(c.reload_timeout, str(v, key));
      } else if (key == "renew_at") {
        HERALD_TRY(c.renew_at, num(v, key));
      } else if (key == "jitter") {
        HERALD_TRY(c.jitter, num(v, key));
      } else {
        return at(v, "unknown key 'certificate." + key + "'");
      }
    }
    if (c.cert.empty() || c.key.empty()) {
      return at(item, "a [[certificate]] needs 'cert' and 'key'");
    }
    out.certs.push_back(std::move(c));
  }
  return out;
}

}  // namespace herald::agent
