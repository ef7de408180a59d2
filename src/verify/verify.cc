#include "verify/verify.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <strings.h>

#include <algorithm>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "ossl/ossl.h"
#include "verify/fast_leaf.h"
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

void cert_rules(X509* x, bool anchor, std::vector<Finding>& out);
int check_signatures(X509_STORE_CTX* ctx);
int record_errors(int ok, X509_STORE_CTX* ctx);

// A parsed certificate, the SHA-256 of its DER (the cache key), its validity
// in seconds since 1970, and Herald's rules on it alone (cert_rules), worked
// out once whichever path it is on.
struct Cert {
  ossl::X509Ptr x509;
  Bytes der;
  std::string hash;  // raw
  bool times_ok = false;
  int64_t not_before = 0, not_after = 0;
  unsigned long subject_hash = 0, issuer_hash = 0;  // of the canonical names (path building)

  const std::vector<Finding>& rules(bool anchor) const {
    std::call_once(rules_once[anchor], [&] { cert_rules(x509.get(), anchor, rules_found[anchor]); });
    return rules_found[anchor];
  }

  // A store holding this certificate alone as the trust anchor, with
  // Herald's signature step and error recording; made once, shared.
  X509_STORE* anchor_store() const {
    std::call_once(store_once, [&] {
      store.reset(X509_STORE_new());
      X509_STORE_add_cert(store.get(), x509.get());
      X509_STORE_set_verify(store.get(), check_signatures);
      X509_STORE_set_verify_cb(store.get(), record_errors);
    });
    return store.get();
  }

 private:
  mutable std::once_flag store_once;
  mutable std::unique_ptr<X509_STORE, ossl::Deleter<X509_STORE_free>> store;
  mutable std::once_flag rules_once[2];
  mutable std::vector<Finding> rules_found[2];  // [is the anchor]
};
using CertRef = std::shared_ptr<const Cert>;

std::string hash_of(const Bytes& der) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(der.data(), der.size(), md);
  return std::string(reinterpret_cast<const char*>(md), sizeof md);
}

bool seconds_of(const ASN1_TIME* t, int64_t& out) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return false;
  out = static_cast<int64_t>(timegm(&tm));
  return true;
}

std::shared_ptr<Cert> parse(const Bytes& der, std::string hash = {}) {
  const unsigned char* p = der.data();
  X509* x = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  ERR_clear_error();
  if (!x || p != der.data() + der.size()) {
    X509_free(x);
    return nullptr;
  }
  auto c = std::make_shared<Cert>();
  c->x509.reset(x);
  c->der = der;
  c->hash = hash.empty() ? hash_of(der) : std::move(hash);
  c->times_ok = seconds_of(X509_get0_notBefore(x), c->not_before) &&
                seconds_of(X509_get0_notAfter(x), c->not_after);
  c->subject_hash = X509_subject_name_hash(x);
  c->issuer_hash = X509_issuer_name_hash(x);
  ERR_clear_error();
  return c;
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
    case X509_V_ERR_MISSING_AUTHORITY_KEY_IDENTIFIER:
      return finding("aki_missing", depth, x, "an authority key identifier (RFC 5280 §4.2.1.1)", why,
                     "reissue the certificate");
    case X509_V_ERR_MISSING_SUBJECT_KEY_IDENTIFIER:
      return finding("ski_missing", depth, x, "a subject key identifier in a CA (RFC 5280 §4.2.1.2)", why,
                     "reissue the CA certificate");
    case X509_V_ERR_CA_BCONS_NOT_CRITICAL:
    case X509_V_ERR_CA_CERT_MISSING_KEY_USAGE:
    case X509_V_ERR_PATHLEN_INVALID_FOR_NON_CA:
    case X509_V_ERR_PATHLEN_WITHOUT_KU_KEY_CERT_SIGN:
    case X509_V_ERR_KU_KEY_CERT_SIGN_INVALID_FOR_NON_CA:
    case X509_V_ERR_INVALID_NON_CA:
      return finding("ca_extensions_invalid", depth, x,
                     "basicConstraints and keyUsage consistent (RFC 5280 §4.2.1.3, §4.2.1.9)", why,
                     "reissue the certificate");
    case X509_V_ERR_EMPTY_SUBJECT_ALT_NAME:
    case X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL:
    case X509_V_ERR_SUBJECT_NAME_EMPTY:
    case X509_V_ERR_ISSUER_NAME_EMPTY:
      return finding("malformed_name", depth, x, "a subject or a critical SAN, a non-empty issuer", why,
                     "reissue the certificate");
    case X509_V_ERR_AUTHORITY_KEY_IDENTIFIER_CRITICAL:
    case X509_V_ERR_SUBJECT_KEY_IDENTIFIER_CRITICAL:
    case X509_V_ERR_INVALID_EXTENSION:
    case X509_V_ERR_EXTENSIONS_REQUIRE_VERSION_3:
      return finding("malformed_extension", depth, x, "extensions as RFC 5280 §4.2 defines them", why,
                     "reissue the certificate");
    case X509_V_ERR_SIGNATURE_ALGORITHM_MISMATCH:
    case X509_V_ERR_SIGNATURE_ALGORITHM_INCONSISTENCY:
      return finding("bad_signature", depth, x, "the same signature algorithm inside and outside the TBS", why,
                     "reissue the certificate");
    case X509_V_ERR_EC_KEY_EXPLICIT_PARAMS:
      return finding("weak_key", depth, x, "an EC key on a named curve", why, "reissue with a P-256 key");
    default:
      return finding("invalid", depth, x, "a valid path", why, "see the finding's detail");
  }
}

