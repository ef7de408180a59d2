#include "x509/certificate.h"

#include <ctime>

#include "keys/public_key.h"
#include "x509/name.h"

namespace herald::x509 {

Result<Certificate> Certificate::from_der(std::span<const uint8_t> der) {
  const unsigned char* p = der.data();
  X509* x = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  if (!x || p != der.data() + der.size()) {
    X509_free(x);
    ossl::clear_errors();
    return make_error(ErrorCode::kMalformedInput,
                      "malformed certificate DER (truncated or corrupt)");
  }
  return Certificate(std::shared_ptr<X509>(x, X509_free),
                     std::make_shared<const Bytes>(der.begin(), der.end()));
}

Result<std::vector<Certificate>> Certificate::from_pem(std::string_view pem) {
  HERALD_TRY(auto blocks, ossl::pem_blocks(pem, "CERTIFICATE"));
  std::vector<Certificate> out;
  for (const auto& b : blocks) {
    HERALD_TRY(auto c, from_der(b));
    out.push_back(std::move(c));
  }
  return out;
}

std::string Certificate::pem() const { return ossl::pem_encode(*der_, "CERTIFICATE"); }

Serial Certificate::serial() const {
  const ASN1_INTEGER* s = X509_get0_serialNumber(x509_.get());
  Bytes b(ASN1_STRING_get0_data(s), ASN1_STRING_get0_data(s) + ASN1_STRING_length(s));
  auto serial = Serial::from_bytes(std::move(b));
  return serial ? *serial : Serial();
}

std::string Certificate::subject() const {
  return name_to_string(*X509_get_subject_name(x509_.get()));
}
std::string Certificate::issuer() const {
  return name_to_string(*X509_get_issuer_name(x509_.get()));
}
std::string Certificate::common_name() const {
  return x509::common_name(*X509_get_subject_name(x509_.get()));
}

TimePoint from_asn1_time(const ASN1_TIME& t) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(&t, &tm) != 1) return TimePoint{};
  return TimePoint{std::chrono::seconds(timegm(&tm))};
}

TimePoint Certificate::not_before() const {
  return from_asn1_time(*X509_get0_notBefore(x509_.get()));
}
TimePoint Certificate::not_after() const {
  return from_asn1_time(*X509_get0_notAfter(x509_.get()));
}

std::string Certificate::fingerprint_sha256() const {
  auto d = ossl::sha256(*der_);
  return d ? to_hex_colons(*d) : "";
}

keys::KeyInfo Certificate::key_info() const {
  X509_PUBKEY* pub = X509_get_X509_PUBKEY(x509_.get());
  unsigned char* der = nullptr;
  int len = i2d_X509_PUBKEY(pub, &der);
  if (len <= 0) return {};
  Bytes spki(der, der + len);
  OPENSSL_free(der);
  auto pk = keys::parse_public_key(spki);
  return pk ? pk->info : keys::KeyInfo{};
}

std::string Certificate::signature_algorithm() const {
  return OBJ_nid2ln(X509_get_signature_nid(x509_.get()));
}

bool Certificate::is_ca() const {
  ossl::BasicConstraintsPtr bc(static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(x509_.get(), NID_basic_constraints, nullptr, nullptr)));
  return bc && bc->ca;
}

std::optional<int> Certificate::path_len() const {
  ossl::BasicConstraintsPtr bc(static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(x509_.get(), NID_basic_constraints, nullptr, nullptr)));
  if (!bc || !bc->ca || !bc->pathlen) return std::nullopt;
  return static_cast<int>(ASN1_INTEGER_get(bc->pathlen));
}

Bytes Certificate::subject_key_id() const {
  ossl::Asn1OctetStringPtr ski(static_cast<ASN1_OCTET_STRING*>(
      X509_get_ext_d2i(x509_.get(), NID_subject_key_identifier, nullptr, nullptr)));
  if (!ski) return {};
  return Bytes(ASN1_STRING_get0_data(ski.get()),
               ASN1_STRING_get0_data(ski.get()) + ASN1_STRING_length(ski.get()));
}

std::vector<San> Certificate::sans() const {
  ossl::GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(x509_.get(), NID_subject_alt_name, nullptr, nullptr)));
  return names ? from_general_names(*names) : std::vector<San>{};
}

std::string eku_name(int nid) {
  switch (nid) {
    case NID_server_auth:
      return "serverAuth";
    case NID_client_auth:
      return "clientAuth";
    case NID_OCSP_sign:
      return "OCSPSigning";
    case NID_code_sign:
      return "codeSigning";
    case NID_email_protect:
      return "emailProtection";
    case NID_time_stamp:
      return "timeStamping";
    default:
      return OBJ_nid2sn(nid);
  }
}

std::vector<std::string> Certificate::ext_key_usage() const {
  ossl::ExtKeyUsagePtr eku(static_cast<EXTENDED_KEY_USAGE*>(
      X509_get_ext_d2i(x509_.get(), NID_ext_key_usage, nullptr, nullptr)));
  std::vector<std::string> out;
  if (!eku) return out;
  for (int i = 0; i < sk_ASN1_OBJECT_num(eku.get()); ++i) {
    out.push_back(eku_name(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku.get(), i))));
  }
  return out;
}

}  // namespace herald::x509
