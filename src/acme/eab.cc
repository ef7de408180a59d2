#include "acme/eab.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "acme/jws.h"
#include "acme/problem.h"

namespace herald::acme {

namespace {

// A binding that does not verify is the client's wrong key (unauthorized);
// anything else is a malformed binding.
tl::unexpected<Error> eab_error(std::string message, ProblemType type = ProblemType::kMalformed) {
  return acme_error(
      type == ProblemType::kUnauthorized ? ErrorCode::kBadSignature : ErrorCode::kMalformedInput,
      "externalAccountBinding: " + std::move(message), type);
}

const EVP_MD* digest_of(const std::string& alg) {
  if (alg == "HS256") return EVP_sha256();
  if (alg == "HS384") return EVP_sha384();
  if (alg == "HS512") return EVP_sha512();
  return nullptr;
}

}  // namespace

Result<EabBinding> parse_eab(const nlohmann::json& b) {
  if (!b.is_object() || b.size() != 3 || !b.contains("protected") || !b.contains("payload") ||
      !b.contains("signature") || !b["protected"].is_string() || !b["payload"].is_string() ||
      !b["signature"].is_string()) {
    return eab_error("must be a JSON object with string protected, payload and signature");
  }
  const std::string prot_b64 = b["protected"], payload_b64 = b["payload"], sig_b64 = b["signature"];
  auto prot = base64url_decode(prot_b64);
  auto payload = base64url_decode(payload_b64);
  auto sig = base64url_decode(sig_b64);
  if (!prot || !payload || !sig) return eab_error("a member is not base64url");
  auto header = nlohmann::json::parse(prot->begin(), prot->end(), nullptr, false);
  if (!header.is_object()) return eab_error("the protected header is not a JSON object");
  EabBinding out;
  if (!header.contains("alg") || !header["alg"].is_string() ||
      !digest_of(header["alg"].get<std::string>()))
    return eab_error("alg must be HS256, HS384 or HS512");
  if (!header.contains("kid") || !header["kid"].is_string() || header["kid"].get<std::string>().empty())
    return eab_error("the protected header needs \"kid\"");
  if (!header.contains("url") || !header["url"].is_string())
    return eab_error("the protected header needs \"url\"");
  if (header.contains("nonce")) return eab_error("must not carry a nonce");
  out.alg = header["alg"];
  out.kid = header["kid"];
  out.url = header["url"];
  out.jwk = nlohmann::json::parse(payload->begin(), payload->end(), nullptr, false);
  if (!out.jwk.is_object()) return eab_error("the payload must be the account's JWK");
  out.signing_input = prot_b64 + "." + payload_b64;
  out.mac = std::move(*sig);
  return out;
}

Status verify_eab(const EabBinding& b, const std::string& new_account_url,
                  const nlohmann::json& account_jwk, const Bytes& hmac_key) {
  if (b.url != new_account_url) return eab_error("\"url\" must be the newAccount URL");
  auto bound = jwk_thumbprint(b.jwk);
  auto outer = jwk_thumbprint(account_jwk);
  if (!bound || !outer || *bound != *outer)
    return eab_error("the payload is not the account's key", ProblemType::kUnauthorized);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(digest_of(b.alg), hmac_key.data(), static_cast<int>(hmac_key.size()),
            reinterpret_cast<const unsigned char*>(b.signing_input.data()), b.signing_input.size(),
            mac, &len)) {
    return make_error(ErrorCode::kCrypto, "HMAC failed");
  }
  if (len != b.mac.size() || CRYPTO_memcmp(mac, b.mac.data(), len) != 0)
    return eab_error("the MAC does not verify with that key", ProblemType::kUnauthorized);
  return {};
}

}  // namespace herald::acme
