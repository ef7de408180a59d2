#include "server/revocation_publisher.h"

#include <openssl/ocsp.h>

#include <algorithm>
#include <iostream>

#include "base/fs.h"
#include "ca/revocation.h"
#include "obs/log.h"
#include "ossl/ossl.h"
#include "x509/crl.h"

namespace herald::server {

namespace {

std::string etag_of(const Bytes& der) {
  auto d = ossl::sha256(der);
  return "\"" + (d ? to_hex(std::span(d->data(), 16), false) : std::string("0")) + "\"";
}

}  // namespace

RevocationPublisher::RevocationPublisher(Wiring wiring)
    : w_(std::move(wiring)),
      signer_errors_(&w_.registry.counter("herald_signer_errors", "Signing failures", {"what"})),
      store_latency_(&w_.registry.histogram("herald_store_duration_seconds",
                                            "Inventory operation latency", {"op"},
                                            obs::latency_buckets())),
      ocsp_cache_(w_.ocsp_cache_entries) {
  auto& lookups = w_.registry.counter("herald_ocsp_lookups",
                                      "Where answers to OCSP requests came from", {"source"});
  from_memory_ = &lookups.with({"memory"});
  from_store_ = &lookups.with({"store"});
  signed_on_miss_ = &lookups.with({"signed"});
  unknown_serial_ = &lookups.with({"unknown"});
  w_.registry.gauge_callback(
      "herald_ocsp_cached_answers", "Signed OCSP answers held in memory", {"kind"}, [this] {
        return std::vector<obs::CallbackSample>{
            {{"issued"}, static_cast<double>(ocsp_cache_.size())},
            {{"unknown"}, static_cast<double>(unknown_answers_.size())}};
      });
  w_.registry.gauge_callback(
      "herald_crl_age_seconds", "Seconds since the CRL's thisUpdate", {"ca"}, [this] {
        std::vector<obs::CallbackSample> out;
        std::lock_guard lock(crl_mu_);
        auto age = [&](const std::shared_ptr<const Crl>& c) {
          return static_cast<double>((w_.clock.now() - c->this_update).count());
        };
        if (issuing_crl_) out.push_back({{"issuing"}, age(issuing_crl_)});
        if (offline_crls_[0]) out.push_back({{"intermediate"}, age(offline_crls_[0])});
        if (offline_crls_[1]) out.push_back({{"root"}, age(offline_crls_[1])});
        return out;
      });
}

Status RevocationPublisher::start(bool singleton) {
  // A node that joins others serves their current CRL rather than signing
  // one more; the first node, or one alone, signs.
  if (singleton) {
    HERALD_TRY_VOID(refresh_crl());
  } else {
    HERALD_TRY_VOID(adopt_published_crl());
    if (!crl("issuing")) HERALD_TRY_VOID(refresh_crl());
  }
  HERALD_TRY_VOID(load_offline_crls());
  // The cache starts with the answers signed last (what a node serves from
  // memory alone while the store is unreachable); the rest load on a miss.
  const auto t0 = std::chrono::steady_clock::now();
  HERALD_TRY(auto latest, w_.store.latest_ocsp_answers(ocsp_cache_.capacity()));
  const TimePoint now = w_.clock.now();
  size_t warmed = 0;
  for (const auto& a : latest) {
    if (a.next_update <= now || a.not_after <= now) continue;
    cache_answer(a, epoch_.load());
    ++warmed;
  }
  obs::log(obs::LogLevel::kInfo, "ocsp answers loaded",
           {{"count", static_cast<uint64_t>(warmed)},
            {"took_ms",
             std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                 .count()}});
  return {};
}

void RevocationPublisher::use_ocsp_signer(std::shared_ptr<const OcspSigner> signer) {
  std::lock_guard lock(ocsp_mu_);
  ocsp_signer_ = std::move(signer);
}

std::shared_ptr<const RevocationPublisher::OcspSigner> RevocationPublisher::ocsp_signer() const {
  std::lock_guard lock(ocsp_mu_);
  return ocsp_signer_;
}

// ------------------------------------------------------------------ OCSP

namespace {

ca::OcspStatus ocsp_status_of(const std::optional<store::RevocationState>& rec,
                              const Serial& issuer) {
  ca::OcspStatus s;
  if (!rec || rec->issuer_serial != issuer) {
    s.kind = ca::OcspStatus::Kind::kUnknown;
  } else if (rec->status == store::CertStatus::kRevoked) {
    s.kind = ca::OcspStatus::Kind::kRevoked;
    s.revoked_at = rec->revoked_at.value_or(TimePoint{});
    s.reason = rec->reason;
  } else {
    s.kind = ca::OcspStatus::Kind::kGood;
  }
  return s;
}

}  // namespace

Result<ca::OcspStatus> RevocationPublisher::status(const Serial& serial) {
  HERALD_TRY(auto rec, w_.store.revocation_state(serial));
  return ocsp_status_of(rec, w_.issuing.serial());
}

bool RevocationPublisher::fresh(TimePoint this_update, TimePoint next_update,
                                TimePoint now) const {
  return now < this_update + (next_update - this_update) * 3 / 4;
}

Result<std::optional<store::OcspAnswer>> RevocationPublisher::sign_answer(const Serial& serial,
                                                                          bool sha256,
                                                                          TimePoint now) {
  const auto t0 = std::chrono::steady_clock::now();
  HERALD_TRY(auto rec, w_.store.revocation_state(serial));
  store_latency_->with({"revocation_state"})
      .observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  const ca::OcspStatus st = ocsp_status_of(rec, w_.issuing.serial());
  if (st.kind == ca::OcspStatus::Kind::kUnknown) return std::optional<store::OcspAnswer>{};
  const std::shared_ptr<const OcspSigner> signer = ocsp_signer();
  store::OcspAnswer a;
  a.serial = serial;
  a.not_after = rec->not_after;
  a.this_update = now;
  a.next_update = now + w_.ocsp_validity;
  // Signed again at half its life, or at half of what its responder's
  // certificate has left if that is shorter (the App renews the responder
  // at 2/3 of its life, so answers never outlive the certificate in them).
  a.refresh_at = now + (std::min(a.next_update, signer->not_after) - now) / 2;
  a.status = rec->status;
  if (rec->reason) a.reason = static_cast<int>(*rec->reason);
  std::vector<ca::OcspHash> hashes{ca::OcspHash::kSha1};
  if (sha256) hashes.push_back(ca::OcspHash::kSha256);
  for (auto hash : hashes) {
    HERALD_TRY(auto id, ca::cert_id_for(w_.issuing, serial, hash));
    auto der = ca::sign_ocsp_response(*signer->responder, {{id, st}}, std::nullopt, now,
                                      w_.ocsp_validity);
    if (!der) {
      signer_errors_->with({"ocsp"}).inc();
      return tl::unexpected(der.error());
    }
    (hash == ca::OcspHash::kSha1 ? a.sha1_der : a.sha256_der) = std::move(*der);
  }
  return std::optional<store::OcspAnswer>(std::move(a));
}

namespace {

// The response an answer holds for one CertID hash, as served.
ca::CachedOcspResponse response_of(const store::OcspAnswer& a, ca::OcspHash hash) {
  const Bytes& der = hash == ca::OcspHash::kSha256 ? a.sha256_der : a.sha1_der;
  return {der, a.this_update, a.next_update, etag_of(der),
          a.status == store::CertStatus::kRevoked ? ca::OcspStatus::Kind::kRevoked
                                                  : ca::OcspStatus::Kind::kGood};
}

}  // namespace

void RevocationPublisher::cache_answer(const store::OcspAnswer& a, uint64_t epoch) {
  if (epoch_.load() != epoch) return;
  for (auto hash : {ca::OcspHash::kSha1, ca::OcspHash::kSha256}) {
    if ((hash == ca::OcspHash::kSha256 ? a.sha256_der : a.sha1_der).empty()) continue;
    ocsp_cache_.put(hash, a.serial, response_of(a, hash));
  }
}

bool RevocationPublisher::take_unknown_signature() {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(unknown_budget_mu_);
  const double elapsed = std::chrono::duration<double>(now - unknown_budget_at_).count();
  unknown_budget_ = std::min(kUnknownSignaturesPerSecond,
                             unknown_budget_ + elapsed * kUnknownSignaturesPerSecond);
  unknown_budget_at_ = now;
  if (unknown_budget_ < 1) return false;
  unknown_budget_ -= 1;
  return true;
}

Result<std::shared_ptr<const ca::CachedOcspResponse>> RevocationPublisher::single_answer(
    const ca::OcspCertId& id, TimePoint now) {
  auto cached_older = ocsp_cache_.get(id.hash, id.serial);
  if (cached_older && fresh(cached_older->this_update, cached_older->next_update, now)) {
    from_memory_->inc();
    return cached_older;
  }
  if (auto cached = unknown_answers_.get(id.hash, id.serial, now)) {
    from_memory_->inc();
    return cached;
  }
  const uint64_t epoch = epoch_.load();
  const bool sha256 = id.hash == ca::OcspHash::kSha256;
  // Signed by another node, or by this one before a restart or an eviction.
  const auto t0 = std::chrono::steady_clock::now();
  auto stored_or = w_.store.ocsp_answer(id.serial);
  if (!stored_or) {
    // The store is unreachable: an older answer still unexpired beats an error.
    if (cached_older && cached_older->next_update > now) return cached_older;
    return tl::unexpected(stored_or.error());
  }
  auto& stored = *stored_or;
  store_latency_->with({"ocsp_answer"})
      .observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  if (stored && fresh(stored->this_update, stored->next_update, now) &&
      !(sha256 ? stored->sha256_der : stored->sha1_der).empty()) {
    from_store_->inc();
    cache_answer(*stored, epoch);
    return std::make_shared<const ca::CachedOcspResponse>(response_of(*stored, id.hash));
  }
  HERALD_TRY(auto signed_now,
             sign_answer(id.serial, sha256 || (stored && !stored->sha256_der.empty()), now));
  if (signed_now) {
    // A certificate of ours without a fresh answer: signed now, stored by
    // the next tick (off the request path).
    signed_on_miss_->inc();
    cache_answer(*signed_now, epoch);
    auto c = response_of(*signed_now, id.hash);
    if (signed_now->not_after > now) {
      std::lock_guard lock(ocsp_mu_);
      if (unstored_.size() < kMaxUnstored) unstored_.push_back(std::move(*signed_now));
    }
    return std::make_shared<const ca::CachedOcspResponse>(std::move(c));
  }
  unknown_serial_->inc();
  if (!take_unknown_signature()) return std::shared_ptr<const ca::CachedOcspResponse>();
  const auto validity = std::min<std::chrono::seconds>(kUnknownValidity, w_.ocsp_validity);
  ca::OcspStatus unknown;
  unknown.kind = ca::OcspStatus::Kind::kUnknown;
  auto der = ca::sign_ocsp_response(*ocsp_signer()->responder, {{id, unknown}}, std::nullopt,
                                    now, validity);
  if (!der) {
    signer_errors_->with({"ocsp"}).inc();
    return tl::unexpected(der.error());
  }
  HERALD_TRY(auto c, ca::make_cached_response(std::move(*der), now, now + validity));
  c.kind = unknown.kind;
  unknown_answers_.put(id.hash, id.serial, c);
  return std::make_shared<const ca::CachedOcspResponse>(std::move(c));
}

Result<std::optional<Bytes>> RevocationPublisher::sign_now(
    const std::vector<std::pair<ca::OcspCertId, ca::OcspStatus>>& entries,
    const std::optional<Bytes>& nonce, TimePoint now) {
  const bool any_unknown = std::any_of(entries.begin(), entries.end(), [](const auto& e) {
    return e.second.kind == ca::OcspStatus::Kind::kUnknown;
  });
  if (any_unknown && !take_unknown_signature()) return std::optional<Bytes>();
  auto der = ca::sign_ocsp_response(
      *ocsp_signer()->responder, entries, nonce, now,
      any_unknown ? std::min<std::chrono::seconds>(kUnknownValidity, w_.ocsp_validity)
                  : w_.ocsp_validity);
  if (!der) {
    signer_errors_->with({"ocsp"}).inc();
    return tl::unexpected(der.error());
  }
  return std::optional<Bytes>(std::move(*der));
}

void RevocationPublisher::issued(const Serial& serial) {
  unknown_answers_.erase(serial);  // issued here just now: no longer unknown
  std::lock_guard lock(ocsp_mu_);
  presign_backlog_.push_back(serial);
}

void RevocationPublisher::changed(const Serial& serial) {
  ++epoch_;  // answers read or signed before this are not cached
  ocsp_cache_.erase(serial);
  unknown_answers_.erase(serial);
  crl_dirty_ = true;
  const uint64_t epoch = epoch_.load();
  auto stored = w_.store.ocsp_answer(serial);
  const bool sha256 = stored && *stored && !(*stored)->sha256_der.empty();
  auto a = sign_answer(serial, sha256, w_.clock.now());
  Status st = a ? Status{} : Status(tl::unexpected(a.error()));
  if (a && *a) {
    // Stored at once: another node's next miss must not find the old one.
    st = w_.store.put_ocsp_answers({**a});
    cache_answer(**a, epoch);
  }
  if (!st) {
    obs::log(obs::LogLevel::kError, "cannot re-sign OCSP",
             {{"serial", serial.hex()}, {"error", st.error().describe()}});
  }
}

// ------------------------------------------------------------------ CRLs

std::shared_ptr<const RevocationPublisher::Crl> RevocationPublisher::crl(
    std::string_view name) const {
  std::lock_guard lock(crl_mu_);
  if (name == "issuing") return issuing_crl_;
  if (name == "intermediate") return offline_crls_[0];
  if (name == "root") return offline_crls_[1];
  return nullptr;
}

Status RevocationPublisher::refresh_crl() {
  const auto t0 = std::chrono::steady_clock::now();
  auto crl = ca::generate_crl(w_.clock, w_.store, w_.issuing_signer, w_.issuing, "issuing",
                              w_.crl_validity);
  if (!crl) {
    signer_errors_->with({"crl"}).inc();
    return tl::unexpected(crl.error());
  }
  store_latency_->with({"crl"}).observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  HERALD_TRY_VOID(w_.dir.write_crl(ca::CaLevel::kIssuing, crl->der));
  const TimePoint this_update = w_.clock.now();
  if (w_.store.shared_by_nodes()) {
    HERALD_TRY_VOID(w_.store.put_crl(
        store::StoredCrl{"issuing", crl->number, crl->der, this_update, crl->next_update}));
  }
  auto c = std::make_shared<Crl>(Crl{crl->der, etag_of(crl->der), this_update, crl->next_update});
  {
    std::lock_guard lock(crl_mu_);
    issuing_crl_ = std::move(c);
    served_crl_number_ = std::max(served_crl_number_, crl->number);
  }
  obs::log(
      obs::LogLevel::kInfo, "crl signed",
      {{"crl", "issuing"},
       {"number", crl->number},
       {"entries", static_cast<uint64_t>(crl->entries)},
       {"took_ms",
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count()}});
  return {};
}

Status RevocationPublisher::adopt_published_crl() {
  uint64_t served;
  {
    std::lock_guard lock(crl_mu_);
    served = served_crl_number_;
  }
  HERALD_TRY(auto published, w_.store.latest_crl("issuing", served));
  {
    std::lock_guard lock(crl_mu_);
    if (!published || published->number <= served_crl_number_) return {};
  }
  HERALD_TRY_VOID(w_.dir.write_crl(ca::CaLevel::kIssuing, published->der));
  auto c = std::make_shared<Crl>(Crl{published->der, etag_of(published->der),
                                     published->this_update, published->next_update});
  {
    std::lock_guard lock(crl_mu_);
    issuing_crl_ = std::move(c);
    served_crl_number_ = published->number;
  }
  obs::log(obs::LogLevel::kInfo, "crl adopted from the store",
           {{"crl", "issuing"}, {"number", published->number}});
  return {};
}

Status RevocationPublisher::load_offline_crls() {
  int i = 0;
  for (auto level : {ca::CaLevel::kIntermediate, ca::CaLevel::kRoot}) {
    auto data = fs::read_file(w_.dir.crl_path(level, false));
    std::shared_ptr<const Crl> c;
    if (data) {
      Bytes der(data->begin(), data->end());
      const unsigned char* p = der.data();
      ossl::X509CrlPtr parsed(d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size())));
      if (!parsed) {
        ossl::clear_errors();
        return make_error(ErrorCode::kMalformedInput,
                          "unreadable CRL " + w_.dir.crl_path(level, false).string());
      }
      TimePoint next = X509_CRL_get0_nextUpdate(parsed.get())
                           ? x509::from_asn1_time(*X509_CRL_get0_nextUpdate(parsed.get()))
                           : TimePoint{};
      c = std::make_shared<Crl>(Crl{
          der, etag_of(der), x509::from_asn1_time(*X509_CRL_get0_lastUpdate(parsed.get())), next});
    }
    std::lock_guard lock(crl_mu_);
    offline_crls_[i++] = c;
  }
  return {};
}

