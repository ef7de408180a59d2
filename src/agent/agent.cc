#include "agent/agent.h"

#include <algorithm>

#include "agent/ocsp_check.h"
#include "base/fs.h"
#include "keys/private_key.h"
#include "obs/metrics.h"
#include "ossl/ossl.h"
#include "x509/pkcs12.h"

namespace herald::agent {

using std::chrono::seconds;

namespace {

void note_error(PassResult& out, const Error& e) {
  ++out.failures;
  if (!out.first_error) out.first_error = e;
}

// The PKCS#12 file's content: the new key, the leaf and the chain.
Result<std::string> pkcs12_of(const CertConfig& c, EVP_PKEY& key, const Issued& issued) {
  std::string password;
  if (c.pkcs12_password_file) {
    HERALD_TRY(password, fs::read_passphrase_file(*c.pkcs12_password_file));
  }
  HERALD_TRY(auto leaf, x509::Certificate::from_pem(issued.cert_pem));
  std::vector<x509::Certificate> chain;
  if (!issued.chain_pem.empty()) {
    HERALD_TRY(chain, x509::Certificate::from_pem(issued.chain_pem));
  }
  std::vector<const x509::Certificate*> cas;
  for (const auto& c2 : chain) cas.push_back(&c2);
  return x509::make_pkcs12(key, leaf.front(), cas, password,
                           c.id.cn.empty() ? c.paths.cert.filename().string() : c.id.cn);
}

}  // namespace

Agent::Agent(AgentConfig cfg, const Clock& clock, LogFn log)
    : cfg_(std::move(cfg)), clock_(clock), log_(std::move(log)), rng_(std::random_device{}()) {
  for (auto& c : cfg_.certs) managed_.push_back(Managed{c});
  federation_.resize(cfg_.spiffe_bundles.size());
}

Agent::~Agent() { stop_feed(); }

void Agent::start_feed(std::function<void()> wake) {
  if (!cfg_.revocation_feed || cfg_.server.url.empty() || watch_) return;
  wake_ = std::move(wake);
  feed::Follower::Hooks hooks;
  hooks.credentials = [this]() -> std::optional<feed::Follower::Credentials> {
    std::lock_guard lock(feed_mu_);
    if (!feed_creds_) return std::nullopt;
    return feed::Follower::Credentials{feed_creds_->first, feed_creds_->second};
  };
  hooks.revoked = [this](const std::string& serial) {
    bool ours;
    {
      std::lock_guard lock(feed_mu_);
      ours = managed_serials_.count(serial) > 0;
      if (ours) revoked_serials_.insert(serial);
    }
    if (ours && wake_) wake_();
  };
  hooks.log = [this](const std::string& line) { log("revocation feed", line); };
  watch_ = std::make_unique<feed::Follower>(cfg_.server.url, cfg_.server.trust_pem, std::move(hooks));
  watch_->start();
}

void Agent::stop_feed() {
  if (watch_) watch_->stop();
}

bool Agent::feed_connected() const { return watch_ && watch_->connected(); }

void Agent::attach_metrics(obs::Registry& r) {
  renewals_ = &r.counter("herald_agent_renewals", "Renewal attempts by certificate and result",
                         {"cert", "result"});
  reloads_ = &r.counter("herald_agent_reloads", "Reload commands run, by certificate and result",
                        {"cert", "result"});
  bundles_ =
      &r.counter("herald_agent_trust_bundle_refreshes", "Trust bundle polls by result", {"result"});
  last_success_ = &r.gauge("herald_agent_last_success_timestamp_seconds",
                           "Unix time of the last successful renewal", {"cert"});
  next_renewal_ = &r.gauge("herald_agent_next_renewal_timestamp_seconds",
                           "Unix time of the next planned renewal or retry", {"cert"});
  r.gauge_callback("herald_agent_certificate_expiry_seconds",
                   "Seconds until the certificate on disk expires (negative: expired)", {"cert"},
                   [this] {
                     std::vector<obs::CallbackSample> out;
                     const TimePoint now = clock_.now();
                     std::lock_guard lock(expiry_mu_);
                     for (const auto& [cert, t] : not_after_) {
                       out.push_back({{cert}, static_cast<double>((t - now).count())});
                     }
                     return out;
                   });
}

void Agent::count(obs::Family<obs::Counter>* f, const std::string& cert, bool ok) {
  if (f) f->with({cert, ok ? "success" : "failure"}).inc();
}

void Agent::record_not_after(const std::string& cert, std::optional<TimePoint> t) {
  std::lock_guard lock(expiry_mu_);
  if (t) {
    not_after_[cert] = *t;
  } else {
    not_after_.erase(cert);
  }
}

void Agent::log(const std::string& who, const std::string& msg) {
  log_(format_time(clock_.now()) + " " + who + ": " + msg);
}

Status Agent::start() {
  for (auto& m : managed_) {
    const std::string who = m.cfg.paths.cert.string();
    HERALD_TRY_VOID(check_writable(m.cfg.paths));
    HERALD_TRY(auto r, repair(m.cfg.paths));
    if (r == RepairResult::kRolledForward) {
      log(who, "finished an interrupted write: the new certificate and key are in place");
      m.reload_pending = m.cfg.has_reload();
    } else if (r == RepairResult::kDiscarded) {
      log(who, "discarded an incomplete write: the previous certificate and key are kept");
    }
  }
  if (cfg_.trust_bundle) {
    Paths probe;
    probe.cert = probe.key = *cfg_.trust_bundle;
    HERALD_TRY_VOID(check_writable(probe));
  }
  for (const auto& b : cfg_.spiffe_bundles) {
    Paths probe;
    probe.cert = probe.key = b.file;
    HERALD_TRY_VOID(check_writable(probe));
  }
  return {};
}

PassResult Agent::pass() {
  const TimePoint now = clock_.now();
  PassResult out;
  out.next = now + seconds(3600);
  for (auto& m : managed_) pass_one(m, now, out);
  if (watch_) {
    // What the feed's thread needs: the serials to watch for, and a valid
    // certificate of ours to authenticate with.
    std::set<std::string> serials;
    std::optional<std::pair<std::string, std::string>> creds;
    for (const auto& m : managed_) {
      const Current& c = m.on_disk.current;
      if (c.state != DiskState::kValid) continue;
      serials.insert(c.serial);
      if (!creds) creds.emplace(c.cert_pem, c.key_pem);
    }
    std::lock_guard lock(feed_mu_);
    managed_serials_ = std::move(serials);
    feed_creds_ = std::move(creds);
    std::erase_if(revoked_serials_, [&](const std::string& s) { return !managed_serials_.count(s); });
  }
  if (cfg_.trust_bundle) {
    if (out.renewed > 0 || now >= bundle_at_) refresh_bundle(now, out);
    out.next = std::min(out.next, bundle_at_);
  }
  for (size_t i = 0; i < federation_.size(); ++i) {
    if (now >= federation_[i].next) refresh_spiffe_bundle(i, now, out);
    out.next = std::min(out.next, federation_[i].next);
  }
  return out;
}

std::optional<std::string> Agent::identity_change(const Managed& m, const Current& cur) const {
  if (cur.state != DiskState::kValid) return {};
  std::string have = cur.cn;
  for (const auto& s : cur.sans) have += "|" + s;
  if (m.identity_accepted == have) return {};
  std::vector<std::string> want;
  for (const auto& s : m.cfg.id.sans) want.push_back(s.to_string());
  std::sort(want.begin(), want.end());
  want.erase(std::unique(want.begin(), want.end()), want.end());
  if (want == cur.sans && m.cfg.id.cn == cur.cn) return {};
  auto join = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
    return out;
  };
  return "the certificate has CN '" + cur.cn + "' and SANs [" + join(cur.sans) +
         "], the configuration CN '" + m.cfg.id.cn + "' and SANs [" + join(want) + "]";
}

