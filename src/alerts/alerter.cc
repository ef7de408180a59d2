#include "alerts/alerter.h"

#include <openssl/crypto.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "alerts/rules.h"
#include "base/fs.h"
#include "net/client.h"
#include "obs/log.h"

namespace herald::alerts {

using nlohmann::json;
using SteadyTime = std::chrono::steady_clock::time_point;

namespace {

int64_t unix_secs(TimePoint t) { return t.time_since_epoch().count(); }

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool is_own(const store::CertRecord& r) {
  auto it = r.owner.find("service");
  return r.profile == "ocsp-signer" || (it != r.owner.end() && it->second == "herald-serve");
}

bool is_ca_profile(const std::string& profile) {
  return profile.size() > 3 && profile.compare(profile.size() - 3, 3, "-ca") == 0;
}

json owner_json(const store::Labels& owner) {
  json o = json::object();
  for (const auto& [k, v] : owner) o[k] = v;
  return o;
}

std::string owner_text(const store::Labels& owner) {
  std::string s;
  for (const auto& [k, v] : owner) s += (s.empty() ? "" : ",") + k + "=" + v;
  return s.empty() ? "-" : s;
}

}  // namespace

Transport http_transport() {
  return [](const std::string& url, const std::string& ca_pem, const Headers& headers,
            const std::string& body, std::chrono::seconds timeout) -> Result<int> {
    if (starts_with(url, "https://")) {
      net::ClientTls tls;
      tls.ca_pem = ca_pem;
      tls.empty_ca = ca_pem.empty() ? net::ClientTls::EmptyCa::kSystemDefault
                                    : net::ClientTls::EmptyCa::kRefuse;
      HERALD_TRY(auto res, net::https_request("POST", url, headers, body, tls, timeout));
      return res.status;
    }
    HERALD_TRY(auto res, net::http_request("POST", url, headers, body, timeout, 64 * 1024));
    return res.status;
  };
}

Result<std::unique_ptr<Alerter>> Alerter::create(AlertsConfig cfg, const std::filesystem::path& dir,
                                                 Wiring wiring) {
  std::vector<Webhook> hooks;
  for (const auto& h : cfg.webhooks) {
    std::filesystem::path p(h.secret_file);
    if (p.is_relative()) p = dir / p;
    auto secret = fs::read_file(p, 4096);
    if (!secret)
      return make_error(ErrorCode::kMalformedInput,
                        "webhook '" + h.name + "': cannot read its secret_file " + p.string());
    while (!secret->empty() && (secret->back() == '\n' || secret->back() == '\r'))
      secret->pop_back();
    if (secret->empty())
      return make_error(ErrorCode::kMalformedInput,
                        "webhook '" + h.name + "': its secret_file " + p.string() + " is empty");
    std::string ca_pem;
    if (!h.ca_file.empty()) {
      std::filesystem::path cp(h.ca_file);
      if (cp.is_relative()) cp = dir / cp;
      auto pem = fs::read_file(cp, 1 << 20);
      if (!pem)
        return make_error(ErrorCode::kMalformedInput,
                          "webhook '" + h.name + "': cannot read its ca_file " + cp.string() +
                              ": " + pem.error().message);
      if (pem->find("-----BEGIN CERTIFICATE-----") == std::string::npos)
        return make_error(ErrorCode::kMalformedInput, "webhook '" + h.name + "': its ca_file " +
                                                          cp.string() +
                                                          " holds no PEM certificate");
      ca_pem = std::move(*pem);
    }
    hooks.push_back({h, std::move(*secret), std::move(ca_pem)});
  }
  if (!wiring.transport) wiring.transport = http_transport();
  return std::unique_ptr<Alerter>(new Alerter(std::move(cfg), std::move(hooks), std::move(wiring)));
}

Alerter::Alerter(AlertsConfig cfg, std::vector<Webhook> hooks, Wiring wiring)
    : cfg_(std::move(cfg)), hooks_(std::move(hooks)), w_(std::move(wiring)) {}

Alerter::~Alerter() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  // What never went out is not lost silently.
  const TimePoint now = w_.clock.now();
  for (auto& d : queue_) {
    if (d.last_error.empty()) d.last_error = "herald serve stopped before delivery";
    finish(d, "dead_letter", now);
  }
  for (auto& h : hooks_) OPENSSL_cleanse(h.secret.data(), h.secret.size());
}

