// herald agent: keep a certificate renewed on the machine that uses it
// (src/agent/, docs/agent.md).
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <iostream>

#include "agent/agent.h"
#include "base/duration.h"
#include "base/fs.h"
#include "cli/cli.h"

namespace herald::cli {

namespace {

struct AgentFlags {
  std::string server, trust, profile, cn, key_type = "ec-p256", cert, key;
  std::vector<std::string> sans;
  std::optional<std::string> token_file, ttl, chain, combined, reload, trust_bundle;
  double renew_at = 0.66, jitter = 0.05;
  std::string reload_timeout = "30s", retry_min = "5s", retry_max = "5m",
              trust_bundle_interval = "10m";
  bool once = false;
  int test_write_delay_ms = 0;
};

Result<std::chrono::seconds> positive_duration(const std::string& flag, const std::string& v) {
  auto d = parse_duration(v);
  if (!d || d->count() <= 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      flag + " '" + v + "' is not a positive duration (e.g. 30s, 5m)");
  }
  return *d;
}

Result<agent::AgentConfig> build_config(const AgentFlags& f) {
  agent::AgentConfig cfg;
  std::string url = f.server;
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (!url.starts_with("https://")) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--server must be https://HOST:PORT of herald serve, not '" + f.server + "'");
  }
  cfg.server.url = url;
  HERALD_TRY(cfg.server.trust_pem, fs::read_file(f.trust, 1 << 20));
  if (f.token_file) {
    // Read now only to fail early; it is read again at each use (rotation).
    HERALD_TRY(auto t, fs::read_file(*f.token_file, 16 * 1024));
    (void)t;
    cfg.token_file = *f.token_file;
  }
  if (!(f.renew_at > 0 && f.renew_at < 1)) {
    return make_error(ErrorCode::kInvalidArgument, "--renew-at must be between 0 and 1 (exclusive)");
  }
  if (!(f.jitter >= 0 && f.jitter < 0.5)) {
    return make_error(ErrorCode::kInvalidArgument, "--jitter must be in [0, 0.5)");
  }
  HERALD_TRY(cfg.backoff.min, positive_duration("--retry-min", f.retry_min));
  HERALD_TRY(cfg.backoff.max, positive_duration("--retry-max", f.retry_max));
  if (cfg.backoff.max < cfg.backoff.min) cfg.backoff.max = cfg.backoff.min;
  if (f.trust_bundle) cfg.trust_bundle = *f.trust_bundle;
  HERALD_TRY(cfg.trust_bundle_interval,
             positive_duration("--trust-bundle-interval", f.trust_bundle_interval));

  agent::CertConfig c;
  c.paths.cert = f.cert;
  c.paths.key = f.key;
  if (f.chain) c.paths.chain = *f.chain;
  if (f.combined) c.paths.combined = *f.combined;
  if (c.paths.cert == c.paths.key) {
    return make_error(ErrorCode::kInvalidArgument, "--cert and --key must be different files");
  }
  HERALD_TRY(c.key_type, keys::parse_key_type(f.key_type));
  c.id.profile = f.profile;
  c.id.cn = f.cn;
  c.id.ttl = f.ttl;
  if (f.ttl) HERALD_TRY_VOID(positive_duration("--ttl", *f.ttl));
  for (const auto& s : f.sans) {
    HERALD_TRY(auto list, x509::parse_san_list(s));
    c.id.sans.insert(c.id.sans.end(), list.begin(), list.end());
  }
  // A server certificate's CN must be among its SANs: add it, as `herald issue` does.
  if (f.profile == "server" && !f.cn.empty()) {
    auto san = x509::parse_san("ip:" + f.cn);
    if (!san) san = x509::parse_san("dns:" + f.cn);
    if (san && std::find(c.id.sans.begin(), c.id.sans.end(), *san) == c.id.sans.end()) {
      c.id.sans.insert(c.id.sans.begin(), *san);
    }
  }
  if (f.cn.empty() && c.id.sans.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "give the certificate a name: --cn and/or --san");
  }
  c.rule.renew_at = f.renew_at;
  c.rule.jitter = f.jitter;
  c.reload = f.reload;
  HERALD_TRY(auto rt, positive_duration("--reload-timeout", f.reload_timeout));
  c.reload_timeout = rt;
  c.write_step_delay = std::chrono::milliseconds(f.test_write_delay_ms);
  cfg.certs.push_back(std::move(c));
  return cfg;
}

