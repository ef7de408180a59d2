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
                                            obs::latency_buckets())) {
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
  // Every unexpired certificate of the issuing CA gets pre-signed OCSP
  // answers; tick() works through the backlog so start-up stays fast.
  store::ListFilter all;
  all.now = w_.clock.now();
  HERALD_TRY(auto records, w_.store.list(all));
  std::lock_guard lock(ocsp_mu_);
  for (const auto& r : records) {
    if (r.issuer_serial == w_.issuing.serial() && r.not_after > all.now)
      presign_backlog_.push_back(r.serial);
  }
  return {};
}

void RevocationPublisher::use_ocsp_signer(std::shared_ptr<const OcspSigner> signer) {
  std::lock_guard lock(ocsp_mu_);
  ocsp_signer_ = std::move(signer);
  // Answers signed by the previous responder stay valid; re-sign them with the new one.
  for (const auto& [hex, state] : presigned_) {
    if (auto serial = Serial::parse(hex)) presign_backlog_.push_back(*serial);
  }
}

std::shared_ptr<const RevocationPublisher::OcspSigner> RevocationPublisher::ocsp_signer() const {
  std::lock_guard lock(ocsp_mu_);
  return ocsp_signer_;
}

// ------------------------------------------------------------------ OCSP

Result<ca::OcspStatus> RevocationPublisher::status(const Serial& serial) {
  HERALD_TRY(auto rec, w_.store.revocation_state(serial));
  ca::OcspStatus s;
  if (!rec || rec->issuer_serial != w_.issuing.serial()) {
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

Status RevocationPublisher::presign(const Serial& serial, bool sha256) {
  HERALD_TRY(auto st, status(serial));
  std::shared_ptr<const OcspSigner> signer;
  {
    std::lock_guard lock(ocsp_mu_);
    signer = ocsp_signer_;
    if (auto it = presigned_.find(serial.hex()); it != presigned_.end())
      sha256 = sha256 || it->second.sha256;
  }
  const TimePoint now = w_.clock.now();
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
    ca::CachedOcspResponse c{*der, now, now + w_.ocsp_validity, etag_of(*der), st.kind};
    ocsp_cache_.put(hash, serial, std::move(c));
  }
  const TimePoint refresh_at = now + w_.ocsp_validity / 2;
  std::lock_guard lock(ocsp_mu_);
  presigned_[serial.hex()] = Presigned{refresh_at, sha256};
  refresh_queue_.emplace_back(refresh_at, serial);
  return {};
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
  if (auto cached = ocsp_cache_.get(id.hash, id.serial)) return cached;
  if (auto cached = unknown_answers_.get(id.hash, id.serial, now)) return cached;
  HERALD_TRY(auto st, status(id.serial));
  if (st.kind != ca::OcspStatus::Kind::kUnknown) {
    // A certificate of ours not pre-signed yet: sign now and keep it fresh.
    HERALD_TRY_VOID(presign(id.serial, id.hash == ca::OcspHash::kSha256));
    return ocsp_cache_.get(id.hash, id.serial);
  }
  if (!take_unknown_signature()) return std::shared_ptr<const ca::CachedOcspResponse>();
  const auto validity = std::min<std::chrono::seconds>(kUnknownValidity, w_.ocsp_validity);
  auto der = ca::sign_ocsp_response(*ocsp_signer()->responder, {{id, st}}, std::nullopt, now,
                                    validity);
  if (!der) {
    signer_errors_->with({"ocsp"}).inc();
    return tl::unexpected(der.error());
  }
  HERALD_TRY(auto c, ca::make_cached_response(std::move(*der), now, now + validity));
  c.kind = st.kind;
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
  ocsp_cache_.erase(serial);
  unknown_answers_.erase(serial);
  if (auto s = presign(serial); !s) {
    obs::log(obs::LogLevel::kError, "cannot re-sign OCSP",
             {{"serial", serial.hex()}, {"error", s.error().describe()}});
  }
  crl_dirty_ = true;
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
  // OCSP: work through the pre-signing backlog, re-sign what is half stale.
  std::vector<Serial> todo;
  {
    std::lock_guard lock(ocsp_mu_);
    while (!refresh_queue_.empty() && refresh_queue_.front().first <= now) {
      auto [due, serial] = refresh_queue_.front();
      refresh_queue_.pop_front();
      auto it = presigned_.find(serial.hex());
      if (it != presigned_.end() && it->second.refresh_at == due) todo.push_back(serial);
    }
    size_t n = std::min<size_t>(presign_backlog_.size(), 2000);
    todo.insert(todo.end(), presign_backlog_.end() - static_cast<std::ptrdiff_t>(n),
                presign_backlog_.end());
    presign_backlog_.resize(presign_backlog_.size() - n);
  }
  if (todo.empty()) return;
  const auto t0 = std::chrono::steady_clock::now();
  size_t failed = 0;
  for (const auto& s : todo) {
    if (!presign(s)) ++failed;
  }
  // One line per tick with work (pre-signing after issuance, refreshes).
  obs::log(
      failed ? obs::LogLevel::kWarn : obs::LogLevel::kInfo, "ocsp presigned",
      {{"count", static_cast<uint64_t>(todo.size())},
       {"failed", static_cast<uint64_t>(failed)},
       {"took_ms",
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count()}});
}

}  // namespace herald::server
