// The ACME service (src/acme) inside `herald serve`: what it may do with the
// CA (issue through the same pipeline as /v1/sign, revoke and update OCSP and
// the CRL at once), and its settings from herald.toml.
#include "ca/revocation.h"
#include "policy/rules.h"
#include "server/app.h"

namespace herald::server {

acme::Backend App::acme_backend() {
  acme::Backend b;
  b.issue = [this](const x509::Csr& csr, policy::Profile profile,
                   std::optional<std::chrono::seconds> ttl,
                   const store::Labels& owner,
                   const ca::Recorder& record) -> Result<ca::Issued> {
    auto iss = issuance();
    HERALD_TRY(auto issued, iss->authority->sign_csr(csr, profile, ttl, owner, record));
    queue_presign(issued.record.serial);
    issued_->with({std::string(policy::profile_name(profile)), "ok"}).inc();
    return issued;
  };
  b.revoke = [this](const Serial& serial,
                    x509::RevocationReason reason) -> Result<store::CertRecord> {
    HERALD_TRY(auto after, ca::revoke(clock_, *inventory_, serial, reason));
    revocations_->with({std::string(x509::reason_name(reason))}).inc();
    on_revocation_change(serial);
    return after;
  };
  b.chain_pem = [this] { return issuing_->pem() + intermediate_->pem(); };
  b.check_names = [this](policy::Profile profile, const std::vector<x509::San>& sans) {
    return policy::check_names(issuance()->config->policy, profile, sans);
  };
  return b;
}

Status App::configure_acme(const ServerConfig& cfg) {
  std::vector<acme::Provisioner> provisioners;
  for (const auto& p : cfg.provisioners) {
    if (p.type != "acme") continue;
    acme::Provisioner ap;
    ap.name = p.name;
    ap.profile = p.profiles.empty() ? policy::Profile::kServer : p.profiles.front();
    for (const auto& pattern : p.allowed_dns) {
      if (pattern != "*") ap.allowed_dns.push_back(pattern);
    }
    ap.allow_ip = p.allow_ip;
    ap.ttl = p.ttl;
    ap.require_eab = p.require_eab;
    provisioners.push_back(std::move(ap));
  }
  acme::Settings s;
  s.validation.http01_port = cfg.acme.http01_port;
  s.validation.tlsalpn01_port = cfg.acme.tlsalpn01_port;
  s.validation.timeout = cfg.acme.validation_timeout;
  if (!cfg.acme.dns_resolver.empty()) {
    HERALD_TRY(auto e, parse_endpoint(cfg.acme.dns_resolver));
    s.validation.dns_resolver = std::make_pair(e.host, e.port);
  }
  s.skip_validation = cfg.acme.insecure_skip_validation;
  s.order_lifetime = cfg.acme.order_lifetime;
  s.authz_lifetime = cfg.acme.authz_lifetime;
  s.orders_per_account_per_hour = cfg.acme.orders_per_account_per_hour;
  s.orders_per_identifier_per_hour = cfg.acme.orders_per_identifier_per_hour;
  acme_->configure(std::move(provisioners), std::move(s));
  return {};
}

}  // namespace herald::server
