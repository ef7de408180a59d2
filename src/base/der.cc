#include "base/der.h"

#include <cstdio>
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

void append_header(Bytes& out, uint8_t tag, size_t length) {
  out.push_back(tag);
  if (length < 0x80) {
    out.push_back(static_cast<uint8_t>(length));
    return;
  }
  uint8_t buf[8];
  int n = 0;
  for (size_t l = length; l; l >>= 8) buf[n++] = static_cast<uint8_t>(l & 0xFF);
  out.push_back(static_cast<uint8_t>(0x80 | n));
  while (n) out.push_back(buf[--n]);
}

void append_tlv(Bytes& out, uint8_t tag, std::span<const uint8_t> content) {
  append_header(out, tag, content.size());
  out.insert(out.end(), content.begin(), content.end());
}

void append_unsigned_integer(Bytes& out, std::span<const uint8_t> magnitude) {
  size_t skip = 0;
  while (skip + 1 < magnitude.size() && magnitude[skip] == 0) ++skip;
  magnitude = magnitude.subspan(skip);
  const bool pad = magnitude.empty() || (magnitude[0] & 0x80);
  append_header(out, tag::kInteger, magnitude.size() + (pad ? 1 : 0));
  if (pad) out.push_back(0);
  out.insert(out.end(), magnitude.begin(), magnitude.end());
}

void append_uint64_integer(Bytes& out, uint64_t value) {
  uint8_t b[8];
  for (int i = 7; i >= 0; --i, value >>= 8) b[i] = static_cast<uint8_t>(value & 0xFF);
  append_unsigned_integer(out, b);
}

void append_time(Bytes& out, int64_t t) {
  // Civil date from days since the epoch (Howard Hinnant's algorithm).
  int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
  int64_t secs = t - days * 86400;
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t doe = days - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  char buf[20];
  const bool utc = y >= 1950 && y <= 2049;
  int n =
      utc ? std::snprintf(buf, sizeof buf, "%02d%02d%02d%02d%02d%02dZ", static_cast<int>(y % 100),
                          static_cast<int>(m), static_cast<int>(d), static_cast<int>(secs / 3600),
                          static_cast<int>(secs / 60 % 60), static_cast<int>(secs % 60))
          : std::snprintf(buf, sizeof buf, "%04d%02d%02d%02d%02d%02dZ", static_cast<int>(y),
                          static_cast<int>(m), static_cast<int>(d), static_cast<int>(secs / 3600),
                          static_cast<int>(secs / 60 % 60), static_cast<int>(secs % 60));
  append_tlv(out, utc ? tag::kUtcTime : tag::kGeneralizedTime,
             std::span(reinterpret_cast<const uint8_t*>(buf), static_cast<size_t>(n)));
}

void wrap(Bytes& content, uint8_t tag) {
  Bytes header;
  append_header(header, tag, content.size());
  content.insert(content.begin(), header.begin(), header.end());
}

Result<std::span<const uint8_t>> bit_string_bytes(const Element& e, const char* what) {
  if (e.tag != tag::kBitString) return malformed(what, "not a BIT STRING");
  if (e.content.empty() || e.content[0] != 0) return malformed(what, "BIT STRING with unused bits");
  return e.content.subspan(1);
}

}  // namespace herald::der
