// herald agent: keep certificates renewed on the machine that uses them
// (src/agent/, docs/agent.md); herald agent status: what is on disk.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "agent/agent.h"
#include "agent/config.h"
#include "base/duration.h"
#include "base/fs.h"
#include "cli/cli.h"
#include "net/server.h"
#include "obs/metrics.h"
#include "server/config.h"

namespace herald::cli {

namespace {

struct AgentFlags {
  agent::AgentSpec agent;
  agent::AcmeSpec acme;  // used when --acme is given
  agent::SpiffeBundleSpec spiffe;  // used when --spiffe-bundle is given
  agent::CertSpec cert;
  std::optional<std::string> config;
  bool once = false;
};

struct StatusFlags {
  std::optional<std::string> config, cert, key;
  double renew_at = 0.66;
  bool json = false;
};

Result<agent::ParsedConfig> load_config_file(const std::string& path) {
  HERALD_TRY(auto text, fs::read_file(path, 1 << 20));
  return agent::parse_config(text, path);
}

Result<agent::AgentConfig> build_config(const AgentFlags& f, const Clock& clock) {
  if (f.config) {
    if (!f.cert.cert.empty() || !f.cert.key.empty() || !f.cert.profile.empty() ||
        !f.agent.server.empty() || !f.agent.trust.empty() || f.agent.token_file ||
        f.agent.provisioner || f.agent.ott_key || !f.acme.directory.empty() ||
        !f.spiffe.url.empty()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "--config holds everything: give either --config or the one-certificate "
                        "flags (--server, --trust, --profile, --cert, --key, ...), not both");
    }
    HERALD_TRY(auto parsed, load_config_file(*f.config));
    if (f.agent.metrics_listen) parsed.agent.metrics_listen = f.agent.metrics_listen;
    std::vector<agent::CertConfig> certs;
    for (auto& spec : parsed.certs) {
      spec.test_write_delay_ms = f.cert.test_write_delay_ms;
      HERALD_TRY(auto c, agent::make_cert_config(spec));
      certs.push_back(std::move(c));
    }
    return agent::make_agent_config(parsed.agent, std::move(certs), clock);
  }
  const bool acme = !f.acme.directory.empty();
  for (auto [flag, value] : {std::pair{"--server", &f.agent.server},
                             {"--trust", &f.agent.trust},
                             {"--profile", &f.cert.profile},
                             {"--cert", &f.cert.cert},
                             {"--key", &f.cert.key}}) {
    if (acme && (value == &f.agent.server || value == &f.agent.trust)) continue;
    if (value->empty()) {
      return make_error(ErrorCode::kInvalidArgument,
                        std::string(flag) + " is required (or --config agent.toml)");
    }
  }
  HERALD_TRY(auto c, agent::make_cert_config(f.cert));
  std::vector<agent::CertConfig> certs;
  certs.push_back(std::move(c));
  agent::AgentSpec spec = f.agent;
  if (acme) spec.acme = f.acme;
  if (!f.spiffe.url.empty() || !f.spiffe.file.empty()) spec.spiffe_bundles.push_back(f.spiffe);
  return agent::make_agent_config(spec, std::move(certs), clock);
}

Status run_agent(Context& ctx, const AgentFlags& f) {
  HERALD_TRY(auto cfg, build_config(f, *ctx.clock));
  // SIGTERM/SIGINT end the loop; they are blocked here and waited for with
  // sigtimedwait() between passes (the reload command gets a clean mask).
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGHUP);   // a pass now (e.g. after replacing the token file)
  sigaddset(&stop, SIGUSR1);  // internal: the revocation feed reported one of ours
  if (!f.once) ::sigprocmask(SIG_BLOCK, &stop, nullptr);