// ------------------------------------------------------------------ tick

void RevocationPublisher::tick(TimePoint now, bool singleton) {
  // The CRL: on change, and when half its validity has passed.
  std::shared_ptr<const Crl> current = crl("issuing");
  if (!singleton) {
    // Another node signs: serve what it published (checked every 200 ms
    // while a revocation is pending here, else every second).
    if (crl_dirty_ || now - crl_checked_ >= std::chrono::seconds(1)) {
      crl_checked_ = now;
      if (auto s = adopt_published_crl(); !s) {
        obs::log(obs::LogLevel::kError, "cannot read the published CRL",
                 {{"error", s.error().describe()}});
      } else if (crl("issuing") != current) {
        crl_dirty_ = false;
      }
    }
  } else if (crl_dirty_.exchange(false) || !current ||
             now >= current->this_update + w_.crl_validity / 2) {
    if (auto s = refresh_crl(); !s) {
      crl_dirty_ = true;
      obs::log(obs::LogLevel::kError, "cannot refresh the CRL", {{"error", s.error().describe()}});
    }
  }
  // OCSP: store the answers of certificates issued here and those signed on
  // a miss; the singleton re-signs what is due and fills the gaps.
  std::vector<Serial> issued;
  std::vector<store::OcspAnswer> answers;
  {
    std::lock_guard lock(ocsp_mu_);
    const size_t n = std::min<size_t>(presign_backlog_.size(), kSignPerTick);
    issued.assign(presign_backlog_.end() - static_cast<std::ptrdiff_t>(n),
                  presign_backlog_.end());
    presign_backlog_.resize(presign_backlog_.size() - n);
    answers.swap(unstored_);
  }
  if (!issued.empty() || !answers.empty()) {
    const auto t0 = std::chrono::steady_clock::now();
    const uint64_t epoch = epoch_.load();
    size_t failed = 0;
    for (const auto& serial : issued) {
      auto a = sign_answer(serial, false, now);
      if (!a) {
        ++failed;
      } else if (*a) {
        cache_answer(**a, epoch);
        answers.push_back(std::move(**a));
      }
    }
    if (auto st = w_.store.put_ocsp_answers(answers); !st) {
      failed += answers.size();
      obs::log(obs::LogLevel::kError, "cannot store OCSP answers",
               {{"error", st.error().describe()}});
    }
    // One line per tick with work.
    obs::log(failed ? obs::LogLevel::kWarn : obs::LogLevel::kInfo, "ocsp presigned",
             {{"count", static_cast<uint64_t>(answers.size())},
              {"failed", static_cast<uint64_t>(failed)},
              {"took_ms", std::chrono::duration<double, std::milli>(
                              std::chrono::steady_clock::now() - t0)
                              .count()}});
  }
  if (singleton && !was_singleton_) {
    gap_walk_done_ = false;  // this node now fills the gaps: walk once more
    gap_cursor_.reset();
    gap_signed_ = 0;
  }
  was_singleton_ = singleton;
  if (singleton) sign_due(now);
}