void Alerter::start() {
  if (!worker_.joinable()) worker_ = std::thread([this] { run(); });
}

size_t Alerter::hand_over(Alerter& next) {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();  // no delivery of ours is in flight now
  const TimePoint now = w_.clock.now();
  std::deque<Delivery> kept;
  size_t moved = 0;
  std::lock_guard lock(mu_);
  for (auto& d : queue_) {
    const WebhookConfig& from = hooks_[d.webhook].config;
    std::optional<size_t> to;
    for (size_t i = 0; i < next.hooks_.size(); ++i) {
      const WebhookConfig& h = next.hooks_[i].config;
      if (h.name == from.name && h.partner == from.partner) to = i;
    }
    if (!to) {
      d.last_error = "webhook '" + from.name + "' was removed from the configuration (reload)" +
                     (d.last_error.empty() ? "" : "; last error: " + d.last_error);
      kept.push_back(std::move(d));
      continue;
    }
    std::lock_guard next_lock(next.mu_);
    if (next.queue_.size() >= next.cfg_.max_pending) {
      ++next.dropped_;
      (void)w_.store.record_alert({0, d.key, d.kind, d.serial, now, from.name, "dropped"});
      continue;
    }
    d.webhook = *to;
    next.queue_.push_back(std::move(d));
    ++moved;
  }
  queue_.swap(kept);
  if (moved > 0) {
    std::lock_guard next_lock(next.mu_);
    next.handed_over_ = true;
    next.cv_.notify_all();
  }
  return moved;
}

void Alerter::tick(bool singleton) {
  if (!singleton) return;
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  if (last_evaluation_ && now - *last_evaluation_ < cfg_.interval) return;
  last_evaluation_ = now;
  evaluate_requested_ = true;
  cv_.notify_all();
}

void Alerter::revoked(const Serial& serial) {
  std::lock_guard lock(mu_);
  if (revocations_.size() >= kMaxRevocations) {
    ++dropped_;
    return;
  }
  revocations_.push_back(serial);
  cv_.notify_all();
}

size_t Alerter::pending() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void Alerter::run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    std::optional<SteadyTime> next;
    for (const auto& d : queue_) {
      if (!next || d.next_at < *next) next = d.next_at;
    }
    auto ready = [&] {
      return stop_ || evaluate_requested_ || !revocations_.empty() || handed_over_;
    };
    if (next) {
      cv_.wait_until(lock, *next, ready);
    } else {
      cv_.wait(lock, ready);
    }
    if (stop_) break;
    const bool eval = evaluate_requested_;
    evaluate_requested_ = false;
    handed_over_ = false;
    std::deque<Serial> revoked;
    revoked.swap(revocations_);
    lock.unlock();
    for (const auto& s : revoked) handle_revoked(s, w_.clock.now());
    if (eval) {
      if (auto s = evaluate(w_.clock.now()); !s)
        obs::log(obs::LogLevel::kError, "alerts: evaluation failed",
                 {{"error", s.error().describe()}});
    }
    deliver_due(std::chrono::steady_clock::now());
    lock.lock();
  }
}

std::optional<std::string> Alerter::claim(std::string_view kind, std::string_view id,
                                          const std::vector<Crossed>& crossed, TimePoint now) {
  // Only the tightest threshold crossed is claimed and sent: thresholds only
  // tighten with time, so a looser one left unclaimed is never due again
  // (a certificate first seen with 5 days left gets the 7-day alert, not
  // three alerts at once). One claim per certificate per restart, then none.
  if (crossed.empty()) return std::nullopt;
  const Crossed& tightest = crossed.back();
  std::string key = alert_key(kind, id, tightest.label);
  if (known_.count(key)) return std::nullopt;
  auto first = w_.store.claim_alert(key, now);
  if (!first) {
    obs::log(obs::LogLevel::kError, "alerts: cannot claim an alert",
             {{"key", key}, {"error", first.error().describe()}});
    return std::nullopt;  // tried again at the next evaluation
  }
  if (known_.size() >= kMaxKnown) known_.clear();
  known_.insert(std::move(key));
  if (!*first) return std::nullopt;
  return tightest.label;
}

