#include "ca/hierarchy.h"

#include "base/duration.h"
#include "base/serial.h"
#include "ca/authority.h"
#include "ca/urls.h"
#include "keys/private_key.h"
#include "keys/signer.h"
#include "policy/lint.h"
#include "x509/builder.h"

namespace herald::ca {

std::string_view ca_level_name(CaLevel l) {
  switch (l) {
    case CaLevel::kRoot:
      return "root";
    case CaLevel::kIntermediate:
      return "intermediate";
    case CaLevel::kIssuing:
      return "issuing";
  }
  return "?";
}

std::string_view ca_profile_name(CaLevel l) {
  switch (l) {
    case CaLevel::kRoot:
      return "root-ca";
    case CaLevel::kIntermediate:
      return "intermediate-ca";
    case CaLevel::kIssuing:
      return "issuing-ca";
  }
  return "?";
}

Result<CaLevel> parse_ca_level(std::string_view name) {
  for (auto l : {CaLevel::kRoot, CaLevel::kIntermediate, CaLevel::kIssuing}) {
    if (ca_level_name(l) == name) return l;
  }
  return make_error(ErrorCode::kInvalidArgument,
                    "unknown CA '" + std::string(name) + "' (choose issuing|intermediate|root)");
}

namespace {

Result<CaMaterial> make_ca(const Clock& clock, const HierarchyOptions& o, CaLevel level,
                           const CaMaterial* parent, std::chrono::seconds ttl,
                           std::vector<std::string>& warnings) {
  HERALD_TRY(auto key, keys::generate_key(o.key_type));
  HERALD_TRY(auto pub, keys::public_key_of(*key));
  HERALD_TRY(auto serial, random_serial());

  static constexpr const char* kTitles[] = {"Root CA", "Intermediate CA", "Issuing CA"};
  x509::CertificateSpec spec;
  spec.serial = serial;
  spec.organization = o.organization;
  spec.common_name = o.organization + " " + kTitles[static_cast<int>(level)];
  spec.not_before = clock.now() - kBackdate;
  spec.not_after = clock.now() + ttl;
  if (parent && spec.not_after > parent->cert.not_after()) {
    spec.not_after = parent->cert.not_after();
    warnings.push_back(std::string(ca_level_name(level)) + " CA lifetime " + format_duration(ttl) +
                       " clamped to its issuer's notAfter " + format_time(spec.not_after));
  }
  spec.subject_key = &pub;
  spec.is_ca = true;
  spec.path_len = level == CaLevel::kRoot ? 2 : level == CaLevel::kIntermediate ? 1 : 0;
  spec.key_usage = x509::kKeyCertSign | x509::kCrlSign;
  if (parent) {
    spec.authority_key_id = parent->cert.subject_key_id();
    if (!o.base_url.empty()) {
      CaLevel parent_level = level == CaLevel::kIssuing ? CaLevel::kIntermediate : CaLevel::kRoot;
      spec.crl_urls = {crl_url(o.base_url, ca_level_name(parent_level))};
      spec.ca_issuer_urls = {ca_cert_url(o.base_url, ca_level_name(parent_level))};
    }
  }
  HERALD_TRY(auto x, x509::build_certificate(
                         spec, parent ? X509_get_subject_name(&parent->cert.x509()) : nullptr));
  HERALD_TRY_VOID(policy::lint_gate(
      *x,
      {level == CaLevel::kRoot ? policy::CertKind::kRootCa : policy::CertKind::kSubordinateCa}));
  EVP_PKEY* signing_key = parent ? parent->key.get() : key.get();
  EVP_PKEY_up_ref(signing_key);
  HERALD_TRY(auto signer, keys::KeySigner::create(ossl::EvpPkeyPtr(signing_key)));
  HERALD_TRY_VOID(signer->sign(*x));
  HERALD_TRY(auto der, x509::encode_der(*x));
  HERALD_TRY(auto cert, x509::Certificate::from_der(der));
  return CaMaterial{std::move(key), std::move(cert)};
}

}  // namespace

Result<Hierarchy> create_hierarchy(const Clock& clock, const HierarchyOptions& o) {
  std::vector<std::string> warnings;
  HERALD_TRY(auto root, make_ca(clock, o, CaLevel::kRoot, nullptr, o.root_ttl, warnings));
  HERALD_TRY(auto inter,
             make_ca(clock, o, CaLevel::kIntermediate, &root, o.intermediate_ttl, warnings));
  HERALD_TRY(auto issuing, make_ca(clock, o, CaLevel::kIssuing, &inter, o.issuing_ttl, warnings));
  return Hierarchy{std::move(root), std::move(inter), std::move(issuing), std::move(warnings)};
}

}  // namespace herald::ca
