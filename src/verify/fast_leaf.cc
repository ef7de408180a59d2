#include "verify/fast_leaf.h"

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/x509v3.h>
#include <strings.h>

#include <algorithm>
#include <ctime>
#include <memory>
#include <set>

#include "ossl/ossl.h"
#include "x509/san.h"

namespace herald::verify::detail {

namespace {

// One DER TLV: single-octet tag, definite length of at most 4 octets.
struct Tlv {
  uint8_t tag = 0;
  size_t off = 0, hdr = 0, len = 0;
  size_t content() const { return off + hdr; }
  size_t end() const { return off + hdr + len; }
};

bool read(const Bytes& d, size_t off, size_t limit, Tlv& t) {
  if (off + 2 > limit) return false;
  t.off = off;
  t.tag = d[off];
  size_t len = d[off + 1], hdr = 2;
  if (len & 0x80) {
    const size_t k = len & 0x7f;
    if (k == 0 || k > 4 || off + 2 + k > limit) return false;
    len = 0;
    for (size_t i = 0; i < k; ++i) len = (len << 8) | d[off + 2 + i];
    if (len < 0x80 || (k > 1 && d[off + 2] == 0)) return false;  // not DER
    hdr += k;
  }
  if (len > limit - off - hdr) return false;
  t.hdr = hdr;
  t.len = len;
  return true;
}

bool equals(const Bytes& d, const Tlv& t, std::initializer_list<uint8_t> want) {
  return t.hdr + t.len == want.size() && std::equal(want.begin(), want.end(), d.begin() + static_cast<long>(t.off));
}

int64_t seconds_of(const ASN1_TIME* t, bool& ok) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) {
    ok = false;
    return 0;
  }
  return static_cast<int64_t>(timegm(&tm));
}

template <typename T>
using Owned = std::unique_ptr<T, void (*)(T*)>;

const EC_GROUP* group(int nid) {
  static const EC_GROUP* p256 = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
  static const EC_GROUP* p384 = EC_GROUP_new_by_curve_name(NID_secp384r1);
  static const EC_GROUP* p521 = EC_GROUP_new_by_curve_name(NID_secp521r1);
  return nid == NID_X9_62_prime256v1 ? p256 : nid == NID_secp384r1 ? p384 : p521;
}

std::string text_of(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), static_cast<size_t>(ASN1_STRING_length(s)));
}

}  // namespace

Bytes issuer_name_der(const Bytes& d) {
  Tlv cert, tbs, t;
  if (!read(d, 0, d.size(), cert) || cert.tag != 0x30) return {};
  if (!read(d, cert.content(), cert.end(), tbs) || tbs.tag != 0x30) return {};
  size_t off = tbs.content();
  if (!read(d, off, tbs.end(), t)) return {};
  if (t.tag == 0xa0) off = t.end();
  for (int i = 0; i < 3; ++i) {  // serial, signature, issuer
    if (!read(d, off, tbs.end(), t)) return {};
    if (i == 2) return t.tag == 0x30 ? Bytes(d.begin() + static_cast<long>(t.off), d.begin() + static_cast<long>(t.end())) : Bytes{};
    off = t.end();
  }
  return {};
}

