#pragma once
// Hex, base64url and base64 codecs over byte strings.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace herald {

using Bytes = std::vector<uint8_t>;

[[nodiscard]] std::string to_hex(std::span<const uint8_t> bytes, bool upper = true);
// Colon-separated uppercase hex: "AB:CD:...", as fingerprints are shown.
[[nodiscard]] std::string to_hex_colons(std::span<const uint8_t> bytes);
// Accepts upper/lower case and optional ':' separators.
[[nodiscard]] Result<Bytes> from_hex(std::string_view text);

[[nodiscard]] std::string base64url_encode(std::span<const uint8_t> bytes);
[[nodiscard]] Result<Bytes> base64url_decode(std::string_view text);
// Standard base64 with padding (RFC 4648 §4), e.g. for JWK "x5c" (RFC 7517 §4.7).
[[nodiscard]] std::string base64_encode(std::span<const uint8_t> bytes);
// Its strict inverse: the '+' '/' alphabet, length a multiple of 4, at most
// two '=' and only at the end, zero padding bits; nothing else (no spaces).
[[nodiscard]] Result<Bytes> base64_decode(std::string_view text);

}  // namespace herald