  const size_t n = cfg.certs.size();
  const std::string server = !cfg.server.url.empty() ? cfg.server.url
                             : cfg.source                ? cfg.source->describe()
                                                         : std::string("the CA");
  const auto metrics_listen = cfg.metrics_listen;
  agent::Agent a(std::move(cfg), *ctx.clock,
                 [](const std::string& line) { std::cerr << "herald agent: " << line << "\n"; });
  // GET /metrics on a local port, served by one I/O thread (created after
  // the signals are blocked, so it never takes SIGTERM itself).
  obs::Registry registry;
  std::unique_ptr<net::Server> metrics;
  std::thread metrics_thread;
  struct StopMetrics {
    std::unique_ptr<net::Server>& srv;
    std::thread& t;
    ~StopMetrics() {
      if (srv) srv->stop();
      if (t.joinable()) t.join();
    }
  } stop_metrics{metrics, metrics_thread};
  if (metrics_listen && !f.once) {
    HERALD_TRY(auto ep, server::parse_endpoint(*metrics_listen));
    a.attach_metrics(registry);
    metrics = std::make_unique<net::Server>(1);
    auto handler = [&registry](const net::Request& req, net::Response& res) {
      if (req.path != "/metrics" || (req.method != "GET" && req.method != "HEAD")) {
        res.status = 404;
        res.body = "only GET /metrics here\n";
        return;
      }
      res.body = registry.render();
      res.set_header("Content-Type", "text/plain; version=0.0.4");
    };
    HERALD_TRY(auto port, metrics->listen(ep.host, ep.port, nullptr, handler, net::Limits{}));
    std::cerr << "herald agent: metrics on http://" << ep.host << ":" << port << "/metrics\n";
    metrics_thread = std::thread([&metrics] { metrics->run(); });
  }
  HERALD_TRY_VOID(a.start());
  if (f.once) {
    auto r = a.pass();
    if (r.first_error) return tl::unexpected(*r.first_error);
    return {};
  }
  a.start_feed([] { ::kill(::getpid(), SIGUSR1); });
  std::cerr << "herald agent: managing " << n << " certificate" << (n == 1 ? "" : "s") << " with "
            << server << "; SIGTERM or SIGINT stops, SIGHUP checks now\n";
  for (;;) {
    auto r = a.pass();
    auto wait = r.next - ctx.clock->now();
    if (wait < std::chrono::seconds(1)) wait = std::chrono::seconds(1);
    if (wait > std::chrono::seconds(60)) wait = std::chrono::seconds(60);  // re-read the disk
    timespec ts{static_cast<time_t>(wait.count()), 0};
    int sig = ::sigtimedwait(&stop, nullptr, &ts);
    if (sig == SIGTERM || sig == SIGINT) {
      a.stop_feed();
      std::cerr << "herald agent: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT")
                << ": stopping (files are complete)\n";
      return {};
    }
    if (sig == SIGHUP) std::cerr << "herald agent: SIGHUP: checking every certificate now\n";
  }
}

std::string in_words(std::chrono::seconds d) {
  if (d.count() <= 0) return "now";
  return "in " + format_duration(d);
}

