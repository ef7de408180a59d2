#pragma once
// What relying parties read about revocation, kept current by `herald serve`:
//
//   OCSP  answers kept in the store (store/ocsp_answers.h) and served
//         through a bounded in-memory cache (least recently used out), so
//         memory does not grow with the number of valid certificates, a
//         restart re-signs nothing still fresh, and the nodes on one store
//         share one set of answers. An answer is signed when its certificate
//         is issued (by the next tick), on a miss (a certificate nobody asked
//         about yet), when its status changes (at once, on every node), and
//         again at half its life by the node holding the singleton lease,
//         which also walks the inventory once after start for certificates
//         without one (after a crash, `store migrate` or a bulk load).
//         Answers for serials this CA never issued are bounded,
//         short-lived and signed within a budget per second, so a flood of
//         random serials costs neither lasting memory nor unbounded signing.
//   CRLs  the issuing CA's, signed here by the node holding the store's
//         singleton lease (alone on a store: always) on every change and at
//         half its validity, or adopted from the store where another node
//         published it; the offline CAs' from DIR/crl/.
//
// The HTTP handlers (revocation_endpoints.cc) only parse requests and pick
// an answer from here. Thread-safe.

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "ca/ocsp.h"
#include "datadir/data_dir.h"
#include "keys/signer.h"
#include "obs/metrics.h"
#include "store/store.h"
#include "x509/certificate.h"

namespace herald::server {

class RevocationPublisher {
 public:
  struct Crl {
    Bytes der;
    std::string etag;
    TimePoint this_update;
    TimePoint next_update;
  };
  // The delegated OCSP responder (issued and renewed by the App).
  struct OcspSigner {
    std::unique_ptr<keys::KeySigner> signer;
    std::unique_ptr<ca::OcspResponder> responder;
    TimePoint not_before, not_after;
  };
  struct Wiring {
    const datadir::DataDir& dir;
    const Clock& clock;
    store::Store& store;
    const keys::Signer& issuing_signer;
    const x509::Certificate& issuing;
    std::chrono::seconds ocsp_validity;
    std::chrono::seconds crl_validity;
    obs::Registry& registry;
    size_t ocsp_cache_entries = 50000;  // certificates whose answers stay in memory
  };

  explicit RevocationPublisher(Wiring wiring);

  // Start: the first CRL (signed, or adopted when another node holds the
  // lease and has published one) and the offline CRLs. No OCSP answer is
  // signed here: they are in the store, or signed on demand.
  [[nodiscard]] Status start(bool singleton);
  // Answers from now on come from `signer`. Stored answers signed by an
  // earlier responder are refreshed before that responder's certificate
  // expires (their refresh_at accounts for it).
  void use_ocsp_signer(std::shared_ptr<const OcspSigner> signer);
  [[nodiscard]] std::shared_ptr<const OcspSigner> ocsp_signer() const;

  // --- OCSP
  // The answer for one CertID without a nonce: from the cache, from the
  // store, or signed now (unknown serials within the budget); nullptr over
  // the budget.
  [[nodiscard]] Result<std::shared_ptr<const ca::CachedOcspResponse>> single_answer(
      const ca::OcspCertId& id, TimePoint now);
  // The status the inventory gives a serial of the issuing CA.
  [[nodiscard]] Result<ca::OcspStatus> status(const Serial& serial);
  // A response signed now (a nonce, several CertIDs). nullopt: an entry is
  // unknown and the budget for unknown answers is spent (tryLater).
  [[nodiscard]] Result<std::optional<Bytes>> sign_now(
      const std::vector<std::pair<ca::OcspCertId, ca::OcspStatus>>& entries,
      const std::optional<Bytes>& nonce, TimePoint now);

  // --- changes
  // A certificate just issued: its first answers are signed (and stored) by
  // the next tick.
  void issued(const Serial& serial);
  // Its revocation status changed (here or on another node): its answers are
  // re-signed and stored now and the CRL follows at the next tick.
  void changed(const Serial& serial);