Status Alerter::evaluate(TimePoint now) {
  ++evaluations_;
  HERALD_TRY(auto silences, w_.store.active_silences(now));
  std::chrono::seconds window{0};
  for (int d : cfg_.days) window = std::max(window, std::chrono::seconds(int64_t{d} * 86400));
  if (cfg_.lifetime_percent > 0) window = std::max(window, cfg_.lifetime_window);

  // Issued certificates (and the CA certificates, which the inventory holds too).
  store::ListFilter f;
  f.now = now;
  f.expiring_before = now + window;
  f.status = "valid";
  const size_t page_size = std::max<size_t>(w_.page, 1);
  f.limit = page_size;
  for (;;) {
    // Keyset paging (not_after, serial): each page costs the same however deep.
    HERALD_TRY(auto page, w_.store.list(f));
    if (!page.empty()) f.after = std::make_pair(page.back().not_after, page.back().serial);
    for (const auto& r : page) {
      if (is_own(r)) continue;
      auto crossed = crossed_thresholds(cfg_, r.not_before, r.not_after, now);
      if (crossed.empty()) continue;
      const std::string serial = r.serial.hex();
      if (silenced_by(silences, serial, r.owner)) continue;
      const std::string kind = is_ca_profile(r.profile) ? "ca_expiry" : "expiry";
      auto label = claim(kind, serial, crossed, now);
      if (!label) continue;
      const std::string key = alert_key(kind, serial, *label);
      json body = {{"type", "herald.alert"},
                   {"kind", kind},
                   {"key", key},
                   {"threshold", *label},
                   {"serial", serial},
                   {"subject", r.subject},
                   {"common_name", r.common_name},
                   {"profile", r.profile},
                   {"owner", owner_json(r.owner)},
                   {"not_before", format_time(r.not_before)},
                   {"not_after", format_time(r.not_after)},
                   {"remaining_seconds", (r.not_after - now).count()},
                   {"at", format_time(now)}};
      json sans = json::array();
      for (const auto& s : r.sans) sans.push_back(s.to_string());
      body["sans"] = std::move(sans);
      dispatch(key, kind, serial, body.dump(),
               kind + " serial=" + serial + " subject=\"" + r.subject +
                   "\" not_after=" + format_time(r.not_after) + " threshold=" + *label +
                   " owner=" + owner_text(r.owner),
               "", now);
    }
    if (page.size() < page_size) break;
  }

  // The CRLs this node serves: the issuing CRL is re-signed well before its
  // nextUpdate, so only the share-of-lifetime threshold applies to it (its
  // crossing means the signer is failing); offline CRLs get the days too.
  if (w_.crls) {
    for (const auto& crl : w_.crls()) {
      AlertsConfig rules = cfg_;
      if (crl.name == "issuing") rules.days.clear();
      if (rules.lifetime_percent <= 0 && rules.days.empty()) continue;
      auto crossed = crossed_thresholds(rules, crl.this_update, crl.next_update, now);
      if (crossed.empty()) continue;
      const std::string id = crl.name + "@" + std::to_string(unix_secs(crl.next_update));
      auto label = claim("crl_next_update", id, crossed, now);
      if (!label) continue;
      const std::string key = alert_key("crl_next_update", id, *label);
      json body = {{"type", "herald.alert"},
                   {"kind", "crl_next_update"},
                   {"key", key},
                   {"threshold", *label},
                   {"crl", crl.name},
                   {"this_update", format_time(crl.this_update)},
                   {"next_update", format_time(crl.next_update)},
                   {"remaining_seconds", (crl.next_update - now).count()},
                   {"at", format_time(now)}};
      dispatch(key, "crl_next_update", "", body.dump(),
               "crl_next_update crl=" + crl.name + " next_update=" + format_time(crl.next_update) +
                   " threshold=" + *label,
               "", now);
    }
  }

  // Partners: each CA certificate in use, announced once per partner (the
  // first run announces the current ones; a rotated CA is announced anew).
  for (const auto& h : hooks_) {
    if (h.config.partner.empty()) continue;
    for (const auto& ca : w_.cas) {
      std::string key = alert_key("ca_certificate", ca.serial_hex, h.config.partner);
      if (known_.count(key)) continue;
      HERALD_TRY(bool first, w_.store.claim_alert(key, now));
      known_.insert(key);
      if (!first) continue;
      json body = {{"type", "herald.notice"},
                   {"kind", "ca_certificate"},
                   {"key", key},
                   {"partner", h.config.partner},
                   {"level", ca.level},
                   {"serial", ca.serial_hex},
                   {"subject", ca.subject},
                   {"fingerprint_sha256", ca.fingerprint_sha256},
                   {"not_after", format_time(ca.not_after)},
                   {"pem", ca.pem},
                   {"at", format_time(now)}};
      dispatch(key, "ca_certificate", ca.serial_hex, body.dump(),
               "ca_certificate level=" + ca.level + " serial=" + ca.serial_hex +
                   " partner=" + h.config.partner,
               h.config.partner, now);
    }
  }

  // Certificates `herald scan` found deployed that Herald did not issue.
  for (size_t offset = 0;; offset += page_size) {
    HERALD_TRY(auto page, w_.store.discovered_certificates(page_size, offset));
    for (const auto& d : page) {
      if (d.not_after > now + window) continue;
      auto crossed = crossed_thresholds(cfg_, d.not_before, d.not_after, now);
      if (crossed.empty()) continue;
      if (silenced_by(silences, d.serial_hex, {})) continue;
      auto label = claim("deployed_expiry", d.fingerprint_sha256, crossed, now);
      if (!label) continue;
      const std::string key = alert_key("deployed_expiry", d.fingerprint_sha256, *label);
      json sans = json::array();
      for (const auto& s : d.sans) sans.push_back(s);
      json body = {{"type", "herald.alert"},
                   {"kind", "deployed_expiry"},
                   {"key", key},
                   {"threshold", *label},
                   {"serial", d.serial_hex},
                   {"fingerprint_sha256", d.fingerprint_sha256},
                   {"subject", d.subject},
                   {"issuer", d.issuer},
                   {"sans", std::move(sans)},
                   {"not_after", format_time(d.not_after)},
                   {"remaining_seconds", (d.not_after - now).count()},
                   {"at", format_time(now)}};
      dispatch(key, "deployed_expiry", d.serial_hex, body.dump(),
               "deployed_expiry serial=" + d.serial_hex + " subject=\"" + d.subject +
                   "\" not_after=" + format_time(d.not_after) + " threshold=" + *label,
               "", now);
    }
    if (page.size() < page_size) break;
  }
  return {};
}

