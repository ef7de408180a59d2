#include "server/issuance.h"

namespace herald::server {

IssuanceService::IssuanceService(Wiring wiring)
    : w_(std::move(wiring)),
      issued_(&w_.registry.counter("herald_certificates_issued", "Certificates issued",
                                   {"profile", "result"})),
      latency_(&w_.registry.histogram("herald_issuance_duration_seconds",
                                      "Time to issue a certificate", {"profile", "result"},
                                      obs::latency_buckets())) {}

void IssuanceService::configure(policy::Config config) {
  auto s = std::make_shared<Snapshot>();
  s->config = std::make_shared<const policy::Config>(std::move(config));
  s->authority = std::make_unique<ca::Authority>(w_.clock, w_.inventory, *s->config, w_.signer,
                                                 w_.issuing, w_.intermediate_serial);
  s->authority->use_ca_status(w_.ca_status);
  s->authority->after_issue([this](const ca::Issued& issued) {
    issued_->with({issued.record.profile, "ok"}).inc();
    if (w_.after_issue) w_.after_issue(issued);
  });
  std::lock_guard lock(mu_);
  current_ = std::move(s);
}

std::shared_ptr<const IssuanceService::Snapshot> IssuanceService::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

template <typename F>
Result<ca::Issued> IssuanceService::timed(F&& issue) {
  const auto t0 = std::chrono::steady_clock::now();
  auto out = issue(*current()->authority);
  if (out) {
    latency_->with({out->record.profile, "ok"})
        .observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return out;
}

Status IssuanceService::authorize(policy::Profile profile, const std::string& cn,
                                  const std::vector<x509::San>& sans,
                                  const ca::SignOptions& options) const {
  return current()->authority->authorize(profile, cn, sans, options);
}

Result<ca::Issued> IssuanceService::sign_csr(const x509::Csr& csr, policy::Profile profile,
                                             std::optional<std::chrono::seconds> ttl,
                                             const store::Labels& owner,
                                             const ca::SignOptions& options,
                                             const ca::Recorder& record) {
  return timed([&](ca::Authority& a) { return a.sign_csr(csr, profile, ttl, owner, options, record); });
}

Result<ca::Issued> IssuanceService::issue(const policy::IssueRequest& request,
                                          const keys::PublicKey& key, const store::Labels& owner,
                                          const ca::SignOptions& options) {
  return timed([&](ca::Authority& a) { return a.issue(request, key, owner, options); });
}

Result<ca::Issued> IssuanceService::issue_ocsp_signer(const keys::PublicKey& key,
                                                      std::chrono::seconds ttl) {
  return timed([&](ca::Authority& a) { return a.issue_ocsp_signer(key, ttl); });
}

void IssuanceService::count_error(std::string_view profile) {
  issued_->with({std::string(profile), "error"}).inc();
}

}  // namespace herald::server