bool fast_leaf_valid(const Bytes& d, const KnownIssuer& ca, const Options& o, bool check_signature) {
  if (!ca.key || ca.ski.empty() || ca.subject_der.empty()) return false;
  if (o.revocation != RevocationPolicy::kOff || o.email || !o.crls.empty() || !o.ocsp_responses.empty()) {
    return false;
  }
  if (ca.intermediates > o.max_depth) return false;
  const int64_t at = o.at.time_since_epoch().count();
  if (at < ca.not_before || at > ca.not_after) return false;

  // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
  Tlv cert, tbs, outer_alg, sig;
  if (!read(d, 0, d.size(), cert) || cert.tag != 0x30 || cert.end() != d.size()) return false;
  if (!read(d, cert.content(), cert.end(), tbs) || tbs.tag != 0x30) return false;
  if (!read(d, tbs.end(), cert.end(), outer_alg) || outer_alg.tag != 0x30) return false;
  if (!read(d, outer_alg.end(), cert.end(), sig) || sig.tag != 0x03 || sig.end() != cert.end()) return false;
  // ECDSA with SHA-256/384/512, no parameters (the issuer's key is EC).
  const EVP_MD* md = nullptr;
  if (equals(d, outer_alg, {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02})) md = EVP_sha256();
  if (equals(d, outer_alg, {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03})) md = EVP_sha384();
  if (equals(d, outer_alg, {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04})) md = EVP_sha512();
  if (!md || sig.len < 2 || d[sig.content()] != 0x00) return false;

  // TBSCertificate: version v3, serial, signature, issuer, validity,
  // subject, subjectPublicKeyInfo, extensions; no unique identifiers.
  Tlv version, serial, inner_alg, issuer, validity, subject, spki, exts;
  size_t off = tbs.content();
  if (!read(d, off, tbs.end(), version) || !equals(d, version, {0xa0, 0x03, 0x02, 0x01, 0x02})) return false;
  if (!read(d, version.end(), tbs.end(), serial) || serial.tag != 0x02) return false;
  if (!read(d, serial.end(), tbs.end(), inner_alg) || inner_alg.hdr + inner_alg.len != outer_alg.hdr + outer_alg.len ||
      !std::equal(d.begin() + static_cast<long>(inner_alg.off), d.begin() + static_cast<long>(inner_alg.end()),
                  d.begin() + static_cast<long>(outer_alg.off))) {
    return false;
  }
  if (!read(d, inner_alg.end(), tbs.end(), issuer) || issuer.tag != 0x30) return false;
  if (issuer.hdr + issuer.len != ca.subject_der.size() ||
      !std::equal(ca.subject_der.begin(), ca.subject_der.end(), d.begin() + static_cast<long>(issuer.off))) {
    return false;
  }
  if (!read(d, issuer.end(), tbs.end(), validity) || validity.tag != 0x30) return false;
  if (!read(d, validity.end(), tbs.end(), subject) || subject.tag != 0x30) return false;
  if (subject.hdr + subject.len == issuer.hdr + issuer.len &&
      std::equal(d.begin() + static_cast<long>(subject.off), d.begin() + static_cast<long>(subject.end()),
                 d.begin() + static_cast<long>(issuer.off))) {
    return false;  // self-issued
  }
  if (!read(d, subject.end(), tbs.end(), spki) || spki.tag != 0x30) return false;
  if (!read(d, spki.end(), tbs.end(), exts) || exts.tag != 0xa3 || exts.end() != tbs.end()) return false;

  // Serial: positive, at most 20 octets, not zero (RFC 5280 §4.1.2.2).
  {
    const unsigned char* p = d.data() + serial.off;
    Owned<ASN1_INTEGER> s(d2i_ASN1_INTEGER(nullptr, &p, static_cast<long>(serial.hdr + serial.len)), ASN1_INTEGER_free);
    if (!s || s->type == V_ASN1_NEG_INTEGER || s->length > 20) return false;
    bool zero = true;
    for (int i = 0; i < s->length; ++i) zero = zero && s->data[i] == 0;
    if (zero) return false;
  }
  // Validity: notBefore <= at <= notAfter.
  {
    Tlv nb, na;
    if (!read(d, validity.content(), validity.end(), nb) || !read(d, nb.end(), validity.end(), na) ||
        na.end() != validity.end()) {
      return false;
    }
    const unsigned char* p = d.data() + nb.off;
    Owned<ASN1_TIME> t1(d2i_ASN1_TIME(nullptr, &p, static_cast<long>(nb.hdr + nb.len)), ASN1_TIME_free);
    p = d.data() + na.off;
    Owned<ASN1_TIME> t2(d2i_ASN1_TIME(nullptr, &p, static_cast<long>(na.hdr + na.len)), ASN1_TIME_free);
    if (!t1 || !t2) return false;
    bool ok = true;
    const int64_t not_before = seconds_of(t1.get(), ok), not_after = seconds_of(t2.get(), ok);
    if (!ok || at < not_before || at > not_after) return false;
  }
  // Subject: a name with at least one attribute (an empty one brings SAN rules).
  {
    const unsigned char* p = d.data() + subject.off;
    Owned<X509_NAME> n(d2i_X509_NAME(nullptr, &p, static_cast<long>(subject.hdr + subject.len)), X509_NAME_free);
    if (!n || X509_NAME_entry_count(n.get()) == 0) return false;
  }
  // Key: EC on P-256, P-384 or P-521 (at least 128-bit security), a point on the curve.
  {
    Tlv alg, bits;
    if (!read(d, spki.content(), spki.end(), alg) || !read(d, alg.end(), spki.end(), bits) || bits.tag != 0x03 ||
        bits.end() != spki.end() || bits.len < 2 || d[bits.content()] != 0x00) {
      return false;
    }
    int curve = 0;
    if (equals(d, alg, {0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86,
                        0x48, 0xce, 0x3d, 0x03, 0x01, 0x07})) {
      curve = NID_X9_62_prime256v1;
    } else if (equals(d, alg, {0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
                               0x81, 0x04, 0x00, 0x22})) {
      curve = NID_secp384r1;
    } else if (equals(d, alg, {0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
                               0x81, 0x04, 0x00, 0x23})) {
      curve = NID_secp521r1;
    } else {
      return false;
    }
    // Uncompressed or compressed encodings only (no hybrid, no infinity).
    const size_t field = curve == NID_X9_62_prime256v1 ? 32 : curve == NID_secp384r1 ? 48 : 66;
    const size_t n = bits.len - 1;
    const uint8_t form = d[bits.content() + 1];
    if (!((form == 0x04 && n == 1 + 2 * field) || ((form == 0x02 || form == 0x03) && n == 1 + field))) {
      return false;
    }
    const EC_GROUP* g = group(curve);
    Owned<EC_POINT> point(EC_POINT_new(g), EC_POINT_free);
    if (!point || EC_POINT_oct2point(g, point.get(), d.data() + bits.content() + 1, bits.len - 1, nullptr) != 1 ||
        EC_POINT_is_at_infinity(g, point.get())) {
      ERR_clear_error();
      return false;
    }
  }
  // Extensions: only the ones below, each once, each well-formed.
  Tlv list;
  if (!read(d, exts.content(), exts.end(), list) || list.tag != 0x30 || list.end() != exts.end()) return false;
  const unsigned char* p = d.data() + list.off;
  Owned<STACK_OF(X509_EXTENSION)> extensions(
      d2i_X509_EXTENSIONS(nullptr, &p, static_cast<long>(list.hdr + list.len)),
      [](STACK_OF(X509_EXTENSION) * s) { sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free); });
  if (!extensions || p != d.data() + list.end()) {
    ERR_clear_error();
    return false;
  }
  std::set<int> seen;
  bool has_aki = false;
  for (int i = 0; i < sk_X509_EXTENSION_num(extensions.get()); ++i) {
    X509_EXTENSION* e = sk_X509_EXTENSION_value(extensions.get(), i);
    const int nid = OBJ_obj2nid(X509_EXTENSION_get_object(e));
    const bool critical = X509_EXTENSION_get_critical(e) != 0;
    if (nid == NID_undef || !seen.insert(nid).second) return false;
    auto decoded = [&]() -> void* {
      void* v = X509V3_EXT_d2i(e);
      ERR_clear_error();
      return v;
    };
    switch (nid) {
      case NID_basic_constraints: {
        Owned<BASIC_CONSTRAINTS> bc(static_cast<BASIC_CONSTRAINTS*>(decoded()), BASIC_CONSTRAINTS_free);
        if (!bc || bc->ca || bc->pathlen) return false;
        break;
      }
      case NID_key_usage: {
        Owned<ASN1_BIT_STRING> ku(static_cast<ASN1_BIT_STRING*>(decoded()), ASN1_BIT_STRING_free);
        if (!ku) return false;
        auto bit = [&](int n) { return ASN1_BIT_STRING_get_bit(ku.get(), n) == 1; };
        // 0 digitalSignature, 2 keyEncipherment, 4 keyAgreement, 5 keyCertSign
        if (bit(5)) return false;
        if (o.purpose == Purpose::kServer && !bit(0) && !bit(2) && !bit(4)) return false;
        if (o.purpose == Purpose::kClient && !bit(0) && !bit(4)) return false;
        if (!bit(0) && !bit(1) && !bit(2) && !bit(3) && !bit(4) && !bit(6) && !bit(7) && !bit(8)) return false;
        break;
      }
      case NID_ext_key_usage: {
        Owned<EXTENDED_KEY_USAGE> eku(static_cast<EXTENDED_KEY_USAGE*>(decoded()),
                                      [](EXTENDED_KEY_USAGE* x) { sk_ASN1_OBJECT_pop_free(x, ASN1_OBJECT_free); });
        if (!eku || sk_ASN1_OBJECT_num(eku.get()) == 0) return false;
        std::set<std::string> oids;
        std::set<int> nids;
        for (int k = 0; k < sk_ASN1_OBJECT_num(eku.get()); ++k) {
          char buf[128];
          OBJ_obj2txt(buf, sizeof buf, sk_ASN1_OBJECT_value(eku.get(), k), 1);
          oids.insert(buf);
          nids.insert(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku.get(), k)));
        }
        if (o.purpose == Purpose::kServer && (critical || !nids.count(NID_server_auth))) return false;
        if (o.purpose == Purpose::kClient && !nids.count(NID_client_auth)) return false;
        for (const auto& want : o.ekus) {
          if (!oids.count(want)) return false;
        }
        break;
      }
      case NID_subject_alt_name: {
        if (critical) return false;  // with a subject: Herald's san_critical_with_subject
        Owned<GENERAL_NAMES> names(static_cast<GENERAL_NAMES*>(decoded()), GENERAL_NAMES_free);
        if (!names || sk_GENERAL_NAME_num(names.get()) == 0) return false;
        bool host = !o.dns_name, ip = !o.ip, uri = !o.uri;
        const Bytes want_ip = o.ip ? x509::ip_octets(*o.ip) : Bytes{};
        if (o.ip && want_ip.empty()) return false;
        for (int k = 0; k < sk_GENERAL_NAME_num(names.get()); ++k) {
          const GENERAL_NAME* g = sk_GENERAL_NAME_value(names.get(), k);
          if (g->type == GEN_DNS) {
            const std::string v = text_of(g->d.dNSName);
            if (!x509::is_valid_dns_name(v, true)) return false;
            host = host || (v.find('*') == std::string::npos && strcasecmp(v.c_str(), o.dns_name->c_str()) == 0 &&
                            v.size() == o.dns_name->size());
          } else if (g->type == GEN_IPADD) {
            const Bytes v(g->d.iPAddress->data, g->d.iPAddress->data + g->d.iPAddress->length);
            if (v.size() != 4 && v.size() != 16) return false;
            ip = ip || v == want_ip;
          } else if (g->type == GEN_URI) {
            uri = uri || text_of(g->d.uniformResourceIdentifier) == *o.uri;
          } else if (g->type == GEN_EMAIL) {
            const std::string v = text_of(g->d.rfc822Name);
            const size_t at_sign = v.find('@');
            if (at_sign == std::string::npos || at_sign == 0 || v.find('@', at_sign + 1) != std::string::npos ||
                !x509::is_valid_dns_name(v.substr(at_sign + 1), false)) {
              return false;
            }
          } else {
            return false;
          }
        }
        if (!host || !ip || !uri) return false;
        break;
      }
      case NID_subject_key_identifier: {
        Owned<ASN1_OCTET_STRING> ski(static_cast<ASN1_OCTET_STRING*>(decoded()), ASN1_OCTET_STRING_free);
        if (critical || !ski) return false;
        break;
      }
      case NID_authority_key_identifier: {
        Owned<AUTHORITY_KEYID> aki(static_cast<AUTHORITY_KEYID*>(decoded()), AUTHORITY_KEYID_free);
        if (critical || !aki || !aki->keyid || aki->issuer || aki->serial) return false;
        if (static_cast<size_t>(aki->keyid->length) != ca.ski.size() ||
            !std::equal(ca.ski.begin(), ca.ski.end(), aki->keyid->data)) {
          return false;
        }
        has_aki = true;
        break;
      }
      case NID_info_access: {
        Owned<AUTHORITY_INFO_ACCESS> aia(static_cast<AUTHORITY_INFO_ACCESS*>(decoded()), AUTHORITY_INFO_ACCESS_free);
        if (critical || !aia) return false;
        break;
      }
      case NID_crl_distribution_points: {
        Owned<CRL_DIST_POINTS> cdp(static_cast<CRL_DIST_POINTS*>(decoded()), CRL_DIST_POINTS_free);
        if (critical || !cdp) return false;
        break;
      }
      default:
        return false;  // anything else (policies, name constraints, SCTs, ...): the full path
    }
  }
  if (!has_aki) return false;
  // Names asked for must have been found in a SAN extension.
  if ((o.dns_name || o.ip || o.uri) && !seen.count(NID_subject_alt_name)) return false;

  // The signature, over the TBS bytes, with the issuer's key.
  if (!check_signature) return true;
  std::unique_ptr<EVP_MD_CTX, ossl::Deleter<EVP_MD_CTX_free>> mctx(EVP_MD_CTX_new());
  bool ok = mctx && EVP_DigestVerifyInit(mctx.get(), nullptr, md, nullptr, ca.key) == 1 &&
            EVP_DigestVerify(mctx.get(), d.data() + sig.content() + 1, sig.len - 1, d.data() + tbs.off,
                             tbs.hdr + tbs.len) == 1;
  ERR_clear_error();
  return ok;
}

}  // namespace herald::verify::detail
