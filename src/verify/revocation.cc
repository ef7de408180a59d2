#include "verify/revocation.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>

#include "base/clock.h"
#include "verify/finding_util.h"
#include "x509/crl.h"

namespace herald::verify::detail {

namespace {

constexpr int64_t kOcspSkew = 5 * 60;                 // thisUpdate may be this far ahead of `at`
constexpr int64_t kOcspMaxAgeNoNext = 7 * 24 * 3600;  // thisUpdate age accepted without nextUpdate
constexpr int kMaxResponderCerts = 16;                // certificates looked at in one response

std::optional<int64_t> unix_of(const ASN1_TIME* t) {
  if (!t) return std::nullopt;
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) {
    ERR_clear_error();
    return std::nullopt;
  }
  return static_cast<int64_t>(timegm(&tm));
}

std::string when(int64_t t) { return format_time(TimePoint{std::chrono::seconds(t)}); }

// A rough span for people: "40 s", "12 min", "3 h", "9 d".
std::string span_text(int64_t s) {
  s = std::llabs(s);
  if (s < 120) return std::to_string(s) + " s";
  if (s < 2 * 3600) return std::to_string(s / 60) + " min";
  if (s < 2 * 86400) return std::to_string(s / 3600) + " h";
  return std::to_string(s / 86400) + " d";
}

std::string reason_text(long r) {
  if (r < 0) return "unspecified";
  if (r > 10 || r == 7) return "reason code " + std::to_string(r);
  return std::string(x509::reason_name(static_cast<x509::RevocationReason>(r)));
}

std::string oid_text(const ASN1_OBJECT* o) {
  char buf[128];
  const int n = OBJ_obj2txt(buf, sizeof buf, o, 0);
  if (n <= 0) {
    ERR_clear_error();
    return "an unreadable OID";
  }
  return std::string(buf, static_cast<size_t>(std::min<int>(n, static_cast<int>(sizeof buf) - 1)));
}

enum class Verdict { kNotForThis, kUnusable, kGood, kRevoked };

struct Outcome {
  Verdict verdict = Verdict::kNotForThis;
  std::string expected;  // kUnusable
  std::string found;     // kUnusable: why; kRevoked: when and why
  std::string hint;      // kUnusable
};

Outcome unusable(std::string expected, std::string found, std::string hint) {
  return {Verdict::kUnusable, std::move(expected), std::move(found), std::move(hint)};
}

// ---- CRLs (RFC 5280 §5, §6.3.3) ----

bool crl_ext_understood(int nid) {
  return nid == NID_crl_number || nid == NID_authority_key_identifier ||
         nid == NID_issuer_alt_name || nid == NID_issuing_distribution_point ||
         nid == NID_delta_crl;
}

// The X509_NAME a relative distribution point name stands for (RFC 5280
// §4.2.1.13: appended to the CRL issuer's name), computed by OpenSSL.
const X509_NAME* dp_dirname(DIST_POINT_NAME* dpn, const X509_NAME* base) {
  if (!dpn->dpname && DIST_POINT_set_dpname(dpn, base) != 1) {
    ERR_clear_error();
    return nullptr;
  }
  return dpn->dpname;
}

bool gens_hold_dirname(const GENERAL_NAMES* gens, const X509_NAME* name) {
  if (!name) return false;
  for (int i = 0; i < sk_GENERAL_NAME_num(gens); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(gens, i);
    if (g->type == GEN_DIRNAME && X509_NAME_cmp(g->d.directoryName, name) == 0) return true;
  }
  return false;
}

// RFC 5280 §6.3.3 (b)(2)(i): one name of the certificate's distribution
// point equals one name of the CRL's issuingDistributionPoint.
bool dp_names_match(DIST_POINT_NAME* cert_dp, DIST_POINT_NAME* idp_dp, const X509_NAME* issuer) {
  if (cert_dp->type == 0 && idp_dp->type == 0) {
    for (int i = 0; i < sk_GENERAL_NAME_num(cert_dp->name.fullname); ++i) {
      for (int j = 0; j < sk_GENERAL_NAME_num(idp_dp->name.fullname); ++j) {
        if (GENERAL_NAME_cmp(sk_GENERAL_NAME_value(cert_dp->name.fullname, i),
                             sk_GENERAL_NAME_value(idp_dp->name.fullname, j)) == 0)
          return true;
      }
    }
    return false;
  }
  if (cert_dp->type == 1 && idp_dp->type == 1) {
    const X509_NAME* a = dp_dirname(cert_dp, issuer);
    const X509_NAME* b = dp_dirname(idp_dp, issuer);
    return a && b && X509_NAME_cmp(a, b) == 0;
  }
  if (cert_dp->type == 1)
    return gens_hold_dirname(idp_dp->name.fullname, dp_dirname(cert_dp, issuer));
  return gens_hold_dirname(cert_dp->name.fullname, dp_dirname(idp_dp, issuer));
}

// Does the CRL's scope (issuingDistributionPoint) include `cert`? "" if so,
// else why not.
std::string idp_scope_refusal(X509_CRL* crl, X509* cert, bool& unreadable) {
  int crit = -1;
  std::unique_ptr<ISSUING_DIST_POINT, ossl::Deleter<ISSUING_DIST_POINT_free>> idp(
      static_cast<ISSUING_DIST_POINT*>(
          X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, &crit, nullptr)));
  if (!idp) {
    ERR_clear_error();
    if (crit == -1) return "";
    unreadable = true;
    return "an unreadable or repeated issuingDistributionPoint extension";
  }
  if (idp->indirectCRL)
    return "an indirect CRL (issuingDistributionPoint indirectCRL), which Herald does not support";
  if (idp->onlyattr) return "a CRL of attribute certificates only";
  if (idp->onlysomereasons) return "a CRL for some revocation reasons only (onlySomeReasons)";
  const bool is_ca = (X509_get_extension_flags(cert) & EXFLAG_CA) != 0;
  if (idp->onlyuser && is_ca)
    return "a CRL of end-entity certificates only, and this is a CA certificate";
  if (idp->onlyCA && !is_ca)
    return "a CRL of CA certificates only, and this is an end-entity certificate";
  if (!idp->distpoint) return "";
  std::unique_ptr<CRL_DIST_POINTS, ossl::Deleter<CRL_DIST_POINTS_free>> cdps(
      static_cast<CRL_DIST_POINTS*>(
          X509_get_ext_d2i(cert, NID_crl_distribution_points, nullptr, nullptr)));
  ERR_clear_error();
  if (!cdps) return "a CRL for one distribution point, and the certificate names none";
  const X509_NAME* issuer = X509_CRL_get_issuer(crl);
  for (int i = 0; i < sk_DIST_POINT_num(cdps.get()) && i < 16; ++i) {
    DIST_POINT* dp = sk_DIST_POINT_value(cdps.get(), i);
    if (!dp->distpoint || dp->reasons || dp->CRLissuer) continue;
    if (dp_names_match(dp->distpoint, idp->distpoint, issuer)) return "";
  }
  return "a CRL for a distribution point the certificate does not name";
}

