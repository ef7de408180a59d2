#include "verify/verify.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>
#include <string>

#include "ossl/ossl.h"
#include "verify/finding_util.h"
#include "verify/revocation.h"
#include "x509/san.h"

namespace herald::verify {

namespace {

using StorePtr = std::unique_ptr<X509_STORE, ossl::Deleter<X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, ossl::Deleter<X509_STORE_CTX_free>>;
struct StackDeleter {
  void operator()(STACK_OF(X509) * s) const { sk_X509_free(s); }  // borrowed certificates
};
using StackPtr = std::unique_ptr<STACK_OF(X509), StackDeleter>;

struct Cert {
  ossl::X509Ptr x509;
  Bytes der;
};

std::optional<Cert> parse(const Bytes& der) {
  const unsigned char* p = der.data();
  X509* x = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  ERR_clear_error();
  if (!x || p != der.data() + der.size()) {
    X509_free(x);
    return std::nullopt;
  }
  return Cert{ossl::X509Ptr(x), der};
}

using detail::finding;
using detail::name_text;
using detail::subject_of;
using detail::time_text;

std::string dns_sans(X509* x) {
  std::string out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    if (g->type == GEN_DNS) {
      const ASN1_STRING* s = g->d.dNSName;
      out += (out.empty() ? "" : ", ") +
             std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                         static_cast<size_t>(ASN1_STRING_length(s)));
    }
  }
  GENERAL_NAMES_free(names);
  return out.empty() ? "no DNS SAN" : out;
}

std::string eku_text(X509* x) {
  const uint32_t xku = X509_get_extended_key_usage(x);
  if (xku == UINT32_MAX) return "no extended key usage (any purpose)";
  std::string out;
  auto add = [&](uint32_t bit, const char* name) {
    if (xku & bit) out += (out.empty() ? "" : ", ") + std::string(name);
  };
  add(XKU_SSL_SERVER, "serverAuth");
  add(XKU_SSL_CLIENT, "clientAuth");
  add(XKU_SMIME, "emailProtection");
  add(XKU_CODE_SIGN, "codeSigning");
  add(XKU_OCSP_SIGN, "OCSPSigning");
  add(XKU_TIMESTAMP, "timeStamping");
  return out.empty() ? "other extended key usages" : "extended key usage " + out;
}

