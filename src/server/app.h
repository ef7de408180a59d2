#pragma once
// `herald serve`: the online CA. App assembles the core (issuance pipeline,
// inventory, OCSP, CRL) behind thin HTTP handlers:
//
//   HTTPS (listen):       /v1/sign /v1/renew /v1/revoke /v1/certs[/{serial}]
//                         /v1/revocations (the revocation feed, mTLS)
//                         /v1/ca/chain /v1/ca/trust-package /v1/trust/bundle
//                         /v1/spiffe/bundle, and everything below
//                         /ui/ (the dashboard) /v1/overview /v1/expiry-timeline
//                         /v1/hierarchy /v1/alerts/recent (admins: ui_endpoints.cc)
//   HTTP  (http_listen):  /ocsp /crl/{issuing,intermediate,root}.crl
//                         /ca/{root,intermediate,issuing}.crt /healthz /readyz /metrics
//                         /v1/ca/chain /v1/ca/trust-package /v1/trust/bundle /v1/spiffe/bundle
//
// The online server only ever loads the issuing CA key. Revocations made by
// any process sharing the inventory are followed through its revocation feed
// and reach OCSP answers and the CRL within a second.

#include <atomic>
#include <map>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "acme/service.h"
#include "alerts/alerter.h"
#include "base/clock.h"
#include "ca/authority.h"
#include "ca/ocsp.h"
#include "datadir/data_dir.h"
#include "net/http.h"
#include "net/tls.h"
#include "obs/metrics.h"
#include "server/config.h"
#include "server/feed.h"
#include "server/issuance.h"
#include "server/provisioners.h"
#include "server/revocation_publisher.h"

namespace herald::server {

struct ServeOptions {
  std::optional<std::string> config_path;  // default DIR/herald.toml
  std::optional<std::string> listen;       // overrides [server] listen
  std::optional<std::string> http_listen;  // overrides [server] http_listen
  std::optional<std::string> issuing_passphrase_file;
  // Override [acme] http01_port, tlsalpn01_port, dns_resolver.
  std::optional<uint16_t> acme_http01_port;
  std::optional<uint16_t> acme_tlsalpn01_port;
  std::optional<std::string> acme_dns_resolver;
};

class App {
 public:
  [[nodiscard]] static Result<std::unique_ptr<App>> create(const datadir::DataDir& dir,
                                                           const ServeOptions& options,
                                                           const Clock& clock);
  ~App();

  void handle_https(const net::Request& req, net::Response& res);
  void handle_http(const net::Request& req, net::Response& res);
  // Periodic work (every 200 ms): follow the revocation feed, refresh the
  // CRL and OCSP responses before they go stale, renew the server's own
  // TLS and OCSP-signing certificates. Never throws.
  void tick();
  // The revocation feed's follower (every 100 ms, feed_endpoints.cc): wakes
  // the long polls of GET /v1/revocations when another process sharing the
  // inventory revoked something, and ends the waits that ran out. Cheap when
  // nobody waits (nothing) and otherwise (one indexed query). Never throws.
  void follow_feed();
  // SIGHUP: re-read herald.toml (policy, provisioners) and the offline CRLs.
  [[nodiscard]] Status reload();

  [[nodiscard]] const ServerConfig& server_config() const { return server_config_; }
  [[nodiscard]] std::shared_ptr<net::TlsContextHolder> tls() const { return tls_; }
  [[nodiscard]] net::Limits limits() const;
  // Where the HTTP layer counts too (net::Server::attach_metrics).
  [[nodiscard]] obs::Registry& registry() { return registry_; }

 private:
  App(const datadir::DataDir& dir, const Clock& clock);

  // herald.toml with the command line's overrides: the one reading of the
  // configuration, at start and on SIGHUP.
  struct Settings {
    policy::Config policy;
    ServerConfig server;
  };
  [[nodiscard]] Result<Settings> load_settings() const;
  [[nodiscard]] Status init(const ServeOptions& options);
  [[nodiscard]] std::shared_ptr<const IssuanceService::Snapshot> issuance() const {
    return issuance_->current();
  }
  // reuse: take the kept certificate of an earlier run if still good (start).
  [[nodiscard]] Status issue_tls_certificate(bool reuse = false);
  [[nodiscard]] Status issue_ocsp_signer(bool reuse = false);
  // ACME (acme_wiring.cc): the service's backend, and its configuration from
  // the acme provisioners and [acme].
  [[nodiscard]] acme::Backend acme_backend();
  [[nodiscard]] Status configure_acme(const ServerConfig& cfg);