Status run_status(Context& ctx, const StatusFlags& f) {
  std::vector<agent::CertSpec> specs;
  if (f.config) {
    HERALD_TRY(auto parsed, load_config_file(*f.config));
    specs = std::move(parsed.certs);
  } else if (f.cert && f.key) {
    agent::CertSpec s;
    s.cert = *f.cert;
    s.key = *f.key;
    s.renew_at = f.renew_at;
    specs.push_back(std::move(s));
  } else {
    return make_error(ErrorCode::kInvalidArgument, "give --config agent.toml, or --cert and --key");
  }
  const TimePoint now = ctx.clock->now();
  nlohmann::json out = nlohmann::json::array();
  int not_valid = 0;
  for (const auto& s : specs) {
    agent::Paths p;
    p.cert = s.cert;
    p.key = s.key;
    auto cur = agent::read_current(p, now);
    static constexpr const char* kStates[] = {"valid", "missing", "unreadable", "mismatch",
                                              "expired"};
    nlohmann::json j = {
        {"cert", s.cert}, {"key", s.key}, {"state", kStates[static_cast<int>(cur.state)]}};
    struct stat st {};
    const bool pending = ::stat((s.cert + ".new").c_str(), &st) == 0;
    if (pending) j["interrupted_write"] = true;
    if (cur.state != agent::DiskState::kValid) {
      ++not_valid;
      j["why"] = cur.why;
      j["next_renewal"] = "now";
    }
    if (!cur.serial.empty()) {
      j["serial"] = cur.serial;
      j["not_after"] = format_time(cur.not_after);
      j["expires_in_seconds"] = (cur.not_after - now).count();
    }
    if (cur.state == agent::DiskState::kValid) {
      auto due =
          agent::renewal_time(agent::lifetime_of(cur.not_before, cur.not_after, cur.obtained),
                              {.renew_at = s.renew_at, .jitter = 0}, 0);
      j["next_renewal"] = format_time(due);
      j["next_renewal_note"] = "at renew_at " + std::to_string(s.renew_at).substr(0, 4) +
                               " of the lifetime, before jitter";
    }
    out.push_back(j);
  }
  if (f.json) {
    std::cout << out.dump(2) << "\n";
  } else {
    for (const auto& j : out) {
      std::cout << j["cert"].get<std::string>() << ": " << j["state"].get<std::string>();
      if (j.contains("serial")) {
        std::cout << ", serial " << j["serial"].get<std::string>() << ", expires "
                  << j["not_after"].get<std::string>() << " ("
                  << in_words(std::chrono::seconds(j["expires_in_seconds"].get<int64_t>())) << ")";
      }
      if (j.contains("why")) std::cout << " (" << j["why"].get<std::string>() << ")";
      std::cout << "; next renewal " << j["next_renewal"].get<std::string>();
      if (j.contains("interrupted_write")) {
        std::cout << "; an interrupted write will be finished at the agent's next start";
      }
      std::cout << "\n";
    }
  }
  if (not_valid > 0) {
    return make_error(ErrorCode::kNotValid, std::to_string(not_valid) + " of " +
                                                std::to_string(out.size()) +
                                                " certificates are not valid on disk");
  }
  return {};
}

}  // namespace

