// herald serve | token add/list/revoke
#include <openssl/pem.h>

#include <algorithm>
#include <iostream>
#include <thread>

#include "acme/service.h"
#include "base/duration.h"
#include "base/fs.h"
#include "cli/output.h"
#include "cli/session.h"
#include "keys/jws.h"
#include "keys/one_time_token.h"
#include "keys/private_key.h"
#include "net/server.h"
#include "obs/log.h"
#include "server/app.h"
#include "server/config.h"

namespace herald::cli {

namespace {

struct ServeFlags {
  std::optional<std::string> config, listen, http_listen, issuing_pass_file;
  std::optional<uint16_t> acme_http01_port, acme_tlsalpn01_port;
  std::optional<std::string> acme_dns_resolver;
  std::optional<std::string> log_format, log_file;
  std::string log_level = "info";
};

Status run_serve(Context& ctx, const ServeFlags& f) {
  // The log first: start-up problems go to it too (docs/operations.md, "Logs").
  obs::LogOptions log;
  if (f.log_format) {
    HERALD_TRY(log.format, obs::parse_log_format(*f.log_format));
  }
  HERALD_TRY(log.level, obs::parse_log_level(f.log_level));
  log.file = f.log_file.value_or("");
  HERALD_TRY_VOID(obs::configure_logging(log));
  auto dir = datadir::DataDir::resolve(ctx.dir);
  server::ServeOptions o{f.config,           f.listen,
                         f.http_listen,      f.issuing_pass_file,
                         f.acme_http01_port, f.acme_tlsalpn01_port,
                         f.acme_dns_resolver};
  HERALD_TRY(auto app, server::App::create(dir, o, *ctx.clock));
  const auto& cfg = app->server_config();
  // The network runs on one thread per core. API handlers wait on the
  // inventory's fsync, so they run on a larger worker pool: that keeps the
  // CPUs busy and gives group commit several records per transaction.
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int threads = cfg.threads > 0 ? cfg.threads : cores;
  int workers = cfg.worker_threads > 0 ? cfg.worker_threads : 8 * cores;
  net::Server srv(threads, workers);
  auto* a = app.get();
  // Descriptors: the soft limit up to the hard one, and connection caps that
  // fit under it (docs/configuration.md, max_connections).
  const auto fd = net::raise_fd_limit();
  auto limits = app->limits();
  limits.max_connections = net::connection_cap(limits.max_connections, fd, 2);
  std::cout << "herald serve: file descriptor limit " << fd.soft << " (was " << fd.before
            << ", hard " << fd.hard << (fd.error.empty() ? "" : ", raising failed: " + fd.error)
            << "), at most " << limits.max_connections << " connections per listener\n";
  srv.attach_metrics(app->registry());
  HERALD_TRY(
      auto https_port,
      srv.listen(
          cfg.listen.host, cfg.listen.port, app->tls(),
          [a](const net::Request& q, net::Response& r) { a->handle_https(q, r); }, limits,
          net::Dispatch::kWorkers, [](const net::Request& q) { return acme::Service::is_read(q); }));
  HERALD_TRY(
      auto http_port,
      srv.listen(
          cfg.http_listen.host, cfg.http_listen.port, nullptr,
          [a](const net::Request& q, net::Response& r) { a->handle_http(q, r); }, limits));
  srv.handle_signals([a] {
    // The log file first (logrotate moved it), so the lines below land in the new one.
    if (auto r = obs::reopen_log(); !r) {
      obs::log(obs::LogLevel::kError, "SIGHUP: cannot reopen the log file, still writing the old one",
               {{"error", r.error().describe()}});
    }
    auto s = a->reload();
    if (s) {
      obs::log(obs::LogLevel::kInfo, "SIGHUP: configuration and offline CRLs reloaded");
    } else {
      obs::log(obs::LogLevel::kError, "SIGHUP: reload failed, keeping the old configuration",
               {{"error", s.error().describe()}});
    }
  });
  srv.every(std::chrono::milliseconds(200), [a] { a->tick(); });
  // GET /v1/revocations: revocations by other processes reach the long polls
  // within 100 ms (its own task: tick() may spend a while on a CRL).
  srv.every(std::chrono::milliseconds(100), [a] { a->follow_feed(); });
  auto host = [](const server::Endpoint& e, uint16_t port) {
    return (e.host.find(':') != std::string::npos ? "[" + e.host + "]" : e.host) + ":" +
           std::to_string(port);
  };
  std::cout
      << "herald serve: " << threads << " I/O threads, " << workers
      << " workers, data directory " << dir.root().string() << "\n"
      << "  API (HTTPS)            https://" << host(cfg.listen, https_port) << "/v1/\n"
      << "  OCSP, CRLs (HTTP)      http://" << host(cfg.http_listen, http_port)
      << "/ocsp, /crl/issuing.crl\n"
      << "  health, metrics        http://" << host(cfg.http_listen, http_port)
      << "/healthz, /readyz, /metrics\n"
      << "  ACME directory         https://" << host(cfg.listen, https_port)
      << "/acme/<provisioner>/directory\n"
      << "  trust anchor           " << (dir.root() / "ca" / "root.pem").string() << "\n"
      << "First certificate: herald token add --provisioner admin, then\n"
      << "  curl --cacert " << (dir.root() / "ca" / "root.pem").string()
      << " -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\\n"
      << "       -d \"{\\\"profile\\\":\\\"server\\\",\\\"csr\\\":$(jq -Rs . < req.pem)}\" https://"
      << host(cfg.listen, https_port) << "/v1/sign\n"
      << "(docs/api.md has more). SIGTERM stops gracefully, SIGHUP reloads herald.toml.\n"
      << std::flush;
  srv.run();
  std::cout << "herald serve: stopped\n";
  return {};
}

struct TokenFlags {
  std::string provisioner;
  std::string description;
  int64_t id = 0;
  bool json = false;
  // one-time tokens
  std::vector<std::string> sans;
  std::string cn;
  std::string ttl = "5m";
  std::optional<std::string> aud;
  std::optional<std::string> key_file, password_file;
  std::string key_type = "ec-p256";
};

std::filesystem::path provisioner_key(const datadir::DataDir& dir, const std::string& name) {
  return dir.root() / "provisioners" / (name + ".key.pem");
}
std::filesystem::path provisioner_pass(const datadir::DataDir& dir, const std::string& name) {
  return dir.root() / "secrets" / ("provisioner-" + name + ".pass");
}

Status run_token_keygen(Context& ctx, const TokenFlags& f) {
  auto dir = datadir::DataDir::resolve(ctx.dir);
  HERALD_TRY_VOID(dir.require_initialised());
  bool name_ok =
      !f.provisioner.empty() && std::all_of(f.provisioner.begin(), f.provisioner.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
      });
  if (!name_ok)
    return make_error(ErrorCode::kInvalidArgument, "provisioner name: letters, digits, '-' or '_'");
  HERALD_TRY(auto type, keys::parse_key_type(f.key_type));
  if (type != keys::KeyType::kEcP256 && type != keys::KeyType::kEd25519) {
    return make_error(ErrorCode::kInvalidArgument,
                      "one-time tokens are signed with ec-p256 or ed25519 keys");
  }
  HERALD_TRY(auto key, keys::generate_key(type));
  std::string pass;
  if (f.password_file) {
    HERALD_TRY(pass, fs::read_passphrase_file(*f.password_file));
  } else {
    HERALD_TRY(pass, keys::random_passphrase());
  }
  HERALD_TRY(auto enc, keys::encrypt_private_key(*key, pass));
  ossl::BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), key.get());
  const auto pub_path = dir.root() / "provisioners" / (f.provisioner + ".pub.pem");
  HERALD_TRY_VOID(fs::make_dir(dir.root() / "provisioners", fs::kPrivateDir));
  HERALD_TRY_VOID(fs::write_file(provisioner_key(dir, f.provisioner), enc, fs::kPrivate));
  HERALD_TRY_VOID(fs::write_file(pub_path, ossl::bio_to_string(*bio), fs::kPublic));
  if (!f.password_file) {
    HERALD_TRY_VOID(fs::make_dir(dir.root() / "secrets", fs::kPrivateDir));
    HERALD_TRY_VOID(
        fs::write_file(provisioner_pass(dir, f.provisioner), pass + "\n", fs::kPrivate));
  }
  std::cout << "# Add to " << dir.config_path().string() << " and reload herald serve (SIGHUP):\n"
            << "[[provisioners]]\n"
            << "name = \"" << f.provisioner << "\"\n"
            << "type = \"jwk\"\n"
            << "public_key_file = \"provisioners/" << f.provisioner << ".pub.pem\"\n"
            << "profiles = [\"server\", \"client\"]\n";
  std::cerr << "private key: " << provisioner_key(dir, f.provisioner).string()
            << (f.password_file
                    ? ""
                    : " (passphrase in " + provisioner_pass(dir, f.provisioner).string() + ")")
            << "\n";
  return {};
}