Outcome check_crl(X509_CRL* crl, size_t index, X509* cert, X509* issuer, int64_t at) {
  if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_issuer_name(cert)) != 0) return {};
  const std::string label = "CRL #" + std::to_string(index);
  const std::string issuer_subject = subject_of(issuer);
  // keyUsage: a CA without the extension may sign CRLs (RFC 5280 §4.2.1.3
  // constrains only what the extension asserts).
  if ((X509_get_extension_flags(issuer) & EXFLAG_KUSAGE) &&
      !(X509_get_key_usage(issuer) & KU_CRL_SIGN)) {
    return unusable(
        "an issuer whose keyUsage has cRLSign",
        label + ": its issuer " + issuer_subject + " may not sign CRLs (keyUsage without cRLSign)",
        "reissue the CA certificate with cRLSign, or publish the CRL with a key that has it");
  }
  EVP_PKEY* key = X509_get0_pubkey(issuer);
  const int sig = key ? X509_CRL_verify(crl, key) : 0;
  ERR_clear_error();
  if (sig != 1) {
    return unusable(
        "a CRL signed by " + issuer_subject,
        label + ": its signature does not verify with the key of " + issuer_subject,
        "the CRL is corrupted, forged or from another key of the CA: fetch it again from the CA");
  }
  bool delta = false;
  for (int i = 0; i < X509_CRL_get_ext_count(crl); ++i) {
    X509_EXTENSION* ext = X509_CRL_get_ext(crl, i);
    const int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
    if (nid == NID_delta_crl) delta = true;
    if (X509_EXTENSION_get_critical(ext) && !crl_ext_understood(nid)) {
      return unusable(
          "only CRL extensions Herald understands marked critical",
          label + ": critical extension " + oid_text(X509_EXTENSION_get_object(ext)),
          "the CA marks an extension critical that relying parties cannot process: fix the CA");
    }
  }
  if (delta) {
    return unusable("a complete CRL",
                    label + ": a delta CRL (deltaCRLIndicator); Herald does not support delta CRLs",
                    "give the issuer's complete (base) CRL");
  }
  int crit = -1;
  std::unique_ptr<ASN1_INTEGER, ossl::Deleter<ASN1_INTEGER_free>> number(
      static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl, NID_crl_number, &crit, nullptr)));
  ERR_clear_error();
  if (!number) {
    return unusable(
        "a CRL number (RFC 5280 §5.2.3)",
        label + (crit == -1 ? ": no CRL number" : ": an unreadable or repeated CRL number"),
        "the CA must put a CRL number in every CRL: fix its CRL generation");
  }
  if (crit == 1) {
    return unusable("a non-critical CRL number (RFC 5280 §5.2.3)",
                    label + ": the CRL number is marked critical",
                    "the CA must mark the CRL number non-critical: fix its CRL generation");
  }
  // Not current: unusable to show a certificate is good, but a revocation
  // it lists still stands (revocation is final, RFC 5280 §3.3; only
  // certificateHold may be lifted), so the entries are still read.
  std::optional<Outcome> stale;
  const auto this_update = unix_of(X509_CRL_get0_lastUpdate(crl));
  const ASN1_TIME* next_raw = X509_CRL_get0_nextUpdate(crl);
  const auto next_update = unix_of(next_raw);
  if (!this_update) {
    stale = unusable("a readable thisUpdate", label + ": thisUpdate does not parse",
                     "fetch the CRL again from the CA");
  } else if (*this_update > at) {
    stale = unusable("thisUpdate at or before " + when(at),
                     label + ": issued " + when(*this_update) + ", " +
                         span_text(*this_update - at) + " in the future",
                     "check the clocks here and on the CA: the CRL is not valid for another " +
                         span_text(*this_update - at));
  } else if (!next_raw) {
    stale = unusable("a nextUpdate (RFC 5280 §5.1.2.5)",
                     label + ": no nextUpdate, so it can never be current",
                     "the CA must set nextUpdate on its CRLs: fix its CRL generation");
  } else if (!next_update) {
    stale = unusable("a readable nextUpdate", label + ": nextUpdate does not parse",
                     "fetch the CRL again from the CA");
  } else if (*next_update < at) {
    stale = unusable("nextUpdate at or after " + when(at),
                     label + ": expired " + span_text(at - *next_update) + " ago (nextUpdate " +
                         when(*next_update) + ")",
                     "the CA's CRL publishing is stuck: re-sign and publish its CRL (herald crl), "
                     "then fetch it again");
  }
  bool unreadable_idp = false;
  if (std::string why = idp_scope_refusal(crl, cert, unreadable_idp); !why.empty()) {
    return unusable(
        unreadable_idp ? "a readable issuingDistributionPoint"
                       : "a CRL whose scope covers the certificate",
        label + ": " + why,
        "give the issuer's complete CRL for this certificate (from its CRL distribution point)");
  }
  // One pass over the entries: understood critical extensions only, no
  // certificateIssuer (indirect CRLs are not supported), and the serial.
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert);
  STACK_OF(X509_REVOKED)* entries = X509_CRL_get_REVOKED(crl);
  X509_REVOKED* hit = nullptr;
  for (int i = 0; i < sk_X509_REVOKED_num(entries); ++i) {
    X509_REVOKED* e = sk_X509_REVOKED_value(entries, i);
    for (int j = 0; j < X509_REVOKED_get_ext_count(e); ++j) {
      X509_EXTENSION* ext = X509_REVOKED_get_ext(e, j);
      const int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
      if (nid == NID_certificate_issuer) {
        return unusable("a direct CRL",
                        label + ": an entry names a certificateIssuer (an indirect CRL)",
                        "Herald does not support indirect CRLs: give the issuer's own CRL");
      }
      if (X509_EXTENSION_get_critical(ext) && nid != NID_crl_reason && nid != NID_invalidity_date) {
        return unusable(
            "only entry extensions Herald understands marked critical",
            label + ": an entry has critical extension " + oid_text(X509_EXTENSION_get_object(ext)),
            "the CA marks an entry extension critical that relying parties cannot process: fix the "
            "CA");
      }
    }
    if (!hit && ASN1_INTEGER_cmp(X509_REVOKED_get0_serialNumber(e), serial) == 0) hit = e;
  }
  if (!hit) {
    if (stale) return *stale;
    return {Verdict::kGood, {}, {}, {}};
  }
  long reason = -1;
  int rcrit = -1;
  if (auto* r = static_cast<ASN1_ENUMERATED*>(
          X509_REVOKED_get_ext_d2i(hit, NID_crl_reason, &rcrit, nullptr))) {
    reason = ASN1_ENUMERATED_get(r);
    ASN1_ENUMERATED_free(r);
  }
  ERR_clear_error();
  const bool hold_or_removed =
      reason == static_cast<long>(x509::RevocationReason::kRemoveFromCrl) ||
      reason == static_cast<long>(x509::RevocationReason::kCertificateHold);
  if (stale && hold_or_removed) return *stale;  // a hold may have been lifted since
  if (reason == static_cast<long>(x509::RevocationReason::kRemoveFromCrl)) {
    return {Verdict::kGood, {}, {}, {}};
  }
  const auto date = unix_of(X509_REVOKED_get0_revocationDate(hit));
  return {Verdict::kRevoked,
          {},
          "revoked " + (date ? when(*date) : std::string("(unreadable date)")) + ", reason " +
              reason_text(reason) + " (" + label + " of " + name_text(X509_CRL_get_issuer(crl)) +
              (stale ? "; that CRL is not current, but a revocation is final" : "") + ")",
          {}};
}