// The finding for OpenSSL's verdict on one explicit path.
Finding explain(int err, int depth, X509* x, const Options& o) {
  const std::string why = X509_verify_cert_error_string(err);
  switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return finding("expired", depth, x, "valid at the verification time",
                     "notAfter " + time_text(X509_get0_notAfter(x)),
                     depth == 0 ? "renew the certificate" : "the CA certificate expired: install its successor");
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return finding("not_yet_valid", depth, x, "valid at the verification time",
                     "notBefore " + time_text(X509_get0_notBefore(x)),
                     "check the clocks of this host and the CA (skew), or wait");
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      return finding("missing_issuer", depth, x, "its issuer among the intermediates or anchors",
                     "no certificate for issuer " + name_text(X509_get_issuer_name(x)),
                     "send the intermediate with it (chain.pem, not cert.pem)");
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      return finding("untrusted_root", depth, x, "a chain to a trusted anchor",
                     "self-signed " + subject_of(x), "trust this root, or get a certificate from a trusted CA");
    case X509_V_ERR_PATH_LENGTH_EXCEEDED:
      return finding("pathlen_exceeded", depth, x, "pathLenConstraint respected", why,
                     "the CA hierarchy is deeper than a CA allows");
    case X509_V_ERR_CERT_CHAIN_TOO_LONG:
      return finding("chain_too_long", depth, x, "at most " + std::to_string(o.max_depth) + " intermediates",
                     why, "shorten the chain or raise the depth limit");
    case X509_V_ERR_PERMITTED_VIOLATION:
    case X509_V_ERR_EXCLUDED_VIOLATION:
    case X509_V_ERR_SUBTREE_MINMAX:
    case X509_V_ERR_UNSUPPORTED_CONSTRAINT_TYPE:
    case X509_V_ERR_UNSUPPORTED_CONSTRAINT_SYNTAX:
    case X509_V_ERR_UNSUPPORTED_NAME_SYNTAX:
      return finding("name_constraint_violation", depth, x, "names inside the CA's name constraints", why,
                     "the CA may not certify this name");
    case X509_V_ERR_INVALID_PURPOSE:
      return finding("eku_mismatch", depth, x,
                     o.purpose == Purpose::kServer ? "serverAuth" : "clientAuth", eku_text(x),
                     o.purpose == Purpose::kServer
                         ? "this is not a server certificate: use one issued with serverAuth"
                         : "this is not a client certificate: use one issued with clientAuth");
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return finding("hostname_mismatch", 0, x, o.dns_name ? *o.dns_name : o.ip.value_or(""),
                     dns_sans(x), "the certificate does not name this host (SANs only, never the CN)");
    case X509_V_ERR_CERT_REVOKED:
      return finding("revoked", depth, x, "not revoked", "on the issuer's CRL",
                     depth == 0 ? "issue a new certificate" : "the CA was revoked");
    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
      return finding("revocation_unavailable", depth, x, "a current CRL from its issuer", why,
                     "fetch the issuer's current CRL");
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
    case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
      return finding("bad_signature", depth, x, "a signature by its issuer", why,
                     "the certificate was not signed by this issuer (wrong or re-keyed CA)");
    case X509_V_ERR_EE_KEY_TOO_SMALL:
    case X509_V_ERR_CA_KEY_TOO_SMALL:
      return finding("weak_key", depth, x, "at least 112-bit security (RSA 2048, P-256)", why,
                     "reissue with a stronger key");
    case X509_V_ERR_CA_MD_TOO_WEAK:
      return finding("weak_signature", depth, x, "SHA-256 or better", why, "reissue with SHA-256");
    case X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION:
      return finding("unknown_critical_extension", depth, x, "only understood critical extensions", why,
                     "the CA added a critical extension relying parties cannot process");
    case X509_V_ERR_INVALID_CA:
    case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
      return finding("not_a_ca", depth, x, "CA:TRUE and keyCertSign", why,
                     "the issuer is not a CA certificate");
    default:
      return finding("invalid", depth, x, "a valid path", why, "see the finding's detail");
  }
}

// RFC 5280 §4.1.2.5: valid from notBefore through notAfter, both inclusive.
// Checked by Herald for every certificate of the path (OpenSSL treats
// notAfter itself as expired), so each one out of its window gets a finding.
void check_times(const std::vector<X509*>& path, const Options& o, std::vector<Finding>& out) {
  const time_t at = static_cast<time_t>(o.at.time_since_epoch().count());
  for (size_t d = 0; d < path.size(); ++d) {
    X509* x = path[d];
    int day = 0, sec = 0;
    // diff(from, to) > 0 means to is later than from.
    if (ASN1_TIME_diff(&day, &sec, nullptr, X509_get0_notBefore(x)) != 1) {
      out.push_back(finding("malformed_certificate", static_cast<int>(d), x, "a valid notBefore",
                            "an unreadable time", "reissue the certificate"));
      continue;
    }
    ossl::Asn1TimePtr now(ASN1_TIME_set(nullptr, at));
    if (ASN1_TIME_compare(X509_get0_notBefore(x), now.get()) > 0) {
      out.push_back(finding("not_yet_valid", static_cast<int>(d), x, "valid at " + time_text(now.get()),
                            "notBefore " + time_text(X509_get0_notBefore(x)),
                            "check the clocks of this host and the CA (skew), or wait"));
    }
    if (ASN1_TIME_compare(X509_get0_notAfter(x), now.get()) < 0) {
      out.push_back(finding("expired", static_cast<int>(d), x, "valid at " + time_text(now.get()),
                            "notAfter " + time_text(X509_get0_notAfter(x)),
                            d == 0 ? "renew the certificate"
                                   : "the CA certificate expired: install its successor"));
    }
  }
}

