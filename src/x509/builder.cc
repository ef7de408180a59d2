#include "x509/builder.h"

#include "x509/name.h"

namespace herald::x509 {

namespace {

// Sets the subject public key from the SPKI parts, without an EVP_PKEY.
Status set_public_key(X509& x, const keys::PublicKey& key) {
  const unsigned char* p = key.algorithm_der.data();
  ossl::X509AlgorPtr alg(d2i_X509_ALGOR(nullptr, &p, static_cast<long>(key.algorithm_der.size())));
  if (!alg) return ossl::error(ErrorCode::kMalformedInput, "unreadable public key algorithm");
  const ASN1_OBJECT* obj = nullptr;
  int ptype = V_ASN1_UNDEF;
  const void* pval = nullptr;
  X509_ALGOR_get0(&obj, &ptype, &pval, alg.get());
  void* param = nullptr;
  switch (ptype) {
    case V_ASN1_UNDEF:
    case V_ASN1_NULL:
      break;
    case V_ASN1_OBJECT:
      param = OBJ_dup(static_cast<const ASN1_OBJECT*>(pval));
      break;
    case V_ASN1_SEQUENCE:
      param = ASN1_STRING_dup(static_cast<const ASN1_STRING*>(pval));
      break;
    default: {
      // Unusual parameters: fall back to OpenSSL's encoder.
      if (X509_set_pubkey(&x, key.pkey.get()) != 1) {
        return ossl::error(ErrorCode::kCrypto, "cannot set public key");
      }
      return {};
    }
  }
  auto* bits =
      static_cast<unsigned char*>(OPENSSL_memdup(key.key_bits.data(), key.key_bits.size()));
  ASN1_OBJECT* obj_copy = OBJ_dup(obj);
  if (!bits || !obj_copy ||
      X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(&x), obj_copy, ptype, param, bits,
                             static_cast<int>(key.key_bits.size())) != 1) {
    OPENSSL_free(bits);
    ASN1_OBJECT_free(obj_copy);
    return ossl::error(ErrorCode::kCrypto, "cannot set public key");
  }
  return {};
}

template <typename T>
Status add_ext(X509& x, int nid, T* value, bool critical) {
  if (X509_add1_ext_i2d(&x, nid, value, critical ? 1 : 0, X509V3_ADD_APPEND) != 1) {
    return ossl::error(ErrorCode::kCrypto, std::string("cannot add extension ") + OBJ_nid2sn(nid));
  }
  return {};
}

GENERAL_NAME* uri_name(const std::string& uri) {
  GENERAL_NAME* gn = GENERAL_NAME_new();
  ASN1_IA5STRING* s = ASN1_IA5STRING_new();
  ASN1_STRING_set(s, uri.data(), static_cast<int>(uri.size()));
  GENERAL_NAME_set0_value(gn, GEN_URI, s);
  return gn;
}

Status add_extensions(X509& x, const CertificateSpec& spec) {
  ossl::BasicConstraintsPtr bc(BASIC_CONSTRAINTS_new());
  bc->ca = spec.is_ca ? 0xFF : 0;
  if (spec.is_ca && spec.path_len) {
    bc->pathlen = ASN1_INTEGER_new();
    ASN1_INTEGER_set(bc->pathlen, *spec.path_len);
  }
  HERALD_TRY_VOID(add_ext(x, NID_basic_constraints, bc.get(), true));

  if (spec.key_usage) {
    std::unique_ptr<ASN1_BIT_STRING, ossl::Deleter<ASN1_BIT_STRING_free>> ku(ASN1_BIT_STRING_new());
    for (int bit = 0; bit < 9; ++bit) {
      if (spec.key_usage & (1u << bit)) ASN1_BIT_STRING_set_bit(ku.get(), bit, 1);
    }
    HERALD_TRY_VOID(add_ext(x, NID_key_usage, ku.get(), true));
  }

  if (!spec.ext_key_usage.empty()) {
    ossl::ExtKeyUsagePtr eku(sk_ASN1_OBJECT_new_null());
    for (auto e : spec.ext_key_usage) sk_ASN1_OBJECT_push(eku.get(), OBJ_nid2obj(nid_of(e)));
    HERALD_TRY_VOID(add_ext(x, NID_ext_key_usage, eku.get(), false));
  }

  HERALD_TRY(Bytes ski_bytes, spec.subject_key->key_identifier());
  ossl::Asn1OctetStringPtr ski(ASN1_OCTET_STRING_new());
  ASN1_OCTET_STRING_set(ski.get(), ski_bytes.data(), static_cast<int>(ski_bytes.size()));
  HERALD_TRY_VOID(add_ext(x, NID_subject_key_identifier, ski.get(), false));

  if (!spec.authority_key_id.empty()) {
    ossl::AuthKeyIdPtr aki(AUTHORITY_KEYID_new());
    aki->keyid = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(aki->keyid, spec.authority_key_id.data(),
                          static_cast<int>(spec.authority_key_id.size()));
    HERALD_TRY_VOID(add_ext(x, NID_authority_key_identifier, aki.get(), false));
  }

  if (!spec.sans.empty()) {
    HERALD_TRY(auto names, to_general_names(spec.sans));
    // RFC 5280 §4.2.1.6: critical when the subject is empty.
    HERALD_TRY_VOID(add_ext(x, NID_subject_alt_name, names.get(),
                            spec.common_name.empty() && spec.organization.empty()));
  }

  if (!spec.crl_urls.empty()) {
    ossl::CrlDistPointsPtr cdp(sk_DIST_POINT_new_null());
    for (const auto& url : spec.crl_urls) {
      DIST_POINT* dp = DIST_POINT_new();
      dp->distpoint = DIST_POINT_NAME_new();
      dp->distpoint->type = 0;
      dp->distpoint->name.fullname = GENERAL_NAMES_new();
      sk_GENERAL_NAME_push(dp->distpoint->name.fullname, uri_name(url));
      sk_DIST_POINT_push(cdp.get(), dp);
    }
    HERALD_TRY_VOID(add_ext(x, NID_crl_distribution_points, cdp.get(), false));
  }

  if (!spec.ocsp_urls.empty() || !spec.ca_issuer_urls.empty()) {
    ossl::AuthInfoAccessPtr aia(sk_ACCESS_DESCRIPTION_new_null());
    auto add = [&](int method, const std::string& url) {
      ACCESS_DESCRIPTION* ad = ACCESS_DESCRIPTION_new();
      ASN1_OBJECT_free(ad->method);
      ad->method = OBJ_nid2obj(method);
      GENERAL_NAME_free(ad->location);
      ad->location = uri_name(url);
      sk_ACCESS_DESCRIPTION_push(aia.get(), ad);
    };
    for (const auto& url : spec.ocsp_urls) add(NID_ad_OCSP, url);
    for (const auto& url : spec.ca_issuer_urls) add(NID_ad_ca_issuers, url);
    HERALD_TRY_VOID(add_ext(x, NID_info_access, aia.get(), false));
  }

  if (spec.ocsp_no_check) {
    std::unique_ptr<ASN1_NULL, ossl::Deleter<ASN1_NULL_free>> null(ASN1_NULL_new());
    HERALD_TRY_VOID(add_ext(x, NID_id_pkix_OCSP_noCheck, null.get(), false));
  }
  return {};
}

}  // namespace

