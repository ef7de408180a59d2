#include "agent/config.h"

#include <toml++/toml.h>

#include <grp.h>
#include <pwd.h>

#include <algorithm>
#include <set>

#include "base/duration.h"
#include "base/fs.h"
#include "keys/private_key.h"

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

// A user or group by name or number.
Result<uint32_t> user_or_group(const std::string& what, const std::string& v, bool group) {
  if (!v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
      v.size() <= 9) {
    return static_cast<uint32_t>(std::stoul(v));
  }
  if (group) {
    if (const struct group* g = ::getgrnam(v.c_str())) return g->gr_gid;
  } else {
    if (const struct passwd* pw = ::getpwnam(v.c_str())) return pw->pw_uid;
  }
  return make_error(ErrorCode::kInvalidArgument, what + " '" + v + "' does not exist on this machine");
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
  if (s.reload_signal || s.reload_pid_file) {
    if (!s.reload_signal || !s.reload_pid_file) {
      return make_error(ErrorCode::kInvalidArgument,
                        "a reload signal needs both the signal and the PID file (" + s.cert + ")");
    }
    if (s.reload) {
      return make_error(ErrorCode::kInvalidArgument,
                        "reload: a command or a signal, not both (" + s.cert + ")");
    }
    HERALD_TRY(c.reload_signal, parse_signal_name(*s.reload_signal));
    c.reload_pid_file = *s.reload_pid_file;
  }
  if (s.pkcs12) {
    if (!s.pkcs12_password_file) {
      return make_error(ErrorCode::kInvalidArgument,
                        "a PKCS#12 file needs its password in a file (pkcs12_password_file)");
    }
    HERALD_TRY(auto pass, fs::read_passphrase_file(*s.pkcs12_password_file));  // fail early
    (void)pass;
    c.paths.pkcs12 = *s.pkcs12;
    c.pkcs12_password_file = *s.pkcs12_password_file;
    if (distinct.count(*s.pkcs12)) {
      return make_error(ErrorCode::kInvalidArgument,
                        "the PKCS#12 file must differ from the other files (" + s.cert + ")");
    }
  } else if (s.pkcs12_password_file) {
    return make_error(ErrorCode::kInvalidArgument, "pkcs12_password_file without pkcs12");
  }
  if (s.file_owner) {
    HERALD_TRY(c.paths.owner.uid, user_or_group("file owner", *s.file_owner, false));
  }
  if (s.file_group) {
    HERALD_TRY(c.paths.owner.gid, user_or_group("file group", *s.file_group, true));
  }
  if (s.owner) {
    // KEY=VALUE pairs; the CA checks the keys and values (docs/api.md).
    size_t start = 0;
    const std::string& o = *s.owner;
    while (start < o.size()) {
      size_t comma = o.find(',', start);
      if (comma == std::string::npos) comma = o.size();
      const std::string item = o.substr(start, comma - start);
      const auto eq = item.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == item.size()) {
        return make_error(ErrorCode::kInvalidArgument,
                          "owner labels: '" + item + "' is not KEY=VALUE (e.g. team=web,service=api)");
      }
      c.id.owner.emplace_back(item.substr(0, eq), item.substr(eq + 1));
      start = comma + 1;
    }
  }
  using P = std::filesystem::perms;
  if (s.key_mode == "0600") {
    c.paths.key_mode = P::owner_read | P::owner_write;
  } else if (s.key_mode == "0640") {
    c.paths.key_mode = P::owner_read | P::owner_write | P::group_read;
  } else if (s.key_mode == "0400") {
    c.paths.key_mode = P::owner_read;
  } else if (s.key_mode == "0440") {
    c.paths.key_mode = P::owner_read | P::group_read;
  } else {
    return make_error(ErrorCode::kInvalidArgument,
                      "key mode '" + s.key_mode + "': 0600, 0640, 0400 or 0440 (never readable by others)");
  }
  HERALD_TRY(auto rt, positive_duration("reload timeout", s.reload_timeout));
  c.reload_timeout = rt;
  c.write_step_delay = std::chrono::milliseconds(s.test_write_delay_ms);
  return c;
}

