// Fuzz target: a page of the revocation feed as the client receives it
// (feed/page.h), with and without a `since`.
#include <cstdint>
#include <string_view>

#include "feed/page.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  for (auto since : {std::optional<int64_t>{}, std::optional<int64_t>{5}}) {
    auto page = herald::feed::parse_page(body, since);
    if (!page) continue;
    // What a parsed page promises.
    int64_t last = since.value_or(0);
    for (const auto& r : page->revocations) {
      if (r.id <= last) __builtin_trap();
      last = r.id;
      if (r.status == herald::feed::Status::kValid && (r.reason || r.revoked_at)) __builtin_trap();
    }
    // A reset's next may be anything: the server's history starts over.
    if ((!page->reset && page->next < last) ||
        page->revocations.size() > herald::feed::kMaxPageEntries)
      __builtin_trap();
    if (page->reset && !page->revocations.empty()) __builtin_trap();
  }
  return 0;
}
