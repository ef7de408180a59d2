#pragma once
// The renewal agent: for each managed certificate, decide whether it is due
// (schedule.h), obtain a new one for a new local key (client.h), install it
// crash-safely (files.h) and run the reload action (reload.h); keep a trust
// bundle file current. One pass at a time; the caller sleeps in between.

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "agent/client.h"
#include "agent/files.h"
#include "agent/reload.h"
#include "agent/schedule.h"
#include "agent/source.h"
#include "base/clock.h"
#include "feed/follower.h"
#include "keys/key_type.h"
#include "verify/verify.h"

namespace herald::obs {
class Registry;
class Counter;
class Gauge;
template <typename Series>
class Family;
}  // namespace herald::obs

namespace herald::agent {

struct CertConfig {
  Paths paths;
  Identity id;
  keys::KeyType key_type = keys::KeyType::kEcP256;
  RenewalRule rule;
  std::optional<std::string> reload;  // shell command
  std::chrono::milliseconds reload_timeout{30000};
  // Or a signal to the process in a PID file (reload.h signal_pid_file).
  std::optional<int> reload_signal;
  std::optional<std::string> reload_pid_file;
  // The PKCS#12 file's password (paths.pkcs12), read at each write.
  std::optional<std::filesystem::path> pkcs12_password_file;
  [[nodiscard]] bool has_reload() const { return reload.has_value() || reload_pid_file.has_value(); }
  std::chrono::milliseconds write_step_delay{0};  // tests only (files.h install())
};

// Another trust domain's SPIFFE bundle endpoint, kept as a PEM file of its
// X.509 authorities (federation: this workload then trusts that domain's
// SVIDs). Polled at the bundle's spiffe_refresh_hint (clamped to 30 s..1 d),
// or `interval` when set.
struct FederatedBundle {
  std::string url;        // https://.../v1/spiffe/bundle (or any SPIFFE bundle endpoint)
  std::string trust_pem;  // anchors for that endpoint's TLS certificate
  std::filesystem::path file;
  std::optional<std::chrono::seconds> interval;
};

struct AgentConfig {
  ServerRef server;  // herald serve: mTLS renewal, CA chain, trust bundle (empty url with ACME)
  // How to obtain a certificate when a renewal over mutual TLS is not
  // possible or not wanted (source.h); null: renew over mTLS only.
  std::shared_ptr<Source> source;
  BackoffRule backoff;
  std::optional<std::filesystem::path> trust_bundle;
  std::chrono::seconds trust_bundle_interval{600};
  std::vector<FederatedBundle> spiffe_bundles;
  std::vector<CertConfig> certs;
  // How often to ask the certificate's OCSP responder whether it was
  // revoked (a revoked certificate is replaced at once); 0: never.
  std::chrono::seconds revocation_check{300};
  // Follow the CA's revocation feed (feed/follower.h) in daemon mode;
  // OCSP polling then only runs while the feed is not followed.
  bool revocation_feed = true;
  std::optional<std::string> metrics_listen;  // HOST:PORT for GET /metrics (served by the CLI)
};

// One line per event, without a trailing newline. Never a key or a token.
using LogFn = std::function<void(const std::string&)>;

struct PassResult {
  TimePoint next;    // when the next pass is useful
  int renewed = 0;   // certificates replaced in this pass
  int failures = 0;  // renewals, reloads or bundle refreshes that failed
  std::optional<Error> first_error;
};

class Agent {
 public:
  Agent(AgentConfig cfg, const Clock& clock, LogFn log);

  // Before the first pass: finish or discard an interrupted write of each
  // certificate (files.h) and check that every directory is writable.
  [[nodiscard]] Status start();

  // Renews what is due (or whose files are missing, unreadable, mismatched
  // or expired) unless a backoff is in force, retries failed reloads, and
  // refreshes the trust bundle when it is time.
  PassResult pass();

  // Daemon mode: follow the CA's revocation feed on a thread of its own
  // (when configured and there is a server); `wake` is called (on that
  // thread) when a managed certificate was revoked, so the caller runs a
  // pass now. Stopped by stop_feed() or the destructor.
  void start_feed(std::function<void()> wake);
  void stop_feed();
  [[nodiscard]] bool feed_connected() const;
  ~Agent();

