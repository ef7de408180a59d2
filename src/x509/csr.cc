#include "x509/csr.h"

#include <openssl/x509v3.h>

#include <algorithm>

#include "base/der.h"
#include "ossl/ossl.h"
#include "x509/name.h"

namespace herald::x509 {

namespace {

struct SigAlg {
  Bytes oid;
  const char* name;
  SignatureHash hash;
  keys::KeyAlgorithm key;
};

const std::vector<SigAlg>& signature_algorithms() {
  static const std::vector<SigAlg> algs = {
      {{0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02},
       "ecdsa-with-SHA256",
       SignatureHash::kSha256,
       keys::KeyAlgorithm::kEc},
      {{0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x03},
       "ecdsa-with-SHA384",
       SignatureHash::kSha384,
       keys::KeyAlgorithm::kEc},
      {{0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x04},
       "ecdsa-with-SHA512",
       SignatureHash::kSha512,
       keys::KeyAlgorithm::kEc},
      {{0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x01},
       "ecdsa-with-SHA1",
       SignatureHash::kSha1,
       keys::KeyAlgorithm::kEc},
      {{0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B},
       "sha256WithRSAEncryption",
       SignatureHash::kSha256,
       keys::KeyAlgorithm::kRsa},
      {{0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0C},
       "sha384WithRSAEncryption",
       SignatureHash::kSha384,
       keys::KeyAlgorithm::kRsa},
      {{0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0D},
       "sha512WithRSAEncryption",
       SignatureHash::kSha512,
       keys::KeyAlgorithm::kRsa},
      {{0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x05},
       "sha1WithRSAEncryption",
       SignatureHash::kSha1,
       keys::KeyAlgorithm::kRsa},
      {{0x2B, 0x65, 0x70}, "ED25519", SignatureHash::kNone, keys::KeyAlgorithm::kEd25519},
  };
  return algs;
}

constexpr uint8_t kOidExtensionRequest[] = {0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x0E};

tl::unexpected<Error> malformed(std::string why) {
  return make_error(ErrorCode::kMalformedInput, "malformed CSR: " + why);
}

Status read_extensions(std::span<const uint8_t> der, Csr& csr) {
  const unsigned char* p = der.data();
  STACK_OF(X509_EXTENSION)* exts = d2i_X509_EXTENSIONS(nullptr, &p, static_cast<long>(der.size()));
  if (!exts || p != der.data() + der.size()) {
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    ossl::clear_errors();
    return malformed("unreadable extensionRequest");
  }
  for (int i = 0; i < sk_X509_EXTENSION_num(exts); ++i) {
    X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts, i);
    int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
    if (nid == NID_subject_alt_name) {
      ossl::GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(ext)));
      if (!names) {
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
        ossl::clear_errors();
        return malformed("unreadable subjectAltName extension");
      }
      for (auto& san : from_general_names(*names)) {
        // Re-validate: what the CSR carries is untrusted.
        auto checked = make_san(san.type, san.value);
        if (!checked) {
          sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
          return tl::unexpected(std::move(checked.error()));
        }
        csr.requested_sans.push_back(std::move(*checked));
      }
    } else if (nid == NID_basic_constraints) {
      ossl::BasicConstraintsPtr bc(static_cast<BASIC_CONSTRAINTS*>(X509V3_EXT_d2i(ext)));
      if (!bc) {
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
        ossl::clear_errors();
        return malformed("unreadable basicConstraints extension");
      }
      csr.requests_ca = bc->ca != 0;
    }
  }
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  return {};
}

}  // namespace