// "4 min", "3 h", "12 days": how far a time is, for findings.
std::string how_long(int64_t seconds) {
  if (seconds < 120) return std::to_string(seconds) + " s";
  if (seconds < 2 * 3600) return std::to_string(seconds / 60) + " min";
  if (seconds < 2 * 86400) return std::to_string(seconds / 3600) + " h";
  return std::to_string(seconds / 86400) + " days";
}

// RFC 5280 §4.1.2.5: valid from notBefore through notAfter, both inclusive.
// Checked by Herald for every certificate of the path (OpenSSL treats
// notAfter itself as expired), so each one out of its window gets a finding.
void check_times(const std::vector<const Cert*>& path, const Options& o, std::vector<Finding>& out) {
  const int64_t at = o.at.time_since_epoch().count();
  for (size_t d = 0; d < path.size(); ++d) {
    const Cert& c = *path[d];
    X509* x = c.x509.get();
    if (!c.times_ok) {
      out.push_back(finding("malformed_certificate", static_cast<int>(d), x, "a valid notBefore and notAfter",
                            "an unreadable time", "reissue the certificate"));
      continue;
    }
    if (c.not_before > at || c.not_after < at) {
      ossl::Asn1TimePtr now(ASN1_TIME_set(nullptr, static_cast<time_t>(at)));
      if (c.not_before > at) {
        out.push_back(finding("not_yet_valid", static_cast<int>(d), x, "valid at " + time_text(now.get()),
                              "notBefore " + time_text(X509_get0_notBefore(x)) + ", " +
                                  how_long(c.not_before - at) + " later",
                              "check the clocks of this host and the CA (skew), or wait"));
      }
      if (c.not_after < at) {
        out.push_back(finding("expired", static_cast<int>(d), x, "valid at " + time_text(now.get()),
                              "notAfter " + time_text(X509_get0_notAfter(x)) + ", " +
                                  how_long(at - c.not_after) + " earlier",
                              d == 0 ? "renew the certificate"
                                     : "the CA certificate expired: install its successor"));
      }
    }
  }
}

// Herald's own checks where OpenSSL 3.0 is silent (docs/conformance.md) that
// depend on one certificate alone and on whether it is the trust anchor;
// findings at depth 0 (the caller sets the depth). Computed once per cached
// certificate (Cert::rules).
void cert_rules(X509* x, bool anchor, std::vector<Finding>& out) {
  const int d = 0;
  {
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
  {
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
    // A trust anchor is exempt: it is trusted as it is (RFC 5280 §6.1.1(d)).
    if (!akid && !self_issued && crit == -1 && !anchor) {
      bad("aki_missing", "an authority key identifier (RFC 5280 §4.2.1.1)", "none");
    }
    if (akid) {
      if (!akid->keyid) bad("aki_invalid", "an AKI with a keyIdentifier", "none in the AKI");
      if (akid->issuer || akid->serial)
        bad("aki_invalid", "an AKI with a keyIdentifier only", "authorityCertIssuer/SerialNumber");
      const ASN1_OCTET_STRING* skid = X509_get0_subject_key_id(x);
      if (self_issued && akid->keyid && skid && ASN1_OCTET_STRING_cmp(akid->keyid, skid) != 0 &&
          X509_get0_pubkey(x) && X509_verify(x, X509_get0_pubkey(x)) == 1) {
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
      // A dNSName subtree is a host name: "example.com" covers it and its
      // subdomains; a leading period is the URI form (§4.2.1.10).
      for (auto* subtrees : {nc->permittedSubtrees, nc->excludedSubtrees}) {
        for (int i = 0; i < sk_GENERAL_SUBTREE_num(subtrees); ++i) {
          const GENERAL_NAME* base = sk_GENERAL_SUBTREE_value(subtrees, i)->base;
          if (base->type == GEN_DNS && ASN1_STRING_length(base->d.dNSName) > 0 &&
              ASN1_STRING_get0_data(base->d.dNSName)[0] == '.') {
            bad("name_constraints_invalid", "dNSName subtrees as host names (example.com)",
                "a leading period");
            break;
          }
        }
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
}

// A wildcard DNS SAN "*.D" stands for every "L.D": a CA on the path that
// excludes one of those names ("bar.D") cannot have allowed the wildcard
// (OpenSSL compares the wildcard as a literal name). RFC 5280 and RFC 9525
// leave this open; Herald refuses, as limbo's cve-2025-61727 asks.
void check_wildcards(const std::vector<X509*>& path, std::vector<Finding>& out) {
  X509* leaf = path.front();
  std::vector<std::string> wildcards;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr));
  ERR_clear_error();
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    if (g->type != GEN_DNS) continue;
    std::string v(reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.dNSName)),
                  static_cast<size_t>(ASN1_STRING_length(g->d.dNSName)));
    if (v.size() > 2 && v.compare(0, 2, "*.") == 0) wildcards.push_back(v.substr(1));  // ".D"
  }
  GENERAL_NAMES_free(names);
  if (wildcards.empty()) return;
  for (size_t d = 1; d < path.size(); ++d) {
    if (X509_get_ext_by_NID(path[d], NID_name_constraints, -1) < 0) continue;
    auto* nc = static_cast<NAME_CONSTRAINTS*>(X509_get_ext_d2i(path[d], NID_name_constraints, nullptr, nullptr));
    ERR_clear_error();
    for (int i = 0; nc && i < sk_GENERAL_SUBTREE_num(nc->excludedSubtrees); ++i) {
      const GENERAL_NAME* base = sk_GENERAL_SUBTREE_value(nc->excludedSubtrees, i)->base;
      if (base->type != GEN_DNS) continue;
      std::string e(reinterpret_cast<const char*>(ASN1_STRING_get0_data(base->d.dNSName)),
                    static_cast<size_t>(ASN1_STRING_length(base->d.dNSName)));
      for (const auto& w : wildcards) {
        // e = "L" + w with L one non-empty label.
        if (e.size() > w.size() && strcasecmp(e.c_str() + (e.size() - w.size()), w.c_str()) == 0 &&
            e.find('.') == e.size() - w.size()) {
          out.push_back(finding("name_constraint_violation", 0, leaf,
                                "no name excluded by the CA at depth " + std::to_string(d),
                                "*" + w + " covers the excluded " + e,
                                "the CA may not certify this wildcard: issue the names one by one"));
        }
      }
    }
    NAME_CONSTRAINTS_free(nc);
  }
}

