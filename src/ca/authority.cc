#include "ca/authority.h"

#include <algorithm>

#include "base/duration.h"
#include "ca/hierarchy.h"
#include "ca/urls.h"
#include "policy/lint.h"
#include "x509/builder.h"
#include "x509/certificate.h"

namespace herald::ca {

Result<Serial> random_serial() {
  HERALD_TRY(auto bytes, ossl::random_bytes(16));
  bytes[0] &= 0x7F;
  if (bytes[0] == 0) bytes[0] = 0x01;
  return Serial::from_bytes(std::move(bytes));
}

store::CertRecord record_of(const x509::Certificate& cert, const Serial& issuer_serial,
                            std::string profile, TimePoint issued_at) {
  store::CertRecord r;
  r.serial = cert.serial();
  r.issuer_serial = issuer_serial;
  r.subject = cert.subject();
  r.common_name = cert.common_name();
  r.sans = cert.sans();
  r.issuer = cert.issuer();
  r.not_before = cert.not_before();
  r.not_after = cert.not_after();
  auto key = cert.key_info();
  r.key_algorithm = key.name();
  r.key_bits = key.bits;
  r.signature_algorithm = cert.signature_algorithm();
  r.ext_key_usage = cert.ext_key_usage();
  r.profile = std::move(profile);
  r.fingerprint_sha256 = cert.fingerprint_sha256();
  r.issued_at = issued_at;
  r.der = cert.der();
  return r;
}

std::string Issued::pem() const { return ossl::pem_encode(record.der, "CERTIFICATE"); }

Authority::Authority(const Clock& clock, store::Inventory& inventory, const policy::Config& config,
                     const keys::Signer& signer, x509::Certificate issuing_cert,
                     Serial intermediate_serial)
    : clock_(clock),
      inventory_(inventory),
      config_(config),
      signer_(signer),
      issuing_cert_(std::move(issuing_cert)),
      issuing_serial_(issuing_cert_.serial()),
      intermediate_serial_(std::move(intermediate_serial)),
      issuing_subject_(issuing_cert_.subject()),
      issuing_key_id_(issuing_cert_.subject_key_id()),
      issuing_not_after_(issuing_cert_.not_after()) {}

bool SignOptions::allows(policy::Profile p) const {
  return profiles.empty() || std::find(profiles.begin(), profiles.end(), p) != profiles.end();
}

namespace {

Status check_profile(const SignOptions& options, policy::Profile profile) {
  if (options.allows(profile)) return {};
  return make_error(ErrorCode::kForbidden, "provisioner '" + options.provisioner +
                                               "' may not issue '" +
                                               std::string(policy::profile_name(profile)) +
                                               "' certificates");
}

policy::Caller caller_of(const SignOptions& options) {
  return {options.scope.restricted ? &options.scope : nullptr,
          options.names ? &*options.names : nullptr};
}

}  // namespace

Status Authority::authorize(policy::Profile profile, const std::string& cn,
                            const std::vector<x509::San>& sans,
                            const SignOptions& options) const {
  HERALD_TRY_VOID(check_profile(options, profile));
  policy::IssueRequest probe;
  probe.profile = profile;
  probe.common_name = cn;
  probe.sans = sans;
  HERALD_TRY(auto effective, policy::effective_sans(probe));
  HERALD_TRY_VOID(policy::check_names(config_.policy, profile, effective));
  if (!cn.empty()) HERALD_TRY_VOID(policy::check_common_name(profile, cn, effective));
  if (options.scope.restricted) {
    HERALD_TRY_VOID(policy::check_scope(options.scope, profile, cn, effective));
  }
  if (options.names) HERALD_TRY_VOID(policy::check_named(*options.names, cn, effective));
  return {};
}

Result<Issued> Authority::issue(const policy::IssueRequest& request, const keys::PublicKey& key,
                                const store::Labels& owner, const SignOptions& options,
                                const Recorder& record) {
  HERALD_TRY_VOID(check_profile(options, request.profile));
  policy::IssueRequest req = request;
  req.caller = caller_of(options);
  if (!req.ttl) req.ttl = options.ttl;
  HERALD_TRY(auto sans, policy::effective_sans(req));
  HERALD_TRY(auto ttl, policy::check_request(config_.policy, req, sans));
  x509::CertificateSpec spec;
  spec.common_name = req.common_name;
  spec.sans = std::move(sans);
  if (const auto& base = config_.ca.base_url; !base.empty()) {
    spec.crl_urls = {crl_url(base, "issuing")};
    spec.ocsp_urls = {ocsp_url(base)};
    spec.ca_issuer_urls = {ca_cert_url(base, "issuing")};
  }
  store::Labels labels = owner;
  for (const auto& [k, v] : options.labels) labels[k] = v;
  if (!options.provisioner.empty()) labels["provisioner"] = options.provisioner;
  return issue_leaf(std::move(spec), req.profile, ttl, key, labels, record);
}

Result<Issued> Authority::issue_ocsp_signer(const keys::PublicKey& key, std::chrono::seconds ttl) {
  if (ttl <= std::chrono::seconds::zero()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "the OCSP responder certificate needs a positive lifetime");
  }
  // No CDP/AIA: with ocsp-nocheck nobody checks its revocation, and the
  // response that carries it already says who issued it.
  x509::CertificateSpec spec;
  spec.common_name = issuing_cert_.common_name() + " OCSP Responder";
  spec.ocsp_no_check = true;
  return issue_leaf(std::move(spec), policy::Profile::kOcspSigner, ttl, key, {});
}