  // --- CRLs: "issuing", "intermediate" or "root"; nullptr if none.
  [[nodiscard]] std::shared_ptr<const Crl> crl(std::string_view name) const;
  [[nodiscard]] Status load_offline_crls();

  // Every 200 ms (App::tick): the CRL (signed when `singleton`, else the one
  // published by the holder, adopted), then the answers of certificates
  // issued here and those signed on demand go to the store; the singleton
  // also re-signs the answers due and walks on through the certificates
  // without one. Never throws; failures are logged.
  void tick(TimePoint now, bool singleton);
  // A node that just became the lease holder signs at once (the previous
  // holder may have died before a change reached the CRL).
  void crl_changed() { crl_dirty_ = true; }

 private:
  // Signs `serial`'s answers (the SHA-256 CertID's too if `sha256`) from its
  // state in the store; nullopt if the issuing CA did not issue it.
  [[nodiscard]] Result<std::optional<store::OcspAnswer>> sign_answer(const Serial& serial,
                                                                     bool sha256, TimePoint now);
  // Into the cache, unless a status change happened since `epoch` (the
  // answer may predate it: served once, not kept).
  void cache_answer(const store::OcspAnswer& answer, uint64_t epoch);
  // True while a cached or stored answer signed at `this_update` is served
  // as it is (up to 3/4 of its life; the singleton refreshes at 1/2).
  [[nodiscard]] bool fresh(TimePoint this_update, TimePoint next_update, TimePoint now) const;
  [[nodiscard]] Status refresh_crl();
  [[nodiscard]] Status adopt_published_crl();
  [[nodiscard]] bool take_unknown_signature();  // false: over the budget
  void sign_due(TimePoint now);                // the singleton's refresh and gap walk

  Wiring w_;
  obs::Family<obs::Counter>* signer_errors_;
  obs::Family<obs::Histogram>* store_latency_;
  // herald_ocsp_lookups_total by source, resolved once (a with() per
  // request would take the family's lock on the hot path).
  obs::Counter *from_memory_, *from_store_, *signed_on_miss_, *unknown_serial_;

  mutable std::mutex ocsp_mu_;
  std::shared_ptr<const OcspSigner> ocsp_signer_;
  ca::OcspCache ocsp_cache_;
  // Bumped by every status change: an answer read or signed before it is
  // not cached.
  std::atomic<uint64_t> epoch_{0};
  // Under ocsp_mu_: serials issued here waiting for their first answers, and
  // answers signed on a miss waiting to be stored (both bounded per tick).
  std::vector<Serial> presign_backlog_;
  std::vector<store::OcspAnswer> unstored_;
  static constexpr size_t kMaxUnstored = 20000;  // beyond: signed again on the next miss
  // tick() only: the walk through certificates without an answer.
  bool was_singleton_ = false;
  bool gap_walk_done_ = false;
  std::optional<std::pair<TimePoint, Serial>> gap_cursor_;
  size_t gap_signed_ = 0;

  // Signatures per tick (5 ticks a second) for each kind of background work.
  static constexpr size_t kSignPerTick = 1000;
  static constexpr size_t kGapWalkPage = 1000;
  static constexpr size_t kUnknownAnswers = 10000;
  static constexpr std::chrono::seconds kUnknownMaxAge{60};
  static constexpr std::chrono::seconds kUnknownValidity{300};
  static constexpr double kUnknownSignaturesPerSecond = 500;
  ca::BoundedOcspCache unknown_answers_{kUnknownAnswers, kUnknownMaxAge};
  std::mutex unknown_budget_mu_;
  double unknown_budget_ = kUnknownSignaturesPerSecond;
  std::chrono::steady_clock::time_point unknown_budget_at_{};

  mutable std::mutex crl_mu_;
  std::shared_ptr<const Crl> issuing_crl_;
  std::shared_ptr<const Crl> offline_crls_[2];  // intermediate, root
  uint64_t served_crl_number_ = 0;              // under crl_mu_
  std::atomic<bool> crl_dirty_{false};
  TimePoint crl_checked_{};  // tick() only
};

}  // namespace herald::server