// Herald's own checks where OpenSSL 3.0 is silent (docs/conformance.md), on a
// path OpenSSL accepted; `path` is leaf first, anchor last.
void check_extra(const std::vector<X509*>& path, const Options& o, std::vector<Finding>& out) {
  for (size_t d = 0; d < path.size(); ++d) {
    X509* x = path[d];
    const bool anchor = d + 1 == path.size();
    // Serial numbers: positive, at most 20 octets (RFC 5280 §4.1.2.2).
    const ASN1_INTEGER* serial = X509_get0_serialNumber(x);
    bool zero = true;
    for (int i = 0; i < serial->length; ++i) zero = zero && serial->data[i] == 0;
    if (!anchor && (serial->type == V_ASN1_NEG_INTEGER || zero || serial->length > 20)) {
      out.push_back(finding("invalid_serial", static_cast<int>(d), x,
                            "a positive serial number of at most 20 octets",
                            serial->type == V_ASN1_NEG_INTEGER ? "a negative serial"
                            : zero                              ? "serial 0"
                                   : std::to_string(serial->length) + " octets",
                            "reissue the certificate (RFC 5280 §4.1.2.2)"));
    }
    // Keys: no DSA; RSA moduli a whole number of octets.
    EVP_PKEY* key = X509_get0_pubkey(x);
    if (key && EVP_PKEY_is_a(key, "DSA")) {
      out.push_back(finding("weak_key", static_cast<int>(d), x, "an RSA, EC or Ed25519 key",
                            "a DSA key", "reissue with an EC P-256 key"));
    } else if (key && EVP_PKEY_is_a(key, "RSA") && EVP_PKEY_get_bits(key) % 8 != 0) {
      out.push_back(finding("weak_key", static_cast<int>(d), x,
                            "an RSA modulus of a whole number of octets",
                            std::to_string(EVP_PKEY_get_bits(key)) + " bits",
                            "reissue with a standard RSA key size"));
    }
    // Extensions that are present must decode.
    for (int nid : {NID_info_access, NID_subject_alt_name, NID_authority_key_identifier,
                    NID_crl_distribution_points}) {
      int crit = 0;
      void* v = X509_get_ext_d2i(x, nid, &crit, nullptr);
      ERR_clear_error();
      if (!v && crit != -1) {
        out.push_back(finding("malformed_extension", static_cast<int>(d), x,
                              std::string("a well-formed ") + OBJ_nid2sn(nid), "one that does not decode",
                              "reissue the certificate"));
      }
      if (nid == NID_info_access) AUTHORITY_INFO_ACCESS_free(static_cast<AUTHORITY_INFO_ACCESS*>(v));
      if (nid == NID_subject_alt_name) GENERAL_NAMES_free(static_cast<GENERAL_NAMES*>(v));
      if (nid == NID_authority_key_identifier) AUTHORITY_KEYID_free(static_cast<AUTHORITY_KEYID*>(v));
      if (nid == NID_crl_distribution_points) CRL_DIST_POINTS_free(static_cast<CRL_DIST_POINTS*>(v));
    }
  }
  // Extension rules of RFC 5280 §4.2 that OpenSSL 3.0 does not enforce.
  for (size_t d = 0; d < path.size(); ++d) {
    X509* x = path[d];
    const bool self_issued =
        X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0;
    auto bad = [&](std::string code, std::string expected, std::string found) {
      out.push_back(finding(std::move(code), static_cast<int>(d), x, std::move(expected),
                            std::move(found), "reissue the certificate"));
    };
    // §4.2.1.1: the AKI's keyIdentifier MUST be there except in self-signed
    // certificates; Herald also refuses authorityCertIssuer/SerialNumber
    // and, in a self-signed one, a key identifier other than its own SKI.
    int crit = 0;
    auto* akid = static_cast<AUTHORITY_KEYID*>(
        X509_get_ext_d2i(x, NID_authority_key_identifier, &crit, nullptr));
    ERR_clear_error();
    const bool is_anchor = d + 1 == path.size();  // trust anchors are trusted as they are
    if (!akid && !self_issued && crit == -1 && !is_anchor) {
      bad("aki_missing", "an authority key identifier (RFC 5280 §4.2.1.1)", "none");
    }
    if (akid) {
      if (!akid->keyid) bad("aki_invalid", "an AKI with a keyIdentifier", "none in the AKI");
      if (akid->issuer || akid->serial)
        bad("aki_invalid", "an AKI with a keyIdentifier only", "authorityCertIssuer/SerialNumber");
      const ASN1_OCTET_STRING* skid = X509_get0_subject_key_id(x);
      if (self_issued && akid->keyid && skid && ASN1_OCTET_STRING_cmp(akid->keyid, skid) != 0 &&
          X509_check_issued(x, x) == X509_V_OK) {
        bad("aki_invalid", "the AKI of a self-signed certificate equal to its SKI", "another key id");
      }
      AUTHORITY_KEYID_free(akid);
    }
    // §4.2.1.10: name constraints only in CA certificates, critical, and
    // never empty.
    auto* nc = static_cast<NAME_CONSTRAINTS*>(
        X509_get_ext_d2i(x, NID_name_constraints, &crit, nullptr));
    ERR_clear_error();
    if (nc) {
      if (!X509_check_ca(x)) bad("name_constraints_invalid", "name constraints only in a CA", "in an end entity");
      if (crit != 1) bad("name_constraints_invalid", "critical name constraints", "non-critical");
      if (sk_GENERAL_SUBTREE_num(nc->permittedSubtrees) <= 0 &&
          sk_GENERAL_SUBTREE_num(nc->excludedSubtrees) <= 0) {
        bad("name_constraints_invalid", "permitted or excluded subtrees", "neither");
      }
      NAME_CONSTRAINTS_free(nc);
    }
    // §4.2.1.11: policy constraints MUST be critical.
    auto* pc = static_cast<POLICY_CONSTRAINTS*>(
        X509_get_ext_d2i(x, NID_policy_constraints, &crit, nullptr));
    ERR_clear_error();
    if (pc) {
      if (crit != 1) bad("policy_constraints_invalid", "critical policy constraints", "non-critical");
      POLICY_CONSTRAINTS_free(pc);
    }
  }
  // A TLS server's end-entity certificate with an EKU: it names serverAuth
  // itself (anyExtendedKeyUsage alone is not enough) and is not critical
  // (CABF BR 7.1.2.3, as webpki and pyca/cryptography check). No EKU at all
  // means any purpose (RFC 5280 §4.2.1.12; limbo's webpki:: cases disagree).
  X509* ee = path.front();
  if (o.purpose == Purpose::kServer && !X509_check_ca(ee)) {
    int crit = 0;
    auto* eku = static_cast<EXTENDED_KEY_USAGE*>(
        X509_get_ext_d2i(ee, NID_ext_key_usage, &crit, nullptr));
    ERR_clear_error();
    bool server_auth = false;
    for (int i = 0; eku && i < sk_ASN1_OBJECT_num(eku); ++i) {
      server_auth = server_auth || OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)) == NID_server_auth;
    }
    if (eku && !server_auth) {
      out.push_back(finding("eku_mismatch", 0, ee, "serverAuth in the extended key usage",
                            eku ? eku_text(ee) : "no extended key usage",
                            "use a certificate issued for TLS servers (EKU serverAuth)"));
    } else if (crit == 1) {
      out.push_back(finding("eku_mismatch", 0, ee, "a non-critical extended key usage",
                            "a critical one", "reissue the certificate"));
    }
    EXTENDED_KEY_USAGE_free(eku);
  }
  // The leaf's DNS SANs must be host names (RFC 5280 §4.2.1.6, LDH; a
  // wildcard only as the whole leftmost label). The CN is never matched, so
  // it is not checked against them (limbo's webpki::cn cases disagree).
  X509* leaf = path.front();
  int crit = 0;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, &crit, nullptr));
  ERR_clear_error();
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    if (g->type == GEN_DNS) {
      const ASN1_STRING* str = g->d.ia5;
      std::string v(reinterpret_cast<const char*>(ASN1_STRING_get0_data(str)),
                    static_cast<size_t>(ASN1_STRING_length(str)));
      if (!x509::is_valid_dns_name(v, true)) {
        out.push_back(finding("malformed_san", 0, leaf, "DNS SANs that are host names",
                              "'" + v + "'", "reissue with valid DNS names"));
      }
    }
  }
  const bool has_subject = X509_NAME_entry_count(X509_get_subject_name(leaf)) > 0;
  if (names && crit == 1 && has_subject) {
    out.push_back(finding("san_critical_with_subject", 0, leaf,
                          "a non-critical SAN when the subject is not empty (RFC 5280 §4.2.1.6)",
                          "a critical SAN", "reissue the certificate"));
  }
  GENERAL_NAMES_free(names);
}

