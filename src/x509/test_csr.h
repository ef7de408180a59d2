#pragma once
// Test helper: CSRs made with OpenSSL's own X509_REQ API (independent of
// Herald's parser), in the shapes tests need.

#include <openssl/pem.h>

#include <string>
#include <vector>

#include "ossl/ossl.h"

namespace herald::x509::testing {

struct CsrOptions {
  std::string cn = "web.internal";
  std::string sans;  // OpenSSL syntax: "DNS:a,IP:1.2.3.4"
  bool ca = false;
  const EVP_MD* md = EVP_sha256();  // nullptr for Ed25519
};

inline Bytes make_csr_der(EVP_PKEY& key, const CsrOptions& o = {}) {
  ossl::X509ReqPtr req(X509_REQ_new());
  X509_REQ_set_version(req.get(), 0);
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  if (!o.cn.empty()) {
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(o.cn.c_str()), -1, -1, 0);
  }
  X509_REQ_set_pubkey(req.get(), &key);
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  if (!o.sans.empty()) {
    sk_X509_EXTENSION_push(
        exts, X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, o.sans.c_str()));
  }
  if (o.ca) {
    sk_X509_EXTENSION_push(
        exts, X509V3_EXT_conf_nid(nullptr, nullptr, NID_basic_constraints, "critical,CA:TRUE"));
  }
  if (sk_X509_EXTENSION_num(exts) > 0) X509_REQ_add_extensions(req.get(), exts);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  X509_REQ_sign(req.get(), &key, o.md);
  unsigned char* der = nullptr;
  int len = i2d_X509_REQ(req.get(), &der);
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

}  // namespace herald::x509::testing