void Alerter::handle_revoked(const Serial& serial, TimePoint now) {
  bool any = false;
  for (const auto& h : hooks_) any = any || !h.config.partner.empty();
  if (!any) return;
  auto rec = w_.store.find(serial);
  if (!rec || !*rec) return;
  const store::CertRecord& r = **rec;
  if (r.status != store::CertStatus::kRevoked) return;  // a hold released
  auto it = r.owner.find("partner");
  if (it == r.owner.end()) return;
  const std::string partner = it->second;
  bool has_hook = false;
  for (const auto& h : hooks_) has_hook = has_hook || h.config.partner == partner;
  if (!has_hook) return;
  const std::string key = alert_key("revocation", serial.hex(), partner);
  auto first = w_.store.claim_alert(key, now);
  if (!first || !*first) return;
  json body = {{"type", "herald.notice"},
               {"kind", "revocation"},
               {"key", key},
               {"partner", partner},
               {"serial", serial.hex()},
               {"subject", r.subject},
               {"common_name", r.common_name},
               {"fingerprint_sha256", r.fingerprint_sha256},
               {"not_after", format_time(r.not_after)},
               {"revoked_at", r.revoked_at ? format_time(*r.revoked_at) : ""},
               {"reason", r.revocation_reason ? static_cast<int>(*r.revocation_reason) : 0},
               {"at", format_time(now)}};
  dispatch(key, "revocation", serial.hex(), body.dump(),
           "revocation serial=" + serial.hex() + " partner=" + partner, partner, now);
}

