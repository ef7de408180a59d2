// Fuzz target: --san lists and the SAN -> GENERAL_NAMES -> SAN round trip.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "x509/san.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto sans = herald::x509::parse_san_list(text);
  if (!sans) return 0;
  auto names = herald::x509::to_general_names(*sans);
  if (names && herald::x509::from_general_names(**names) != *sans) std::abort();  // must round-trip
  return 0;
}
