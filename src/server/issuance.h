#pragma once
// The online CA's issuance service: the Authority (ca/authority.h) for the
// current policy, swapped as one on SIGHUP, and what follows every
// certificate it issues, whoever asked (REST sign and renew, ACME finalize,
// the server's own TLS and OCSP certificates): the hook `after_issue`
// (queue its OCSP answers) and the metrics, in this one place.

#include <memory>
#include <mutex>

#include "ca/authority.h"
#include "obs/metrics.h"

namespace herald::server {

class IssuanceService {
 public:
  // One policy's issuance, swapped as a whole on reload.
  struct Snapshot {
    std::shared_ptr<const policy::Config> config;
    std::unique_ptr<ca::Authority> authority;
  };
  struct Wiring {
    const Clock& clock;
    store::Inventory& inventory;
    const keys::Signer& signer;  // the issuing CA's
    const x509::Certificate& issuing;
    Serial intermediate_serial;
    ca::Authority::CaStatusSource ca_status;
    ca::AfterIssue after_issue;
    obs::Registry& registry;
  };

  explicit IssuanceService(Wiring wiring);

  // Start and SIGHUP: issuance from now on follows `config`.
  void configure(policy::Config config);
  [[nodiscard]] std::shared_ptr<const Snapshot> current() const;

  // The pipeline's own checks (Authority::authorize), under the current policy.
  [[nodiscard]] Status authorize(policy::Profile profile, const std::string& cn,
                                 const std::vector<x509::San>& sans,
                                 const ca::SignOptions& options) const;
  [[nodiscard]] Result<ca::Issued> sign_csr(const x509::Csr& csr, policy::Profile profile,
                                            std::optional<std::chrono::seconds> ttl,
                                            const store::Labels& owner,
                                            const ca::SignOptions& options,
                                            const ca::Recorder& record = {});
  [[nodiscard]] Result<ca::Issued> issue(const policy::IssueRequest& request,
                                         const keys::PublicKey& key, const store::Labels& owner,
                                         const ca::SignOptions& options = {});
  [[nodiscard]] Result<ca::Issued> issue_ocsp_signer(const keys::PublicKey& key,
                                                     std::chrono::seconds ttl);

  // herald_certificates_issued{result="error"} for a request refused
  // before or by the pipeline (profile as requested, or "unknown").
  void count_error(std::string_view profile);

 private:
  template <typename F>
  Result<ca::Issued> timed(F&& issue);

  Wiring w_;
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> current_;
  obs::Family<obs::Counter>* issued_;
  obs::Family<obs::Histogram>* latency_;
};

}  // namespace herald::server