  // handle_https/handle_http without the request's log line (app.cc).
  void route_https(const net::Request& req, net::Response& res);
  void route_http(const net::Request& req, net::Response& res);
  // Routing. Each returns false if the path is not theirs.
  bool route_public(const net::Request& req, net::Response& res);
  bool route_api(const net::Request& req, net::Response& res);
  // The dashboard (ui_endpoints.cc): /ui/ and its JSON API, for admins.
  bool route_ui(const net::Request& req, net::Response& res);
  struct UiState;
  std::once_flag ui_once_;
  std::shared_ptr<UiState> ui_;

  // Handlers (api.cc, revocation_endpoints.cc, ops.cc).
  void api_sign(const net::Request& req, net::Response& res);
  void api_renew(const net::Request& req, net::Response& res);
  void api_revoke(const net::Request& req, net::Response& res);
  void api_list(const net::Request& req, net::Response& res);
  void api_get(const net::Request& req, net::Response& res, std::string_view serial);
  void get_chain(net::Response& res);
  void get_trust_package(net::Response& res);
  // Trust bundles (trust_endpoints.cc): the PEM of the own root and the
  // partner roots, and the SPIFFE bundle of the own root; built once and
  // rebuilt only when DIR/ca/root.pem or DIR/partners/partners.json changes
  // (checked by tick()) or on reload. `force` rebuilds whatever the files.
  void get_trust_bundle(const net::Request& req, net::Response& res);
  void get_spiffe_bundle(const net::Request& req, net::Response& res);
  [[nodiscard]] Status refresh_trust_bundles(bool force);
  // herald_trust_anchor_not_after_seconds{kind,name}: when each published
  // root expires, from the bundles in memory.
  void register_trust_metrics();
  void get_ca_cert(net::Response& res, std::string_view name);
  void get_crl(const net::Request& req, net::Response& res, std::string_view name);
  void ocsp(const net::Request& req, net::Response& res);
  void healthz(net::Response& res);
  void readyz(net::Response& res);
  void metrics(net::Response& res);

  // A certificate just issued (Authority::after_issue): its OCSP answers.
  void queue_presign(const Serial& serial) { publisher_->issued(serial); }
  // A revocation-state change made here (REST, ACME): OCSP, CRL and the
  // feed's waiters at once (changes by other processes reach the first two
  // through tick() and the feed through follow_feed()).
  void on_revocation_change(const Serial& serial);

  // The revocation feed (feed_endpoints.cc).
  struct FeedPage {
    std::string json;
    const char* result;  // "events" or "empty", for herald_feed_responses
  };
  void init_feed();
  void api_revocations(const net::Request& req, net::Response& res);
  [[nodiscard]] Result<FeedPage> feed_page(int64_t since);
  void answer_feed_waiters(std::vector<FeedWaiters::Waiter> woken);
  void feed_wake();

  // The provisioners now configured (swapped on reload).
  [[nodiscard]] std::shared_ptr<const Provisioners> callers() const;
  [[nodiscard]] Status rate_limit(const net::Request& req);
  // The verified client certificate's inventory record (mTLS), or an error.
  [[nodiscard]] Result<store::CertRecord> client_certificate(const net::Request& req);

  datadir::DataDir dir_;
  const Clock& clock_;
  ServerConfig server_config_;
  std::unique_ptr<store::Store> inventory_;
  std::unique_ptr<acme::Service> acme_;
  ServeOptions options_;
  std::unique_ptr<keys::KeySigner> issuing_signer_;
  std::optional<x509::Certificate> issuing_, intermediate_, root_;
  std::optional<ca::IssuerMatcher> issuer_matcher_;  // OCSP CertIDs naming the issuing CA
  std::unique_ptr<IssuanceService> issuance_;
  mutable std::mutex provisioners_mu_;
  std::shared_ptr<const Provisioners> provisioners_;  // swapped on reload

