// Fuzz target: ACME replay nonces as clients send them back in a JWS
// (acme/nonces.h, SharedNonces): check() (decode, MAC, age; what every
// request meets before its signature is verified) and consume() (check()
// again, then the store's used-set), with a fixed key and clock. Whatever
// the input, neither may crash, nothing the target did not issue may pass
// either, and what fails check() must never reach the store. A nonce the
// target issued itself passes check() any number of times and consume()
// once.
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>

#include "acme/nonces.h"

namespace {

class UsedIds final : public herald::store::TokenStore {
 public:
  herald::Result<int64_t> add_token(const herald::store::TokenRecord&) override { return 0; }
  herald::Result<std::optional<herald::store::TokenRecord>> find_token(std::string_view) override {
    return std::nullopt;
  }
  herald::Result<std::vector<herald::store::TokenRecord>> list_tokens() override { return {}; }
  herald::Status revoke_token(int64_t) override { return {}; }
  herald::Status use_token_id(std::string_view jti, herald::TimePoint, herald::TimePoint) override {
    if (!used.emplace(std::string(jti), 1).second)
      return herald::make_error(herald::ErrorCode::kConflict, "used");
    return {};
  }
  std::map<std::string, int> used;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const herald::FakeClock clock{herald::TimePoint{std::chrono::seconds(1'700'000'000)}};
  UsedIds used;
  herald::acme::SharedNonces nonces(herald::Bytes(32, 0x5a), used, clock);
  const std::string input(reinterpret_cast<const char*>(data), size);
  // Random bytes never carry a valid MAC (2^-128): a pass is a bug.
  if (nonces.check(input)) std::abort();
  if (nonces.consume(input)) std::abort();
  if (!used.used.empty()) std::abort();  // refused input costs no store write
  const std::string mine = nonces.issue();
  if (!nonces.check(mine) || !nonces.check(mine)) std::abort();  // check() spends nothing
  if (!nonces.consume(mine) || nonces.consume(mine)) std::abort();
  return 0;
}