// ---- OCSP responses (RFC 6960) ----

bool responder_id_names(X509* c, const ASN1_OCTET_STRING* key_id, const X509_NAME* name) {
  if (name) return X509_NAME_cmp(name, X509_get_subject_name(c)) == 0;
  if (!key_id) return false;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_pubkey_digest(c, EVP_sha1(), md, &len) != 1) {
    ERR_clear_error();
    return false;
  }
  return static_cast<int>(len) == ASN1_STRING_length(key_id) &&
         std::memcmp(md, ASN1_STRING_get0_data(key_id), len) == 0;
}

Bytes octets(const ASN1_OCTET_STRING* s) {
  const unsigned char* d = ASN1_STRING_get0_data(s);
  return Bytes(d, d + ASN1_STRING_length(s));
}

bool nonce_matches(const ASN1_OCTET_STRING* ext_value, const Bytes& nonce) {
  if (octets(ext_value) == nonce) return true;
  const unsigned char* p = ASN1_STRING_get0_data(ext_value);
  const long len = ASN1_STRING_length(ext_value);
  std::unique_ptr<ASN1_OCTET_STRING, ossl::Deleter<ASN1_OCTET_STRING_free>> inner(
      d2i_ASN1_OCTET_STRING(nullptr, &p, len));
  ERR_clear_error();
  return inner && p == ASN1_STRING_get0_data(ext_value) + len && octets(inner.get()) == nonce;
}