// Herald's own checks on the leaf, for the use asked (Options).
void check_leaf(X509* ee, const Options& o, std::vector<Finding>& out) {
  // A TLS server's end-entity certificate with an EKU: it names serverAuth
  // itself (anyExtendedKeyUsage alone is not enough) and is not critical
  // (CABF BR 7.1.2.3, as webpki and pyca/cryptography check). No EKU at all
  // means any purpose (RFC 5280 §4.2.1.12; limbo's webpki:: cases disagree).
  // A CA certificate in the leaf position: its EKU, when present, names the
  // purpose (OpenSSL's purpose check is waived for it: record_errors).
  const bool ca_leaf = (X509_get_extension_flags(ee) & EXFLAG_CA) != 0 &&
                       (!(X509_get_extension_flags(ee) & EXFLAG_KUSAGE) ||
                        (X509_get_key_usage(ee) & KU_KEY_CERT_SIGN));
  if (ca_leaf && o.purpose != Purpose::kAny) {
    const int want = o.purpose == Purpose::kServer ? NID_server_auth : NID_client_auth;
    auto* eku = static_cast<EXTENDED_KEY_USAGE*>(X509_get_ext_d2i(ee, NID_ext_key_usage, nullptr, nullptr));
    ERR_clear_error();
    bool named = false;
    for (int i = 0; eku && i < sk_ASN1_OBJECT_num(eku); ++i) {
      named = named || OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)) == want;
    }
    if (eku && !named) {
      out.push_back(finding("eku_mismatch", 0, ee, o.purpose == Purpose::kServer ? "serverAuth" : "clientAuth",
                            eku_text(ee), "use a certificate issued for this purpose"));
    }
    EXTENDED_KEY_USAGE_free(eku);
  }
  // A TLS server's end entity asserting cA without keyCertSign (CABF BR
  // 7.1.2.7.8: cA MUST be FALSE in a subscriber certificate).
  if (o.purpose == Purpose::kServer && !ca_leaf && (X509_get_extension_flags(ee) & EXFLAG_CA) != 0) {
    out.push_back(finding("ca_extensions_invalid", 0, ee, "cA FALSE in a server certificate",
                          "cA TRUE without keyCertSign", "reissue the certificate with CA:FALSE"));
  }
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
  X509* leaf = ee;
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
    // An rfc822Name is one mailbox, local-part@domain (RFC 5280 §4.2.1.6).
    if (g->type == GEN_EMAIL) {
      std::string v(reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.rfc822Name)),
                    static_cast<size_t>(ASN1_STRING_length(g->d.rfc822Name)));
      const size_t at = v.find('@');
      if (at == std::string::npos || at == 0 || v.find('@', at + 1) != std::string::npos ||
          !x509::is_valid_dns_name(v.substr(at + 1), false)) {
        out.push_back(finding("malformed_san", 0, leaf, "e-mail SANs of the form local@domain", "'" + v + "'",
                              "reissue with valid e-mail addresses"));
      }
    }
  }
  // A URI the caller asked for (e.g. a SPIFFE ID): one of the URI SANs, exactly.
  if (o.uri) {
    std::string uris;
    bool match = false;
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
      if (g->type != GEN_URI) continue;
      std::string v(reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.uniformResourceIdentifier)),
                    static_cast<size_t>(ASN1_STRING_length(g->d.uniformResourceIdentifier)));
      match = match || v == *o.uri;
      uris += (uris.empty() ? "" : ", ") + v;
    }
    if (!match) {
      out.push_back(finding("uri_mismatch", 0, leaf, *o.uri, uris.empty() ? "no URI SAN" : uris,
                            "the certificate does not carry this URI / SPIFFE ID as a SAN"));
    }
  }
  // EKUs the caller requires: each listed by the leaf (anyExtendedKeyUsage
  // does not stand in for a named one); no EKU extension means any purpose.
  if (!o.ekus.empty()) {
    auto* eku = static_cast<EXTENDED_KEY_USAGE*>(X509_get_ext_d2i(leaf, NID_ext_key_usage, nullptr, nullptr));
    ERR_clear_error();
    for (const auto& want : o.ekus) {
      if (!eku) break;
      bool present = false;
      for (int i = 0; i < sk_ASN1_OBJECT_num(eku); ++i) {
        char buf[128];
        OBJ_obj2txt(buf, sizeof buf, sk_ASN1_OBJECT_value(eku, i), 1);
        present = present || want == buf;
      }
      if (!present) {
        out.push_back(finding("eku_mismatch", 0, leaf, "extended key usage " + want, eku_text(leaf),
                              "use a certificate issued with this extended key usage"));
      }
    }
    EXTENDED_KEY_USAGE_free(eku);
  }
  const bool has_subject = X509_NAME_entry_count(X509_get_subject_name(leaf)) > 0;
  if (names && crit == 1 && has_subject) {
    out.push_back(finding("san_critical_with_subject", 0, leaf,
                          "a non-critical SAN when the subject is not empty (RFC 5280 §4.2.1.6)",
                          "a critical SAN", "reissue the certificate"));
  }
  GENERAL_NAMES_free(names);
}

