#include "proxy/revocation.h"

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>

#include "fetch/revocation.h"
#include "ossl/ossl.h"
#include "x509/certificate.h"

namespace herald::proxy {

using namespace std::chrono;

namespace {

// nextUpdate of a CRL (DER); nullopt if none or unreadable.
std::optional<TimePoint> crl_next_update(const Bytes& der) {
  const unsigned char* p = der.data();
  ossl::X509CrlPtr crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size())));
  ERR_clear_error();
  if (!crl) return std::nullopt;
  const ASN1_TIME* t = X509_CRL_get0_nextUpdate(crl.get());
  if (!t) return std::nullopt;
  return x509::from_asn1_time(*t);
}

// The earliest nextUpdate of a response's single responses (or thisUpdate +
// 1 h when it names none).
std::optional<TimePoint> ocsp_next_update(const Bytes& der) {
  const unsigned char* p = der.data();
  ossl::OcspResponsePtr resp(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size())));
  ERR_clear_error();
  if (!resp || OCSP_response_status(resp.get()) != OCSP_RESPONSE_STATUS_SUCCESSFUL) return std::nullopt;
  std::unique_ptr<OCSP_BASICRESP, ossl::Deleter<OCSP_BASICRESP_free>> basic(
      OCSP_response_get1_basic(resp.get()));
  if (!basic) return std::nullopt;
  std::optional<TimePoint> out;
  for (int i = 0; i < OCSP_resp_count(basic.get()); ++i) {
    OCSP_SINGLERESP* single = OCSP_resp_get0(basic.get(), i);
    ASN1_GENERALIZEDTIME *this_update = nullptr, *next_update = nullptr;
    int reason = 0;
    OCSP_single_get0_status(single, &reason, nullptr, &this_update, &next_update);
    TimePoint t = next_update ? x509::from_asn1_time(*next_update)
                              : (this_update ? x509::from_asn1_time(*this_update) + hours(1)
                                             : TimePoint{});
    if (!out || t < *out) out = t;
  }
  ERR_clear_error();
  return out;
}


}  // namespace

RevocationCache::RevocationCache(const Clock& clock, std::function<void(const std::string&)> log)
    : clock_(clock), log_(std::move(log)) {}

RevocationCache::~RevocationCache() { stop(); }

void RevocationCache::start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void RevocationCache::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool RevocationCache::stale(const Entry& e, TimePoint now) const {
  // Refresh when a quarter of the validity (at most an hour) is left.
  const auto life = e.next_update - e.fetched;
  const auto margin = std::min<seconds>(duration_cast<seconds>(life / 4), hours(1));
  return now + margin >= e.next_update;
}

void RevocationCache::queue(Task t) {
  // mu_ held by the caller
  if (queued_.count(t.key) || queue_.size() >= kMaxQueue) return;
  auto f = failed_.find(t.key);
  if (f != failed_.end() && clock_.now() < f->second) return;
  queued_.insert(t.key);
  queue_.push_back(std::move(t));
  cv_.notify_one();
}

void RevocationCache::prefetch_crl(const std::string& url) {
  std::lock_guard lock(mu_);
  queue(Task{"crl " + url, url, {}, {}});
}

RevocationSources RevocationCache::for_path(const std::vector<Bytes>& path,
                                            const std::vector<std::string>& crl_urls) {
  RevocationSources out;
  const TimePoint now = clock_.now();
  std::lock_guard lock(mu_);
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    bool covered = false;
    const std::string url = i < crl_urls.size() ? crl_urls[i] : std::string();
    if (!url.empty()) {
      auto it = crls_.find(url);
      if (it != crls_.end()) {
        it->second.last_used = now;
        out.crls.push_back(it->second.der);
        covered = now < it->second.next_update;
        if (stale(it->second, now)) queue(Task{"crl " + url, url, {}, {}});
      } else {
        queue(Task{"crl " + url, url, {}, {}});
      }
    }
    if (covered) continue;
    // OCSP for a certificate no current CRL covers (parsed here: rare).
    for (const auto& ou : fetch::ocsp_urls(path[i])) {
      if (!fetch::is_http(ou)) continue;
      auto digest = ossl::sha256(path[i]);
      if (!digest) break;
      const std::string key = to_hex(*digest);
      auto it = ocsp_.find(key);
      if (it != ocsp_.end()) {
        it->second.last_used = now;
        out.ocsp_responses.push_back(it->second.der);
        if (stale(it->second, now)) queue(Task{"ocsp " + key, ou, path[i], path[i + 1]});
      } else {
        queue(Task{"ocsp " + key, ou, path[i], path[i + 1]});
      }
      break;
    }
  }
  return out;
}

