// The ACME service (src/acme) inside `herald serve`: what it may do with the
// CA (issue through the same pipeline as /v1/sign, revoke and update OCSP and
// the CRL at once), and its settings from herald.toml.
#include "ca/revocation.h"
#include "obs/log.h"
#include "server/app.h"

namespace herald::server {

acme::Backend App::acme_backend() {
  acme::Backend b;
  b.issue = [this](const x509::Csr& csr, policy::Profile profile,
                   std::optional<std::chrono::seconds> ttl,
                   const store::Labels& owner,
                   const ca::Recorder& record) -> Result<ca::Issued> {
    // The same pipeline and sign options as /v1/sign (server/provisioners.h).
    auto by = owner.find("provisioner");
    if (by == owner.end())
      return make_error(ErrorCode::kForbidden, "the ACME provisioner is no longer configured");
    HERALD_TRY(auto options, callers()->acme_options(by->second));
    obs::note_request("provisioner", by->second);
    auto issued = issuance_->sign_csr(csr, profile, ttl, owner, options, record);
    if (issued) obs::note_request("serial", issued->record.serial.hex());
    return issued;
  };
  b.revoke = [this](const Serial& serial,
                    x509::RevocationReason reason) -> Result<store::CertRecord> {
    HERALD_TRY(auto after, ca::revoke(clock_, *inventory_, serial, reason));
    revocations_->with({std::string(x509::reason_name(reason))}).inc();
    on_revocation_change(serial);
    obs::note_request("serial", serial.hex());
    return after;
  };
  b.chain_pem = [this] { return issuing_->pem() + intermediate_->pem(); };
  // Which names an ACME provisioner may get, asked at newOrder (finalize
  // goes through sign_csr above, which applies the same rules again).
  b.authorize = [this](const std::string& provisioner, policy::Profile profile,
                       const std::vector<x509::San>& sans) -> Status {
    HERALD_TRY(auto options, callers()->acme_options(provisioner));
    return issuance_->authorize(profile, "", sans, options);
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
    // Its allowed_dns and allow_ip are in p.scope, which `authorize` applies.
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
  s.order_lifetime = cfg.acme.order_lifetime;
  s.authz_lifetime = cfg.acme.authz_lifetime;
  s.orders_per_account_per_hour = cfg.acme.orders_per_account_per_hour;
  s.orders_per_identifier_per_hour = cfg.acme.orders_per_identifier_per_hour;
  if (cfg.acme.validation_denied_ranges) {
    s.validation.denied_ranges.clear();
    for (const auto& r : *cfg.acme.validation_denied_ranges) {
      auto cidr = acme::validation::parse_cidr(r);
      if (!cidr) return make_error(ErrorCode::kInvalidArgument, "acme.validation_denied_ranges: '" + r + "' is not an address range");
      s.validation.denied_ranges.push_back(std::move(*cidr));
    }
  }
  s.max_identifiers_per_order = static_cast<size_t>(cfg.acme.max_identifiers_per_order);
  s.max_pending_orders_per_account = cfg.acme.max_pending_orders_per_account;
  s.new_accounts_per_address_per_hour = cfg.acme.new_accounts_per_address_per_hour;
  s.validations_per_account = cfg.acme.validations_per_account;
  s.validations_per_order = cfg.acme.validations_per_order;
  // Tests and benchmarks only: every challenge is valid without being checked.
  if (cfg.acme.insecure_skip_validation)
    s.validator = std::make_shared<acme::AlwaysValid>();
  else
    s.validator = std::make_shared<acme::NetworkValidator>(s.validation);
  acme_->configure(std::move(provisioners), std::move(s));
  return {};
}

}  // namespace herald::server