Result<Issued> Agent::obtain(const Managed& m, const Current& cur, EVP_PKEY& key,
                             const std::optional<std::string>& changed) {
  const std::string who = m.cfg.paths.cert.string();
  HERALD_TRY(auto csr, make_csr(key, m.cfg.id));
  Source* source = cfg_.source.get();
  if (changed) {
    // A renewal would keep the old names: only the source can change them.
    if (!source) {
      return make_error(ErrorCode::kInvalidArgument,
                        "the names changed (" + *changed +
                            "), and a renewal keeps the old ones: a --token-file, --ott-key or "
                            "--acme is needed");
    }
  } else if (cur.state == DiskState::kValid && (!source || source->renews_over_mtls())) {
    auto r = renew_with_cert(cfg_.server, cur.cert_pem, cur.key_pem, csr);
    if (r) return *r;
    if (!source || !r.error().refused) return tl::unexpected(r.error().error);
    log(who, "renewal over mutual TLS failed (" + r.error().error.message + "); trying " +
                 source->describe());
  } else if (!source) {
    return make_error(ErrorCode::kUnauthenticated,
                      "no valid certificate on disk (" + cur.why +
                          ") and no --token-file, --ott-key or --acme to obtain one with");
  }
  auto r = source->obtain(m.cfg.id, key, csr, [&](const std::string& line) { log(who, line); });
  if (!r) return tl::unexpected(r.error().error);
  return *r;
}