struct Builder {
  const std::vector<Cert>& intermediates;
  const std::vector<Cert>& anchors;
  const detail::RevocationSources& sources;
  const Options& options;
  Result& result;
  int signature_checks = 0;
  std::optional<Finding> first_failure;
  std::vector<Finding> warnings;  // of the last path that passed OpenSSL
  X509* dead_end = nullptr;
  size_t dead_end_depth = 0;
  std::vector<const Cert*> path;  // leaf first

  bool budget_left() const {
    return result.paths_tried < kMaxPathsTried && signature_checks < kMaxSignatureChecks;
  }

  // Candidate issuers of `child` among `pool`: the subject names `child`'s
  // issuer; those whose SKI matches its AKI first.
  std::vector<const Cert*> issuers(X509* child, const std::vector<Cert>& pool) {
    std::vector<const Cert*> first, rest;
    const ASN1_OCTET_STRING* akid = X509_get0_authority_key_id(child);
    for (const auto& c : pool) {
      if (X509_NAME_cmp(X509_get_subject_name(c.x509.get()), X509_get_issuer_name(child)) != 0) continue;
      if (std::find(path.begin(), path.end(), &c) != path.end()) continue;  // no loops
      const ASN1_OCTET_STRING* skid = X509_get0_subject_key_id(c.x509.get());
      (akid && skid && ASN1_OCTET_STRING_cmp(akid, skid) == 0 ? first : rest).push_back(&c);
    }
    first.insert(first.end(), rest.begin(), rest.end());
    return first;
  }

