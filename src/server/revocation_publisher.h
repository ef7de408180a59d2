#pragma once
// What relying parties read about revocation, kept current by `herald serve`:
//
//   OCSP  an answer pre-signed for every unexpired certificate of the issuing
//         CA (SHA-1 CertIDs, SHA-256 ones once asked for), refreshed at half
//         its validity and re-signed at once when the certificate's status
//         changes; answers for serials this CA never issued are bounded,
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
  };

  explicit RevocationPublisher(Wiring wiring);

  // Start: the first CRL (signed, or adopted when another node holds the
  // lease and has published one), the offline CRLs, and every unexpired
  // certificate of the issuing CA queued for its first answers.
  [[nodiscard]] Status start(bool singleton);
  // Answers from now on come from `signer`; the ones already given are
  // re-signed with it.
  void use_ocsp_signer(std::shared_ptr<const OcspSigner> signer);
  [[nodiscard]] std::shared_ptr<const OcspSigner> ocsp_signer() const;

  // --- OCSP
  // The answer for one CertID without a nonce: pre-signed, or signed now
  // (unknown serials within the budget); nullptr over the budget.
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
  // A certificate just issued: its first answers are signed by the next tick.
  void issued(const Serial& serial);
  // Its revocation status changed (here or on another node): its answers are
  // re-signed now and the CRL follows at the next tick.
  void changed(const Serial& serial);

  // --- CRLs: "issuing", "intermediate" or "root"; nullptr if none.
  [[nodiscard]] std::shared_ptr<const Crl> crl(std::string_view name) const;
  [[nodiscard]] Status load_offline_crls();

  // Every 200 ms (App::tick): the CRL (signed when `singleton`, else the one
  // published by the holder, adopted), then the pre-signing backlog and the
  // answers due for refresh. Never throws; failures are logged.
  void tick(TimePoint now, bool singleton);
  // A node that just became the lease holder signs at once (the previous
  // holder may have died before a change reached the CRL).
  void crl_changed() { crl_dirty_ = true; }

 private:
  struct Presigned {
    TimePoint refresh_at;
    bool sha256 = false;  // also keep a SHA-256 CertID answer
  };
  [[nodiscard]] Status presign(const Serial& serial, bool sha256 = false);
  [[nodiscard]] Status refresh_crl();
  [[nodiscard]] Status adopt_published_crl();
  [[nodiscard]] bool take_unknown_signature();  // false: over the budget

  Wiring w_;
  obs::Family<obs::Counter>* signer_errors_;
  obs::Family<obs::Histogram>* store_latency_;

  mutable std::mutex ocsp_mu_;
  std::shared_ptr<const OcspSigner> ocsp_signer_;
  ca::OcspCache ocsp_cache_;
  // Under ocsp_mu_: what is pre-signed, the refresh schedule in time order
  // (entries whose refresh_at no longer matches presigned_ are stale), and
  // serials waiting for their first answers.
  std::unordered_map<std::string, Presigned> presigned_;  // by serial hex
  std::deque<std::pair<TimePoint, Serial>> refresh_queue_;
  std::vector<Serial> presign_backlog_;

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
