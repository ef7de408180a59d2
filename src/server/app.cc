#include "server/app.h"

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cstdio>

#include <iostream>
#include <set>
#include <thread>

#include "base/duration.h"
#include "base/fs.h"
#include "ca/revocation.h"
#include "keys/private_key.h"
#include "obs/log.h"
#include "server/problem.h"

namespace herald::server {

using std::chrono::seconds;

App::App(const datadir::DataDir& dir, const Clock& clock) : dir_(dir), clock_(clock) {}
App::~App() { OPENSSL_cleanse(own_key_passphrase_.data(), own_key_passphrase_.size()); }

Result<std::unique_ptr<App>> App::create(const datadir::DataDir& dir, const ServeOptions& options,
                                         const Clock& clock) {
  std::unique_ptr<App> app(new App(dir, clock));
  HERALD_TRY_VOID(app->init(options));
  return app;
}

net::Limits App::limits() const {
  net::Limits l;
  l.max_body_bytes = server_config_.max_body_bytes;
  l.max_header_bytes = server_config_.max_header_bytes;
  l.read_timeout = server_config_.read_timeout;
  l.idle_timeout = server_config_.idle_timeout;
  l.max_connections = server_config_.max_connections;
  return l;
}

std::shared_ptr<const Provisioners> App::callers() const {
  std::lock_guard lock(provisioners_mu_);
  return provisioners_;
}

Result<App::Settings> App::load_settings() const {
  const auto path =
      options_.config_path ? std::filesystem::path(*options_.config_path) : dir_.config_path();
  HERALD_TRY(auto text, fs::read_file(path, 1 << 20));
  Settings s;
  HERALD_TRY(s.policy, policy::parse_config(text, path.string()));
  HERALD_TRY(s.server, parse_server_config(text, path.string()));
  const ServeOptions& o = options_;
  if (o.listen) {
    HERALD_TRY(s.server.listen, parse_endpoint(*o.listen));
  }
  if (o.http_listen) {
    HERALD_TRY(s.server.http_listen, parse_endpoint(*o.http_listen));
  }
  if (o.acme_http01_port) s.server.acme.http01_port = *o.acme_http01_port;
  if (o.acme_tlsalpn01_port) s.server.acme.tlsalpn01_port = *o.acme_tlsalpn01_port;
  if (o.acme_dns_resolver) s.server.acme.dns_resolver = *o.acme_dns_resolver;
  return s;
}

Status App::init(const ServeOptions& o) {
  HERALD_TRY_VOID(dir_.require_initialised());
  options_ = o;
  HERALD_TRY(auto settings, load_settings());
  server_config_ = settings.server;
  HERALD_TRY(provisioners_, Provisioners::load(dir_, std::move(settings.server)));

  // The online server loads the issuing key and no other.
  HERALD_TRY(auto ca, datadir::open_ca(dir_, clock_, datadir::IssuingKey::kLoad,
                                       o.issuing_passphrase_file));
  issuing_ = std::move(ca.issuing);
  intermediate_ = std::move(ca.intermediate);
  root_ = std::move(ca.root);
  issuing_signer_ = std::move(ca.signer);
  inventory_ = std::move(ca.store);
  HERALD_TRY(issuer_matcher_, ca::IssuerMatcher::create(*issuing_));
  HERALD_TRY(last_revocation_id_, inventory_->last_revocation_id());

  publisher_ = std::make_unique<RevocationPublisher>(RevocationPublisher::Wiring{
      dir_, clock_, *inventory_, *issuing_signer_, *issuing_, server_config_.ocsp_validity,
      server_config_.crl_validity, registry_, server_config_.ocsp_cache_entries});
  HERALD_TRY_VOID(load_ca_statuses());
  issuance_ = std::make_unique<IssuanceService>(IssuanceService::Wiring{
      clock_, *inventory_, *issuing_signer_, *issuing_, intermediate_->serial(),
      ca_status_source(),
      // After every issuance: its OCSP answers are pre-signed by the next
      // tick (an OCSP request before that signs on demand), off the request path.
      [this](const ca::Issued& issued) { queue_presign(issued.record.serial); }, registry_});
  issuance_->configure(std::move(settings.policy));
  acme_ = std::make_unique<acme::Service>(clock_, *inventory_, *inventory_, acme_backend());
  if (inventory_->shared_by_nodes()) {
    // Several nodes behind a load balancer: a nonce from one must be good on
    // every other, and used once in all.
    HERALD_TRY(auto nonce_key, inventory_->shared_secret("acme-nonce"));
    acme_->use_nonces(std::make_unique<acme::SharedNonces>(std::move(nonce_key), *inventory_, clock_));
  }
  HERALD_TRY_VOID(configure_acme(server_config_));

  // Metrics (issuance counts its own: server/issuance.cc).
  api_errors_ = &registry_.counter("herald_api_errors", "CA API errors by code", {"code"});
  ocsp_requests_ =
      &registry_.counter("herald_ocsp_requests", "OCSP requests by status", {"status"});
  ocsp_latency_ =
      &registry_.histogram("herald_ocsp_duration_seconds", "Time to answer an OCSP request",
                           {"status"}, obs::latency_buckets());
  revocations_ =
      &registry_.counter("herald_revocations", "Revocations through the API", {"reason"});
  http_requests_ = &registry_.counter("herald_http_requests",
                                      "HTTP requests by route class and status", {"route", "code"});
  init_feed();
  auto expiring = [this](std::chrono::hours within) {
    const TimePoint now = clock_.now();
    auto n = inventory_->count_expiring(now, now + within);
    return n ? static_cast<double>(*n) : 0.0;
  };
  registry_.gauge_callback("herald_certificates_expiring",
                           "Valid certificates expiring within the window", {"within"}, [expiring] {
                             return std::vector<obs::CallbackSample>{
                                 {{"7d"}, expiring(std::chrono::hours(24 * 7))},
                                 {{"30d"}, expiring(std::chrono::hours(24 * 30))}};
                           });
  registry_.gauge_callback("herald_singleton_holder",
                           "1 if this node holds the store's lease for the work one node at a "
                           "time does (CRL signing, ACME purges); a node alone always does",
                           {}, [this] {
                             return std::vector<obs::CallbackSample>{{{}, singleton_ ? 1.0 : 0.0}};
                           });

  HERALD_TRY(own_key_passphrase_, dir_.ca_passphrase(ca::CaLevel::kIssuing, o.issuing_passphrase_file));
  HERALD_TRY_VOID(issue_tls_certificate(true));
  HERALD_TRY_VOID(issue_ocsp_signer(true));
  {
    // Who holds the lease, stable across restarts: a node killed while it
    // held the lease takes it back as soon as it is up again, instead of
    // leaving every node without a CRL signer until the lease runs out.
    // Two nodes never share it: they differ by host or by listen port.
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "unknown");
    node_id_ = std::string(host) + "/" + server_config_.listen.host + ":" +
               std::to_string(server_config_.listen.port);
  }
  HERALD_TRY_VOID(publisher_->start(hold_singleton(clock_.now())));
  HERALD_TRY_VOID(refresh_trust_bundles(true));
  register_trust_metrics();
  // Alerts (src/alerts/).
  HERALD_TRY(alerter_, make_alerter(server_config_.alerts));
  registry_.gauge_callback(
      "herald_alert_deliveries",
      "Webhook deliveries of expiry alerts and partner notices waiting (pending), and dropped "
      "since start because the queue was full (dropped)",
      {"state"}, [this] {
        auto a = alerter();
        return std::vector<obs::CallbackSample>{
            {{"pending"}, a ? static_cast<double>(a->pending()) : 0.0},
            {{"dropped"}, a ? static_cast<double>(a->dropped()) : 0.0}};
      });
  return {};
}