// What the verify callback and the signature step need during one
// X509_verify_cert call (its app data).
struct PathContext {
  const std::vector<const Cert*>* certs;  // the path, leaf first, anchor last
  struct SignatureMemo* memo;
  std::vector<std::pair<int, int>> errors;  // (error, depth), every one OpenSSL reported
  std::vector<X509*> error_certs;
};

// Signatures already checked: (child hash, issuer hash). Bounded; starts
// afresh when full.
struct SignatureMemo {
  std::mutex mu;
  std::unordered_set<std::string> ok;
  uint64_t hits = 0;
  bool known(const std::string& child_hash, const std::string& issuer_hash) {
    std::lock_guard lock(mu);
    const bool found = ok.count(child_hash + issuer_hash) > 0;
    hits += found ? 1 : 0;
    return found;
  }
  void remember(const std::string& child_hash, const std::string& issuer_hash) {
    std::lock_guard lock(mu);
    if (ok.size() >= Verifier::kCachedSignatures) ok.clear();
    ok.insert(child_hash + issuer_hash);
  }
  bool known(const Cert& child, const Cert& issuer) { return known(child.hash, issuer.hash); }
  void remember(const Cert& child, const Cert& issuer) { remember(child.hash, issuer.hash); }
};

const Cert* cert_of(const PathContext& pc, X509* x) {
  for (const Cert* c : *pc.certs) {
    if (c->x509.get() == x) return c;
  }
  return nullptr;
}

// Replaces OpenSSL's internal_verify (X509_STORE_set_verify): the same
// checks (the issuer may sign certificates; each signature verifies; the
// anchor's own signature is not checked), with signatures already checked
// remembered. Times are Herald's own (check_times), as NO_CHECK_TIME makes
// them for OpenSSL.
int check_signatures(X509_STORE_CTX* ctx) {
  auto* pc = static_cast<PathContext*>(X509_STORE_CTX_get_app_data(ctx));
  STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx);
  X509_STORE_CTX_verify_cb cb = X509_STORE_CTX_get_verify_cb(ctx);
  const int n = sk_X509_num(chain);
  auto report = [&](int err, int depth, X509* x) {
    X509_STORE_CTX_set_error(ctx, err);
    X509_STORE_CTX_set_error_depth(ctx, depth);
    X509_STORE_CTX_set_current_cert(ctx, x);
    return cb(0, ctx);
  };
  for (int i = n - 2; i >= 0; --i) {
    X509* xi = sk_X509_value(chain, i + 1);
    X509* xs = sk_X509_value(chain, i);
    const uint32_t xs_flags = X509_get_extension_flags(xs);
    const bool ku = (X509_get_extension_flags(xi) & EXFLAG_KUSAGE) != 0;
    const uint32_t usage = X509_get_key_usage(xi);
    if ((xs_flags & EXFLAG_PROXY) != 0) {
      if (ku && !(usage & KU_DIGITAL_SIGNATURE) &&
          !report(X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE, i + 1, xi)) {
        return 0;
      }
    } else if (ku && !(usage & KU_KEY_CERT_SIGN) && !report(X509_V_ERR_KEYUSAGE_NO_CERTSIGN, i + 1, xi)) {
      return 0;
    }
    EVP_PKEY* key = X509_get0_pubkey(xi);
    if (!key) {
      ERR_clear_error();
      if (!report(X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY, i + 1, xi)) return 0;
      continue;
    }
    const Cert* child = pc ? cert_of(*pc, xs) : nullptr;
    const Cert* issuer = pc ? cert_of(*pc, xi) : nullptr;
    bool ok = false;
    if (child && issuer && pc->memo && pc->memo->known(*child, *issuer)) {
      ok = true;
    } else {
      ok = X509_verify(xs, key) > 0;
      ERR_clear_error();
      if (ok && child && issuer && pc->memo) pc->memo->remember(*child, *issuer);
    }
    if (!ok && !report(X509_V_ERR_CERT_SIGNATURE_FAILURE, i, xs)) return 0;
  }
  return 1;
}