Result<AgentConfig> make_agent_config(const AgentSpec& s, std::vector<CertConfig> certs,
                                      const Clock& clock) {
  AgentConfig cfg;
  const bool ott = s.provisioner || s.ott_key || s.ott_password_file;
  const int ways = (s.token_file ? 1 : 0) + (ott ? 1 : 0) + (s.acme ? 1 : 0);
  if (ways > 1) {
    return make_error(ErrorCode::kInvalidArgument,
                      "one way to obtain certificates: a token file, a one-time token key "
                      "(provisioner + ott_key), or ACME; not several");
  }
  std::string url = s.server;
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (!url.empty() || !s.acme) {
    if (!url.starts_with("https://")) {
      return make_error(
          ErrorCode::kInvalidArgument,
          "the server must be https://HOST:PORT of herald serve, not '" + s.server + "'");
    }
  }
  cfg.server.url = url;
  if (!s.trust.empty()) {
    HERALD_TRY(cfg.server.trust_pem, fs::read_file(s.trust, 1 << 20));
  } else if (!s.acme) {
    return make_error(ErrorCode::kInvalidArgument, "which trust anchor for the server? (--trust)");
  }
  if (s.token_file) {
    // Read now only to fail early; it is read again at each use (rotation).
    HERALD_TRY(auto t, fs::read_file(*s.token_file, 16 * 1024));
    (void)t;
    cfg.source = make_token_source(cfg.server, *s.token_file);
  }
  if (ott) {
    if (!s.provisioner || !s.ott_key) {
      return make_error(ErrorCode::kInvalidArgument,
                        "one-time tokens need the provisioner's name and its key "
                        "(--provisioner NAME --ott-key FILE)");
    }
    OneTimeTokenSettings o{*s.provisioner, *s.ott_key, std::nullopt};
    if (s.ott_password_file) o.password_file = *s.ott_password_file;
    auto source = make_one_time_token_source(cfg.server, std::move(o), clock);
    // Mint one now only to fail early on a missing key or a wrong password.
    HERALD_TRY(auto key_pem, fs::read_file(*s.ott_key, 64 * 1024));
    std::string pass;
    if (s.ott_password_file) {
      HERALD_TRY(pass, fs::read_passphrase_file(*s.ott_password_file));
    }
    auto key = keys::decrypt_private_key(key_pem, pass);
    if (!key) {
      return make_error(ErrorCode::kInvalidArgument,
                        "the one-time token key " + *s.ott_key + " cannot be loaded" +
                            (s.ott_password_file ? "" : " (encrypted? give --ott-password-file)") +
                            ": " + key.error().message);
    }
    cfg.source = std::move(source);
  }
  if (s.acme) {
    const AcmeSpec& a = *s.acme;
    AcmeSettings as;
    if (!a.directory.starts_with("https://")) {
      return make_error(ErrorCode::kInvalidArgument,
                        "the ACME directory must be an https:// URL, not '" + a.directory + "'");
    }
    as.directory_url = a.directory;
    as.trust_pem = cfg.server.trust_pem;
    if (a.account_key) {
      as.account_key = *a.account_key;
    } else if (!certs.empty()) {
      as.account_key = certs.front().paths.cert.parent_path() / "herald-acme-account.key";
    }
    as.email = a.email;
    as.eab_kid = a.eab_kid;
    if (a.eab_hmac_key_file) as.eab_hmac_key_file = *a.eab_hmac_key_file;
    if (as.eab_kid.has_value() != as.eab_hmac_key_file.has_value()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "External Account Binding needs both the key id and the HMAC key file");
    }
    if (a.challenge == "http-01") {
      as.challenge = AcmeSettings::Challenge::kHttp01Standalone;
      as.http_listen = a.http_listen;
    } else if (a.challenge == "webroot") {
      as.challenge = AcmeSettings::Challenge::kHttp01Webroot;
      if (!a.webroot) {
        return make_error(ErrorCode::kInvalidArgument, "the webroot challenge needs a webroot directory");
      }
      as.webroot = *a.webroot;
    } else if (a.challenge == "dns-01") {
      as.challenge = AcmeSettings::Challenge::kDns01Hook;
      if (!a.dns_hook) {
        return make_error(ErrorCode::kInvalidArgument, "the dns-01 challenge needs a DNS hook command");
      }
      as.dns_hook = *a.dns_hook;
    } else {
      return make_error(ErrorCode::kInvalidArgument,
                        "ACME challenge '" + a.challenge + "': http-01, webroot or dns-01");
    }
    cfg.source = make_acme_source(std::move(as), clock);
  }
  for (const auto& b : s.spiffe_bundles) {
    if (!b.url.starts_with("https://")) {
      return make_error(ErrorCode::kInvalidArgument,
                        "a SPIFFE bundle endpoint must be an https:// URL, not '" + b.url + "'");
    }
    if (b.trust.empty() || b.file.empty()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "the SPIFFE bundle " + b.url + " needs 'trust' (anchors for its TLS "
                        "certificate) and 'file' (where to write it)");
    }
    FederatedBundle fb;
    fb.url = b.url;
    HERALD_TRY(fb.trust_pem, fs::read_file(b.trust, 1 << 20));
    fb.file = b.file;
    if (b.interval) {
      HERALD_TRY(fb.interval, positive_duration("spiffe bundle interval", *b.interval));
    }
    cfg.spiffe_bundles.push_back(std::move(fb));
  }
  if (url.empty() && s.trust_bundle) {
    return make_error(ErrorCode::kInvalidArgument,
                      "the trust bundle comes from herald serve: give --server too");
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
  if (s.revocation_feed != "on" && s.revocation_feed != "off") {
    return make_error(ErrorCode::kInvalidArgument,
                      "revocation-feed '" + s.revocation_feed + "': on or off");
  }
  cfg.revocation_feed = s.revocation_feed == "on";
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
    if (key == "spiffe_bundle") {
      if (!v.is_array_of_tables()) return at(v, "'spiffe_bundle' must be [[spiffe_bundle]] tables");
      for (const auto& item : *v.as_array()) {
        SpiffeBundleSpec b;
        for (auto&& [bk, bv] : *item.as_table()) {
          const std::string bkey(bk.str());
          if (bkey == "url") {
            HERALD_TRY(b.url, str(bv, bkey));
          } else if (bkey == "trust") {
            HERALD_TRY(b.trust, str(bv, bkey));
          } else if (bkey == "file") {
            HERALD_TRY(b.file, str(bv, bkey));
          } else if (bkey == "interval") {
            HERALD_TRY(b.interval, str(bv, bkey));
          } else {
            return at(bv, "unknown key 'spiffe_bundle." + bkey + "'");
          }
        }
        out.agent.spiffe_bundles.push_back(std::move(b));
      }
      continue;
    }
    if (key == "acme") {
      const toml::table* t = v.as_table();
      if (!t) return at(v, "'acme' must be a table ([acme])");
      AcmeSpec a;
      for (auto&& [ak, av] : *t) {
        const std::string akey(ak.str());
        std::optional<std::string>* opt = akey == "account_key"         ? &a.account_key
                                          : akey == "email"             ? &a.email
                                          : akey == "eab_kid"           ? &a.eab_kid
                                          : akey == "eab_hmac_key_file" ? &a.eab_hmac_key_file
                                          : akey == "webroot"           ? &a.webroot
                                          : akey == "dns_hook"          ? &a.dns_hook
                                                                        : nullptr;
        std::string* plain = akey == "directory"     ? &a.directory
                             : akey == "challenge"   ? &a.challenge
                             : akey == "http_listen" ? &a.http_listen
                                                     : nullptr;
        if (opt) {
          HERALD_TRY(*opt, str(av, akey));
        } else if (plain) {
          HERALD_TRY(*plain, str(av, akey));
        } else {
          return at(av, "unknown key 'acme." + akey + "'");
        }
      }
      if (a.directory.empty()) return at(v, "[acme] needs 'directory' (the ACME directory URL)");
      out.agent.acme = std::move(a);
      continue;
    }
    if (key == "server") {
      HERALD_TRY(out.agent.server, str(v, key));
    } else if (key == "trust") {
      HERALD_TRY(out.agent.trust, str(v, key));
    } else if (key == "token_file") {
      HERALD_TRY(out.agent.token_file, str(v, key));
    } else if (key == "provisioner") {
      HERALD_TRY(out.agent.provisioner, str(v, key));
    } else if (key == "ott_key") {
      HERALD_TRY(out.agent.ott_key, str(v, key));
    } else if (key == "ott_password_file") {
      HERALD_TRY(out.agent.ott_password_file, str(v, key));
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
    } else if (key == "revocation_feed") {
      HERALD_TRY(out.agent.revocation_feed, str(v, key));
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
      } else if (key == "reload_signal") {
        HERALD_TRY(c.reload_signal, str(v, key));
      } else if (key == "reload_pid_file") {
        HERALD_TRY(c.reload_pid_file, str(v, key));
      } else if (key == "pkcs12") {
        HERALD_TRY(c.pkcs12, str(v, key));
      } else if (key == "pkcs12_password_file") {
        HERALD_TRY(c.pkcs12_password_file, str(v, key));
      } else if (key == "owner") {
        HERALD_TRY(c.owner, str(v, key));
      } else if (key == "file_owner") {
        HERALD_TRY(c.file_owner, str(v, key));
      } else if (key == "file_group") {
        HERALD_TRY(c.file_group, str(v, key));
      } else if (key == "key_mode") {
        HERALD_TRY(c.key_mode, str(v, key));
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