  bool check_path(const Cert& anchor) {
    ++result.paths_tried;
    StorePtr store(X509_STORE_new());
    X509_STORE_add_cert(store.get(), anchor.x509.get());
    StackPtr untrusted(sk_X509_new_null());
    for (size_t i = 1; i < path.size(); ++i) sk_X509_push(untrusted.get(), path[i]->x509.get());
    StoreCtxPtr ctx(X509_STORE_CTX_new());
    if (!X509_STORE_CTX_init(ctx.get(), store.get(), path[0]->x509.get(), untrusted.get())) {
      ERR_clear_error();
      return false;
    }
    X509_VERIFY_PARAM* p = X509_STORE_CTX_get0_param(ctx.get());
    // Times are Herald's (check_times: notAfter inclusive), revocation is
    // revocation.cc's; set_time would override NO_CHECK_TIME.
    X509_VERIFY_PARAM_set_flags(
        p, X509_V_FLAG_X509_STRICT | X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_NO_CHECK_TIME);
    X509_VERIFY_PARAM_set_depth(p, options.max_depth);
    X509_VERIFY_PARAM_set_auth_level(p, 2);
    if (options.purpose == Purpose::kServer) X509_VERIFY_PARAM_set_purpose(p, X509_PURPOSE_SSL_SERVER);
    if (options.purpose == Purpose::kClient) X509_VERIFY_PARAM_set_purpose(p, X509_PURPOSE_SSL_CLIENT);
    X509_VERIFY_PARAM_set_hostflags(
        p, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (options.dns_name) X509_VERIFY_PARAM_set1_host(p, options.dns_name->c_str(), 0);
    if (options.ip && X509_VERIFY_PARAM_set1_ip_asc(p, options.ip->c_str()) != 1) {
      ERR_clear_error();
      if (!first_failure) {
        first_failure = finding("hostname_mismatch", 0, path[0]->x509.get(), *options.ip,
                                "not an IP address", "give the address in its usual form");
      }
      return false;
    }
    if (options.email) X509_VERIFY_PARAM_set1_email(p, options.email->c_str(), 0);
    const int ok = X509_verify_cert(ctx.get());
    ERR_clear_error();
    std::vector<X509*> xs;
    for (const auto* c : path) xs.push_back(c->x509.get());
    if (path.back() != &anchor) xs.push_back(anchor.x509.get());
    std::vector<Finding> own;
    if (ok == 1) {
      check_times(xs, options, own);
      check_extra(xs, options, own);
      if (options.revocation != RevocationPolicy::kOff) {
        detail::check_revocation(xs, sources, options, own);
      }
      warnings.clear();
      for (auto it = own.begin(); it != own.end();) {
        if (it->severity == Severity::kWarning) {
          warnings.push_back(std::move(*it));
          it = own.erase(it);
        } else {
          ++it;
        }
      }
      if (!own.empty()) {
        if (!first_failure) first_failure = own.front();
        return false;
      }
    }
    if (ok == 1) {
      result.chain.clear();
      for (const auto* c : path) result.chain.push_back(c->der);
      if (path.back() != &anchor) result.chain.push_back(anchor.der);
      return true;
    }
    const int err = X509_STORE_CTX_get_error(ctx.get());
    const int depth = X509_STORE_CTX_get_error_depth(ctx.get());
    X509* at = X509_STORE_CTX_get_current_cert(ctx.get());
    if (!first_failure) first_failure = explain(err, depth, at ? at : path[0]->x509.get(), options);
    return false;
  }

  // Extends `path` (ending in its deepest certificate) towards an anchor.
  bool extend() {
    if (!budget_left()) return false;
    X509* tip = path.back()->x509.get();
    // The tip itself is a trust anchor (the same certificate).
    for (const auto& a : anchors) {
      if (a.der == path.back()->der) return check_path(a);
    }
    for (const Cert* a : issuers(tip, anchors)) {
      ++signature_checks;
      if (check_path(*a)) return true;
      if (!budget_left()) return false;
    }
    if (static_cast<int>(path.size()) > options.max_depth) return false;
    auto candidates = issuers(tip, intermediates);
    if (candidates.empty() && issuers(tip, anchors).empty() &&
        (!dead_end || path.size() > dead_end_depth + 1)) {
      dead_end = tip;  // the deepest certificate whose issuer nobody supplied
      dead_end_depth = path.size() - 1;
    }
    for (const Cert* c : candidates) {
      ++signature_checks;
      path.push_back(c);
      if (extend()) return true;
      path.pop_back();
      if (!budget_left()) return false;
    }
    return false;
  }
};

}  // namespace