// Records every error OpenSSL finds on the path and lets it go on, so all of
// them become findings.
// The path's leaf is a CA certificate able to sign certificates (cA and,
// when keyUsage is present, keyCertSign).
bool leaf_is_ca(const PathContext* pc) {
  if (pc->certs->empty()) return false;
  X509* leaf = pc->certs->front()->x509.get();
  const bool ku = (X509_get_extension_flags(leaf) & EXFLAG_KUSAGE) != 0;
  return (X509_get_extension_flags(leaf) & EXFLAG_CA) != 0 && (!ku || (X509_get_key_usage(leaf) & KU_KEY_CERT_SIGN));
}

int record_errors(int ok, X509_STORE_CTX* ctx) {
  if (ok) return 1;
  auto* pc = static_cast<PathContext*>(X509_STORE_CTX_get_app_data(ctx));
  const int err = X509_STORE_CTX_get_error(ctx);
  const int depth = X509_STORE_CTX_get_error_depth(ctx);
  X509* x = X509_STORE_CTX_get_current_cert(ctx);
  if (!pc) return 0;
  // A CA certificate in the leaf position (RFC 5280 makes no stipulation
  // about it): OpenSSL's TLS purpose asks its keyUsage for a handshake key;
  // check_leaf judges its EKU instead.
  if (err == X509_V_ERR_INVALID_PURPOSE && depth == 0 && leaf_is_ca(pc)) return 1;
  // OpenSSL's X509_STRICT wants keyUsage in every CA, the trust anchor too;
  // an anchor is trusted as it is (RFC 5280 §6.1.1(d)).
  if (err == X509_V_ERR_CA_CERT_MISSING_KEY_USAGE && x && x == pc->certs->back()->x509.get() &&
      depth > 0) {
    return 1;
  }
  for (const auto& [e, d] : pc->errors) {
    if (e == err && d == depth) return 1;
  }
  pc->errors.emplace_back(err, depth);
  pc->error_certs.push_back(x);
  return 1;
}

void add_unique(std::vector<Finding>& out, Finding f) {
  for (const auto& g : out) {
    if (g.code == f.code && g.depth == f.depth) return;
  }
  out.push_back(std::move(f));
}

// Certificates indexed by subject name, for finding issuers without
// comparing against every one (a peer may send a thousand).
struct Pool {
  std::unordered_multimap<unsigned long, const Cert*> by_subject;
  explicit Pool(const std::vector<CertRef>& certs) {
    for (const auto& c : certs) by_subject.emplace(c->subject_hash, c.get());
  }
};

struct Builder {
  const Pool& intermediates;
  const Pool& anchors;
  const std::vector<CertRef>& anchor_list;
  const detail::RevocationSources& sources;
  const Options& options;
  SignatureMemo* memo;
  Result& result;
  int signature_checks = 0;
  std::optional<std::vector<Finding>> failure;  // of the first path that failed
  std::vector<Finding> warnings;                // of the last path that passed OpenSSL
  X509* dead_end = nullptr;
  size_t dead_end_depth = 0;
  std::vector<const Cert*> path;  // leaf first
  std::vector<const Cert*> valid_path;  // the path found, leaf first, anchor last

  // Intermediates on the path (not the leaf) whose subject is their issuer,
  // which do not count against the depth, up to max_depth of them: the path
  // never grows past twice the depth (a peer may send a thousand self-issued
  // certificates).
  int self_issued_intermediates() const {
    int n = 0;
    for (size_t i = 1; i < path.size(); ++i) {
      X509* x = path[i]->x509.get();
      n += X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0 ? 1 : 0;
    }
    return std::min(n, options.max_depth);
  }

  bool budget_left() const {
    return result.paths_tried < kMaxPathsTried && signature_checks < kMaxSignatureChecks;
  }

  // Candidate issuers of `child` among `pool`: the subject names `child`'s
  // issuer; those whose SKI matches its AKI first.
  std::vector<const Cert*> issuers(const Cert& child, const Pool& pool) {
    std::vector<const Cert*> first, rest;
    X509* x = child.x509.get();
    const ASN1_OCTET_STRING* akid = X509_get0_authority_key_id(x);
    auto [begin, end] = pool.by_subject.equal_range(child.issuer_hash);
    for (auto it = begin; it != end; ++it) {
      const Cert* c = it->second;
      if (X509_NAME_cmp(X509_get_subject_name(c->x509.get()), X509_get_issuer_name(x)) != 0) continue;
      if (std::find(path.begin(), path.end(), c) != path.end()) continue;  // no loops
      const ASN1_OCTET_STRING* skid = X509_get0_subject_key_id(c->x509.get());
      (akid && skid && ASN1_OCTET_STRING_cmp(akid, skid) == 0 ? first : rest).push_back(c);
    }
    first.insert(first.end(), rest.begin(), rest.end());
    return first;
  }