std::optional<App::OwnCert> App::reusable_own(const std::string& name) {
  const auto cert_path = dir_.serve_dir() / (name + ".pem");
  const auto key_path = dir_.serve_dir() / (name + ".key.pem");
  std::error_code ec;
  if (!std::filesystem::exists(cert_path, ec) || !std::filesystem::exists(key_path, ec))
    return std::nullopt;
  auto why_not = [&](const std::string& reason) -> std::optional<OwnCert> {
    obs::log(obs::LogLevel::kInfo, "not reusing a kept certificate; issuing a new one",
             {{"file", cert_path.string()}, {"reason", reason}});
    return std::nullopt;
  };
  auto pem = fs::read_file(cert_path, 1 << 16);
  if (!pem) return why_not(pem.error().message);
  auto certs = x509::Certificate::from_pem(*pem);
  if (!certs || certs->empty()) return why_not("unreadable");
  x509::Certificate cert = certs->front();
  // Ours: signed by the issuing CA this server runs, and valid in the inventory.
  if (X509_verify(&cert.x509(), X509_get0_pubkey(&issuing_->x509())) != 1) {
    ossl::clear_errors();
    return why_not("not issued by the current issuing CA");
  }
  const TimePoint now = clock_.now();
  const TimePoint renew_at = cert.not_before() + (cert.not_after() - cert.not_before()) * 2 / 3;
  if (now < cert.not_before() || now >= renew_at) return why_not("due for renewal");
  auto state = inventory_->revocation_state(cert.serial());
  if (!state || !*state || (*state)->status != store::CertStatus::kValid)
    return why_not("not a valid certificate in the inventory");
  auto key_pem = fs::read_file(key_path, 1 << 16);
  if (!key_pem) return why_not(key_pem.error().message);
  auto key = keys::decrypt_private_key(*key_pem, own_key_passphrase_);
  if (!key) return why_not("its key does not open with the issuing CA's passphrase");
  if (EVP_PKEY_eq(X509_get0_pubkey(&cert.x509()), key->get()) != 1) {
    ossl::clear_errors();
    return why_not("its key does not match it");
  }
  return OwnCert{std::move(cert), std::move(*key)};
}

