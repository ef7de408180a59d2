#include "net/endpoint.h"

#include <arpa/inet.h>

namespace herald::net {

std::string Endpoint::to_string() const {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

Result<Endpoint> parse_endpoint(std::string_view text) {
  auto bad = [&] {
    return make_error(ErrorCode::kInvalidArgument,
                      "invalid address '" + std::string(text) + "' (use HOST:PORT)");
  };
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) return bad();
  std::string host(text.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::string port(text.substr(colon + 1));
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return bad();
  int p = std::stoi(port);
  if (p > 65535) return bad();
  if (host == "localhost") return Endpoint{"127.0.0.1", static_cast<uint16_t>(p)};
  unsigned char buf[16];
  if (inet_pton(AF_INET, host.c_str(), buf) != 1 && inet_pton(AF_INET6, host.c_str(), buf) != 1) {
    return bad();
  }
  return Endpoint{host, static_cast<uint16_t>(p)};
}

}  // namespace herald::net
