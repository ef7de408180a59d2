// Fuzz target: the query of GET /v1/certs (server/list_query.h), as an API
// caller or the dashboard sends it, and owner labels (store::parse_labels).
// Checks the invariants: a query it accepts has a page size of 1..1000 and
// owner labels that pass check_label, each key once; the labels of an
// accepted owner= list parse again to the same labels.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/list_query.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace herald;
  const std::string text(reinterpret_cast<const char*>(data), size);
  net::Request req;
  req.method = "GET";
  req.path = "/v1/certs";
  req.query = text;
  req.target = req.path + "?" + text;
  auto q = server::parse_list_query(req, TimePoint{std::chrono::seconds(1'800'000'000)});
  if (q) {
    if (q->limit < 1 || q->limit > 1000 || q->filter.limit != q->limit + 1) std::abort();
    std::string joined;
    for (const auto& [k, v] : q->filter.owner) {
      if (!store::check_label(k, v)) std::abort();
      joined += (joined.empty() ? "" : ",") + k + "=" + v;
    }
    auto again = store::parse_labels(joined);
    if (!again || *again != q->filter.owner) std::abort();
  }
  auto labels = store::parse_labels(text);
  if (labels) {
    for (const auto& [k, v] : *labels) {
      if (!store::check_label(k, v)) std::abort();
    }
  }
  return 0;
}