Status App::keep_own(const std::string& name, const std::string& cert_pem, EVP_PKEY& key) {
  HERALD_TRY_VOID(fs::make_dir(dir_.serve_dir(), fs::kPrivateDir));
  HERALD_TRY(auto encrypted, keys::encrypt_private_key(key, own_key_passphrase_));
  HERALD_TRY_VOID(fs::write_file(dir_.serve_dir() / (name + ".key.pem"), encrypted, fs::kPrivate,
                                 fs::Overwrite::kReplace));
  return fs::write_file(dir_.serve_dir() / (name + ".pem"), cert_pem, fs::kPrivate,
                        fs::Overwrite::kReplace);
}

Status App::issue_tls_certificate(bool reuse) {
  policy::IssueRequest req;
  req.profile = policy::Profile::kServer;
  req.common_name = server_config_.tls_names.front();
  for (const auto& n : server_config_.tls_names) {
    auto san =
        x509::make_san(x509::ip_octets(n).empty() ? x509::SanType::kDns : x509::SanType::kIp, n);
    if (!san)
      return make_error(ErrorCode::kMalformedInput, "server.tls_names: " + san.error().message);
    req.sans.push_back(*san);
  }
  std::optional<OwnCert> kept;
  if (reuse) {
    kept = reusable_own("tls");
    if (kept) {
      std::set<std::string> have, want;
      for (const auto& n : kept->cert.sans()) have.insert(n.to_string());
      for (const auto& n : req.sans) want.insert(n.to_string());
      if (have != want) {
        obs::log(obs::LogLevel::kInfo,
                 "not reusing the kept TLS certificate: server.tls_names changed; issuing a new "
                 "one");
        kept.reset();
      }
    }
  }
  ossl::EvpPkeyPtr key;
  std::string leaf_pem;
  TimePoint not_before, not_after;
  if (kept) {
    key = std::move(kept->key);
    leaf_pem = kept->cert.pem();
    not_before = kept->cert.not_before();
    not_after = kept->cert.not_after();
  } else {
    HERALD_TRY(key, keys::generate_key(keys::KeyType::kEcP256));
    HERALD_TRY(auto pub, keys::public_key_of(*key));
    req.ttl = std::chrono::hours(24 * 7);
    req.key = pub.info;
    auto issued = issuance_->issue(req, pub, {{"service", "herald-serve"}, {"role", "tls"}});
    if (!issued) {
      return tl::unexpected(
          std::move(issued.error()).with("purpose", "the server's own TLS certificate"));
    }
    leaf_pem = issued->pem();
    not_before = issued->record.not_before;
    not_after = issued->record.not_after;
    if (auto s = keep_own("tls", leaf_pem, *key); !s)
      obs::log(obs::LogLevel::kWarn, "cannot keep the TLS certificate for the next start",
               {{"error", s.error().describe()}});
  }
  net::TlsConfig cfg;
  cfg.cert_chain_pem = leaf_pem + issuing_->pem() + intermediate_->pem();
  HERALD_TRY(cfg.key_pem, keys::private_key_pem(*key));
  cfg.client_ca_pem = root_->pem() + intermediate_->pem() + issuing_->pem();
  if (tls_) {
    HERALD_TRY_VOID(tls_->reload(cfg));
  } else {
    HERALD_TRY(tls_, net::TlsContextHolder::create(cfg));
  }
  tls_not_before_ = not_before;
  tls_not_after_ = not_after;
  return {};
}

