// herald proxy: mutual TLS in front of a service (src/proxy/, docs/proxy.md).
#include <iostream>

#include "base/fs.h"
#include "cli/cli.h"
#include "proxy/config.h"
#include "proxy/proxy.h"

namespace herald::cli {

namespace {

struct ProxyFlags {
  proxy::ProxySpec spec;
  proxy::RouteSpec route;
  std::optional<std::string> config;
};

Result<proxy::ProxyConfig> build(const ProxyFlags& f) {
  if (f.config) {
    if (!f.route.listen.empty() || !f.route.backend.empty() || !f.route.cert.empty() ||
        !f.route.trust.empty()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "--config holds every route: give either --config or the one-route flags "
                        "(--listen, --backend, --cert, --key, --trust, ...), not both");
    }
    HERALD_TRY(auto text, fs::read_file(*f.config, 1 << 20));
    HERALD_TRY(auto spec, proxy::parse_proxy_toml(text, *f.config));
    if (f.spec.admin_listen) spec.admin_listen = f.spec.admin_listen;
    return proxy::make_proxy_config(spec);
  }
  for (auto [flag, value] : {std::pair{"--listen", &f.route.listen},
                             {"--backend", &f.route.backend},
                             {"--cert", &f.route.cert},
                             {"--key", &f.route.key},
                             {"--trust", &f.route.trust}}) {
    if (value->empty()) {
      return make_error(ErrorCode::kInvalidArgument,
                        std::string(flag) + " is required (or --config proxy.toml)");
    }
  }
  proxy::ProxySpec spec = f.spec;
  spec.routes = {f.route};
  return proxy::make_proxy_config(spec);
}

Status run_proxy(Context& ctx, const ProxyFlags& f) {
  HERALD_TRY(auto cfg, build(f));
  proxy::Proxy p(std::move(cfg), *ctx.clock, std::cerr);
  HERALD_TRY_VOID(p.start());
  std::cerr << "herald proxy: ready; SIGTERM or SIGINT stops (gracefully), SIGHUP reloads the "
               "certificates and trust bundles\n";
  p.run();
  return {};
}

}  // namespace

void add_proxy_commands(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<ProxyFlags>();
  auto* cmd = app.add_subcommand(
      "proxy",
      "Terminate mutual TLS in front of a service. Each client certificate is verified with\n"
      "Herald's verification library against --trust (for the client purpose), checked for\n"
      "revocation (the CA's feed with --ca-feed, within about a second; CRLs and OCSP from\n"
      "the certificate otherwise), and matched against the allow-lists. Allowed HTTP requests\n"
      "reach --backend with X-Client-Cert-Subject, -SAN, -Serial, -Fingerprint, -Spiffe-Id and\n"
      "-Verified set, after any such headers the client sent were removed; refused ones get\n"
      "401/403 with the reason and never reach the backend (in TCP mode: the connection is\n"
      "closed). Certificate, key and trust files are reloaded when they change (the renewal\n"
      "agent rewrites them) or on SIGHUP; a broken file is refused and the old one kept.\n"
      "One route with flags, or several with --config proxy.toml (docs/proxy.md).");
  cmd->add_option("--config", f->config, "proxy.toml: [[route]] tables and global settings");
  cmd->add_option("--listen", f->route.listen, "HOST:PORT to accept mutual TLS on");
  cmd->add_option("--backend", f->route.backend, "HOST:PORT of the service (plain HTTP or TCP)");
  cmd->add_option("--cert", f->route.cert, "The proxy's certificate (PEM; leaf, chain may follow)");
  cmd->add_option("--key", f->route.key, "Its private key (PEM)");
  cmd->add_option("--chain", f->route.chain,
                  "Intermediates to send (a leaf or root in it is skipped: a root is never sent)");
  cmd->add_option("--trust", f->route.trust,
                  "CA certificates whose client certificates are accepted (PEM bundle: roots, "
                  "and intermediates that help build paths; several CAs allowed)");
  cmd->add_option("--mode", f->route.mode, "http (reverse proxy) or tcp (bytes only)")
      ->capture_default_str();
  cmd->add_option("--client-cert", f->route.client_cert,
                  "required, or optional (no certificate: X-Client-Cert-Verified: NONE)")
      ->capture_default_str();
  cmd->add_option("--allow-spiffe", f->route.allow_spiffe,
                  "Allow this SPIFFE ID, or every ID under spiffe://td/path/* (repeatable)");
  cmd->add_option("--allow-san", f->route.allow_san,
                  "Allow this DNS SAN (exact or *.domain) or URI SAN (exact or prefix*) (repeatable)");
  cmd->add_option("--allow-o", f->route.allow_o, "Allow this subject O (exact; repeatable)");
  cmd->add_option("--allow-ou", f->route.allow_ou, "Allow this subject OU (exact; repeatable)");
  cmd->add_option("--allow-issuer", f->route.allow_issuer,
                  "Only certificates under this CA (SHA-256 fingerprint or subject), in addition");
  cmd->add_option("--revocation", f->route.revocation,
                  "hard: refuse when revocation cannot be checked; soft: refuse only when revoked; "
                  "off")
      ->capture_default_str();
  cmd->add_option("--ca-feed", f->spec.ca_feed,
                  "https://HOST:PORT of herald serve: follow its revocation feed, authenticated "
                  "with --cert (a revoked client is refused within about a second)");
  cmd->add_option("--ca-feed-trust", f->spec.ca_feed_trust,
                  "Anchor for herald serve's TLS certificate and the feed's root (default: --trust)");
  cmd->add_option("--crl-url", f->route.crl_urls, "Prefetch this CRL at start (repeatable)");
  cmd->add_option("--health-path", f->route.health_path,
                  "Answer this path without a client certificate (e.g. /healthz; http mode)");
  cmd->add_option("--timeout", f->route.timeout,
                  "A request head must arrive, and the backend must start answering, within this "
                  "long; a stalled relay is closed after it")
      ->capture_default_str();
  cmd->add_option("--admin-listen", f->spec.admin_listen,
                  "HOST:PORT for GET /healthz and /metrics over plain HTTP (e.g. 127.0.0.1:9480)");
  cmd->add_option("--threads", f->spec.threads, "I/O threads (0: one per core)")
      ->capture_default_str();
  cmd->add_flag("--access-log,!--no-access-log", f->spec.access_log,
                "One JSON line per request (connection in tcp mode) on stderr")
      ->capture_default_str();
  cmd->callback([&ctx, f] { ctx.result = run_proxy(ctx, *f); });
}

}  // namespace herald::cli