  std::shared_ptr<net::TlsContextHolder> tls_;
  TimePoint tls_not_before_, tls_not_after_;

  std::unique_ptr<RevocationPublisher> publisher_;

  struct TrustBundles {
    std::string stamp;  // what the files looked like when built
    std::string pem, pem_etag;
    std::string spiffe, spiffe_etag;
    struct Anchor {
      std::string kind;  // "own" | "partner"
      std::string name;  // the root's subject for own roots, the partner's name
      TimePoint not_after;
    };
    std::vector<Anchor> anchors;
  };
  static constexpr std::chrono::seconds kTrustBundleMaxAge{300};
  std::mutex trust_mu_;
  std::shared_ptr<const TrustBundles> trust_bundles_;
  std::string trust_failed_stamp_;  // under trust_mu_: the files of the last failed rebuild
  std::mutex trust_package_mu_;  // GET /v1/ca/trust-package, rebuilt at most once a second
  std::shared_ptr<const std::string> trust_package_;
  std::chrono::steady_clock::time_point trust_package_at_{};

  // The issuing and intermediate CAs' revocation status, read at start and
  // again when a revocation event names one of them (tick): issuance checks
  // these instead of reading the store twice per certificate.
  std::atomic<bool> issuing_revoked_{false}, intermediate_revoked_{false};
  [[nodiscard]] Status load_ca_statuses();
  [[nodiscard]] ca::Authority::CaStatusSource ca_status_source();
  // Several nodes on one store: the work one node at a time does (signing the
  // CRL every node serves, purging expired ACME orders) runs on the holder
  // of the store's "singleton" lease; the others serve the CRL it published.
  // Alone on a store (SQLite), a node always holds it.
  static constexpr std::chrono::seconds kLeaseTtl{10};
  std::string node_id_;
  std::atomic<bool> singleton_{true};
  TimePoint lease_checked_{};
  // The server's own certificates survive restarts (DIR/serve/); keys are
  // encrypted with the issuing CA's passphrase.
  std::string own_key_passphrase_;
  struct OwnCert {
    x509::Certificate cert;
    ossl::EvpPkeyPtr key;
  };
  // DIR/serve/NAME.pem and NAME.key.pem if they are still worth using:
  // signed by the issuing CA, recorded valid in the inventory, and before two
  // thirds of their lifetime; else nullopt (a problem is logged).
  std::optional<OwnCert> reusable_own(const std::string& name);
  [[nodiscard]] Status keep_own(const std::string& name, const std::string& cert_pem,
                                EVP_PKEY& key);
  // Takes or renews the lease (every 2 s at most); false if another node holds it.
  bool hold_singleton(TimePoint now);
  int64_t last_revocation_id_ = 0;
  // Retention ([server] retention; retention.cc): one batch on the lease
  // holder, every few seconds at most; when the next may run.
  void run_retention(TimePoint now);
  TimePoint retention_next_{};

  std::mutex rate_mu_;
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point at;
  };
  std::unordered_map<std::string, Bucket> buckets_;

  obs::Registry registry_;
  obs::Family<obs::Counter>* api_errors_ = nullptr;
  obs::Family<obs::Counter>* ocsp_requests_ = nullptr;
  obs::Family<obs::Histogram>* ocsp_latency_ = nullptr;
  obs::Family<obs::Counter>* revocations_ = nullptr;
  obs::Family<obs::Counter>* http_requests_ = nullptr;
  obs::Family<obs::Counter>* feed_responses_ = nullptr;
  std::unique_ptr<FeedWaiters> feed_waiters_;

  // Expiry alerts, webhooks and partner notices (src/alerts/): built from
  // [alerts] at start and again on reload (nullptr without an [alerts]
  // table); evaluated from tick() on the singleton-lease holder, fed every
  // revocation event; deliveries run on its own thread.
  [[nodiscard]] Result<std::shared_ptr<alerts::Alerter>> make_alerter(
      const alerts::AlertsConfig& cfg);
  [[nodiscard]] std::shared_ptr<alerts::Alerter> alerter() const;
  mutable std::mutex alerter_mu_;
  std::shared_ptr<alerts::Alerter> alerter_;
};

}  // namespace herald::server