TimePoint Agent::due_time(Managed& m, const Current& cur, TimePoint now) {
  if (m.jitter_serial != cur.serial) {
    m.jitter_serial = cur.serial;
    m.jitter_draw = std::uniform_real_distribution<double>(-1.0, 1.0)(rng_);
  }
  if (cfg_.source) {
    if (auto w = cfg_.source->renewal_window(cur.cert_pem, now); w && w->start <= w->end) {
      // RFC 9773 §4.2: a uniformly random time inside the window (the same
      // draw as the jitter, so it stays put between passes).
      const auto span = w->end - w->start;
      const TimePoint at =
          w->start + std::chrono::duration_cast<seconds>(span * ((m.jitter_draw + 1) / 2));
      const std::string text = "the CA suggests renewing " + cur.serial + " between " +
                               format_time(w->start) + " and " + format_time(w->end) +
                               " (ARI); renewing at " + format_time(at) +
                               (w->explanation_url ? " (" + *w->explanation_url + ")" : "");
      if (text != m.window_logged) {
        m.window_logged = text;
        log(m.cfg.paths.cert.string(), text);
      }
      return at;
    }
  }
  return renewal_time(lifetime_of(cur.not_before, cur.not_after, cur.obtained), m.cfg.rule,
                      m.jitter_draw);
}

bool Agent::do_reload(Managed& m, TimePoint now, PassResult& out) {
  const std::string who = m.cfg.paths.cert.string();
  auto r = m.cfg.reload_pid_file ? signal_pid_file(*m.cfg.reload_pid_file, *m.cfg.reload_signal)
                                 : run_reload(*m.cfg.reload, m.cfg.reload_timeout);
  count(reloads_, who, r && r->ok);
  if (r && r->ok) {
    log(who, std::string(m.cfg.reload_pid_file ? "reload: " : "reload command: ") + r->describe());
    m.reload_pending = false;
    m.reload_failures = 0;
    return true;
  }
  m.reload_pending = true;
  ++m.reload_failures;
  m.reload_retry_at = next_retry(cfg_.backoff, m.reload_failures, now, std::nullopt);
  std::string why = r ? r->describe() : r.error().message;
  log(who, std::string(m.cfg.reload_pid_file ? "reload failed: " : "reload command failed: ") +
               why + " (the new files stay in place); next attempt at " +
               format_time(m.reload_retry_at));
  note_error(out, Error{ErrorCode::kIo,
                        std::string(m.cfg.reload_pid_file ? "reload failed: " : "reload command failed: ") + why,
                        {}});
  return false;
}

verify::Verifier& Agent::verifier_for_ocsp() {
  if (!ocsp_verifier_) {
    auto anchors = ossl::pem_blocks(cfg_.server.trust_pem, "CERTIFICATE");
    ocsp_verifier_ = std::make_unique<verify::Verifier>(anchors ? *anchors : std::vector<Bytes>{});
  }
  return *ocsp_verifier_;
}

bool Agent::revoked_per_ocsp(Managed& m, const Current& cur, TimePoint now) {
  const std::string who = m.cfg.paths.cert.string();
  m.ocsp_next = now + cfg_.revocation_check;
  if (ca_chain_pem_.empty() && cfg_.server.url.empty()) {
    // ACME without herald serve: the issuer comes from the chain file.
    auto chain = m.cfg.paths.chain ? fs::read_file(*m.cfg.paths.chain, 1 << 20)
                                   : Result<std::string>(tl::unexpected(Error{
                                         ErrorCode::kNotFound, "no chain file to find the issuer in", {}}));
    if (!chain) {
      log(who, "revocation check skipped: " + chain.error().describe() + "; next at " +
                   format_time(m.ocsp_next));
      return false;
    }
    auto st = ocsp_status(cur.cert_pem, *chain, verifier_for_ocsp(), now);
    if (st && *st == OcspStatus::kRevoked) {
      log(who, "certificate " + cur.serial + " is revoked (OCSP): replacing it now");
      return true;
    }
    if (!st) log(who, "revocation check failed: " + st.error().describe());
    return false;
  }
  if (ca_chain_pem_.empty()) {
    auto chain = fetch_ca_chain(cfg_.server);
    if (!chain) {
      log(who, "revocation check skipped: " + chain.error().describe() + "; next at " +
                   format_time(m.ocsp_next));
      return false;
    }
    ca_chain_pem_ = *chain;
  }
  auto st = ocsp_status(cur.cert_pem, ca_chain_pem_, verifier_for_ocsp(), now);
  if (!st) {
    ca_chain_pem_.clear();  // perhaps a new issuing CA: fetch it again next time
    log(who, "revocation check failed: " + st.error().describe() + "; next at " +
                 format_time(m.ocsp_next));
    return false;
  }
  if (*st == OcspStatus::kRevoked) {
    log(who, "certificate " + cur.serial + " is revoked (OCSP): replacing it now");
    return true;
  }
  return false;
}

