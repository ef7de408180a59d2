// Fuzz target: ACME External Account Binding objects (RFC 8555 §7.3.4) as
// they arrive inside a newAccount payload: parse, then verify against a
// fixed account key and HMAC key.
#include <cstdint>
#include <nlohmann/json.hpp>

#include "acme/eab.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto j = nlohmann::json::parse(data, data + size, nullptr, false);
  if (j.is_discarded()) return 0;
  auto b = herald::acme::parse_eab(j);
  if (!b) return 0;
  const nlohmann::json jwk = {{"kty", "OKP"},
                              {"crv", "Ed25519"},
                              {"x", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}};
  const herald::Bytes key(32, 0x42);
  (void)herald::acme::verify_eab(*b, "https://ca.test/acme/p/new-account", jwk, key);
  (void)herald::acme::verify_eab(*b, b->url, b->jwk, key);
  return 0;
}
