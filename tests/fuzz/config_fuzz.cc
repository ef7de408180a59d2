// Fuzz target: herald.toml parsing and validation.
#include <cstdint>
#include <string_view>

#include "policy/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)herald::policy::parse_config(std::string_view(reinterpret_cast<const char*>(data), size),
                                     "fuzz.toml");
  return 0;
}