Outcome check_ocsp(OCSP_BASICRESP* bs, size_t index, X509* cert, X509* issuer, int64_t at,
                   const Options& options) {
  const std::string label = "OCSP response #" + std::to_string(index);
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert);
  OCSP_SINGLERESP* single = nullptr;
  const int count = std::min(OCSP_resp_count(bs), kMaxSingleResponses);
  for (int i = 0; i < count && !single; ++i) {
    OCSP_SINGLERESP* s = OCSP_resp_get0(bs, i);
    if (!s) continue;
    auto* id = const_cast<OCSP_CERTID*>(OCSP_SINGLERESP_get0_id(s));
    ASN1_OBJECT* md_oid = nullptr;
    ASN1_INTEGER* id_serial = nullptr;
    if (!id || OCSP_id_get0_info(nullptr, &md_oid, nullptr, &id_serial, id) != 1 || !id_serial ||
        ASN1_INTEGER_cmp(id_serial, serial) != 0)
      continue;
    const EVP_MD* md = md_oid ? EVP_get_digestbyobj(md_oid) : nullptr;
    if (!md) continue;
    ossl::OcspCertIdPtr mine(OCSP_cert_to_id(md, cert, issuer));
    if (mine && OCSP_id_cmp(mine.get(), id) == 0) single = s;
  }
  ERR_clear_error();
  if (!single) return {};
  const std::string issuer_subject = subject_of(issuer);

  // Who signed it: the issuer, or a delegated responder included in it.
  const ASN1_OCTET_STRING* key_id = nullptr;
  const X509_NAME* rname = nullptr;
  OCSP_resp_get0_id(bs, &key_id, &rname);
  X509* signer = nullptr;
  if (responder_id_names(issuer, key_id, rname)) {
    signer = issuer;
  } else {
    const STACK_OF(X509)* certs = OCSP_resp_get0_certs(bs);
    for (int i = 0; i < sk_X509_num(certs) && i < kMaxResponderCerts && !signer; ++i) {
      X509* c = sk_X509_value(certs, i);
      if (responder_id_names(c, key_id, rname)) signer = c;
    }
  }
  if (!signer) {
    return unusable(
        "a response signed by " + issuer_subject + " or its delegated responder",
        label +
            ": signed by a responder that is neither the issuer nor a certificate in the response",
        "the responder must answer with the issuer's key or include its responder certificate");
  }
  if (signer != issuer) {
    EVP_PKEY* ikey = X509_get0_pubkey(issuer);
    const bool issued =
        X509_NAME_cmp(X509_get_issuer_name(signer), X509_get_subject_name(issuer)) == 0 && ikey &&
        X509_verify(signer, ikey) == 1;
    ERR_clear_error();
    const std::string rs = subject_of(signer);
    if (!issued) {
      return unusable(
          "a delegated responder certified by " + issuer_subject,
          label + ": responder " + rs + " is not certified by " + issuer_subject,
          "a delegated responder must be certified by the CA that issued the certificate (RFC 6960 "
          "§4.2.2.2)");
    }
    if (!(X509_get_extension_flags(signer) & EXFLAG_XKUSAGE) ||
        !(X509_get_extended_key_usage(signer) & XKU_OCSP_SIGN)) {
      return unusable("a responder certificate with the OCSPSigning EKU",
                      label + ": responder " + rs + " lacks the id-kp-OCSPSigning EKU",
                      "issue the responder certificate with EKU OCSPSigning (profile ocsp-signer)");
    }
    const auto nb = unix_of(X509_get0_notBefore(signer));
    const auto na = unix_of(X509_get0_notAfter(signer));
    if (!nb || !na || *nb > at || *na < at) {
      return unusable("a responder certificate valid at " + when(at),
                      label + ": responder " + rs + " is valid " + (nb ? when(*nb) : "?") + " to " +
                          (na ? when(*na) : "?"),
                      "renew the OCSP responder certificate (herald serve issues one at start)");
    }
  }
  EVP_PKEY* skey = X509_get0_pubkey(signer);
  const int ok =
      skey ? ASN1_item_verify(ASN1_ITEM_rptr(OCSP_RESPDATA), OCSP_resp_get0_tbs_sigalg(bs),
                              OCSP_resp_get0_signature(bs), OCSP_resp_get0_respdata(bs), skey)
           : 0;
  ERR_clear_error();
  if (ok != 1) {
    return unusable("a response signature by " + subject_of(signer),
                    label + ": its signature does not verify with the key of " + subject_of(signer),
                    "the response is corrupted or forged: ask the responder again");
  }
  for (int i = 0; i < OCSP_BASICRESP_get_ext_count(bs); ++i) {
    X509_EXTENSION* ext = OCSP_BASICRESP_get_ext(bs, i);
    if (X509_EXTENSION_get_critical(ext) &&
        OBJ_obj2nid(X509_EXTENSION_get_object(ext)) != NID_id_pkix_OCSP_Nonce) {
      return unusable("only response extensions Herald understands marked critical",
                      label + ": critical extension " + oid_text(X509_EXTENSION_get_object(ext)),
                      "the responder marks an extension critical that clients cannot process: fix "
                      "the responder");
    }
  }
  for (int i = 0; i < OCSP_SINGLERESP_get_ext_count(single); ++i) {
    X509_EXTENSION* ext = OCSP_SINGLERESP_get_ext(single, i);
    if (X509_EXTENSION_get_critical(ext)) {
      return unusable(
          "no critical singleExtensions",
          label + ": critical single extension " + oid_text(X509_EXTENSION_get_object(ext)),
          "the responder marks an extension critical that clients cannot process: fix the "
          "responder");
    }
  }
  int reason = -1;
  ASN1_GENERALIZEDTIME *rev_time = nullptr, *this_upd = nullptr, *next_upd = nullptr;
  const int status = OCSP_single_get0_status(single, &reason, &rev_time, &this_upd, &next_upd);
  // An authentic revoked status stands whatever its age or nonce: revocation
  // is final (RFC 6960 §2.2; only certificateHold may be lifted).
  auto revoked_outcome = [&] {
    const auto rt = unix_of(rev_time);
    return Outcome{Verdict::kRevoked,
                   {},
                   "revoked " + (rt ? when(*rt) : std::string("(unreadable date)")) + ", reason " +
                       reason_text(reason) + " (" + label + ")",
                   {}};
  };
  if (status == V_OCSP_CERTSTATUS_REVOKED &&
      reason != static_cast<int>(x509::RevocationReason::kCertificateHold)) {
    return revoked_outcome();
  }
  if (options.ocsp_nonce) {
    const int at_nonce = OCSP_BASICRESP_get_ext_by_NID(bs, NID_id_pkix_OCSP_Nonce, -1);
    X509_EXTENSION* ext = at_nonce >= 0 ? OCSP_BASICRESP_get_ext(bs, at_nonce) : nullptr;
    if (!ext) {
      return unusable("the nonce that was sent", label + ": carries no nonce",
                      "the responder ignores nonces, or a cache answered: retry, or check what "
                      "sits in between");
    }
    if (!nonce_matches(X509_EXTENSION_get_data(ext), *options.ocsp_nonce)) {
      return unusable("the nonce that was sent", label + ": carries another nonce",
                      "the response answers another request (a replay or a shared cache): ask the "
                      "responder again");
    }
  }
  const auto tu = unix_of(this_upd);
  if (!tu) {
    return unusable("a readable thisUpdate", label + ": thisUpdate does not parse",
                    "ask the responder again");
  }
  if (*tu > at + kOcspSkew) {
    return unusable(
        "thisUpdate at or before " + when(at) + " (5 min skew allowed)",
        label + ": produced for " + when(*tu) + ", " + span_text(*tu - at) + " in the future",
        "check the clocks here and on the responder");
  }
  if (next_upd) {
    const auto nu = unix_of(next_upd);
    if (!nu || *nu < at) {
      return unusable(
          "nextUpdate at or after " + when(at),
          label + (nu ? ": expired " + span_text(at - *nu) + " ago (nextUpdate " + when(*nu) + ")"
                      : ": nextUpdate does not parse"),
          "the responder serves stale answers: check that it re-signs its responses");
    }
  } else if (at - *tu > kOcspMaxAgeNoNext) {
    return unusable("without nextUpdate, a thisUpdate at most 7 days old",
                    label + ": no nextUpdate and thisUpdate " + span_text(at - *tu) + " ago",
                    "ask the responder for a fresh answer");
  }
  if (status == V_OCSP_CERTSTATUS_GOOD) return {Verdict::kGood, {}, {}, {}};
  if (status == V_OCSP_CERTSTATUS_REVOKED) return revoked_outcome();
  return unusable("good or revoked",
                  label + ": status unknown (the responder does not know this certificate)",
                  "ask the OCSP responder of the CA that issued it (its AIA), or the CA does not "
                  "know it issued it");
}

