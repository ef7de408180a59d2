#include "policy/lint.h"

#include "keys/public_key.h"
#include "x509/san.h"

namespace herald::policy {

namespace {

template <typename T, auto Free>
std::unique_ptr<T, ossl::Deleter<Free>> ext(X509& x, int nid, int* crit) {
  return std::unique_ptr<T, ossl::Deleter<Free>>(
      static_cast<T*>(X509_get_ext_d2i(&x, nid, crit, nullptr)));
}

unsigned key_usage_mask(const ASN1_BIT_STRING* ku) {
  unsigned m = 0;
  for (int bit = 0; bit < 9; ++bit) {
    if (ASN1_BIT_STRING_get_bit(ku, bit)) m |= 1u << bit;
  }
  return m;
}

}  // namespace

std::vector<Finding> lint_certificate(X509& x, const LintTarget& target) {
  std::vector<Finding> out;
  auto error = [&](std::string code, std::string rule) {
    Finding f;
    f.code = std::move(code);
    f.expected = std::move(rule);
    f.found = "not so in the certificate to be signed";
    f.hint = "the profile or the certificate builder produced this: issuance refused; report it";
    out.push_back(std::move(f));
  };

  if (X509_get_version(&x) != X509_VERSION_3)
    error("version.not_v3", "certificate must be version 3");

  const ASN1_INTEGER* sn = X509_get0_serialNumber(&x);
  int sn_len = ASN1_STRING_length(sn);
  const unsigned char* sn_data = ASN1_STRING_get0_data(sn);
  bool zero = true;
  for (int i = 0; i < sn_len; ++i) zero = zero && sn_data[i] == 0;
  if (ASN1_STRING_type(sn) != V_ASN1_INTEGER || zero) {
    error("serial.not_positive", "serial number must be positive (RFC 5280 §4.1.2.2)");
  }
  // The DER INTEGER gains a leading 0x00 when the top bit is set.
  if (sn_len + (sn_len > 0 && (sn_data[0] & 0x80) ? 1 : 0) > 20) {
    error("serial.too_long", "serial number must be at most 20 octets (RFC 5280 §4.1.2.2)");
  }

  if (ASN1_TIME_compare(X509_get0_notBefore(&x), X509_get0_notAfter(&x)) >= 0) {
    error("validity.order", "notBefore must be before notAfter");
  }

  int crit = 0;
  auto bc = ext<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free>(x, NID_basic_constraints, &crit);
  const bool want_ca = target.kind != CertKind::kLeaf;
  if (!bc) {
    error("basic_constraints.missing", "basicConstraints extension is required");
  } else {
    if (!crit) error("basic_constraints.not_critical", "basicConstraints must be critical");
    if ((bc->ca != 0) != want_ca) {
      error("basic_constraints.ca",
            want_ca ? "a CA certificate needs CA:TRUE" : "a leaf certificate must be CA:FALSE");
    }
  }

  auto ku = ext<ASN1_BIT_STRING, ASN1_BIT_STRING_free>(x, NID_key_usage, &crit);
  auto eku = ext<EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free>(x, NID_ext_key_usage, nullptr);
  if (!ku) {
    error("key_usage.missing", "keyUsage extension is required");
  } else if (!crit) {
    error("key_usage.not_critical", "keyUsage should be critical");
  }

  // Not X509_get0_subject_key_id: its extension cache cannot be filled for an unsigned certificate.
  if (!ext<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>(x, NID_subject_key_identifier, nullptr))
    error("ski.missing", "subjectKeyIdentifier is required (RFC 5280 §4.2.1.2)");
  auto aki = ext<AUTHORITY_KEYID, AUTHORITY_KEYID_free>(x, NID_authority_key_identifier, nullptr);
  if (target.kind != CertKind::kRootCa && (!aki || !aki->keyid)) {
    error("aki.missing",
          "authorityKeyIdentifier with keyIdentifier is required (RFC 5280 §4.2.1.1)");
  }

  auto sans = ext<GENERAL_NAMES, GENERAL_NAMES_free>(x, NID_subject_alt_name, &crit);
  const bool empty_subject = X509_NAME_entry_count(X509_get_subject_name(&x)) == 0;
  if (empty_subject && (!sans || !crit)) {
    error("subject.empty", "an empty subject needs a critical subjectAltName (RFC 5280 §4.2.1.6)");
  }
  if (sans) {
    if (sk_GENERAL_NAME_num(sans.get()) == 0)
      error("san.empty", "subjectAltName must not be empty");
    for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans.get(), i);
      if (gn->type == GEN_DNS) {
        std::string v(reinterpret_cast<const char*>(ASN1_STRING_get0_data(gn->d.dNSName)),
                      static_cast<size_t>(ASN1_STRING_length(gn->d.dNSName)));
        if (!x509::is_valid_dns_name(v, true))
          error("san.dns_malformed", "malformed DNS SAN '" + v + "'");
      } else if (gn->type == GEN_IPADD) {
        int n = ASN1_STRING_length(gn->d.iPAddress);
        if (n != 4 && n != 16) error("san.ip_malformed", "IP SAN must be 4 or 16 octets");
      }
    }
  }

  // id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1) belongs on OCSP responder
  // certificates, which need it (they are short-lived and never revocation-
  // checked), and nowhere else: it would exempt the certificate from checks.
  const bool ocsp_signer = target.kind == CertKind::kLeaf && target.profile == Profile::kOcspSigner;
  const int nocheck_pos = X509_get_ext_by_NID(&x, NID_id_pkix_OCSP_noCheck, -1);
  if (ocsp_signer && nocheck_pos < 0) {
    error("ocsp_nocheck.missing",
          "an OCSP responder certificate needs id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1)");
  } else if (!ocsp_signer && nocheck_pos >= 0) {
    error("ocsp_nocheck.unexpected",
          "only OCSP responder certificates carry id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1)");
  } else if (nocheck_pos >= 0) {
    const ASN1_OCTET_STRING* v = X509_EXTENSION_get_data(X509_get_ext(&x, nocheck_pos));
    if (X509_EXTENSION_get_critical(X509_get_ext(&x, nocheck_pos)) || ASN1_STRING_length(v) != 2 ||
        ASN1_STRING_get0_data(v)[0] != V_ASN1_NULL || ASN1_STRING_get0_data(v)[1] != 0) {
      error("ocsp_nocheck.value", "id-pkix-ocsp-nocheck must be a non-critical NULL");
    }
  }

  if (target.kind == CertKind::kLeaf) {
    if ((target.profile == Profile::kServer || target.profile == Profile::kSpiffe) && !sans) {
      error("san.missing", "a " + std::string(profile_name(target.profile)) +
                               " certificate needs a subjectAltName");
    }
    X509_PUBKEY* pub = X509_get_X509_PUBKEY(&x);
    ASN1_OBJECT* alg = nullptr;
    X509_PUBKEY_get0_param(&alg, nullptr, nullptr, nullptr, pub);
    keys::KeyInfo key;
    key.algorithm =
        OBJ_obj2nid(alg) == NID_rsaEncryption ? keys::KeyAlgorithm::kRsa : keys::KeyAlgorithm::kEc;
    ProfileTemplate want = profile_template(target.profile, key);
    if (ku && key_usage_mask(ku.get()) != want.key_usage) {
      error("key_usage.profile", "keyUsage does not match the " +
                                     std::string(profile_name(target.profile)) + " profile");
    }
    if (!eku) {
      error("eku.missing", "extendedKeyUsage is required for leaf certificates");
    } else {
      bool same = sk_ASN1_OBJECT_num(eku.get()) == static_cast<int>(want.ext_key_usage.size());
      for (size_t i = 0; same && i < want.ext_key_usage.size(); ++i) {
        same = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku.get(), static_cast<int>(i))) ==
               x509::nid_of(want.ext_key_usage[i]);
      }
      if (!same) {
        error("eku.profile", "extendedKeyUsage does not match the " +
                                 std::string(profile_name(target.profile)) + " profile");
      }
    }
  } else {
    if (ku && (key_usage_mask(ku.get()) & (x509::kKeyCertSign | x509::kCrlSign)) !=
                  (x509::kKeyCertSign | x509::kCrlSign)) {
      error("key_usage.ca", "a CA certificate needs keyCertSign and cRLSign");
    }
    if (bc && !bc->pathlen)
      error("basic_constraints.pathlen", "Herald CA certificates carry a pathLenConstraint");
  }
  return out;
}

Status lint_gate(X509& tbs, const LintTarget& target) {
  auto findings = lint_certificate(tbs, target);
  std::string msg;
  for (const auto& f : findings) {
    if (f.severity != Severity::kError) continue;
    msg += (msg.empty() ? "" : "; ") + f.code + ": " + f.expected;
  }
  if (msg.empty()) return {};
  return make_error(ErrorCode::kLintFailed, "pre-issuance lint failed: " + msg);
}

}  // namespace herald::policy