Status App::issue_ocsp_signer(bool reuse) {
  std::optional<OwnCert> kept;
  if (reuse) {
    kept = reusable_own("ocsp");
    if (kept) {
      const auto eku = kept->cert.ext_key_usage();
      if (std::find(eku.begin(), eku.end(), "OCSPSigning") == eku.end()) kept.reset();
    }
  }
  ossl::EvpPkeyPtr key;
  std::optional<x509::Certificate> cert;
  if (kept) {
    key = std::move(kept->key);
    cert = std::move(kept->cert);
  } else {
    HERALD_TRY(key, keys::generate_key(keys::KeyType::kEcP256));
    HERALD_TRY(auto pub, keys::public_key_of(*key));
    HERALD_TRY(auto issued, issuance_->issue_ocsp_signer(pub, std::chrono::hours(24 * 7)));
    HERALD_TRY(cert, x509::Certificate::from_der(issued.record.der));
    if (auto st = keep_own("ocsp", cert->pem(), *key); !st)
      obs::log(obs::LogLevel::kWarn, "cannot keep the OCSP signer for the next start",
               {{"error", st.error().describe()}});
  }
  auto s = std::make_shared<RevocationPublisher::OcspSigner>();
  HERALD_TRY(s->signer, keys::KeySigner::create(std::move(key)));
  s->responder =
      std::make_unique<ca::OcspResponder>(ca::OcspResponder{*s->signer, *cert, *issuing_});
  s->not_before = cert->not_before();
  s->not_after = cert->not_after();
  publisher_->use_ocsp_signer(std::move(s));
  return {};
}

Status App::load_ca_statuses() {
  HERALD_TRY(auto issuing, inventory_->status(issuing_->serial()));
  HERALD_TRY(auto intermediate, inventory_->status(intermediate_->serial()));
  issuing_revoked_ = issuing == store::CertStatus::kRevoked;
  intermediate_revoked_ = intermediate == store::CertStatus::kRevoked;
  return {};
}

ca::Authority::CaStatusSource App::ca_status_source() {
  return [this](const Serial& serial) -> Result<store::CertStatus> {
    if (serial == issuing_->serial())
      return issuing_revoked_ ? store::CertStatus::kRevoked : store::CertStatus::kValid;
    if (serial == intermediate_->serial())
      return intermediate_revoked_ ? store::CertStatus::kRevoked : store::CertStatus::kValid;
    HERALD_TRY(auto status, inventory_->status(serial));
    return status.value_or(store::CertStatus::kValid);
  };
}

bool App::hold_singleton(TimePoint now) {
  if (!inventory_->shared_by_nodes()) return true;
  if (lease_checked_ != TimePoint{} && now - lease_checked_ < std::chrono::seconds(2))
    return singleton_;
  lease_checked_ = now;
  auto held = inventory_->acquire_lease("singleton", node_id_, now, kLeaseTtl);
  const bool was = singleton_.exchange(held && *held);
  if (was != singleton_) {
    obs::log(obs::LogLevel::kInfo,
             singleton_ ? "lease gained: this node now signs the CRL and purges ACME orders for "
                          "every node"
                        : "lease lost: this node leaves CRL signing and purges to another node",
             {{"node", node_id_}, {"lease", "singleton"}});
    if (singleton_) publisher_->crl_changed();  // the last holder may have died mid-change
  }
  return singleton_;
}