Status run_token_mint(Context& ctx, const TokenFlags& f) {
  auto dir = datadir::DataDir::resolve(ctx.dir);
  HERALD_TRY_VOID(dir.require_initialised());
  HERALD_TRY(auto text, fs::read_file(dir.config_path(), 1 << 20));
  HERALD_TRY(auto cfg, server::parse_server_config(text, dir.config_path().string()));
  const auto* prov = cfg.provisioner(f.provisioner);
  if (!prov || prov->type != "jwk") {
    return make_error(ErrorCode::kNotFound, "no jwk provisioner '" + f.provisioner + "' in " +
                                                dir.config_path().string());
  }
  if (f.cn.empty() && f.sans.empty())
    return make_error(ErrorCode::kInvalidArgument, "name something: --cn and/or --san");
  HERALD_TRY(auto ttl, parse_duration(f.ttl));
  if (ttl > std::chrono::minutes(5))
    return make_error(ErrorCode::kInvalidArgument, "one-time tokens live at most 5m");
  const auto key_path =
      f.key_file ? std::filesystem::path(*f.key_file) : provisioner_key(dir, f.provisioner);
  const auto pass_path = f.password_file ? std::filesystem::path(*f.password_file)
                                         : provisioner_pass(dir, f.provisioner);
  HERALD_TRY(auto pem, fs::read_file(key_path, 64 * 1024));
  HERALD_TRY(auto pass, fs::read_passphrase_file(pass_path));
  HERALD_TRY(auto key, keys::decrypt_private_key(pem, pass));
  std::vector<std::string> sans;
  for (const auto& s : f.sans) {
    size_t start = 0;
    while (start <= s.size()) {
      auto comma = s.find(',', start);
      auto item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!item.empty()) sans.push_back(item);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  const std::string aud = f.aud.value_or("https://" + cfg.tls_names.front() + ":" +
                                         std::to_string(cfg.listen.port) + "/v1/sign");
  HERALD_TRY(auto token,
             keys::mint_one_time_token(
                 *key, {.provisioner = f.provisioner, .audience = aud, .cn = f.cn, .sans = sans, .ttl = ttl},
                 ctx.clock->now()));
  std::cout << token << "\n";
  return {};
}

Status run_token_add(Context& ctx, const TokenFlags& f) {
  HERALD_TRY(auto s, open_session(ctx, LoadSigner::kNo, std::nullopt));
  HERALD_TRY(auto text, fs::read_file(s->dir.config_path(), 1 << 20));
  HERALD_TRY(auto cfg, server::parse_server_config(text, s->dir.config_path().string()));
  const auto* prov = cfg.provisioner(f.provisioner);
  if (!prov) {
    return make_error(ErrorCode::kNotFound,
                      "no provisioner '" + f.provisioner + "' in " + s->dir.config_path().string());
  }
  if (prov->type != "token") {
    const std::string how = prov->type == "jwk"
                                ? "its callers sign one-time tokens (herald token --provisioner " +
                                      prov->name + " --san ...)"
                                : "its clients prove control of every name over ACME";
    return make_error(ErrorCode::kInvalidArgument,
                      "provisioner '" + prov->name + "' is of type '" + prov->type +
                          "': bearer tokens are only for type 'token' provisioners (" + how + ")");
  }
  HERALD_TRY(auto secret, ossl::random_bytes(32));
  const std::string token = "hrld_" + base64url_encode(secret);
  HERALD_TRY(auto digest,
             ossl::sha256(std::span(reinterpret_cast<const uint8_t*>(token.data()), token.size())));
  HERALD_TRY(auto id, s->inventory->add_token({0, f.provisioner, f.description,
                                               to_hex(digest, false), ctx.clock->now(), false}));
  if (f.json) {
    std::cout << nlohmann::json{{"id", id}, {"provisioner", f.provisioner}, {"token", token}}.dump()
              << "\n";
  } else {
    std::cout << token << "\n";
    std::cerr << "API token #" << id << " for provisioner '" << f.provisioner
              << "' (shown once; Herald keeps only its SHA-256)\n";
  }
  return {};
}

Status run_token_list(Context& ctx, bool json) {
  HERALD_TRY(auto s, open_session(ctx, LoadSigner::kNo, std::nullopt));
  HERALD_TRY(auto tokens, s->inventory->list_tokens());
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& t : tokens) {
    arr.push_back({{"id", t.id},
                   {"provisioner", t.provisioner},
                   {"description", t.description},
                   {"created_at", format_time(t.created_at)},
                   {"revoked", t.revoked}});
  }
  if (json) {
    std::cout << arr.dump(2) << "\n";
  } else {
    for (const auto& t : tokens) {
      std::cout << "#" << t.id << "  " << t.provisioner << "  " << format_time(t.created_at) << "  "
                << (t.revoked ? "revoked" : "active") << "  " << t.description << "\n";
    }
  }
  return {};
}