  // Counts into `r` (which must outlive the agent; call before start()):
  // herald_agent_renewals_total{cert,result}, herald_agent_reloads_total{cert,result},
  // herald_agent_last_success_timestamp_seconds{cert},
  // herald_agent_next_renewal_timestamp_seconds{cert},
  // herald_agent_trust_bundle_refreshes_total{result}, and at scrape time
  // herald_agent_certificate_expiry_seconds{cert} (negative once expired;
  // absent while no certificate is on disk). `cert` is the certificate path.
  void attach_metrics(obs::Registry& r);

 private:
  struct Managed {
    CertConfig cfg;
    CurrentCache on_disk;  // the files as last read (read again when they change)
    int failures = 0;
    TimePoint retry_at{};
    bool reload_pending = false;
    int reload_failures = 0;
    TimePoint reload_retry_at{};
    std::string jitter_serial;
    double jitter_draw = 0;
    // A certificate whose names differ from the configuration is replaced
    // with the token (a renewal keeps the old names); if the CA issues the
    // same names again, they are accepted (by CN and SANs), not looped on.
    std::optional<std::string> identity_accepted;
    TimePoint ocsp_next{};
    std::string window_logged;  // the last ARI window logged, to log each once
  };
  // When the current certificate is due: inside the CA's ARI window if it
  // offers one, else at the configured share of its lifetime.
  TimePoint due_time(Managed& m, const Current& cur, TimePoint now);
  // Whether the current certificate is revoked per OCSP (errors logged: false).
  bool revoked_per_ocsp(Managed& m, const Current& cur, TimePoint now);
  verify::Verifier& verifier_for_ocsp();
  [[nodiscard]] std::optional<std::string> identity_change(const Managed& m,
                                                           const Current& cur) const;
  void pass_one(Managed& m, TimePoint now, PassResult& out);
  Result<Issued> obtain(const Managed& m, const Current& cur, EVP_PKEY& key,
                        const std::optional<std::string>& changed);
  bool do_reload(Managed& m, TimePoint now, PassResult& out);
  void refresh_bundle(TimePoint now, PassResult& out);
  struct Federation {
    std::string etag;
    TimePoint next{};
    int failures = 0;
  };
  std::vector<Federation> federation_;  // one per cfg_.spiffe_bundles
  void refresh_spiffe_bundle(size_t i, TimePoint now, PassResult& out);
  void log(const std::string& who, const std::string& msg);

  AgentConfig cfg_;
  const Clock& clock_;
  LogFn log_;
  std::vector<Managed> managed_;
  std::mt19937_64 rng_;
  obs::Family<obs::Counter>* renewals_ = nullptr;
  obs::Family<obs::Counter>* reloads_ = nullptr;
  obs::Family<obs::Counter>* bundles_ = nullptr;
  obs::Family<obs::Gauge>* last_success_ = nullptr;
  obs::Family<obs::Gauge>* next_renewal_ = nullptr;
  std::mutex expiry_mu_;
  std::map<std::string, TimePoint> not_after_;  // by certificate path, for the scrape
  void count(obs::Family<obs::Counter>* f, const std::string& cert, bool ok);
  void record_not_after(const std::string& cert, std::optional<TimePoint> t);
  std::string bundle_etag_;
  std::string ca_chain_pem_;  // GET /v1/ca/chain, for OCSP requests
  std::unique_ptr<verify::Verifier> ocsp_verifier_;  // the trust anchors, for judging OCSP answers
  // Shared with the feed's thread, under feed_mu_.
  mutable std::mutex feed_mu_;
  std::set<std::string> revoked_serials_;  // reported by the feed, not yet replaced
  std::set<std::string> managed_serials_;  // on disk now
  std::optional<std::pair<std::string, std::string>> feed_creds_;  // cert, key
  std::function<void()> wake_;
  std::unique_ptr<feed::Follower> watch_;
  TimePoint bundle_at_{};
  int bundle_failures_ = 0;
};

}  // namespace herald::agent