const char* ocsp_status_name(int s) {
  switch (s) {
    case OCSP_RESPONSE_STATUS_MALFORMEDREQUEST:
      return "malformedRequest";
    case OCSP_RESPONSE_STATUS_INTERNALERROR:
      return "internalError";
    case OCSP_RESPONSE_STATUS_TRYLATER:
      return "tryLater";
    case OCSP_RESPONSE_STATUS_SIGREQUIRED:
      return "sigRequired";
    case OCSP_RESPONSE_STATUS_UNAUTHORIZED:
      return "unauthorized";
    case OCSP_RESPONSE_STATUS_SUCCESSFUL:
      return "successful";
    default:
      return "an unknown status";
  }
}

Finding warning(std::string code, int depth, X509* x, std::string expected, std::string found,
                std::string hint) {
  Finding f =
      finding(std::move(code), depth, x, std::move(expected), std::move(found), std::move(hint));
  f.severity = Severity::kWarning;
  return f;
}

}  // namespace

RevocationSources parse_sources(const Options& options, std::vector<Finding>& out) {
  RevocationSources s;
  if (options.revocation == RevocationPolicy::kOff) return s;
  for (size_t i = 0; i < options.crls.size(); ++i) {
    const std::string label = "CRL #" + std::to_string(i + 1);
    if (s.crls.size() == kMaxRevocationSources) {
      out.push_back(warning("malformed_crl", -1, nullptr,
                            "at most " + std::to_string(kMaxRevocationSources) + " CRLs",
                            std::to_string(options.crls.size()) + " CRLs",
                            "the CRLs from " + label + " on were ignored"));
      break;
    }
    const auto& der = options.crls[i];
    const unsigned char* p = der.data();
    X509_CRL* c = der.size() > static_cast<size_t>(LONG_MAX)
                      ? nullptr
                      : d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size()));
    ERR_clear_error();
    if (c && p == der.data() + der.size()) {
      s.crls.emplace_back(c);
      s.crl_index.push_back(i + 1);
    } else {
      X509_CRL_free(c);
      out.push_back(
          warning("malformed_crl", -1, nullptr, "a DER CRL",
                  label + " (" + std::to_string(der.size()) + " bytes) does not parse",
                  "revocation cannot be checked with it: give the CRL file as PEM or DER"));
    }
  }
  for (size_t i = 0; i < options.ocsp_responses.size(); ++i) {
    const std::string label = "OCSP response #" + std::to_string(i + 1);
    if (s.ocsp.size() == kMaxRevocationSources) {
      out.push_back(warning("malformed_ocsp_response", -1, nullptr,
                            "at most " + std::to_string(kMaxRevocationSources) + " OCSP responses",
                            std::to_string(options.ocsp_responses.size()) + " responses",
                            "the responses from " + label + " on were ignored"));
      break;
    }
    const auto& der = options.ocsp_responses[i];
    const unsigned char* p = der.data();
    ParsedOcsp po;
    po.response.reset(der.size() > static_cast<size_t>(LONG_MAX)
                          ? nullptr
                          : d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size())));
    ERR_clear_error();
    if (!po.response || p != der.data() + der.size()) {
      out.push_back(warning("malformed_ocsp_response", -1, nullptr, "a DER OCSPResponse",
                            label + " (" + std::to_string(der.size()) + " bytes) does not parse",
                            "revocation cannot be checked with it: ask the responder again"));
      continue;
    }
    po.status = OCSP_response_status(po.response.get());
    if (po.status == OCSP_RESPONSE_STATUS_SUCCESSFUL)
      po.basic.reset(OCSP_response_get1_basic(po.response.get()));
    ERR_clear_error();
    s.ocsp.push_back(std::move(po));
    s.ocsp_index.push_back(i + 1);
  }
  return s;
}