int nid_of(ExtendedKeyUsage eku) {
  switch (eku) {
    case ExtendedKeyUsage::kServerAuth:
      return NID_server_auth;
    case ExtendedKeyUsage::kClientAuth:
      return NID_client_auth;
    case ExtendedKeyUsage::kOcspSigning:
      return NID_OCSP_sign;
  }
  return NID_undef;
}

Result<ossl::X509Ptr> build_certificate(const CertificateSpec& spec, const X509_NAME* issuer) {
  if (!spec.subject_key)
    return make_error(ErrorCode::kInternal, "build_certificate: no subject key");
  ossl::X509Ptr x(X509_new());
  if (!x || X509_set_version(x.get(), X509_VERSION_3) != 1) {
    return ossl::error(ErrorCode::kCrypto, "cannot create certificate");
  }
  const Bytes& serial = spec.serial.bytes();
  ASN1_INTEGER* sn = X509_get_serialNumber(x.get());
  if (serial.empty() || ASN1_STRING_set(sn, serial.data(), static_cast<int>(serial.size())) != 1) {
    return ossl::error(ErrorCode::kInternal, "cannot set serial number");
  }
  HERALD_TRY(auto subject, make_name(spec.organization, spec.common_name));
  if (X509_set_subject_name(x.get(), subject.get()) != 1 ||
      X509_set_issuer_name(x.get(), issuer ? issuer : subject.get()) != 1) {
    return ossl::error(ErrorCode::kCrypto, "cannot set names");
  }
  if (!ASN1_TIME_set(X509_getm_notBefore(x.get()), spec.not_before.time_since_epoch().count()) ||
      !ASN1_TIME_set(X509_getm_notAfter(x.get()), spec.not_after.time_since_epoch().count())) {
    return ossl::error(ErrorCode::kCrypto, "cannot set validity");
  }
  HERALD_TRY_VOID(set_public_key(*x, *spec.subject_key));
  HERALD_TRY_VOID(add_extensions(*x, spec));
  return x;
}

Result<Bytes> encode_der(X509& cert) {
  unsigned char* der = nullptr;
  int len = i2d_X509(&cert, &der);
  if (len <= 0) return ossl::error(ErrorCode::kCrypto, "cannot encode certificate");
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

}  // namespace herald::x509
