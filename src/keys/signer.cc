#include "keys/signer.h"

namespace herald::keys {

Result<std::unique_ptr<KeySigner>> KeySigner::create(ossl::EvpPkeyPtr key) {
  if (!key) return make_error(ErrorCode::kInternal, "KeySigner::create: null key");
  HERALD_TRY(auto pub, public_key_of(*key));
  const EVP_MD* md = nullptr;
  switch (pub.info.algorithm) {
    case KeyAlgorithm::kEd25519:
      md = nullptr;
      break;
    case KeyAlgorithm::kRsa:
      md = EVP_sha256();
      break;
    case KeyAlgorithm::kEc:
      md = pub.info.bits >= 512 ? EVP_sha512() : pub.info.bits >= 384 ? EVP_sha384() : EVP_sha256();
      break;
    default:
      return make_error(ErrorCode::kInvalidArgument,
                        "unsupported signing key type " + pub.info.name());
  }
  return std::unique_ptr<KeySigner>(new KeySigner(std::move(key), std::move(pub), md));
}

std::string KeySigner::signature_algorithm() const {
  switch (public_key_.info.algorithm) {
    case KeyAlgorithm::kEd25519:
      return "ED25519";
    case KeyAlgorithm::kRsa:
      return "sha256WithRSAEncryption";
    default:
      return md_ == EVP_sha512()   ? "ecdsa-with-SHA512"
             : md_ == EVP_sha384() ? "ecdsa-with-SHA384"
                                   : "ecdsa-with-SHA256";
  }
}

Status KeySigner::sign(X509& cert) const {
  if (X509_sign(&cert, key_.get(), md_) <= 0) {
    return ossl::error(ErrorCode::kCrypto, "signing the certificate failed");
  }
  return {};
}

Status KeySigner::sign(X509_CRL& crl) const {
  if (X509_CRL_sign(&crl, key_.get(), md_) <= 0) {
    return ossl::error(ErrorCode::kCrypto, "signing the CRL failed");
  }
  return {};
}

// OCSP_basic_sign_ctx rather than OCSP_basic_sign: the context is initialised
// here exactly as X509_sign does it (md_ = nullptr for Ed25519, which signs
// the message itself), and OCSP_NOTIME keeps OpenSSL from writing the wall
// clock into producedAt.
Status KeySigner::sign(OCSP_BASICRESP& resp, X509& responder_cert) const {
  ossl::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md_, nullptr, key_.get()) != 1) {
    return ossl::error(ErrorCode::kCrypto, "cannot initialise the OCSP response signature");
  }
  if (OCSP_basic_sign_ctx(&resp, &responder_cert, ctx.get(), nullptr,
                          OCSP_RESPID_KEY | OCSP_NOTIME) != 1) {
    return ossl::error(ErrorCode::kCrypto,
                       "signing the OCSP response failed (does the responder certificate hold "
                       "this signer's key?)");
  }
  return {};
}

}  // namespace herald::keys