Result<std::shared_ptr<alerts::Alerter>> App::make_alerter(const alerts::AlertsConfig& cfg) {
  if (!cfg.enabled) return std::shared_ptr<alerts::Alerter>();
  RevocationPublisher* publisher = publisher_.get();
  alerts::Alerter::Wiring w{clock_, *inventory_,
                            [publisher] {
                              std::vector<alerts::CrlWindow> out;
                              for (const char* name : {"issuing", "intermediate", "root"}) {
                                if (auto crl = publisher->crl(name))
                                  out.push_back({name, crl->this_update, crl->next_update});
                              }
                              return out;
                            },
                            nullptr};
  // Partners hear of each CA certificate once (and so of a rotation).
  for (const auto& [level, cert] : {std::pair{"root", &root_}, std::pair{"intermediate", &intermediate_},
                                    std::pair{"issuing", &issuing_}}) {
    if (!*cert) continue;
    const x509::Certificate& c = **cert;
    w.cas.push_back({level, c.serial().hex(), c.subject(), c.fingerprint_sha256(), c.not_after(),
                     c.pem()});
  }
  HERALD_TRY(auto a, alerts::Alerter::create(cfg, dir_.root(), std::move(w)));
  a->start();
  return std::shared_ptr<alerts::Alerter>(std::move(a));
}

std::shared_ptr<alerts::Alerter> App::alerter() const {
  std::lock_guard lock(alerter_mu_);
  return alerter_;
}

Status App::reload() {
  HERALD_TRY(auto settings, load_settings());
  HERALD_TRY(auto callers, Provisioners::load(dir_, settings.server));
  HERALD_TRY_VOID(configure_acme(settings.server));
  HERALD_TRY(auto new_alerter, make_alerter(settings.server.alerts));
  issuance_->configure(std::move(settings.policy));
  {
    std::lock_guard lock(provisioners_mu_);
    provisioners_ = std::move(callers);
  }
  HERALD_TRY_VOID(publisher_->load_offline_crls());
  {
    std::lock_guard lock(alerter_mu_);
    alerter_.swap(new_alerter);
  }
  // The previous alerter (now in new_alerter) hands its pending retries to
  // the new one, by webhook name; those of removed webhooks become dead
  // letters when it is released.
  if (auto fresh = alerter(); new_alerter && fresh) (void)new_alerter->hand_over(*fresh);
  new_alerter.reset();
  // The trust bundles do not fail the reload: the previous ones stay served.
  if (auto s = refresh_trust_bundles(true); !s) {
    obs::log(obs::LogLevel::kError,
             "cannot rebuild the trust bundles (still serving the previous ones)",
             {{"error", s.error().describe()}});
  }
  return {};
}

void App::on_revocation_change(const Serial& serial) {
  publisher_->changed(serial);
  feed_wake();
}

void App::tick() {
  const TimePoint now = clock_.now();
  // 1. Follow revocations from any process sharing the inventory.
  if (auto events = inventory_->revocations_since(last_revocation_id_, 1000); events) {
    auto alerts = alerter();
    for (const auto& e : *events) {
      publisher_->changed(e.serial);
      if (alerts) alerts->revoked(e.serial);  // partner notices
      if (e.serial == issuing_->serial() || e.serial == intermediate_->serial()) {
        if (auto s = load_ca_statuses(); !s)
          obs::log(obs::LogLevel::kError, "cannot read the CAs' status",
                   {{"error", s.error().describe()}});
      }
      last_revocation_id_ = e.id;
    }
  }
  // 2. The CRL and OCSP answers (this node signs the CRL while it holds the lease).
  publisher_->tick(now, hold_singleton(now));
  // Trust bundles: rebuilt when the root or the partner manifest changed
  // (two stat() calls; a failed rebuild is reported once per change).
  if (auto s = refresh_trust_bundles(false); !s) {
    obs::log(obs::LogLevel::kError,
             "cannot rebuild the trust bundles (still serving the previous ones)",
             {{"error", s.error().describe()}});
  }
  // ACME: expired orders and authorizations (every few seconds, in batches).
  if (singleton_) acme_->housekeeping();
  // Retention: records long expired, a batch at a time (retention.cc).
  if (singleton_) run_retention(now);
  // Expiry alerts: evaluated on the lease holder, every [alerts] interval
  // (on the alerter's thread: this never waits).
  if (auto alerts = alerter()) alerts->tick(singleton_);
  // 4. The server's own certificates, at two thirds of their lifetime.
  auto due = [&](TimePoint nb, TimePoint na) { return now >= nb + (na - nb) * 2 / 3; };
  if (due(tls_not_before_, tls_not_after_)) {
    if (auto s = issue_tls_certificate(); !s) {
      obs::log(obs::LogLevel::kError, "TLS certificate renewal failed",
               {{"error", s.error().describe()}});
    } else {
      obs::log(obs::LogLevel::kInfo, "TLS certificate renewed",
               {{"not_after", format_time(tls_not_after_)}});
    }
  }
  auto signer = publisher_->ocsp_signer();
  if (due(signer->not_before, signer->not_after)) {
    if (auto s = issue_ocsp_signer(); !s) {
      obs::log(obs::LogLevel::kError, "OCSP signer renewal failed",
               {{"error", s.error().describe()}});
    } else {
      obs::log(obs::LogLevel::kInfo, "OCSP signer renewed",
               {{"not_after", format_time(publisher_->ocsp_signer()->not_after)}});
    }
  }
}

