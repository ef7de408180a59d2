#pragma once
// A minimal, strict DER reader (X.690 §10) for the few structures Herald
// parses on its hot path without OpenSSL's decoder machinery (CSRs, SPKIs,
// OCSP requests).
// Only low tag numbers (< 31) and definite, minimally encoded lengths are
// accepted; anything else is kMalformedInput. No allocation: views only.

#include <cstdint>
#include <span>

#include "base/encoding.h"
#include "base/error.h"

namespace herald::der {

namespace tag {
constexpr uint8_t kBoolean = 0x01;
constexpr uint8_t kInteger = 0x02;
constexpr uint8_t kBitString = 0x03;
constexpr uint8_t kOctetString = 0x04;
constexpr uint8_t kNull = 0x05;
constexpr uint8_t kOid = 0x06;
constexpr uint8_t kSequence = 0x30;
constexpr uint8_t kSet = 0x31;
constexpr uint8_t kContext0Constructed = 0xA0;
constexpr uint8_t kContext1Constructed = 0xA1;
constexpr uint8_t kContext2Constructed = 0xA2;
constexpr uint8_t kEnumerated = 0x0A;
constexpr uint8_t kUtcTime = 0x17;
constexpr uint8_t kGeneralizedTime = 0x18;
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

// DER writing: appends tag + definite minimal length + content.
void append_header(Bytes& out, uint8_t tag, size_t length);
void append_tlv(Bytes& out, uint8_t tag, std::span<const uint8_t> content);
// A positive INTEGER from a big-endian magnitude (a 0x00 is prepended when the top bit is set).
void append_unsigned_integer(Bytes& out, std::span<const uint8_t> magnitude);
void append_uint64_integer(Bytes& out, uint64_t value);
// RFC 5280 §4.1.2.5: UTCTime for 1950-2049, GeneralizedTime otherwise.
void append_time(Bytes& out, int64_t unix_seconds);
// Wraps `content` in a TLV in place (moves it behind a header).
void wrap(Bytes& content, uint8_t tag);

// The content of a BIT STRING with no unused bits (as keys and signatures are).
[[nodiscard]] Result<std::span<const uint8_t>> bit_string_bytes(const Element& e, const char* what);

}  // namespace herald::der