Status run_agent(Context& ctx, const AgentFlags& f) {
  HERALD_TRY(auto cfg, build_config(f));
  // SIGTERM/SIGINT end the loop; they are blocked here and waited for with
  // sigtimedwait() between passes (the reload command gets a clean mask).
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  if (!f.once) ::sigprocmask(SIG_BLOCK, &stop, nullptr);

  agent::Agent a(std::move(cfg), *ctx.clock,
                 [](const std::string& line) { std::cerr << "herald agent: " << line << "\n"; });
  HERALD_TRY_VOID(a.start());
  if (f.once) {
    auto r = a.pass();
    if (r.first_error) return tl::unexpected(*r.first_error);
    return {};
  }
  std::cerr << "herald agent: managing " << f.cert << " (server " << f.server
            << "); SIGTERM or SIGINT stops\n";
  for (;;) {
    auto r = a.pass();
    auto wait = r.next - ctx.clock->now();
    if (wait < std::chrono::seconds(1)) wait = std::chrono::seconds(1);
    if (wait > std::chrono::seconds(60)) wait = std::chrono::seconds(60);  // re-read the disk
    timespec ts{static_cast<time_t>(wait.count()), 0};
    int sig = ::sigtimedwait(&stop, nullptr, &ts);
    if (sig == SIGTERM || sig == SIGINT) {
      std::cerr << "herald agent: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT")
                << ": stopping (files are complete)\n";
      return {};
    }
  }
}

}  // namespace

void add_agent_commands(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<AgentFlags>();
  auto* cmd = app.add_subcommand(
      "agent",
      "Keep one certificate renewed on this machine. Generates a new key locally at every\n"
      "renewal (it never leaves the machine), obtains the first certificate with POST /v1/sign\n"
      "and a bearer token, renews over mutual TLS with the current certificate (POST /v1/renew;\n"
      "the token again if that is refused or the certificate expired), writes the files\n"
      "crash-safely (key 0600, previous pair kept as .prev) and runs --reload. Renews at\n"
      "--renew-at of the lifetime +- --jitter; at once when the files are missing, unreadable,\n"
      "not a matching pair or expired. Failures back off from --retry-min doubling to\n"
      "--retry-max, never past the current certificate's expiry. Logs go to stderr.\n"
      "With --once: renew if due and exit (0: done or nothing due). See docs/agent.md.");
  cmd->add_option("--server", f->server, "https://HOST:PORT of herald serve")->required();
  cmd->add_option("--trust", f->trust, "Trust anchor(s) for the server's TLS certificate (PEM)")
      ->required();
  cmd->add_option("--token-file", f->token_file,
                  "Bearer token (herald token add) for the first certificate, and whenever the "
                  "current one cannot renew itself; re-read at each use");
  cmd->add_option("--profile", f->profile, "server | client | spiffe")->required();
  cmd->add_option("--cn", f->cn, "Subject common name (server: also a DNS/IP SAN)");
  cmd->add_option("--san", f->sans, "SANs: dns:NAME, ip:ADDR, uri:URI (comma-separated, repeatable)");
  cmd->add_option("--key-type", f->key_type, std::string(keys::kKeyTypeChoices))
      ->capture_default_str();
  cmd->add_option("--ttl", f->ttl, "Lifetime to ask for, e.g. 2m, 24h (default: the profile's)");
  cmd->add_option("--cert", f->cert, "Certificate file to keep current (leaf, PEM)")->required();
  cmd->add_option("--key", f->key, "Its private key (PEM, mode 0600)")->required();
  cmd->add_option("--chain", f->chain, "Also write leaf + issuing + intermediate here");
  cmd->add_option("--combined", f->combined,
                  "Also write key + leaf + chain in one file (0600), replaced by one rename");
  cmd->add_option("--renew-at", f->renew_at, "Share of the lifetime after which to renew")
      ->capture_default_str();
  cmd->add_option("--jitter", f->jitter, "+- this share of the lifetime, random per certificate")
      ->capture_default_str();
  cmd->add_option("--reload", f->reload,
                  "Command run with /bin/sh -c after new files are written (e.g. 'nginx -s "
                  "reload'); a failure is logged and retried, the files stay");
  cmd->add_option("--reload-timeout", f->reload_timeout,
                  "Kill the reload command's process group after this long")
      ->capture_default_str();
  cmd->add_option("--trust-bundle", f->trust_bundle,
                  "Keep this file current with the CA's trust bundle (GET /v1/trust/bundle, else "
                  "the root from /ca/root.crt); rewritten only when it changes");
  cmd->add_option("--trust-bundle-interval", f->trust_bundle_interval, "How often to poll it")
      ->capture_default_str();
  cmd->add_option("--retry-min", f->retry_min, "First delay after a failure")
      ->capture_default_str();
  cmd->add_option("--retry-max", f->retry_max, "Cap of the doubling delay")->capture_default_str();
  cmd->add_flag("--once", f->once, "Renew if due, then exit (for cron and CI)");
  // Tests only: pause N ms after each step of a write, to kill -9 the agent mid-write.
  cmd->add_option("--test-write-delay-ms", f->test_write_delay_ms)->group("");
  cmd->callback([&ctx, f] { ctx.result = run_agent(ctx, *f); });
}

}  // namespace herald::cli