void RevocationPublisher::sign_due(TimePoint now) {
  const auto t0 = std::chrono::steady_clock::now();
  const uint64_t epoch = epoch_.load();
  std::vector<store::OcspAnswer> answers;
  std::vector<Serial> gone;
  size_t failed = 0;
  auto sign = [&](const Serial& serial, bool sha256) {
    auto a = sign_answer(serial, sha256, now);
    if (!a) {
      ++failed;
    } else if (*a) {
      cache_answer(**a, epoch);
      answers.push_back(std::move(**a));
    } else {
      gone.push_back(serial);  // no longer in the inventory (pruned)
    }
  };
  // Answers at half their life; those of expired certificates are dropped.
  auto due = w_.store.ocsp_answers_due(now, kSignPerTick);
  if (!due) {
    obs::log(obs::LogLevel::kError, "cannot read the OCSP answers due",
             {{"error", due.error().describe()}});
    return;
  }
  size_t refreshed = 0;
  for (const auto& a : *due) {
    if (a.not_after <= now) {
      gone.push_back(a.serial);
      ocsp_cache_.erase(a.serial);
    } else {
      sign(a.serial, !a.sha256_der.empty());
      ++refreshed;
    }
  }
  // Certificates without an answer (a crash before their first, a bulk
  // load, `store migrate`): once through the inventory after start.
  size_t filled = 0;
  if (!gap_walk_done_ && due->size() < kSignPerTick) {
    auto page = w_.store.certificates_without_ocsp_answer(w_.issuing.serial(), now, gap_cursor_,
                                                          kGapWalkPage);
    if (!page) {
      obs::log(obs::LogLevel::kError, "cannot walk the inventory for OCSP",
               {{"error", page.error().describe()}});
    } else {
      for (const auto& serial : page->missing) sign(serial, false);
      filled = page->missing.size();
      gap_signed_ += filled;
      gap_cursor_ = page->next;
      if (!page->next) {
        gap_walk_done_ = true;
        obs::log(obs::LogLevel::kInfo, "ocsp walk done",
                 {{"signed", static_cast<uint64_t>(gap_signed_)}});
      }
    }
  }
  Status st = w_.store.put_ocsp_answers(answers);
  if (st) st = w_.store.delete_ocsp_answers(gone);
  if (!st) {
    obs::log(obs::LogLevel::kError, "cannot store OCSP answers", {{"error", st.error().describe()}});
    return;
  }
  if (refreshed + filled + gone.size() == 0) return;
  obs::log(failed ? obs::LogLevel::kWarn : obs::LogLevel::kInfo, "ocsp refreshed",
           {{"refreshed", static_cast<uint64_t>(refreshed)},
            {"filled", static_cast<uint64_t>(filled)},
            {"dropped", static_cast<uint64_t>(gone.size())},
            {"failed", static_cast<uint64_t>(failed)},
            {"took_ms",
             std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                 .count()}});
}

}  // namespace herald::server