void check_revocation(const std::vector<X509*>& path, const RevocationSources& sources,
                      const Options& options, std::vector<Finding>& out) {
  if (options.revocation == RevocationPolicy::kOff || path.size() < 2) return;
  const int64_t at = options.at.time_since_epoch().count();
  // Reasons that concern no one certificate: repeated for every uncovered one.
  std::vector<std::string> general;
  for (size_t k = 0; k < sources.ocsp.size(); ++k) {
    const auto& po = sources.ocsp[k];
    if (po.basic) continue;
    const std::string label = "OCSP response #" + std::to_string(sources.ocsp_index[k]);
    std::string why = po.status == OCSP_RESPONSE_STATUS_SUCCESSFUL
                          ? label + ": successful, but without a readable BasicOCSPResponse"
                          : label + ": the responder answered " + ocsp_status_name(po.status);
    out.push_back(
        warning("ocsp_unusable", -1, nullptr, "a successful response", why,
                po.status == OCSP_RESPONSE_STATUS_TRYLATER ||
                        po.status == OCSP_RESPONSE_STATUS_INTERNALERROR
                    ? "the responder is not ready: ask again later, and check the CA's OCSP service"
                    : "the request was refused: check the responder URL (the certificate's AIA)"));
    general.push_back(std::move(why));
  }
  std::vector<bool> crl_used(sources.crls.size(), false), ocsp_used(sources.ocsp.size(), false);
  for (size_t depth = 0; depth + 1 < path.size(); ++depth) {
    X509* cert = path[depth];
    X509* issuer = path[depth + 1];
    const int d = static_cast<int>(depth);
    bool covered = false;
    std::optional<std::string> revoked;
    std::vector<Finding> rejected;
    auto take = [&](const Outcome& o, const char* code) {
      switch (o.verdict) {
        case Verdict::kNotForThis:
          return false;
        case Verdict::kUnusable:
          rejected.push_back(warning(code, d, cert, o.expected, o.found, o.hint));
          return true;
        case Verdict::kGood:
          covered = true;
          return true;
        case Verdict::kRevoked:
          covered = true;
          if (!revoked) revoked = o.found;
          return true;
      }
      return false;
    };
    for (size_t k = 0; k < sources.crls.size(); ++k) {
      if (take(check_crl(sources.crls[k].get(), sources.crl_index[k], cert, issuer, at),
               "crl_unusable"))
        crl_used[k] = true;
    }
    for (size_t k = 0; k < sources.ocsp.size(); ++k) {
      if (!sources.ocsp[k].basic) continue;
      if (take(check_ocsp(sources.ocsp[k].basic.get(), sources.ocsp_index[k], cert, issuer, at,
                          options),
               "ocsp_unusable"))
        ocsp_used[k] = true;
    }
    if (revoked) {
      out.push_back(finding(
          "revoked", d, cert, "not revoked", *revoked,
          depth == 0
              ? "replace the certificate: issue a new one (with a new key if it was "
                "compromised)"
              : "this CA certificate was revoked: reissue everything under it from a valid CA"));
    }
    if (!covered && options.revocation != RevocationPolicy::kOff) {
      std::string found;
      std::vector<std::string> reasons;
      for (const auto& r : rejected) reasons.push_back(r.found);
      reasons.insert(reasons.end(), general.begin(), general.end());
      if (reasons.empty()) {
        found = "no CRL or OCSP response from its issuer";
      } else {
        found = "none usable: ";
        for (size_t i = 0; i < reasons.size() && i < 3; ++i) found += (i ? "; " : "") + reasons[i];
        if (reasons.size() > 3) found += "; and " + std::to_string(reasons.size() - 3) + " more";
      }
      Finding f = finding(
          "revocation_unavailable", d, cert, "a current CRL or OCSP response from its issuer",
          found,
          !rejected.empty() ? rejected.front().hint
                            : "fetch its issuer's CRL or OCSP response (herald verify --crl-fetch "
                              "or --ocsp)");
      if (options.revocation == RevocationPolicy::kSoft) f.severity = Severity::kWarning;
      out.push_back(std::move(f));
    }
    for (auto& r : rejected) out.push_back(std::move(r));
  }
  for (size_t k = 0; k < sources.crls.size(); ++k) {
    if (crl_used[k]) continue;
    X509_CRL* crl = sources.crls[k].get();
    out.push_back(warning(
        "crl_unusable", -1, nullptr, "a CRL from the issuer of a certificate of the path",
        "CRL #" + std::to_string(sources.crl_index[k]) + " is issued by " +
            name_text(X509_CRL_get_issuer(crl)) + ", which issued no certificate of the path",
        "it was ignored: give the CRL of the CA that issued the certificate"));
  }
  for (size_t k = 0; k < sources.ocsp.size(); ++k) {
    if (ocsp_used[k] || !sources.ocsp[k].basic) continue;
    out.push_back(warning(
        "ocsp_unusable", -1, nullptr, "a response about a certificate of the path",
        "OCSP response #" + std::to_string(sources.ocsp_index[k]) +
            " answers for no certificate of the path (other serials or issuer)",
        "it was ignored: ask the responder named in the certificate's AIA about this certificate"));
  }
}

}  // namespace herald::verify::detail
