// Fuzz target: `herald scan` targets (scan/targets.h), as given in a --file:
// host:port, [v6]:port, CIDR ranges. Checks the invariants: the cap holds
// whatever the ranges, a refused target appends nothing, and every target
// parsed prints as an endpoint that parses back to itself.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "scan/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kCap = 4096;  // small: the replay runs many inputs
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto all = herald::scan::parse_targets({}, text, kCap);
  if (all && (all->empty() || all->size() > kCap)) std::abort();
  // One line on its own: refused means nothing appended.
  std::vector<herald::scan::Target> out;
  const std::string_view first = text.substr(0, text.find('\n'));
  if (!herald::scan::parse_target(first, out, kCap) && !out.empty()) std::abort();
  if (all) {
    for (const auto& t : *all) {
      std::vector<herald::scan::Target> again;
      if (!herald::scan::parse_target(t.endpoint(), again, 1)) std::abort();
      if (again.size() != 1 || !(again[0] == t)) std::abort();
    }
  }
  return 0;
}
