// herald serve | token add/list/revoke
#include <iostream>
#include <thread>

#include "base/fs.h"
#include "cli/output.h"
#include "cli/session.h"
#include "keys/private_key.h"
#include "net/server.h"
#include "server/app.h"
#include "server/config.h"

namespace herald::cli {

namespace {

struct ServeFlags {
  std::optional<std::string> config, listen, http_listen, issuing_pass_file;
};

Status run_serve(Context& ctx, const ServeFlags& f) {
  auto dir = datadir::DataDir::resolve(ctx.dir);
  server::ServeOptions o{f.config, f.listen, f.http_listen, f.issuing_pass_file};
  HERALD_TRY(auto app, server::App::create(dir, o, *ctx.clock));
  const auto& cfg = app->server_config();
  // Handlers wait on the inventory's fsync: more threads than cores keep the
  // CPUs busy and give group commit several records per transaction.
  int threads = cfg.threads > 0 ? cfg.threads : 4 * static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  net::Server srv(threads);
  auto* a = app.get();
  HERALD_TRY(auto https_port, srv.listen(cfg.listen.host, cfg.listen.port, app->tls(),
                                         [a](const net::Request& q, net::Response& r) { a->handle_https(q, r); },
                                         app->limits()));
  HERALD_TRY(auto http_port, srv.listen(cfg.http_listen.host, cfg.http_listen.port, nullptr,
                                        [a](const net::Request& q, net::Response& r) { a->handle_http(q, r); },
                                        app->limits()));
  srv.handle_signals([a] {
    auto s = a->reload();
    std::cerr << "herald serve: SIGHUP: " << (s ? "configuration and offline CRLs reloaded" : "reload failed, keeping the old configuration: " + s.error().describe()) << "\n";
  });
  srv.every(std::chrono::milliseconds(200), [a] { a->tick(); });
  auto host = [](const server::Endpoint& e, uint16_t port) {
    return (e.host.find(':') != std::string::npos ? "[" + e.host + "]" : e.host) + ":" + std::to_string(port);
  };
  std::cout << "herald serve: " << threads << " threads, data directory " << dir.root().string() << "\n"
            << "  API (HTTPS)            https://" << host(cfg.listen, https_port) << "/v1/\n"
            << "  OCSP, CRLs (HTTP)      http://" << host(cfg.http_listen, http_port) << "/ocsp, /crl/issuing.crl\n"
            << "  health, metrics        http://" << host(cfg.http_listen, http_port) << "/healthz, /readyz, /metrics\n"
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
};

Status run_token_add(Context& ctx, const TokenFlags& f) {
  HERALD_TRY(auto s, open_session(ctx, LoadSigner::kNo, std::nullopt));
  HERALD_TRY(auto text, fs::read_file(s->dir.config_path(), 1 << 20));
  HERALD_TRY(auto cfg, server::parse_server_config(text, s->dir.config_path().string()));
  const auto* prov = cfg.provisioner(f.provisioner);
  if (!prov) {
    return make_error(ErrorCode::kNotFound, "no provisioner '" + f.provisioner + "' in " + s->dir.config_path().string());
  }
  HERALD_TRY(auto secret, ossl::random_bytes(32));
  const std::string token = "hrld_" + base64url_encode(secret);
  HERALD_TRY(auto digest, ossl::sha256(std::span(reinterpret_cast<const uint8_t*>(token.data()), token.size())));
  HERALD_TRY(auto id, s->inventory->add_token({0, f.provisioner, f.description, to_hex(digest, false), ctx.clock->now(), false}));
  if (f.json) {
    std::cout << nlohmann::json{{"id", id}, {"provisioner", f.provisioner}, {"token", token}}.dump() << "\n";
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
    arr.push_back({{"id", t.id}, {"provisioner", t.provisioner}, {"description", t.description},
                   {"created_at", format_time(t.created_at)}, {"revoked", t.revoked}});
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
  auto* serve = app.add_subcommand("serve",
      "Run the online CA: REST API over HTTPS (its own certificate, issued by the issuing CA\n"
      "and renewed automatically), OCSP responder and CRL distribution over plain HTTP,\n"
      "health and Prometheus metrics. Loads only the issuing CA key. Settings: the [server]\n"
      "and [[provisioners]] tables of DIR/herald.toml (docs/configuration.md).");
  add_dir_option(*serve, ctx);
  serve->add_option("--config", f->config, "Configuration file (default DIR/herald.toml)");
  serve->add_option("--listen", f->listen, "HTTPS address HOST:PORT (default from config, 127.0.0.1:8443)");
  serve->add_option("--http-listen", f->http_listen, "Plain HTTP address for OCSP/CRLs (default 127.0.0.1:8080)");
  serve->add_option("--issuing-passphrase-file", f->issuing_pass_file, "Issuing key passphrase file");
  serve->callback([&ctx, f] { ctx.result = run_serve(ctx, *f); });

  auto* token = app.add_subcommand("token", "Manage API tokens of token provisioners (add, list, revoke)");
  token->require_subcommand(1);
  auto tf = std::make_shared<TokenFlags>();
  auto* add = token->add_subcommand("add", "Create a bearer token for a provisioner; prints it once");
  add_dir_option(*add, ctx);
  add->add_option("--provisioner", tf->provisioner, "Provisioner name from herald.toml")->required();
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
