#include "x509/pkcs12.h"

#include <openssl/pkcs12.h>

#include "ossl/ossl.h"

namespace herald::x509 {

Result<std::string> make_pkcs12(EVP_PKEY& key, const Certificate& leaf,
                                const std::vector<const Certificate*>& chain,
                                const std::string& password, const std::string& friendly_name) {
  ossl::X509StackPtr cas(sk_X509_new_null());
  if (!cas) return ossl::error(ErrorCode::kCrypto, "cannot build PKCS#12 bundle");
  for (const auto* c : chain) {
    if (sk_X509_push(cas.get(), &c->x509()) <= 0) {
      return ossl::error(ErrorCode::kCrypto, "cannot build PKCS#12 bundle");
    }
    X509_up_ref(&c->x509());
  }
  ossl::Pkcs12Ptr p12(PKCS12_create(password.c_str(), friendly_name.c_str(), &key, &leaf.x509(),
                                    cas.get(), 0, 0, 0, 0, 0));
  if (!p12) return ossl::error(ErrorCode::kCrypto, "cannot build PKCS#12 bundle");
  unsigned char* der = nullptr;
  int len = i2d_PKCS12(p12.get(), &der);
  if (len <= 0) return ossl::error(ErrorCode::kCrypto, "cannot encode PKCS#12 bundle");
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

}  // namespace herald::x509