Status run_token_revoke(Context& ctx, int64_t id) {
  HERALD_TRY(auto s, open_session(ctx, LoadSigner::kNo, std::nullopt));
  HERALD_TRY_VOID(s->inventory->revoke_token(id));
  std::cout << "API token #" << id << " revoked\n";
  return {};
}

}  // namespace

void add_serve_commands(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<ServeFlags>();
  auto* serve = app.add_subcommand(
      "serve",
      "Run the online CA: REST API over HTTPS (its own certificate, issued by the issuing CA\n"
      "and renewed automatically), OCSP responder and CRL distribution over plain HTTP,\n"
      "health and Prometheus metrics, ACME (RFC 8555) at /acme/<provisioner>/directory, and\n"
      "the read-only dashboard at /ui/ (an admin token, or a client certificate whose SAN\n"
      "is in [dashboard] admin_client_names). Loads only the issuing CA key. Settings: the\n"
      "[server], [acme], [alerts], [dashboard] and [[provisioners]] tables of\n"
      "DIR/herald.toml (docs/configuration.md).");
  add_dir_option(*serve, ctx);
  serve->add_option("--config", f->config, "Configuration file (default DIR/herald.toml)");
  serve->add_option("--listen", f->listen,
                    "HTTPS address HOST:PORT (default from config, 127.0.0.1:8443)");
  serve->add_option("--http-listen", f->http_listen,
                    "Plain HTTP address for OCSP/CRLs (default 127.0.0.1:8080)");
  serve->add_option("--issuing-passphrase-file", f->issuing_pass_file,
                    "Issuing key passphrase file");
  serve->add_option("--acme-http01-port", f->acme_http01_port,
                    "Port the ACME validator dials for http-01 (default [acme] http01_port, 80)")
      ->check(CLI::Range(1, 65535));
  serve->add_option("--acme-tlsalpn01-port", f->acme_tlsalpn01_port,
                    "Port it dials for tls-alpn-01 (default [acme] tlsalpn01_port, 443)")
      ->check(CLI::Range(1, 65535));
  serve->add_option("--acme-dns-resolver", f->acme_dns_resolver,
                    "HOST:PORT of the DNS server for ACME names and dns-01 TXT lookups\n"
                    "(default [acme] dns_resolver, else the system resolver)");
  serve->add_option("--log-format", f->log_format,
                    "json | text (default: json, text when stderr is a terminal)")
      ->check(CLI::IsMember({"json", "text"}));
  serve->add_option("--log-level", f->log_level, "debug | info | warn | error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
      ->capture_default_str();
  serve->add_option("--log-file", f->log_file,
                    "Write the log to this file instead of stderr (reopened on SIGHUP)");
  serve->callback([&ctx, f] { ctx.result = run_serve(ctx, *f); });

  auto tf = std::make_shared<TokenFlags>();
  auto* token = app.add_subcommand("token",
                                   "Mint a one-time token of a jwk provisioner (herald token "
                                   "--provisioner ci --san web.internal):\n"
                                   "signed with the provisioner's key, for "
                                   "https://<server>/v1/sign, valid 5 minutes, usable once,\n"
                                   "naming the CN/SANs the certificate may carry. Or manage bearer "
                                   "API tokens (add, list, revoke)\n"
                                   "and create a jwk provisioner's key pair (keygen).");
  token->require_subcommand(0, 1);
  token->add_option("--provisioner", tf->provisioner, "jwk provisioner name");
  token->add_option("--san", tf->sans,
                    "Names the certificate may carry (comma-separated, repeatable)");
  token->add_option("--cn", tf->cn, "Subject common name the certificate may carry (claim sub)");
  token->add_option("--ttl", tf->ttl, "Token lifetime, at most 5m")->capture_default_str();
  token->add_option("--aud", tf->aud, "Audience (default https://<first tls_name>:<port>/v1/sign)");
  token->add_option("--key-file", tf->key_file,
                    "Provisioner private key (default DIR/provisioners/NAME.key.pem)");
  token->add_option("--password-file", tf->password_file,
                    "Its passphrase (default DIR/secrets/provisioner-NAME.pass)");
  add_dir_option(*token, ctx);
  token->callback([&ctx, tf, token] {
    if (!token->get_subcommands().empty()) return;  // add, list, revoke or keygen ran
    if (tf->provisioner.empty()) {
      ctx.result = make_error(
          ErrorCode::kInvalidArgument,
          "herald token needs --provisioner NAME (or a subcommand: add, list, revoke, keygen)");
      return;
    }
    ctx.result = run_token_mint(ctx, *tf);
  });
  auto* keygen = token->add_subcommand(
      "keygen", "Create the key pair of a jwk provisioner and print its config");
  add_dir_option(*keygen, ctx);
  keygen->add_option("--provisioner", tf->provisioner, "Provisioner name")->required();
  keygen->add_option("--key-type", tf->key_type, "ec-p256 | ed25519")->capture_default_str();
  keygen->add_option("--password-file", tf->password_file,
                     "Passphrase for the private key (default: generated)");
  keygen->callback([&ctx, tf] { ctx.result = run_token_keygen(ctx, *tf); });
  auto* add =
      token->add_subcommand("add", "Create a bearer token for a provisioner; prints it once");
  add_dir_option(*add, ctx);
  add->add_option("--provisioner", tf->provisioner, "Provisioner name from herald.toml")
      ->required();
  add->add_option("--description", tf->description, "What the token is for");
  add->add_flag("--json", tf->json, "Print JSON");
  add->callback([&ctx, tf] { ctx.result = run_token_add(ctx, *tf); });
  auto* list = token->add_subcommand("list", "List API tokens (never their secrets)");
  add_dir_option(*list, ctx);
  list->add_flag("--json", tf->json, "Print JSON");
  list->callback([&ctx, tf] { ctx.result = run_token_list(ctx, tf->json); });
  auto* revoke = token->add_subcommand("revoke", "Revoke an API token by id");
  add_dir_option(*revoke, ctx);
  revoke->add_option("id", tf->id, "Token id (from token list)")->required();
  revoke->callback([&ctx, tf] { ctx.result = run_token_revoke(ctx, tf->id); });
}

}  // namespace herald::cli
