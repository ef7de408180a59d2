// Fuzz target: the claims of a one-time token (server/one_time_token.h), as
// any JSON a token's payload may carry.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server/one_time_token.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto j = nlohmann::json::parse(data, data + size, nullptr, false);
  if (j.is_discarded()) return 0;
  static const std::vector<std::string> audiences{"https://localhost:8443/v1/sign"};
  (void)herald::server::check_one_time_claims(j, 1'800'000'000, audiences);
  return 0;
}
