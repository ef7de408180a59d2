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

Bytes KeySigner::algorithm_identifier_der() const {
  switch (public_key_.info.algorithm) {
    case KeyAlgorithm::kEd25519:
      return {0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70};
    case KeyAlgorithm::kRsa:  // sha256WithRSAEncryption, NULL parameters
      return {0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86,
              0xF7, 0x0D, 0x01, 0x01, 0x0B, 0x05, 0x00};
    default: {
      const uint8_t last = md_ == EVP_sha512() ? 0x04 : md_ == EVP_sha384() ? 0x03 : 0x02;
      return {0x30, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, last};
    }
  }
}

Result<Bytes> KeySigner::sign_data(std::span<const uint8_t> tbs) const {
  ossl::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md_, nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, tbs.data(), tbs.size()) != 1) {
    return ossl::error(ErrorCode::kCrypto, "signing failed");
  }
  Bytes sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, tbs.data(), tbs.size()) != 1) {
    return ossl::error(ErrorCode::kCrypto, "signing failed");
  }
  sig.resize(len);
  return sig;
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