Result<Csr> parse_csr(std::span<const uint8_t> input) {
  Csr csr;
  if (ossl::looks_like_pem(input)) {
    std::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
    auto blocks = ossl::pem_blocks(text, "CERTIFICATE REQUEST");
    if (!blocks) blocks = ossl::pem_blocks(text, "NEW CERTIFICATE REQUEST");
    if (!blocks) return malformed("no 'CERTIFICATE REQUEST' PEM block (or it is corrupt)");
    csr.der = std::move(blocks->front());
  } else {
    csr.der.assign(input.begin(), input.end());
  }
  if (csr.der.empty()) return malformed("empty input");

  der::Reader top(csr.der);
  auto outer = top.expect(der::tag::kSequence, "CertificationRequest");
  if (!outer) return malformed("not a DER SEQUENCE (truncated or not a CSR)");
  if (!top.empty()) return malformed("trailing data after the request");

  der::Reader r(outer->content);
  auto info = r.expect(der::tag::kSequence, "certificationRequestInfo");
  auto alg = info ? r.expect(der::tag::kSequence, "signatureAlgorithm") : info;
  auto sig = alg ? r.next() : alg;
  if (!sig) return malformed(sig.error().message);
  if (!r.empty()) return malformed("extra fields after the signature");
  HERALD_TRY(csr.signature, der::bit_string_bytes(*sig, "signature"));
  csr.tbs = info->whole;

  // signatureAlgorithm
  der::Reader ar(alg->content);
  HERALD_TRY(auto alg_oid, ar.expect(der::tag::kOid, "signature algorithm"));
  const SigAlg* found = nullptr;
  for (const auto& a : signature_algorithms()) {
    if (std::equal(a.oid.begin(), a.oid.end(), alg_oid.content.begin(), alg_oid.content.end()))
      found = &a;
  }
  if (!found) {
    return make_error(
        ErrorCode::kMalformedInput,
        "unsupported CSR signature algorithm (use ECDSA, RSA PKCS#1 v1.5 or Ed25519)");
  }
  if (!ar.empty()) {
    // RSA allows an explicit NULL; ECDSA and Ed25519 must have no parameters.
    auto p = ar.next();
    if (!p || p->tag != der::tag::kNull || !p->content.empty() ||
        found->key != keys::KeyAlgorithm::kRsa || !ar.empty()) {
      return malformed("unexpected signature algorithm parameters");
    }
  }
  csr.signature_algorithm = found->name;
  csr.hash = found->hash;
  csr.signature_key_algorithm = found->key;

  // certificationRequestInfo
  der::Reader ir(info->content);
  HERALD_TRY(auto version, ir.expect(der::tag::kInteger, "version"));
  if (version.content.size() != 1 || version.content[0] != 0)
    return malformed("version is not v1 (0)");
  HERALD_TRY(auto subject, ir.expect(der::tag::kSequence, "subject"));
  HERALD_TRY(auto spki, ir.expect(der::tag::kSequence, "subjectPKInfo"));
  // attributes [0] IMPLICIT SET OF Attribute; OpenSSL and others always send it, possibly empty.
  if (!ir.empty()) {
    HERALD_TRY(auto attrs, ir.expect(der::tag::kContext0Constructed, "attributes"));
    if (!ir.empty()) return malformed("extra fields in certificationRequestInfo");
    der::Reader attr_reader(attrs.content);
    while (!attr_reader.empty()) {
      HERALD_TRY(auto attr, attr_reader.expect(der::tag::kSequence, "attribute"));
      der::Reader a(attr.content);
      HERALD_TRY(auto type, a.expect(der::tag::kOid, "attribute type"));
      HERALD_TRY(auto values, a.expect(der::tag::kSet, "attribute values"));
      if (std::equal(type.content.begin(), type.content.end(), std::begin(kOidExtensionRequest),
                     std::end(kOidExtensionRequest))) {
        der::Reader v(values.content);
        HERALD_TRY(auto exts, v.expect(der::tag::kSequence, "extensionRequest"));
        if (!v.empty()) return malformed("more than one extensionRequest value");
        HERALD_TRY_VOID(read_extensions(exts.whole, csr));
      }
    }
  }

  auto pk = keys::parse_public_key(spki.whole);
  if (!pk) return malformed(pk.error().message);
  csr.public_key = std::move(*pk);

  const unsigned char* p = subject.whole.data();
  ossl::X509NamePtr name(d2i_X509_NAME(nullptr, &p, static_cast<long>(subject.whole.size())));
  if (!name || p != subject.whole.data() + subject.whole.size()) {
    ossl::clear_errors();
    return malformed("unreadable subject name");
  }
  csr.subject_der.assign(subject.whole.begin(), subject.whole.end());
  csr.subject = name_to_string(*name);
  csr.common_name = common_name(*name);
  return csr;
}

Status verify_csr_signature(const Csr& csr) {
  if (csr.signature_key_algorithm != csr.public_key.info.algorithm) {
    return make_error(ErrorCode::kBadSignature,
                      "CSR signature algorithm " + csr.signature_algorithm +
                          " does not match its " + csr.public_key.info.name() + " key");
  }
  const EVP_MD* md = nullptr;
  switch (csr.hash) {
    case SignatureHash::kSha1:
      md = EVP_sha1();
      break;
    case SignatureHash::kSha256:
      md = EVP_sha256();
      break;
    case SignatureHash::kSha384:
      md = EVP_sha384();
      break;
    case SignatureHash::kSha512:
      md = EVP_sha512();
      break;
    case SignatureHash::kNone:
      md = nullptr;
      break;
  }
  ossl::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx ||
      EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, csr.public_key.pkey.get()) != 1) {
    return ossl::error(ErrorCode::kCrypto, "cannot set up CSR signature verification");
  }
  if (EVP_DigestVerify(ctx.get(), csr.signature.data(), csr.signature.size(), csr.tbs.data(),
                       csr.tbs.size()) != 1) {
    ossl::clear_errors();
    return make_error(ErrorCode::kBadSignature,
                      "CSR signature does not verify (no proof of possession of the private key)");
  }
  return {};
}

Result<Bytes> make_csr(EVP_PKEY& key, const std::string& cn, const std::vector<San>& sans) {
  ossl::X509ReqPtr req(X509_REQ_new());
  if (!req) return ossl::error(ErrorCode::kCrypto, "cannot allocate a CSR");
  X509_REQ_set_version(req.get(), 0);
  if (!cn.empty() &&
      X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req.get()), "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                 0) != 1) {
    return ossl::error(ErrorCode::kInvalidArgument, "cannot set the common name");
  }
  if (!sans.empty()) {
    HERALD_TRY(auto names, to_general_names(sans));
    X509_EXTENSION* ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, names.get());
    if (!ext) return ossl::error(ErrorCode::kCrypto, "cannot encode the SANs");
    STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
    sk_X509_EXTENSION_push(exts, ext);
    int rc = X509_REQ_add_extensions(req.get(), exts);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    if (rc != 1) return ossl::error(ErrorCode::kCrypto, "cannot add the SANs to the CSR");
  }
  const bool ed = EVP_PKEY_get_base_id(&key) == EVP_PKEY_ED25519;
  if (X509_REQ_set_pubkey(req.get(), &key) != 1 ||
      X509_REQ_sign(req.get(), &key, ed ? nullptr : EVP_sha256()) <= 0) {
    return ossl::error(ErrorCode::kCrypto, "cannot sign the CSR");
  }
  unsigned char* p = nullptr;
  int len = i2d_X509_REQ(req.get(), &p);
  if (len <= 0) return ossl::error(ErrorCode::kCrypto, "cannot encode the CSR");
  Bytes out(p, p + len);
  OPENSSL_free(p);
  return out;
}

}  // namespace herald::x509