void Alerter::dispatch(const std::string& key, const std::string& kind, const std::string& serial,
                       const std::string& body, const std::string& log_line,
                       const std::string& partner, TimePoint now) {
  if (cfg_.log) {
    obs::log(obs::LogLevel::kWarn, "alert " + log_line, {{"kind", kind}, {"serial", serial}});
    (void)w_.store.record_alert({0, key, kind, serial, now, "log", "delivered"});
  }
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < hooks_.size(); ++i) {
    if (hooks_[i].config.partner != partner) continue;
    if (queue_.size() >= cfg_.max_pending) {
      ++dropped_;
      (void)w_.store.record_alert({0, key, kind, serial, now, hooks_[i].config.name, "dropped"});
      continue;
    }
    Delivery d;
    d.webhook = i;
    d.key = key;
    d.kind = kind;
    d.serial = serial;
    d.body = body;
    d.next_at = std::chrono::steady_clock::now();
    queue_.push_back(std::move(d));
  }
  cv_.notify_all();
}

void Alerter::deliver_due(SteadyTime now) {
  for (;;) {
    Delivery d;
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      auto it = queue_.begin();
      while (it != queue_.end() && it->next_at > now) ++it;
      if (it == queue_.end()) return;
      d = std::move(*it);
      queue_.erase(it);
    }
    const Webhook& h = hooks_[d.webhook];
    const std::string timestamp = std::to_string(unix_secs(w_.clock.now()));
    const Headers headers = {{"Content-Type", "application/json"},
                             {"User-Agent", "herald-alerts"},
                             {"X-Herald-Event", d.kind},
                             {"X-Herald-Delivery", d.key},
                             {"X-Herald-Attempt", std::to_string(d.attempt)},
                             {"X-Herald-Timestamp", timestamp},
                             {"X-Herald-Signature", signature_header(h.secret, timestamp, d.body)}};
    auto status = w_.transport(h.config.url, h.ca_pem, headers, d.body, cfg_.timeout);
    if (status && *status >= 200 && *status < 300) {
      finish(d, "delivered", w_.clock.now());
      continue;
    }
    d.last_error = status ? "HTTP " + std::to_string(*status) : status.error().message;
    if (d.attempt >= cfg_.max_attempts) {
      obs::log(obs::LogLevel::kError, "alerts: webhook failed; recorded as a dead letter",
               {{"webhook", h.config.name}, {"attempts", d.attempt}, {"error", d.last_error}});
      finish(d, "dead_letter", w_.clock.now());
      continue;
    }
    ++d.attempt;
    d.next_at = std::chrono::steady_clock::now() + retry_delay(cfg_, d.attempt);
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(d));
  }
}

void Alerter::finish(const Delivery& d, const std::string& result, TimePoint now) {
  const Webhook& h = hooks_[d.webhook];
  if (result == "dead_letter") {
    if (auto s = w_.store.add_dead_letter(
            {0, h.config.name, h.config.url, d.body, d.last_error, d.attempt, now});
        !s)
      obs::log(obs::LogLevel::kError, "alerts: cannot record a dead letter",
               {{"error", s.error().describe()}});
  }
  (void)w_.store.record_alert({0, d.key, d.kind, d.serial, now, h.config.name, result});
}

}  // namespace herald::alerts
