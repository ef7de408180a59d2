#include "base/der.h"

#include <string>

namespace herald::der {

namespace {
tl::unexpected<Error> malformed(const char* what, const char* why) {
  return make_error(ErrorCode::kMalformedInput,
                    std::string("malformed DER in ") + what + ": " + why);
}
}  // namespace

Result<Element> Reader::next() {
  if (data_.size() < 2) return malformed("element", "truncated");
  const uint8_t t = data_[0];
  if ((t & 0x1F) == 0x1F) return malformed("element", "high tag numbers are not supported");
  size_t len = data_[1];
  size_t header = 2;
  if (len & 0x80) {
    const size_t n = len & 0x7F;
    if (n == 0) return malformed("element", "indefinite length is not DER");
    if (n > 4) return malformed("element", "length too large");
    if (data_.size() < 2 + n) return malformed("element", "truncated length");
    len = 0;
    for (size_t i = 0; i < n; ++i) len = len << 8 | data_[2 + i];
    if (data_[2] == 0 || len < 0x80) return malformed("element", "length not minimally encoded");
    header += n;
  }
  if (data_.size() - header < len) return malformed("element", "truncated value");
  Element e{t, data_.subspan(header, len), data_.subspan(0, header + len)};
  data_ = data_.subspan(header + len);
  return e;
}

Result<Element> Reader::expect(uint8_t t, const char* what) {
  if (data_.empty()) return malformed(what, "missing element");
  if (data_[0] != t) return malformed(what, "unexpected tag");
  auto e = next();
  if (!e) return malformed(what, "bad length");
  return e;
}

Result<std::span<const uint8_t>> bit_string_bytes(const Element& e, const char* what) {
  if (e.tag != tag::kBitString) return malformed(what, "not a BIT STRING");
  if (e.content.empty() || e.content[0] != 0) return malformed(what, "BIT STRING with unused bits");
  return e.content.subspan(1);
}

}  // namespace herald::der