void Agent::pass_one(Managed& m, TimePoint now, PassResult& out) {
  const std::string who = m.cfg.paths.cert.string();
  Current cur = read_current_cached(m.cfg.paths, now, m.on_disk);
  record_not_after(who, cur.serial.empty() ? std::nullopt : std::optional(cur.not_after));
  std::optional<TimePoint> due_at;
  if (cur.state == DiskState::kValid) due_at = due_time(m, cur, now);
  const auto changed = identity_change(m, cur);
  bool revoked = false;
  if (cur.state == DiskState::kValid && watch_) {
    std::lock_guard lock(feed_mu_);
    if (revoked_serials_.count(cur.serial)) {
      revoked = true;
      log(who, "certificate " + cur.serial + " is revoked (the CA's revocation feed): replacing it now");
    }
  }
  const bool feed = feed_connected();
  if (!revoked && due_at && now < *due_at && !changed && cfg_.revocation_check.count() > 0 &&
      now >= m.ocsp_next && !feed) {
    revoked = revoked_per_ocsp(m, cur, now);
  }
  const bool due = !due_at || now >= *due_at || changed.has_value() || revoked;
  if (!due) {
    if (m.reload_pending && now >= m.reload_retry_at) do_reload(m, now, out);
    out.next = std::min(out.next, *due_at);
    if (m.reload_pending) out.next = std::min(out.next, m.reload_retry_at);
    m.failures = 0;
    if (cfg_.revocation_check.count() > 0 && !feed) out.next = std::min(out.next, m.ocsp_next);
    if (next_renewal_)
      next_renewal_->with({who}).set(static_cast<double>(due_at->time_since_epoch().count()));
    return;
  }
  if (m.failures > 0 && now < m.retry_at) {  // backing off
    out.next = std::min(out.next, m.retry_at);
    return;
  }
  const std::string before = changed   ? "names changed: " + *changed
                             : revoked ? "certificate " + cur.serial + " revoked"
                             : cur.state == DiskState::kValid ? "certificate " + cur.serial + " due"
                                                              : cur.why;
  auto key = keys::generate_key(m.cfg.key_type);
  Result<Issued> issued = key ? Result<Issued>() : tl::unexpected(key.error());
  std::string key_pem;
  if (key) {
    auto pem = keys::private_key_pem(**key);
    if (!pem) {
      issued = tl::unexpected(pem.error());
    } else {
      key_pem = std::move(*pem);
      issued = obtain(m, cur, **key, changed);
    }
  }
  Status installed;
  if (issued) {
    Material material{issued->cert_pem, issued->chain_pem, key_pem, {}, key->get()};
    if (m.cfg.paths.pkcs12) {
      auto p12 = pkcs12_of(m.cfg, **key, *issued);
      if (p12) {
        material.pkcs12 = std::move(*p12);
      } else {
        installed = tl::unexpected(p12.error());
      }
    }
    if (installed) installed = install(m.cfg.paths, material, m.cfg.write_step_delay);
  }
  if (!issued || !installed) {
    const Error& e = !issued ? issued.error() : installed.error();
    ++m.failures;
    std::optional<TimePoint> valid_until;
    if (cur.state == DiskState::kValid) valid_until = cur.not_after;
    m.retry_at = next_retry(cfg_.backoff, m.failures, now, valid_until);
    out.next = std::min(out.next, m.retry_at);
    note_error(out, e);
    count(renewals_, who, false);
    if (next_renewal_) {
      next_renewal_->with({who}).set(static_cast<double>(m.retry_at.time_since_epoch().count()));
    }
    log(who, "renewal failed (attempt " + std::to_string(m.failures) + ", " + before +
                 "): " + e.describe() + "; " +
                 (valid_until ? "current certificate " + cur.serial + " kept, valid until " +
                                    format_time(*valid_until)
                              : std::string("no valid certificate in place")) +
                 "; next attempt at " + format_time(m.retry_at));
    return;
  }
  m.failures = 0;
  ++out.renewed;
  count(renewals_, who, true);
  if (last_success_)
    last_success_->with({who}).set(static_cast<double>(now.time_since_epoch().count()));
  // Read once now, with its stamp, so the next pass does not parse it again.
  Current now_cur = read_current_cached(m.cfg.paths, now, m.on_disk);
  record_not_after(who, now_cur.serial.empty() ? std::nullopt : std::optional(now_cur.not_after));
  if (changed) {
    if (auto still = identity_change(m, now_cur)) {
      std::string have = now_cur.cn;
      for (const auto& s : now_cur.sans) have += "|" + s;
      m.identity_accepted = have;
      log(who, "the CA issued names that differ from the configuration (" + *still +
                   "); keeping them until the configuration changes");
    }
  }
  TimePoint next = now + seconds(60);
  if (now_cur.state == DiskState::kValid) next = due_time(m, now_cur, now);
  log(who, std::string(changed ? "names changed, obtained anew: " : "") +
               std::string(cur.state == DiskState::kValid ? "renewed " + cur.serial + " -> "
                                                          : "obtained ") +
               issued->serial + " (new key), valid until " + format_time(now_cur.not_after) +
               "; next renewal at " + format_time(next));
  out.next = std::min(out.next, next);
  if (cfg_.revocation_check.count() > 0) {
    m.ocsp_next = now + cfg_.revocation_check;
    out.next = std::min(out.next, m.ocsp_next);
  }
  if (next_renewal_)
    next_renewal_->with({who}).set(static_cast<double>(next.time_since_epoch().count()));
  if (m.cfg.has_reload()) {
    if (!do_reload(m, now, out)) out.next = std::min(out.next, m.reload_retry_at);
  }
}

