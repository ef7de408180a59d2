#include "x509/crl.h"

#include <array>

namespace herald::x509 {

namespace {
struct ReasonName {
  RevocationReason reason;
  std::string_view name;
};
constexpr std::array<ReasonName, 10> kReasons{{
    {RevocationReason::kUnspecified, "unspecified"},
    {RevocationReason::kKeyCompromise, "keyCompromise"},
    {RevocationReason::kCaCompromise, "caCompromise"},
    {RevocationReason::kAffiliationChanged, "affiliationChanged"},
    {RevocationReason::kSuperseded, "superseded"},
    {RevocationReason::kCessationOfOperation, "cessationOfOperation"},
    {RevocationReason::kCertificateHold, "certificateHold"},
    {RevocationReason::kRemoveFromCrl, "removeFromCRL"},
    {RevocationReason::kPrivilegeWithdrawn, "privilegeWithdrawn"},
    {RevocationReason::kAaCompromise, "aACompromise"},
}};
}  // namespace

Result<RevocationReason> parse_reason(std::string_view name) {
  for (const auto& r : kReasons) {
    if (r.name == name) return r.reason;
  }
  return make_error(ErrorCode::kInvalidArgument, "unknown revocation reason '" + std::string(name) +
                                                     "' (choose " + std::string(kReasonChoices) +
                                                     ")");
}

std::string_view reason_name(RevocationReason reason) {
  for (const auto& r : kReasons) {
    if (r.reason == reason) return r.name;
  }
  return "unspecified";
}

Result<Bytes> build_crl(const CrlSpec& spec, const X509_NAME& issuer, const keys::Signer& signer) {
  ossl::X509CrlPtr crl(X509_CRL_new());
  if (!crl || X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), &issuer) != 1) {
    return ossl::error(ErrorCode::kCrypto, "cannot create CRL");
  }
  ossl::Asn1TimePtr t(ASN1_TIME_set(nullptr, spec.this_update.time_since_epoch().count()));
  ossl::Asn1TimePtr n(ASN1_TIME_set(nullptr, spec.next_update.time_since_epoch().count()));
  if (!t || !n || X509_CRL_set1_lastUpdate(crl.get(), t.get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), n.get()) != 1) {
    return ossl::error(ErrorCode::kCrypto, "cannot set CRL times");
  }
  for (const auto& e : spec.entries) {
    ossl::X509RevokedPtr rev(X509_REVOKED_new());
    ossl::Asn1IntegerPtr sn(ASN1_INTEGER_new());
    ossl::Asn1TimePtr when(ASN1_TIME_set(nullptr, e.revoked_at.time_since_epoch().count()));
    const Bytes& b = e.serial.bytes();
    if (!rev || !sn || !when ||
        ASN1_STRING_set(sn.get(), b.data(), static_cast<int>(b.size())) != 1 ||
        X509_REVOKED_set_serialNumber(rev.get(), sn.get()) != 1 ||
        X509_REVOKED_set_revocationDate(rev.get(), when.get()) != 1) {
      return ossl::error(ErrorCode::kCrypto, "cannot add CRL entry");
    }
    if (e.reason != RevocationReason::kUnspecified) {
      std::unique_ptr<ASN1_ENUMERATED, ossl::Deleter<ASN1_ENUMERATED_free>> code(
          ASN1_ENUMERATED_new());
      ASN1_ENUMERATED_set(code.get(), static_cast<long>(e.reason));
      if (X509_REVOKED_add1_ext_i2d(rev.get(), NID_crl_reason, code.get(), 0, X509V3_ADD_APPEND) !=
          1) {
        return ossl::error(ErrorCode::kCrypto, "cannot add CRL reason code");
      }
    }
    if (X509_CRL_add0_revoked(crl.get(), rev.get()) != 1) {
      return ossl::error(ErrorCode::kCrypto, "cannot add CRL entry");
    }
    rev.release();
  }
  X509_CRL_sort(crl.get());

  ossl::AuthKeyIdPtr aki(AUTHORITY_KEYID_new());
  aki->keyid = ASN1_OCTET_STRING_new();
  ASN1_OCTET_STRING_set(aki->keyid, spec.authority_key_id.data(),
                        static_cast<int>(spec.authority_key_id.size()));
  ossl::Asn1IntegerPtr number(ASN1_INTEGER_new());
  ASN1_INTEGER_set_uint64(number.get(), spec.number);
  if (X509_CRL_add1_ext_i2d(crl.get(), NID_authority_key_identifier, aki.get(), 0,
                            X509V3_ADD_APPEND) != 1 ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, number.get(), 0, X509V3_ADD_APPEND) != 1) {
    return ossl::error(ErrorCode::kCrypto, "cannot add CRL extensions");
  }
  HERALD_TRY_VOID(signer.sign(*crl));
  unsigned char* der = nullptr;
  int len = i2d_X509_CRL(crl.get(), &der);
  if (len <= 0) return ossl::error(ErrorCode::kCrypto, "cannot encode CRL");
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

}  // namespace herald::x509
