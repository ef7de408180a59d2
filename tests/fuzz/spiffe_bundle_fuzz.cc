// Fuzz target: a SPIFFE trust bundle from another trust domain
// (ca/trust.h parse_spiffe_bundle), as `herald agent` fetches it.
#include <cstdint>
#include <string_view>

#include "ca/trust.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = herald::ca::parse_spiffe_bundle(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (r && r->authorities.empty()) __builtin_trap();  // an accepted bundle always has an authority
  return 0;
}
