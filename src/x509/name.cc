#include "x509/name.h"

namespace herald::x509 {

Result<ossl::X509NamePtr> make_name(std::string_view organization, std::string_view common_name) {
  ossl::X509NamePtr name(X509_NAME_new());
  auto add = [&](const char* field, std::string_view v) {
    return v.empty() || X509_NAME_add_entry_by_txt(name.get(), field, MBSTRING_UTF8,
                                                   reinterpret_cast<const unsigned char*>(v.data()),
                                                   static_cast<int>(v.size()), -1, 0) == 1;
  };
  if (common_name.size() > 64) {
    return make_error(ErrorCode::kInvalidArgument,
                      "common name longer than 64 characters (RFC 5280 ub-common-name)");
  }
  if (organization.size() > 64) {
    return make_error(ErrorCode::kInvalidArgument, "organization longer than 64 characters");
  }
  if (!add("O", organization) || !add("CN", common_name)) {
    return ossl::error(ErrorCode::kInvalidArgument, "invalid name (not UTF-8?)");
  }
  return name;
}

std::string name_to_string(const X509_NAME& name) {
  ossl::BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), &name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  return ossl::bio_to_string(*bio);
}

std::string common_name(const X509_NAME& name) {
  int i = X509_NAME_get_index_by_NID(&name, NID_commonName, -1);
  if (i < 0) return "";
  const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(&name, i));
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, s);
  if (n < 0) return "";
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
  return out;
}

}  // namespace herald::x509