// ---------------------------------------------------------------- routing

namespace {

// The route class of a path, as herald_http_requests labels it, for the log.
const char* route_class(const std::string& p) {
  if (p.starts_with("/acme/")) return "acme";
  if (p == "/ocsp" || p.starts_with("/ocsp/")) return "ocsp";
  if (p.starts_with("/crl/")) return "crl";
  if (p.starts_with("/ca/") || p.starts_with("/v1/ca/")) return "ca";
  if (p == "/v1/trust/bundle" || p == "/v1/spiffe/bundle") return "trust";
  if (p == "/healthz" || p == "/readyz") return "health";
  if (p == "/metrics") return "metrics";
  if (p == "/ui" || p.starts_with("/ui/") || p == "/v1/overview" || p == "/v1/expiry-timeline" ||
      p == "/v1/hierarchy" || p == "/v1/session" || p == "/v1/alerts/recent")
    return "ui";
  if (p.starts_with("/v1/")) return "api";
  return "other";
}

// One log line per request (docs/operations.md, "Logs"), written when the
// handler returns, and its id in X-Request-Id: the client's own if it is
// 1-64 characters of [A-Za-z0-9._-], else 16 random hex characters. OCSP,
// CRL, health and metrics requests are high-volume: debug level unless they
// fail with a 5xx. Never a body, a header value or a credential: only what
// the handlers note (obs::note_request: provisioner, account, serial).
class RequestLine {
 public:
  RequestLine(const net::Request& req, net::Response& res)
      : req_(req), res_(res), start_(std::chrono::steady_clock::now()) {
    // net::Server chose it (and puts it on a deferred answer too); a request
    // built elsewhere (tests) gets one here by the same rule.
    const auto given = req.header("x-request-id");
    id_ = !req.request_id.empty()        ? req.request_id
          : obs::valid_request_id(given) ? std::string(given)
                                         : obs::new_request_id();
  }
  ~RequestLine() {
    res_.set_header("X-Request-Id", id_);
    const char* route = route_class(req_.path);
    const std::string_view r(route);
    const bool quiet = r == "ocsp" || r == "crl" || r == "health" || r == "metrics";
    const bool deferred = res_.deferred() != nullptr;
    obs::LogLevel level = quiet ? obs::LogLevel::kDebug : obs::LogLevel::kInfo;
    if (!deferred && res_.status >= 500) level = obs::LogLevel::kWarn;
    if (!obs::log_enabled(level)) return;
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_)
            .count();
    std::vector<obs::LogField> f{{"request_id", id_},
                                 {"method", req_.method},
                                 {"route", route},
                                 {"path", req_.path}};
    // A deferred answer (a long poll) is sent later: its status is not known here.
    if (deferred) {
      f.emplace_back("deferred", true);
    } else {
      f.emplace_back("status", res_.status);
    }
    f.emplace_back("duration_ms", ms);
    f.emplace_back("remote", req_.remote_address);
    for (const auto& [k, v] : notes_.notes()) {
      if (!v.empty()) f.emplace_back(k, v);
    }
    obs::log(level, "request", f);
  }
  RequestLine(const RequestLine&) = delete;
  RequestLine& operator=(const RequestLine&) = delete;

 private:
  const net::Request& req_;
  net::Response& res_;
  std::chrono::steady_clock::time_point start_;
  std::string id_;
  obs::RequestLog notes_;  // the handlers' notes, on this thread
};

}  // namespace

