// Fuzz target: ACME request JWS parsing (RFC 8555 §6.2), and for requests
// that parse with a "jwk", the JWK import, its thumbprint and the signature
// check (length and algorithm-fit paths included).
#include <cstdint>
#include <string_view>

#include "acme/jws.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto jws = herald::acme::parse_jws_request(body, /*require_nonce=*/size % 2 == 0);
  if (!jws || !jws->jwk) return 0;
  (void)herald::acme::jwk_thumbprint(*jws->jwk);
  auto key = herald::acme::jwk_to_key(*jws->jwk);
  if (key) (void)herald::acme::verify_jws_request(*jws, **key);
  return 0;
}
