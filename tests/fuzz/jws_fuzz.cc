// Fuzz target: compact JWS parsing (one-time provisioner tokens).
#include <cstdint>
#include <string_view>

#include "keys/jws.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)herald::keys::parse_compact_jws(
      std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
