#include "keys/private_key.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <cstring>

#include "base/encoding.h"

namespace herald::keys {

Result<ossl::EvpPkeyPtr> generate_key(KeyType type) {
  EVP_PKEY* k = nullptr;
  switch (type) {
    case KeyType::kEcP256:
      k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case KeyType::kEcP384:
      k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
      break;
    case KeyType::kEd25519:
      k = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
    case KeyType::kRsa2048:
      k = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
      break;
    case KeyType::kRsa3072:
      k = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{3072});
      break;
    case KeyType::kRsa4096:
      k = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{4096});
      break;
  }
  if (!k) return ossl::error(ErrorCode::kCrypto, "key generation failed");
  return ossl::EvpPkeyPtr(k);
}

Result<std::string> encrypt_private_key(EVP_PKEY& key, std::string_view passphrase) {
  if (passphrase.empty()) return make_error(ErrorCode::kInvalidArgument, "empty passphrase");
  std::unique_ptr<PKCS8_PRIV_KEY_INFO, ossl::Deleter<PKCS8_PRIV_KEY_INFO_free>> p8(
      EVP_PKEY2PKCS8(&key));
  if (!p8) return ossl::error(ErrorCode::kCrypto, "cannot encode private key");
  X509_ALGOR* alg = PKCS5_pbe2_set_scrypt(EVP_aes_256_cbc(), nullptr, 16, nullptr, 16384, 8, 1);
  if (!alg) return ossl::error(ErrorCode::kCrypto, "cannot set up scrypt key derivation");
  X509_SIG* enc =
      PKCS8_set0_pbe(passphrase.data(), static_cast<int>(passphrase.size()), p8.get(), alg);
  if (!enc) {
    X509_ALGOR_free(alg);
    return ossl::error(ErrorCode::kCrypto, "cannot encrypt private key");
  }
  std::unique_ptr<X509_SIG, ossl::Deleter<X509_SIG_free>> enc_owner(enc);
  ossl::BioPtr bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PKCS8(bio.get(), enc) != 1) {
    return ossl::error(ErrorCode::kCrypto, "cannot write encrypted private key");
  }
  return ossl::bio_to_string(*bio);
}

Result<std::string> private_key_pem(EVP_PKEY& key) {
  ossl::BioPtr bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PKCS8PrivateKey(bio.get(), &key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return ossl::error(ErrorCode::kCrypto, "cannot write private key");
  }
  return ossl::bio_to_string(*bio);
}

namespace {
struct PassArg {
  std::string_view pass;
  bool asked = false;
};
int pass_cb(char* buf, int size, int /*rwflag*/, void* u) {
  auto* arg = static_cast<PassArg*>(u);
  arg->asked = true;
  if (arg->pass.size() > static_cast<size_t>(size)) return -1;
  std::memcpy(buf, arg->pass.data(), arg->pass.size());
  return static_cast<int>(arg->pass.size());
}
}  // namespace

Result<ossl::EvpPkeyPtr> decrypt_private_key(std::string_view pem, std::string_view passphrase) {
  auto bio = ossl::mem_bio(pem);
  PassArg arg{passphrase};
  EVP_PKEY* k = PEM_read_bio_PrivateKey(bio.get(), nullptr, pass_cb, &arg);
  if (!k) {
    // Never put the OpenSSL queue in the message: it is noise to a user, and
    // the message must not hint at the passphrase.
    bool encrypted = pem.find("ENCRYPTED PRIVATE KEY") != std::string_view::npos;
    ossl::clear_errors();
    if (encrypted) {
      return make_error(ErrorCode::kBadPassphrase, "cannot decrypt private key: wrong passphrase");
    }
    return make_error(ErrorCode::kMalformedInput, "not a readable PKCS#8 private key");
  }
  return ossl::EvpPkeyPtr(k);
}

Result<std::string> random_passphrase() {
  HERALD_TRY(auto bytes, ossl::random_bytes(32));
  return base64url_encode(bytes);
}

}  // namespace herald::keys