void add_agent_commands(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<AgentFlags>();
  auto* cmd = app.add_subcommand(
      "agent",
      "Keep certificates renewed on this machine. Generates a new key locally at every\n"
      "renewal (it never leaves the machine). Obtains the first certificate with POST /v1/sign\n"
      "and a bearer token (--token-file) or a one-time token it signs with a jwk provisioner's\n"
      "key (--provisioner --ott-key), and renews over mutual TLS with the current certificate\n"
      "(POST /v1/renew; the token again if that is refused or the certificate expired). Or\n"
      "obtains and renews every certificate over ACME (--acme DIRECTORY_URL, Herald's or any\n"
      "RFC 8555 CA; inside the CA's ARI window when it offers one). Writes the files\n"
      "crash-safely (key 0600, previous pair kept as .prev) and runs --reload. Renews at\n"
      "--renew-at of the lifetime +- --jitter; at once when the files are missing, unreadable,\n"
      "not a matching pair or expired. Failures back off from --retry-min doubling to\n"
      "--retry-max, never past the current certificate's expiry. Logs go to stderr.\n"
      "One certificate with flags, or several with --config agent.toml (docs/agent.md).\n"
      "With --once: renew what is due and exit (0: done or nothing due).");
  cmd->add_option("--config", f->config,
                  "agent.toml: server, trust, token_file, ... and [[certificate]] tables");
  cmd->add_option("--server", f->agent.server, "https://HOST:PORT of herald serve");
  cmd->add_option("--trust", f->agent.trust,
                  "Trust anchor(s) for the server's TLS certificate (PEM)");
  cmd->add_option("--token-file", f->agent.token_file,
                  "Bearer token (herald token add) for the first certificate, and whenever the "
                  "current one cannot renew itself; re-read at each use");
  cmd->add_option("--provisioner", f->agent.provisioner,
                  "A jwk provisioner's name: sign a one-time token for each request (with --ott-key)");
  cmd->add_option("--ott-key", f->agent.ott_key,
                  "The jwk provisioner's private key (PEM; herald token keygen made it)");
  cmd->add_option("--ott-password-file", f->agent.ott_password_file,
                  "Passphrase of an encrypted --ott-key");
  cmd->add_option("--acme", f->acme.directory,
                  "Obtain and renew over ACME from this directory URL (https://.../directory); "
                  "--server is then optional (trust bundle, OCSP chain)");
  cmd->add_option("--acme-account-key", f->acme.account_key,
                  "The ACME account key (created, P-256, 0600, if missing; default: "
                  "herald-acme-account.key beside --cert)");
  cmd->add_option("--acme-email", f->acme.email, "Contact e-mail of the ACME account");
  cmd->add_option("--acme-challenge", f->acme.challenge,
                  "http-01 (a listener on --acme-http-listen while validating), webroot "
                  "(--acme-webroot) or dns-01 (--acme-dns-hook)")
      ->capture_default_str();
  cmd->add_option("--acme-http-listen", f->acme.http_listen,
                  "HOST:PORT for http-01 (up only while an order is validated)")
      ->capture_default_str();
  cmd->add_option("--acme-webroot", f->acme.webroot,
                  "Write WEBROOT/.well-known/acme-challenge/TOKEN for the web server to serve");
  cmd->add_option("--acme-dns-hook", f->acme.dns_hook,
                  "dns-01: run 'HOOK present|cleanup NAME VALUE' to set and remove the TXT record");
  cmd->add_option("--acme-eab-kid", f->acme.eab_kid, "External Account Binding key id");
  cmd->add_option("--acme-eab-hmac-key-file", f->acme.eab_hmac_key_file,
                  "External Account Binding HMAC key (base64url) in a file");
  cmd->add_option("--profile", f->cert.profile, "server | client | spiffe");
  cmd->add_option("--cn", f->cert.cn, "Subject common name (server: also a DNS/IP SAN)");
  cmd->add_option("--san", f->cert.sans,
                  "SANs: dns:NAME, ip:ADDR, uri:URI (comma-separated, repeatable)");
  cmd->add_option("--key-type", f->cert.key_type, std::string(keys::kKeyTypeChoices))
      ->capture_default_str();
  cmd->add_option("--ttl", f->cert.ttl,
                  "Lifetime to ask for at first issuance, e.g. 2m, 24h (default: the profile's; "
                  "a renewal keeps the lifetime)");
  cmd->add_option("--cert", f->cert.cert, "Certificate file to keep current (leaf, PEM)");
  cmd->add_option("--key", f->cert.key, "Its private key (PEM, mode 0600)");
  cmd->add_option("--chain", f->cert.chain, "Also write leaf + issuing + intermediate here");
  cmd->add_option("--combined", f->cert.combined,
                  "Also write key + leaf + chain in one file (0600), replaced by one rename");
  cmd->add_option("--pkcs12", f->cert.pkcs12,
                  "Also write key + leaf + chain as PKCS#12 here (with --pkcs12-password-file)");
  cmd->add_option("--pkcs12-password-file", f->cert.pkcs12_password_file,
                  "The PKCS#12 file's password, read at each write");
  cmd->add_option("--owner", f->cert.owner,
                  "Owner labels recorded with the certificate at first issuance (team=web,service=api)");
  cmd->add_option("--file-owner", f->cert.file_owner,
                  "Owner of the written files (user name or id; root only)");
  cmd->add_option("--file-group", f->cert.file_group,
                  "Group of the written files (name or id; root only)");
  cmd->add_option("--key-mode", f->cert.key_mode,
                  "Mode of the files holding the key: 0600, 0640, 0400 or 0440")
      ->capture_default_str();
  cmd->add_option("--renew-at", f->cert.renew_at, "Share of the lifetime after which to renew")
      ->capture_default_str();
  cmd->add_option("--jitter", f->cert.jitter,
                  "+- this share of the lifetime, random per certificate")
      ->capture_default_str();
  cmd->add_option("--reload", f->cert.reload,
                  "Command run with /bin/sh -c after new files are written (e.g. 'nginx -s "
                  "reload'); a failure is logged and retried, the files stay");
  cmd->add_option("--reload-signal", f->cert.reload_signal,
                  "Instead of --reload: send this signal (HUP, USR1, ...) to the process in "
                  "--reload-pid-file");
  cmd->add_option("--reload-pid-file", f->cert.reload_pid_file,
                  "PID file of the process to signal (e.g. /run/nginx.pid)");
  cmd->add_option("--reload-timeout", f->cert.reload_timeout,
                  "Kill the reload command's process group after this long")
      ->capture_default_str();
  cmd->add_option("--trust-bundle", f->agent.trust_bundle,
                  "Keep this file current with the CA's trust bundle (GET /v1/trust/bundle, else "
                  "the root from /ca/root.crt); rewritten only when it changes");
  cmd->add_option("--trust-bundle-interval", f->agent.trust_bundle_interval, "How often to poll it")
      ->capture_default_str();
  cmd->add_option("--spiffe-bundle", f->spiffe.url,
                  "Also keep another trust domain's SPIFFE bundle (https://.../v1/spiffe/bundle) "
                  "as PEM in --spiffe-bundle-file (TLS checked with --spiffe-bundle-trust)");
  cmd->add_option("--spiffe-bundle-trust", f->spiffe.trust,
                  "Anchors for the SPIFFE bundle endpoint's TLS certificate");
  cmd->add_option("--spiffe-bundle-file", f->spiffe.file, "Where to write its X.509 authorities");
  cmd->add_option("--retry-min", f->agent.retry_min, "First delay after a failure")
      ->capture_default_str();
  cmd->add_option("--retry-max", f->agent.retry_max, "Cap of the doubling delay")
      ->capture_default_str();
  cmd->add_option("--revocation-check", f->agent.revocation_check,
                  "Ask the certificate's OCSP responder this often whether it was revoked; a "
                  "revoked certificate is replaced at once ('off' to never ask)")
      ->capture_default_str();
  cmd->add_option("--revocation-feed", f->agent.revocation_feed,
                  "Follow the CA's revocation feed (GET /v1/revocations, a long poll over mutual "
                  "TLS with a managed certificate): a revoked certificate is replaced within about "
                  "a second, and OCSP is asked only while the feed is unavailable (on | off)")
      ->capture_default_str();
  cmd->add_option("--metrics-listen", f->agent.metrics_listen,
                  "Serve Prometheus metrics (expiry seconds, renewals and reloads by result) on "
                  "GET http://HOST:PORT/metrics, e.g. 127.0.0.1:9479 (not with --once)");
  cmd->add_flag("--once", f->once, "Renew what is due, then exit (for cron and CI)");
  // Tests only: pause N ms after each step of a write, to kill -9 the agent mid-write.
  cmd->add_option("--test-write-delay-ms", f->cert.test_write_delay_ms)->group("");

  auto sf = std::make_shared<StatusFlags>();
  auto* status = cmd->add_subcommand(
      "status",
      "Print each managed certificate as it is on disk: state (valid, missing, unreadable,\n"
      "mismatch, expired), serial, expiry and the next renewal time (before jitter).\n"
      "Exit 0 when every certificate is valid.");
  status->add_option("--config", sf->config, "The agent's agent.toml");
  status->add_option("--cert", sf->cert, "Or one certificate file");
  status->add_option("--key", sf->key, "... and its key");
  status->add_option("--renew-at", sf->renew_at, "Share of the lifetime (with --cert)")
      ->capture_default_str();
  status->add_flag("--json", sf->json, "JSON output");
  status->callback([&ctx, sf] { ctx.result = run_status(ctx, *sf); });

  cmd->callback([&ctx, f, status] {
    if (status->parsed()) return;
    ctx.result = run_agent(ctx, *f);
  });
}

}  // namespace herald::cli