Result<Issued> Authority::issue_leaf(x509::CertificateSpec spec, policy::Profile profile,
                                     std::chrono::seconds ttl, const keys::PublicKey& key,
                                     const store::Labels& owner, const Recorder& record) {
  for (const auto* ca : {&issuing_serial_, &intermediate_serial_}) {
    std::optional<store::CertStatus> status;
    if (ca_status_) {
      HERALD_TRY(status, ca_status_(*ca));
    } else {
      HERALD_TRY(status, inventory_.status(*ca));
    }
    if (status == store::CertStatus::kRevoked) {
      return make_error(ErrorCode::kConflict,
                        std::string("the ") +
                            (ca == &issuing_serial_ ? "issuing" : "intermediate") +
                            " CA certificate " + ca->hex() +
                            " is revoked: relying parties would reject everything it signs; "
                            "rotate the CA before issuing");
    }
  }

  Issued out;
  const TimePoint now = clock_.now();
  if (now >= issuing_not_after_) {
    return make_error(ErrorCode::kConflict, "the issuing CA certificate expired at " +
                                                format_time(issuing_not_after_) +
                                                "; rotate it before issuing");
  }
  HERALD_TRY(spec.serial, random_serial());
  spec.not_before = now - kBackdate;
  spec.not_after = now + ttl;
  if (spec.not_after > issuing_not_after_) {
    spec.not_after = issuing_not_after_;
    out.warnings.push_back("lifetime " + format_duration(ttl) +
                           " clamped to the issuing CA's notAfter " +
                           format_time(issuing_not_after_));
  }
  spec.subject_key = &key;
  auto tmpl = policy::profile_template(profile, key.info);
  spec.key_usage = tmpl.key_usage;
  spec.ext_key_usage = tmpl.ext_key_usage;
  spec.authority_key_id = issuing_key_id_;

  HERALD_TRY(auto x, x509::build_certificate(spec, X509_get_subject_name(&issuing_cert_.x509())));
  HERALD_TRY_VOID(policy::lint_gate(*x, {policy::CertKind::kLeaf, profile}));
  HERALD_TRY_VOID(signer_.sign(*x));
  HERALD_TRY(auto der, x509::encode_der(*x));
  HERALD_TRY(auto fp, ossl::sha256(der));

  store::CertRecord& r = out.record;
  r.serial = spec.serial;
  r.issuer_serial = issuing_serial_;
  r.subject = spec.common_name.empty() ? "" : "CN=" + spec.common_name;
  r.common_name = spec.common_name;
  r.sans = std::move(spec.sans);
  r.issuer = issuing_subject_;
  r.not_before = spec.not_before;
  r.not_after = spec.not_after;
  r.key_algorithm = key.info.name();
  r.key_bits = key.info.bits;
  r.signature_algorithm = signer_.signature_algorithm();
  for (auto e : spec.ext_key_usage) r.ext_key_usage.push_back(x509::eku_name(x509::nid_of(e)));
  r.profile = std::string(policy::profile_name(profile));
  r.fingerprint_sha256 = to_hex_colons(fp);
  r.owner = owner;
  r.issued_at = now;
  r.der = std::move(der);
  // Durable before anyone sees it (principle 2).
  HERALD_TRY_VOID(record ? record(r) : inventory_.insert(r));
  if (after_issue_) after_issue_(out);
  return out;
}

Result<Issued> Authority::sign_csr(const x509::Csr& csr, policy::Profile profile,
                                   std::optional<std::chrono::seconds> ttl,
                                   const store::Labels& owner, const SignOptions& options,
                                   const Recorder& record) {
  HERALD_TRY_VOID(x509::verify_csr_signature(csr));
  policy::IssueRequest req;
  req.profile = profile;
  req.common_name = csr.common_name;
  req.sans = csr.requested_sans;
  req.ttl = ttl;
  req.key = csr.public_key.info;
  req.csr_hash = csr.hash;
  req.requests_ca = csr.requests_ca;
  return issue(req, csr.public_key, owner, options, record);
}

}  // namespace herald::ca
