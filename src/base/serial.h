#pragma once
// Certificate serial numbers (RFC 5280 §4.1.2.2): positive, at most 20 octets.
// Herald generates 16 random octets with the top bit cleared so the DER
// INTEGER stays 16 octets and positive.

#include <compare>
#include <string>
#include <string_view>

#include "base/encoding.h"
#include "base/error.h"

namespace herald {

class Serial {
 public:
  Serial() = default;
  // Big-endian magnitude; leading zero octets are stripped.
  static Result<Serial> from_bytes(Bytes bytes);
  // Hex, case-insensitive, colons optional ("0A:1b..." or "0a1b...").
  static Result<Serial> parse(std::string_view text);

  [[nodiscard]] const Bytes& bytes() const { return bytes_; }
  // Uppercase hex with an even number of digits, as `openssl x509 -serial` prints it.
  [[nodiscard]] std::string hex() const { return to_hex(bytes_); }
  auto operator<=>(const Serial&) const = default;

 private:
  explicit Serial(Bytes b) : bytes_(std::move(b)) {}
  Bytes bytes_;
};

}  // namespace herald