void Agent::refresh_bundle(TimePoint now, PassResult& out) {
  const std::string who = cfg_.trust_bundle->string();
  auto b = fetch_trust_bundle(cfg_.server, bundle_etag_);
  if (bundles_) bundles_->with({b ? "success" : "failure"}).inc();
  if (!b) {
    ++bundle_failures_;
    bundle_at_ = next_retry(cfg_.backoff, bundle_failures_, now, std::nullopt);
    note_error(out, b.error());
    log(who, "trust bundle refresh failed: " + b.error().describe() + "; next attempt at " +
                 format_time(bundle_at_));
    return;
  }
  bundle_failures_ = 0;
  bundle_at_ = now + cfg_.trust_bundle_interval;
  if (b->not_modified) return;
  auto current = fs::read_file(*cfg_.trust_bundle, 16 << 20);
  bundle_etag_ = b->etag;
  if (current && *current == b->pem) return;
  auto st = write_atomic(*cfg_.trust_bundle, b->pem, fs::kPublic);
  if (!st) {
    bundle_etag_.clear();
    note_error(out, st.error());
    log(who, "cannot write the trust bundle: " + st.error().describe());
    return;
  }
  log(who, "trust bundle updated from " + b->source);
}

void Agent::refresh_spiffe_bundle(size_t i, TimePoint now, PassResult& out) {
  const FederatedBundle& b = cfg_.spiffe_bundles[i];
  Federation& st = federation_[i];
  const std::string who = b.file.string();
  auto f = fetch_spiffe_bundle(b.url, b.trust_pem, st.etag);
  if (bundles_) bundles_->with({f ? "success" : "failure"}).inc();
  if (!f) {
    ++st.failures;
    st.next = next_retry(cfg_.backoff, st.failures, now, std::nullopt);
    note_error(out, f.error());
    log(who, "SPIFFE bundle " + b.url + " not refreshed: " + f.error().describe() +
                 " (the file keeps the last good bundle); next attempt at " + format_time(st.next));
    return;
  }
  st.failures = 0;
  auto every = b.interval.value_or(f->refresh_hint.value_or(seconds(300)));
  every = std::clamp(every, seconds(30), seconds(86400));
  if (b.interval) every = *b.interval;
  st.next = now + every;
  if (f->not_modified) return;
  st.etag = f->etag;
  auto current = fs::read_file(b.file, 16 << 20);
  if (current && *current == f->pem) return;
  if (auto w = write_atomic(b.file, f->pem, fs::kPublic); !w) {
    st.etag.clear();
    note_error(out, w.error());
    log(who, "cannot write the SPIFFE bundle: " + w.error().describe());
    return;
  }
  log(who, "SPIFFE bundle from " + b.url + " written: " + std::to_string(f->authorities) +
               " X.509 authorit" + (f->authorities == 1 ? "y" : "ies") + "; next refresh at " +
               format_time(st.next));
}

}  // namespace herald::agent
