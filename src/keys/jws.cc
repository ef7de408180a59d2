#include "keys/jws.h"

#include <openssl/ec.h>

namespace herald::keys {

namespace {
tl::unexpected<Error> malformed(const std::string& why) {
  return make_error(ErrorCode::kMalformedInput, "malformed token: " + why);
}

std::string alg_for(EVP_PKEY& key) {
  if (EVP_PKEY_get_base_id(&key) == EVP_PKEY_ED25519) return "EdDSA";
  if (EVP_PKEY_get_base_id(&key) == EVP_PKEY_EC && EVP_PKEY_get_bits(&key) == 256) return "ES256";
  return "";
}

using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, ossl::Deleter<ECDSA_SIG_free>>;

// Octets of r and of s in a JWS ECDSA signature by `key`; 0 if not an EC key.
size_t ecdsa_octets(EVP_PKEY& key) {
  if (EVP_PKEY_get_base_id(&key) != EVP_PKEY_EC) return 0;
  return static_cast<size_t>(EVP_PKEY_get_bits(&key) + 7) / 8;
}

const unsigned char* input_bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}
}  // namespace

Result<Jws> parse_compact_jws(std::string_view token) {
  if (token.size() > 8192) return malformed("longer than 8 KiB");
  auto d1 = token.find('.');
  auto d2 = d1 == token.npos ? token.npos : token.find('.', d1 + 1);
  if (d2 == token.npos || token.find('.', d2 + 1) != token.npos)
    return malformed("not three dot-separated parts");
  auto part = [&](size_t from, size_t to) { return token.substr(from, to - from); };
  auto header = base64url_decode(part(0, d1));
  auto payload = base64url_decode(part(d1 + 1, d2));
  auto sig = base64url_decode(token.substr(d2 + 1));
  if (!header || !payload || !sig) return malformed("a part is not base64url");
  Jws j;
  j.header = nlohmann::json::parse(header->begin(), header->end(), nullptr, false);
  j.payload = nlohmann::json::parse(payload->begin(), payload->end(), nullptr, false);
  if (j.header.is_discarded() || !j.header.is_object())
    return malformed("the header is not a JSON object");
  if (j.payload.is_discarded() || !j.payload.is_object())
    return malformed("the payload is not a JSON object");
  if (!j.header.contains("alg") || !j.header["alg"].is_string()) return malformed("no \"alg\"");
  j.alg = j.header["alg"].get<std::string>();
  if (j.alg != "ES256" && j.alg != "EdDSA")
    return malformed("unsupported alg '" + j.alg + "' (ES256 or EdDSA)");
  if (j.header.contains("crit")) return malformed("\"crit\" header parameters are not supported");
  j.signing_input = std::string(token.substr(0, d2));
  j.signature = std::move(*sig);
  return j;
}

Status verify_jws(const Jws& jws, EVP_PKEY& key) {
  if (alg_for(key) != jws.alg) {
    return make_error(ErrorCode::kBadSignature,
                      "token alg " + jws.alg + " does not match the provisioner's key");
  }
  if (jws.alg == "ES256" && jws.signature.size() != 64)
    return make_error(ErrorCode::kBadSignature, "ES256 signature is not 64 bytes");
  HERALD_TRY(bool ok, jws_signature_verifies(key, jws.alg == "ES256" ? EVP_sha256() : nullptr,
                                             jws.signing_input, jws.signature));
  if (!ok) return make_error(ErrorCode::kBadSignature, "the token's signature does not verify");
  return {};
}

Result<std::string> sign_compact_jws(nlohmann::json header, const nlohmann::json& payload,
                                     EVP_PKEY& key) {
  const std::string alg = alg_for(key);
  if (alg.empty())
    return make_error(ErrorCode::kInvalidArgument, "tokens are signed with P-256 or Ed25519 keys");
  header["alg"] = alg;
  const std::string h = header.dump(), p = payload.dump();
  std::string input =
      base64url_encode(std::span(reinterpret_cast<const uint8_t*>(h.data()), h.size())) + "." +
      base64url_encode(std::span(reinterpret_cast<const uint8_t*>(p.data()), p.size()));
  HERALD_TRY(auto sig, jws_signature(key, alg == "ES256" ? EVP_sha256() : nullptr, input));
  return input + "." + base64url_encode(sig);
}

Result<Bytes> jws_signature(EVP_PKEY& key, const EVP_MD* md, std::string_view signing_input) {
  ossl::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  size_t len = 0;
  const auto* in = input_bytes(signing_input);
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, &key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, in, signing_input.size()) != 1) {
    return ossl::error(ErrorCode::kCrypto, "cannot sign the JWS");
  }
  Bytes sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, in, signing_input.size()) != 1) {
    return ossl::error(ErrorCode::kCrypto, "cannot sign the JWS");
  }
  sig.resize(len);
  const size_t n = ecdsa_octets(key);
  if (n == 0) return sig;
  // DER -> r||s
  const unsigned char* q = sig.data();
  EcdsaSigPtr es(d2i_ECDSA_SIG(nullptr, &q, static_cast<long>(sig.size())));
  if (!es) return ossl::error(ErrorCode::kCrypto, "cannot decode the ECDSA signature");
  Bytes raw(2 * n);
  if (BN_bn2binpad(ECDSA_SIG_get0_r(es.get()), raw.data(), static_cast<int>(n)) < 0 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(es.get()), raw.data() + n, static_cast<int>(n)) < 0) {
    return ossl::error(ErrorCode::kCrypto, "cannot encode the ECDSA signature");
  }
  return raw;
}

Result<bool> jws_signature_verifies(EVP_PKEY& key, const EVP_MD* md, std::string_view signing_input,
                                    std::span<const uint8_t> signature) {
  Bytes der;
  if (const size_t n = ecdsa_octets(key); n != 0) {  // r||s -> DER
    if (signature.size() != 2 * n) return false;
    EcdsaSigPtr sig(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(signature.data(), static_cast<int>(n), nullptr);
    BIGNUM* s = BN_bin2bn(signature.data() + n, static_cast<int>(n), nullptr);
    if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
      BN_free(r);
      BN_free(s);
      return ossl::error(ErrorCode::kCrypto, "cannot decode the ECDSA signature");
    }
    unsigned char* p = nullptr;
    int len = i2d_ECDSA_SIG(sig.get(), &p);
    if (len <= 0) return ossl::error(ErrorCode::kCrypto, "cannot encode the ECDSA signature");
    der.assign(p, p + len);
    OPENSSL_free(p);
    signature = der;
  }
  ossl::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, &key) != 1) {
    return ossl::error(ErrorCode::kCrypto, "cannot set up signature verification");
  }
  if (EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), input_bytes(signing_input),
                       signing_input.size()) != 1) {
    ossl::clear_errors();
    return false;
  }
  return true;
}

}  // namespace herald::keys
