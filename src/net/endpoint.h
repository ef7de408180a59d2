#pragma once
// A listening or dialling address as the configuration spells it:
// "127.0.0.1:8443", "[::1]:8443" or "localhost:8443" (IP literals only:
// Herald never resolves a name for a listener or a backend).

#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.h"

namespace herald::net {

struct Endpoint {
  std::string host;  // an IP literal ("localhost" becomes 127.0.0.1)
  uint16_t port = 0;
  [[nodiscard]] std::string to_string() const;  // brackets around IPv6
};

// kInvalidArgument "invalid address 'TEXT' (use HOST:PORT)".
[[nodiscard]] Result<Endpoint> parse_endpoint(std::string_view text);

}  // namespace herald::net
