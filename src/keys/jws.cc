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
  Bytes der_sig = jws.signature;
  const EVP_MD* md = nullptr;
  if (jws.alg == "ES256") {
    if (jws.signature.size() != 64)
      return make_error(ErrorCode::kBadSignature, "ES256 signature is not 64 bytes");
    std::unique_ptr<ECDSA_SIG, ossl::Deleter<ECDSA_SIG_free>> sig(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(jws.signature.data(), 32, nullptr);
    BIGNUM* s = BN_bin2bn(jws.signature.data() + 32, 32, nullptr);
    if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
      BN_free(r);
      BN_free(s);
      return ossl::error(ErrorCode::kCrypto, "cannot decode the ES256 signature");
    }
    unsigned char* p = nullptr;
    int len = i2d_ECDSA_SIG(sig.get(), &p);
    if (len <= 0) return ossl::error(ErrorCode::kCrypto, "cannot encode the ES256 signature");
    der_sig.assign(p, p + len);
    OPENSSL_free(p);
    md = EVP_sha256();
  }
  ossl::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, &key) != 1) {
    return ossl::error(ErrorCode::kCrypto, "cannot set up token verification");
  }
  if (EVP_DigestVerify(ctx.get(), der_sig.data(), der_sig.size(),
                       reinterpret_cast<const unsigned char*>(jws.signing_input.data()),
                       jws.signing_input.size()) != 1) {
    ossl::clear_errors();
    return make_error(ErrorCode::kBadSignature, "the token's signature does not verify");
  }
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
  ossl::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  size_t len = 0;
  const EVP_MD* md = alg == "ES256" ? EVP_sha256() : nullptr;
  const auto* in = reinterpret_cast<const unsigned char*>(input.data());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, &key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, in, input.size()) != 1) {
    return ossl::error(ErrorCode::kCrypto, "cannot sign the token");
  }
  Bytes sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, in, input.size()) != 1) {
    return ossl::error(ErrorCode::kCrypto, "cannot sign the token");
  }
  sig.resize(len);
  if (alg == "ES256") {  // DER -> r||s
    const unsigned char* q = sig.data();
    std::unique_ptr<ECDSA_SIG, ossl::Deleter<ECDSA_SIG_free>> es(
        d2i_ECDSA_SIG(nullptr, &q, static_cast<long>(sig.size())));
    if (!es) return ossl::error(ErrorCode::kCrypto, "cannot decode the ECDSA signature");
    Bytes raw(64);
    BN_bn2binpad(ECDSA_SIG_get0_r(es.get()), raw.data(), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(es.get()), raw.data() + 32, 32);
    sig = std::move(raw);
  }
  return input + "." + base64url_encode(sig);
}

}  // namespace herald::keys
