#include "base/encoding.h"

namespace herald {

std::string to_hex(std::span<const uint8_t> bytes, bool upper) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 0xF];
  }
  return out;
}

std::string to_hex_colons(std::span<const uint8_t> bytes) {
  std::string out;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i) out += ':';
    out += to_hex(bytes.subspan(i, 1));
  }
  return out;
}

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

Result<Bytes> from_hex(std::string_view text) {
  std::string digits;
  for (char c : text) {
    if (c == ':') continue;
    if (hex_value(c) < 0) {
      return make_error(ErrorCode::kInvalidArgument,
                        "not hexadecimal: '" + std::string(text) + "'");
    }
    digits += c;
  }
  if (digits.empty()) return make_error(ErrorCode::kInvalidArgument, "empty hexadecimal value");
  if (digits.size() % 2) digits.insert(digits.begin(), '0');
  Bytes out(digits.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<uint8_t>(hex_value(digits[2 * i]) << 4 | hex_value(digits[2 * i + 1]));
  }
  return out;
}

namespace {
constexpr char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}
}  // namespace

namespace {
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
std::string base64_with(std::span<const uint8_t> bytes, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = bytes[i] << 16 | bytes[i + 1] << 8 | bytes[i + 2];
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (bytes.size() - i == 1) {
    uint32_t v = bytes[i] << 16;
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    if (pad) out += "==";
  } else if (bytes.size() - i == 2) {
    uint32_t v = bytes[i] << 16 | bytes[i + 1] << 8;
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    if (pad) out += '=';
  }
  return out;
}
}  // namespace

std::string base64url_encode(std::span<const uint8_t> bytes) {
  return base64_with(bytes, kB64Url, false);
}

std::string base64_encode(std::span<const uint8_t> bytes) { return base64_with(bytes, kB64, true); }

Result<Bytes> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) {
    return make_error(ErrorCode::kMalformedInput, "malformed base64: length not a multiple of 4");
  }
  size_t pad = 0;
  while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  std::string body(text.substr(0, text.size() - pad));
  for (char& c : body) {
    if (c == '-' || c == '_' || c == '=') {
      return make_error(ErrorCode::kMalformedInput, "malformed base64: bad character");
    }
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  if (body.size() % 4 == 1) {
    return make_error(ErrorCode::kMalformedInput, "malformed base64: impossible length");
  }
  auto out = base64url_decode(body);
  if (!out) return make_error(ErrorCode::kMalformedInput, "malformed base64: " + out.error().message.substr(out.error().message.find(':') + 2));
  return out;
}

Result<Bytes> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) {
    return make_error(ErrorCode::kMalformedInput, "malformed base64url: impossible length");
  }
  Bytes out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = b64_value(c);
    if (v < 0) return make_error(ErrorCode::kMalformedInput, "malformed base64url: bad character");
    acc = acc << 6 | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  if (acc != 0)
    return make_error(ErrorCode::kMalformedInput, "malformed base64url: non-zero padding bits");
  return out;
}

}  // namespace herald