void RevocationCache::run() {
  for (;;) {
    Task t;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, seconds(30), [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      if (queue_.empty()) {
        // Keep what was used in the last hour fresh; forget the rest.
        const TimePoint now = clock_.now();
        for (auto* m : {&crls_, &ocsp_}) {
          for (auto it = m->begin(); it != m->end();) {
            if (now - it->second.last_used > hours(1) && now >= it->second.next_update) {
              it = m->erase(it);
            } else {
              ++it;
            }
          }
        }
        continue;
      }
      t = std::move(queue_.front());
      queue_.pop_front();
    }
    const bool crl = t.key.rfind("crl ", 0) == 0;
    auto der = crl ? fetch::fetch_crl(t.url) : fetch::fetch_ocsp(t.cert, t.issuer, t.url);
    std::optional<TimePoint> next;
    if (der) next = crl ? crl_next_update(*der) : ocsp_next_update(*der);
    const TimePoint now = clock_.now();
    std::string failure;
    {
      std::lock_guard lock(mu_);
      queued_.erase(t.key);
      if (!der || !next || *next <= now) {
        ++fetch_failed_;
        failed_[t.key] = now + seconds(30);  // no storm against a failing responder
        if (failed_.size() > 4 * kMaxQueue) failed_.clear();
        failure = !der ? der.error().message
                       : (!next ? t.url + ": no nextUpdate in the answer"
                                : t.url + ": already past its nextUpdate");
      } else {
        ++fetch_ok_;
        failed_.erase(t.key);
        auto& m = crl ? crls_ : ocsp_;
        const size_t cap = crl ? kMaxCrls : kMaxOcsp;
        const std::string k = crl ? t.url : t.key.substr(5);
        if (m.size() >= cap && !m.count(k)) m.erase(m.begin());
        m[k] = Entry{std::move(*der), now, *next, now};
        ++generation_;
      }
    }
    if (!failure.empty() && log_) log_("revocation fetch failed: " + failure + " (retried in 30 s)");
  }
}

void RevocationCache::feed_apply(const std::vector<std::pair<std::string, bool>>& changes,
                                 bool reset) {
  std::lock_guard lock(mu_);
  ++generation_;
  if (reset) revoked_.clear();
  for (const auto& [serial, revoked] : changes) {
    if (revoked) {
      revoked_.insert(serial);
    } else {
      revoked_.erase(serial);
    }
  }
}

void RevocationCache::set_feed_connected(bool connected) {
  if (feed_connected_.exchange(connected) != connected) ++generation_;
}

void RevocationCache::set_feed_root(const Bytes& root_der) {
  std::lock_guard lock(mu_);
  feed_root_ = root_der;
}

bool RevocationCache::feed_covers(const std::vector<Bytes>& path) const {
  if (!feed_connected_ || path.empty()) return false;
  std::lock_guard lock(mu_);
  return !feed_root_.empty() && path.back() == feed_root_;
}

bool RevocationCache::feed_anchored(const std::vector<Bytes>& path) const {
  if (path.empty()) return false;
  std::lock_guard lock(mu_);
  return !feed_root_.empty() && path.back() == feed_root_;
}

std::optional<std::string> RevocationCache::feed_revoked(
    const std::vector<std::string>& serials) const {
  std::lock_guard lock(mu_);
  for (const auto& s : serials) {
    if (revoked_.count(s)) return s;
  }
  return std::nullopt;
}

RevocationCache::Stats RevocationCache::stats() const {
  std::lock_guard lock(mu_);
  return Stats{crls_.size(), ocsp_.size(), revoked_.size(), fetch_ok_, fetch_failed_};
}

}  // namespace herald::proxy
