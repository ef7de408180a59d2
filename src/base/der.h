#pragma once
// A minimal, strict DER reader (X.690 §10) for the few structures Herald
// parses on its hot path without OpenSSL's decoder machinery (CSRs, SPKIs).
// Only low tag numbers (< 31) and definite, minimally encoded lengths are
// accepted; anything else is kMalformedInput. No allocation: views only.

#include <cstdint>
#include <span>

#include "base/error.h"

namespace herald::der {

namespace tag {
constexpr uint8_t kInteger = 0x02;
constexpr uint8_t kBitString = 0x03;
constexpr uint8_t kOctetString = 0x04;
constexpr uint8_t kNull = 0x05;
constexpr uint8_t kOid = 0x06;
constexpr uint8_t kSequence = 0x30;
constexpr uint8_t kSet = 0x31;
constexpr uint8_t kContext0Constructed = 0xA0;
}  // namespace tag

struct Element {
  uint8_t tag = 0;
  std::span<const uint8_t> content;  // the value octets
  std::span<const uint8_t> whole;    // tag + length + value
};

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> data) : data_(data) {}
  [[nodiscard]] bool empty() const { return data_.empty(); }
  [[nodiscard]] std::span<const uint8_t> rest() const { return data_; }
  // Reads the next element, whatever its tag.
  [[nodiscard]] Result<Element> next();
  // Reads the next element and requires its tag.
  [[nodiscard]] Result<Element> expect(uint8_t tag, const char* what);
  // True if the next element has this tag (false at end).
  [[nodiscard]] bool peek(uint8_t tag) const { return !data_.empty() && data_[0] == tag; }

 private:
  std::span<const uint8_t> data_;
};

// The content of a BIT STRING with no unused bits (as keys and signatures are).
[[nodiscard]] Result<std::span<const uint8_t>> bit_string_bytes(const Element& e, const char* what);

}  // namespace herald::der