void App::handle_https(const net::Request& req, net::Response& res) {
  RequestLine line(req, res);
  route_https(req, res);
}

void App::handle_http(const net::Request& req, net::Response& res) {
  RequestLine line(req, res);
  route_http(req, res);
}

void App::route_https(const net::Request& req, net::Response& res) {
  if (acme_->handle(req, res)) {
    http_requests_->with({"acme", std::to_string(res.status)}).inc();
    return;
  }
  if (route_ui(req, res)) return;
  if (route_api(req, res)) return;
  if (route_public(req, res)) return;
  problem(res, ErrorCode::kNotFound, "no such endpoint: " + req.method + " " + req.path);
}

void App::route_http(const net::Request& req, net::Response& res) {
  if (route_public(req, res)) return;
  if (req.path.starts_with("/v1/")) {
    problem(res, ErrorCode::kForbidden,
            "the API is served over HTTPS only (port " +
                std::to_string(server_config_.listen.port) + ")");
    return;
  }
  problem(res, ErrorCode::kNotFound, "no such endpoint: " + req.method + " " + req.path);
}

bool App::route_public(const net::Request& req, net::Response& res) {
  const std::string& p = req.path;
  const bool get = req.method == "GET" || req.method == "HEAD";
  auto done = [&](const char* route) {
    http_requests_->with({route, std::to_string(res.status)}).inc();
    return true;
  };
  if (p == "/ocsp" || p.starts_with("/ocsp/")) {
    ocsp(req, res);
    return done("ocsp");
  }
  if (get && p.starts_with("/crl/") && p.ends_with(".crl")) {
    get_crl(req, res, std::string_view(p).substr(5, p.size() - 9));
    return done("crl");
  }
  if (get && p.starts_with("/ca/") && p.ends_with(".crt")) {
    get_ca_cert(res, std::string_view(p).substr(4, p.size() - 8));
    return done("ca");
  }
  if (get && p == "/v1/ca/chain") {
    get_chain(res);
    return done("ca");
  }
  if (get && p == "/v1/ca/trust-package") {
    get_trust_package(res);
    return done("ca");
  }
  if (get && p == "/v1/trust/bundle") {
    get_trust_bundle(req, res);
    return done("trust");
  }
  if (get && p == "/v1/spiffe/bundle") {
    get_spiffe_bundle(req, res);
    return done("trust");
  }
  if (get && p == "/healthz") {
    healthz(res);
    return true;
  }
  if (get && p == "/readyz") {
    readyz(res);
    return true;
  }
  if (get && p == "/metrics") {
    metrics(res);
    return true;
  }
  return false;
}

bool App::route_api(const net::Request& req, net::Response& res) {
  const std::string& p = req.path;
  if (!p.starts_with("/v1/") || p.starts_with("/v1/ca/")) return false;
  if (p == "/v1/revocations") {  // counted by result in herald_feed_responses
    api_revocations(req, res);
    return true;
  }
  if (p == "/v1/sign" && req.method == "POST") {
    api_sign(req, res);
  } else if (p == "/v1/renew" && req.method == "POST") {
    api_renew(req, res);
  } else if (p == "/v1/revoke" && req.method == "POST") {
    api_revoke(req, res);
  } else if (p == "/v1/certs" && req.method == "GET") {
    api_list(req, res);
  } else if (p.starts_with("/v1/certs/") && req.method == "GET") {
    api_get(req, res, std::string_view(p).substr(10));
  } else if (p == "/v1/sign" || p == "/v1/renew" || p == "/v1/revoke" || p == "/v1/certs" ||
             p.starts_with("/v1/certs/")) {
    problem(res, ErrorCode::kInvalidArgument, "method " + req.method + " not allowed on " + p, 405);
  } else {
    return false;
  }
  if (res.status >= 400) {
    std::string code = "unknown";
    if (res.body.find("urn:herald:problem:") != std::string::npos) {
      auto start = res.body.find("urn:herald:problem:") + 19;
      code = res.body.substr(start, res.body.find('"', start) - start);
    }
    api_errors_->with({code}).inc();
  }
  http_requests_->with({"api", std::to_string(res.status)}).inc();
  return true;
}

}  // namespace herald::server