Result verify(const Bytes& leaf_der, const std::vector<Bytes>& intermediate_ders,
              const std::vector<Bytes>& anchor_ders, const Options& options) {
  Result result;
  auto leaf = parse(leaf_der);
  if (!leaf) {
    result.findings.push_back(finding("malformed_certificate", 0, nullptr, "a DER X.509 certificate",
                                      std::to_string(leaf_der.size()) + " bytes that do not parse",
                                      "check the file: PEM or DER of one certificate"));
    return result;
  }
  std::vector<Cert> intermediates, anchors;
  auto load = [&](const std::vector<Bytes>& ders, std::vector<Cert>& out, const char* what) {
    for (size_t i = 0; i < ders.size(); ++i) {
      if (auto c = parse(ders[i])) {
        out.push_back(std::move(*c));
      } else {
        Finding f = finding("malformed_certificate", -1, nullptr, "a DER X.509 certificate",
                            std::string(what) + " #" + std::to_string(i + 1) + " does not parse",
                            "it was ignored");
        f.severity = Severity::kWarning;
        result.findings.push_back(std::move(f));
      }
    }
  };
  load(intermediate_ders, intermediates, "intermediate");
  load(anchor_ders, anchors, "trust anchor");
  const auto sources = detail::parse_sources(options, result.findings);
  Builder b{intermediates, anchors, sources, options, result, 0, std::nullopt, {}, nullptr, 0, {&*leaf}};
  if (b.extend()) {
    result.valid = true;
    for (auto& w : b.warnings) result.findings.push_back(std::move(w));
    return result;
  }
  if (b.first_failure) {
    result.findings.push_back(std::move(*b.first_failure));
  } else if (!b.budget_left()) {
    result.findings.push_back(finding("path_budget_exhausted", -1, nullptr,
                                      "a path within " + std::to_string(kMaxPathsTried) + " attempts",
                                      "none found", "the intermediates form too many candidate paths"));
  } else {
    // No anchor reachable: name the deepest certificate whose issuer is missing.
    X509* at = b.dead_end ? b.dead_end : leaf->x509.get();
    result.findings.push_back(finding(
        "missing_issuer", static_cast<int>(b.dead_end_depth), at,
        "a path to one of the trust anchors",
        "no certificate for issuer " + name_text(X509_get_issuer_name(at)),
        b.dead_end_depth == 0 ? "send the intermediates with the certificate (chain.pem, not "
                                "cert.pem), or trust the CA that issued it"
                              : "send the missing intermediate, or trust the CA that issued it"));
  }
  return result;
}

}  // namespace herald::verify
