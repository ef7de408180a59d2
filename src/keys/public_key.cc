#include "keys/public_key.h"

#include <openssl/core_names.h>
#include <openssl/param_build.h>

#include <algorithm>
#include <cstring>

#include "base/der.h"

namespace herald::keys {

namespace {

// DER contents of the OIDs we recognise.
constexpr uint8_t kOidEcPublicKey[] = {0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01};
constexpr uint8_t kOidP256[] = {0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07};
constexpr uint8_t kOidP384[] = {0x2B, 0x81, 0x04, 0x00, 0x22};
constexpr uint8_t kOidP521[] = {0x2B, 0x81, 0x04, 0x00, 0x23};
constexpr uint8_t kOidEd25519[] = {0x2B, 0x65, 0x70};

bool equals(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

std::shared_ptr<EVP_PKEY> share(EVP_PKEY* k) { return std::shared_ptr<EVP_PKEY>(k, EVP_PKEY_free); }

Result<std::shared_ptr<EVP_PKEY>> import_ec(const char* group, std::span<const uint8_t> point) {
  HERALD_TRY(auto key, import_ec_point(group, point));
  return share(key.release());
}

KeyInfo info_from_pkey(EVP_PKEY& k) {
  KeyInfo info;
  info.bits = EVP_PKEY_get_bits(&k);
  switch (EVP_PKEY_get_base_id(&k)) {
    case EVP_PKEY_RSA:
      info.algorithm = KeyAlgorithm::kRsa;
      break;
    case EVP_PKEY_EC: {
      info.algorithm = KeyAlgorithm::kEc;
      char name[64] = {};
      size_t len = 0;
      if (EVP_PKEY_get_utf8_string_param(&k, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &len) ==
          1) {
        std::string n(name, len);
        if (n == "prime256v1") n = "P-256";
        if (n == "secp384r1") n = "P-384";
        if (n == "secp521r1") n = "P-521";
        info.curve = n;
      }
      break;
    }
    case EVP_PKEY_ED25519:
      info.algorithm = KeyAlgorithm::kEd25519;
      break;
    case EVP_PKEY_ED448:
      info.algorithm = KeyAlgorithm::kEd448;
      break;
    case EVP_PKEY_DSA:
      info.algorithm = KeyAlgorithm::kDsa;
      break;
    default:
      info.algorithm = KeyAlgorithm::kOther;
      break;
  }
  return info;
}

}  // namespace

Result<Bytes> PublicKey::key_identifier() const { return ossl::sha1(key_bits); }

Result<PublicKey> parse_public_key(std::span<const uint8_t> spki_der) {
  der::Reader outer(spki_der);
  HERALD_TRY(auto spki, outer.expect(der::tag::kSequence, "SubjectPublicKeyInfo"));
  if (!outer.empty()) {
    return make_error(ErrorCode::kMalformedInput,
                      "malformed DER in SubjectPublicKeyInfo: trailing data");
  }
  der::Reader r(spki.content);
  HERALD_TRY(auto alg, r.expect(der::tag::kSequence, "public key AlgorithmIdentifier"));
  HERALD_TRY(auto bits_el, r.expect(der::tag::kBitString, "subjectPublicKey"));
  if (!r.empty()) {
    return make_error(ErrorCode::kMalformedInput,
                      "malformed DER in SubjectPublicKeyInfo: extra fields");
  }
  HERALD_TRY(auto key_bits, der::bit_string_bytes(bits_el, "subjectPublicKey"));
  der::Reader ar(alg.content);
  HERALD_TRY(auto oid, ar.expect(der::tag::kOid, "public key algorithm"));

  PublicKey pk;
  pk.spki_der.assign(spki.whole.begin(), spki.whole.end());
  pk.algorithm_der.assign(alg.whole.begin(), alg.whole.end());
  pk.key_bits.assign(key_bits.begin(), key_bits.end());

  if (equals(oid.content, kOidEcPublicKey) && ar.peek(der::tag::kOid)) {
    HERALD_TRY(auto curve, ar.expect(der::tag::kOid, "EC curve"));
    if (ar.empty()) {
      struct Curve {
        std::span<const uint8_t> oid;
        const char* group;
        const char* name;
        int bits;
      };
      for (const Curve& c :
           {Curve{kOidP256, "P-256", "P-256", 256}, Curve{kOidP384, "P-384", "P-384", 384},
            Curve{kOidP521, "P-521", "P-521", 521}}) {
        if (equals(curve.content, c.oid)) {
          HERALD_TRY(pk.pkey, import_ec(c.group, key_bits));
          pk.info = KeyInfo{KeyAlgorithm::kEc, c.bits, c.name};
          return pk;
        }
      }
    }
  } else if (equals(oid.content, kOidEd25519) && ar.empty()) {
    if (key_bits.size() != 32) {
      return make_error(ErrorCode::kMalformedInput, "invalid Ed25519 public key: not 32 octets");
    }
    EVP_PKEY* k =
        EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key_bits.data(), key_bits.size());
    if (!k) return ossl::error(ErrorCode::kMalformedInput, "invalid Ed25519 public key");
    pk.pkey = share(k);
    pk.info = KeyInfo{KeyAlgorithm::kEd25519, 256, ""};
    return pk;
  }

  // Everything else (RSA, other curves, DSA, ...) through OpenSSL's decoder.
  const unsigned char* p = spki.whole.data();
  EVP_PKEY* k = d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.whole.size()));
  if (!k) {
    return ossl::error(ErrorCode::kMalformedInput, "unsupported or invalid public key");
  }
  pk.pkey = share(k);
  pk.info = info_from_pkey(*k);
  return pk;
}

Result<ossl::EvpPkeyPtr> import_ec_point(const char* group, std::span<const uint8_t> point) {
  OSSL_PARAM params[3];
  params[0] =
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(group), 0);
  params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                                const_cast<uint8_t*>(point.data()), point.size());
  params[2] = OSSL_PARAM_construct_end();
  // One context per thread: creating it fetches the key manager, which is the slow part.
  thread_local ossl::EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    return ossl::error(ErrorCode::kMalformedInput,
                       "invalid EC public key (not a point on the curve)");
  }
  return ossl::EvpPkeyPtr(key);
}

Result<PublicKey> public_key_of(EVP_PKEY& key) {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(&key, &der);
  if (len <= 0) return ossl::error(ErrorCode::kCrypto, "cannot encode public key");
  Bytes spki(der, der + len);
  OPENSSL_free(der);
  return parse_public_key(spki);
}

}  // namespace herald::keys
