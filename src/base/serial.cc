#include "base/serial.h"

namespace herald {

Result<Serial> Serial::from_bytes(Bytes bytes) {
  size_t first = 0;
  while (first + 1 < bytes.size() && bytes[first] == 0) ++first;
  bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(first));
  if (bytes.empty() || (bytes.size() == 1 && bytes[0] == 0)) {
    return make_error(ErrorCode::kInvalidArgument, "serial number must be positive");
  }
  if (bytes.size() > 20) {
    return make_error(ErrorCode::kInvalidArgument, "serial number longer than 20 octets");
  }
  return Serial(std::move(bytes));
}

Result<Serial> Serial::parse(std::string_view text) {
  auto bytes = from_hex(text);
  if (!bytes) {
    return make_error(
        ErrorCode::kInvalidArgument,
        "invalid serial '" + std::string(text) +
            "': expected hexadecimal, colons optional (as openssl x509 -serial prints)");
  }
  return from_bytes(std::move(*bytes));
}

}  // namespace herald