  void fail(std::vector<Finding> findings) {
    if (!failure) failure = std::move(findings);
  }

  bool check_path(const Cert& anchor) {
    ++result.paths_tried;
    std::vector<const Cert*> certs = path;
    if (path.back() != &anchor) certs.push_back(&anchor);
    StackPtr untrusted(sk_X509_new_null());
    for (size_t i = 1; i < path.size(); ++i) sk_X509_push(untrusted.get(), path[i]->x509.get());
    StoreCtxPtr ctx(X509_STORE_CTX_new());
    if (!X509_STORE_CTX_init(ctx.get(), anchor.anchor_store(), path[0]->x509.get(), untrusted.get())) {
      ERR_clear_error();
      return false;
    }
    PathContext pc{&certs, memo, {}, {}};
    X509_STORE_CTX_set_app_data(ctx.get(), &pc);
    X509_VERIFY_PARAM* p = X509_STORE_CTX_get0_param(ctx.get());
    // Times are Herald's (check_times: notAfter inclusive), revocation is
    // revocation.cc's; set_time would override NO_CHECK_TIME.
    X509_VERIFY_PARAM_set_flags(
        p, X509_V_FLAG_X509_STRICT | X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_NO_CHECK_TIME);
    // Self-issued intermediates do not count against the depth (RFC 5280
    // §6.1.4(l)); OpenSSL counts every certificate, so it is told more.
    X509_VERIFY_PARAM_set_depth(p, options.max_depth + self_issued_intermediates());
    X509_VERIFY_PARAM_set_auth_level(p, 2);
    if (options.purpose == Purpose::kServer) X509_VERIFY_PARAM_set_purpose(p, X509_PURPOSE_SSL_SERVER);
    if (options.purpose == Purpose::kClient) X509_VERIFY_PARAM_set_purpose(p, X509_PURPOSE_SSL_CLIENT);
    X509_VERIFY_PARAM_set_hostflags(
        p, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (options.dns_name) X509_VERIFY_PARAM_set1_host(p, options.dns_name->c_str(), 0);
    if (options.ip && X509_VERIFY_PARAM_set1_ip_asc(p, options.ip->c_str()) != 1) {
      ERR_clear_error();
      fail({finding("hostname_mismatch", 0, path[0]->x509.get(), *options.ip, "not an IP address",
                    "give the address in its usual form")});
      return false;
    }
    if (options.email) X509_VERIFY_PARAM_set1_email(p, options.email->c_str(), 0);
    const int ok = X509_verify_cert(ctx.get());
      ERR_clear_error();
    std::vector<X509*> xs;
    for (const auto* c : certs) xs.push_back(c->x509.get());
    std::vector<Finding> found;
    for (size_t i = 0; i < pc.errors.size(); ++i) {
      X509* at = pc.error_certs[i] ? pc.error_certs[i] : path[0]->x509.get();
      add_unique(found, explain(pc.errors[i].first, pc.errors[i].second, at, options));
    }
      if (ok != 1 && found.empty()) {
      const int err = X509_STORE_CTX_get_error(ctx.get());
      X509* at = X509_STORE_CTX_get_current_cert(ctx.get());
      found.push_back(explain(err == X509_V_OK ? X509_V_ERR_UNSPECIFIED : err,
                              X509_STORE_CTX_get_error_depth(ctx.get()), at ? at : path[0]->x509.get(),
                              options));
    }
    std::vector<Finding> own;
    check_times(certs, options, own);
    for (size_t d = 0; d < certs.size(); ++d) {
      for (Finding f : certs[d]->rules(d + 1 == certs.size())) {
        f.depth = static_cast<int>(d);
        own.push_back(std::move(f));
      }
    }
    check_leaf(xs.front(), options, own);
    check_wildcards(xs, own);
    if (found.empty() && own.empty() && options.revocation != RevocationPolicy::kOff) {
      detail::check_revocation(xs, sources, options, own);
    }
    std::vector<Finding> path_warnings;
    for (auto& f : own) {
      if (f.severity == Severity::kWarning) {
        path_warnings.push_back(std::move(f));
      } else {
        add_unique(found, std::move(f));
      }
    }
    if (!found.empty()) {
      std::stable_sort(found.begin(), found.end(),
                       [](const Finding& a, const Finding& b) { return a.depth < b.depth; });
      fail(std::move(found));
      return false;
    }
    warnings = std::move(path_warnings);
    result.chain.clear();
    for (const auto* c : certs) result.chain.push_back(c->der);
    valid_path = certs;
    return true;
  }

  // Extends `path` (ending in its deepest certificate) towards an anchor.
  bool extend() {
    if (!budget_left()) return false;
    const Cert& tip = *path.back();
    // The tip itself is a trust anchor (the same certificate).
    for (const auto& a : anchor_list) {
      if (a->hash == tip.hash) return check_path(*a);
    }
    for (const Cert* a : issuers(tip, anchors)) {
      ++signature_checks;
      if (check_path(*a)) return true;
      if (!budget_left()) return false;
    }
    if (static_cast<int>(path.size()) - self_issued_intermediates() > options.max_depth) return false;
    auto candidates = issuers(tip, intermediates);
    if (candidates.empty() && issuers(tip, anchors).empty() &&
        (!dead_end || path.size() > dead_end_depth + 1)) {
      dead_end = tip.x509.get();  // the deepest certificate whose issuer nobody supplied
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

Finding ignored(const char* what, size_t i) {
  Finding f = finding("malformed_certificate", -1, nullptr, "a DER X.509 certificate",
                      std::string(what) + " #" + std::to_string(i + 1) + " does not parse",
                      "it was ignored");
  f.severity = Severity::kWarning;
  return f;
}

}  // namespace

struct Verifier::State {
  Settings settings;
  std::vector<CertRef> anchors;
  Pool anchor_pool{{}};
  std::vector<Finding> anchor_warnings;
  SignatureMemo memo;
  std::mutex mu;  // guards certs and the counters
  std::unordered_map<std::string, CertRef> certs;
  size_t cached_bytes = 0;  // DER bytes of `certs`
  Stats stats;

  // The certificate of `der`, parsed once while it stays in the cache.
  // CA parts of paths found valid, by the issuing CA's subject (DER) and the
  // purpose: what a new leaf from the same CA needs (fast_leaf.h).
  struct KnownPath {
    detail::KnownIssuer issuer;
    std::vector<CertRef> certs;  // issuing CA first, anchor last (keeps the keys alive)
  };
  std::mutex known_mu;
  std::unordered_map<std::string, std::shared_ptr<const KnownPath>> known;
  static constexpr size_t kKnownPaths = 1024;

  static std::string known_key(const Bytes& issuer_subject, Purpose purpose) {
    return std::string(1, static_cast<char>(purpose)) + std::string(issuer_subject.begin(), issuer_subject.end());
  }

  std::shared_ptr<const KnownPath> known_path(const Bytes& issuer_subject, Purpose purpose) {
    std::lock_guard lock(known_mu);
    auto it = known.find(known_key(issuer_subject, purpose));
    return it == known.end() ? nullptr : it->second;
  }

  // After a valid path from the full check: remember its CA part when a new
  // leaf's verdict depends on nothing in it but its times and its issuer
  // (no name constraints, no policy extensions, an EC issuing key with an
  // SKI).
  void remember(const std::vector<const Cert*>& path, const std::vector<CertRef>& pool, Purpose purpose) {
    if (!settings.cache || path.size() < 2) return;
    auto kp = std::make_shared<KnownPath>();
    kp->issuer.not_before = INT64_MIN;
    kp->issuer.not_after = INT64_MAX;
    for (size_t i = 1; i < path.size(); ++i) {
      X509* x = path[i]->x509.get();
      for (int nid : {NID_name_constraints, NID_certificate_policies, NID_policy_constraints,
                      NID_policy_mappings, NID_inhibit_any_policy}) {
        if (X509_get_ext_by_NID(x, nid, -1) >= 0) return;
      }
      if (!path[i]->times_ok) return;
      kp->issuer.not_before = std::max(kp->issuer.not_before, path[i]->not_before);
      kp->issuer.not_after = std::min(kp->issuer.not_after, path[i]->not_after);
      // Keep the certificates alive with the entry.
      CertRef ref;
      for (const auto& c : pool) {
        if (c.get() == path[i]) ref = c;
      }
      for (const auto& c : anchors) {
        if (c.get() == path[i]) ref = c;
      }
      if (!ref) return;
      kp->certs.push_back(std::move(ref));
    }
    X509* issuer = path[1]->x509.get();
    EVP_PKEY* key = X509_get0_pubkey(issuer);
    const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(issuer);
    ERR_clear_error();
    if (!key || !EVP_PKEY_is_a(key, "EC") || !ski || X509_NAME_entry_count(X509_get_subject_name(issuer)) == 0) {
      return;
    }
    unsigned char* der = nullptr;
    const int n = i2d_X509_NAME(X509_get_subject_name(issuer), &der);
    if (n <= 0) return;
    kp->issuer.subject_der.assign(der, der + n);
    OPENSSL_free(der);
    kp->issuer.ski.assign(ski->data, ski->data + ski->length);
    kp->issuer.key = key;
    kp->issuer.intermediates = static_cast<int>(path.size()) - 2;
    std::lock_guard lock(known_mu);
    if (known.size() >= kKnownPaths) known.clear();
    known[known_key(kp->issuer.subject_der, purpose)] = std::move(kp);
  }

  bool is_cached(const std::string& hash) {
    std::lock_guard lock(mu);
    return certs.count(hash) > 0;
  }

  CertRef cached(const Bytes& der, std::string h = {}) {
    if (!settings.cache) {
      std::lock_guard lock(mu);
      ++stats.parsed;
      return parse(der);
    }
    if (h.empty()) h = hash_of(der);
    {
      std::lock_guard lock(mu);
      if (auto it = certs.find(h); it != certs.end()) {
        ++stats.cert_cache_hits;
        return it->second;
      }
    }
    CertRef c = parse(der, h);
    if (!c) return nullptr;
    std::lock_guard lock(mu);
    ++stats.parsed;
    // Bounded by count and by bytes (a peer chooses what it presents): a
    // certificate above kMaxCachedCertificateBytes is used, not kept.
    if (der.size() > kMaxCachedCertificateBytes) return c;
    if (certs.size() >= kCachedCertificates || cached_bytes + der.size() > kCachedBytes) {
      certs.clear();
      cached_bytes = 0;
    }
    if (certs.emplace(std::move(h), c).second) cached_bytes += der.size();
    return c;
  }
};

Verifier::Verifier(const std::vector<Bytes>& anchors) : Verifier(anchors, Settings{}) {}

Verifier::Verifier(const std::vector<Bytes>& anchors, Settings settings)
    : state_(std::make_unique<State>()) {
  state_->settings = settings;
  for (size_t i = 0; i < anchors.size(); ++i) {
    if (auto c = parse(anchors[i])) {
      state_->anchors.push_back(std::move(c));
    } else {
      state_->anchor_warnings.push_back(ignored("trust anchor", i));
    }
  }
  state_->anchor_pool = Pool(state_->anchors);
}

Verifier::~Verifier() = default;

Verifier::Stats Verifier::stats() const {
  std::lock_guard lock(state_->mu);
  Stats s = state_->stats;
  std::lock_guard memo_lock(state_->memo.mu);
  s.signature_cache_hits = state_->memo.hits;
  return s;
}

Result Verifier::verify(const Bytes& leaf_der, const std::vector<Bytes>& intermediate_ders,
                        const Options& options) const {
  Result result;
  result.findings = state_->anchor_warnings;
  std::vector<CertRef> intermediates;
  for (size_t i = 0; i < intermediate_ders.size(); ++i) {
    if (auto c = state_->cached(intermediate_ders[i])) {
      intermediates.push_back(std::move(c));
    } else {
      result.findings.push_back(ignored("intermediate", i));
    }
  }
  // A new leaf from a CA whose part of the path was verified before, all of
  // that part presented: the leaf step alone (fast_leaf.h), accept-only.
  // (A leaf already parsed and cached is quicker through the full path,
  // whose signatures are remembered.)
  std::string leaf_hash;
  if (state_->settings.cache && state_->settings.fast_leaf && result.findings.empty()) {
    leaf_hash = hash_of(leaf_der);
    auto kp = state_->is_cached(leaf_hash) ? nullptr
                                           : state_->known_path(detail::issuer_name_der(leaf_der), options.purpose);
    if (kp) {
      bool presented = true;
      for (size_t i = 0; i + 1 < kp->certs.size() && presented; ++i) {
        presented = std::any_of(intermediates.begin(), intermediates.end(),
                                [&](const CertRef& c) { return c->hash == kp->certs[i]->hash; });
      }
      const std::string& issuer_hash = kp->certs.front()->hash;
      const bool signature_known = presented && state_->memo.known(leaf_hash, issuer_hash);
      if (presented && detail::fast_leaf_valid(leaf_der, kp->issuer, options, !signature_known)) {
        if (!signature_known) state_->memo.remember(leaf_hash, issuer_hash);
        {
          std::lock_guard lock(state_->mu);
          ++state_->stats.fast_leaves;
        }
        result.valid = true;
        result.paths_tried = 1;
        result.chain.push_back(leaf_der);
        for (const auto& c : kp->certs) result.chain.push_back(c->der);
        return result;
      }
    }
  }
  CertRef leaf = state_->cached(leaf_der, leaf_hash);
  if (!leaf) {
    result.findings.push_back(finding("malformed_certificate", 0, nullptr, "a DER X.509 certificate",
                                      std::to_string(leaf_der.size()) + " bytes that do not parse",
                                      "check the file: PEM or DER of one certificate"));
    return result;
  }
  const auto sources = detail::parse_sources(options, result.findings);
  const Pool intermediate_pool(intermediates);
  Builder b{intermediate_pool, state_->anchor_pool, state_->anchors, sources, options,
            state_->settings.cache ? &state_->memo : nullptr, result};
  b.path.push_back(leaf.get());
  if (b.extend()) {
    result.valid = true;
    for (auto& w : b.warnings) result.findings.push_back(std::move(w));
    if (result.findings.empty()) state_->remember(b.valid_path, intermediates, options.purpose);
    return result;
  }
  if (b.failure) {
    for (auto& f : *b.failure) result.findings.push_back(std::move(f));
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

Result verify(const Bytes& leaf, const std::vector<Bytes>& intermediates,
              const std::vector<Bytes>& anchors, const Options& options) {
  Verifier v(anchors, Verifier::Settings{.cache = false});
  return v.verify(leaf, intermediates, options);
}

}  // namespace herald::verify
