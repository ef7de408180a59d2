#include "store/inventory.h"

#include <algorithm>
#include <cctype>

namespace herald::store {

std::string CertRecord::status_at(TimePoint now) const {
  if (status == CertStatus::kRevoked) return "revoked";
  return now >= not_after ? "expired" : "valid";
}

Result<Labels> parse_labels(std::string_view text) {
  Labels out;
  size_t start = 0;
  while (start < text.size()) {
    size_t comma = text.find(',', start);
    std::string_view item = text.substr(start, comma == text.npos ? text.npos : comma - start);
    start = comma == text.npos ? text.size() : comma + 1;
    if (item.empty()) continue;
    auto eq = item.find('=');
    std::string key(item.substr(0, eq));
    bool key_ok =
        !key.empty() && key.size() <= 64 && std::all_of(key.begin(), key.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
        });
    if (eq == item.npos || !key_ok || eq + 1 == item.size() || item.size() - eq - 1 > 256) {
      return make_error(ErrorCode::kInvalidArgument,
                        "invalid owner label '" + std::string(item) +
                            "' (expected key=value, key of letters, digits, _ - .)");
    }
    out[key] = std::string(item.substr(eq + 1));
  }
  return out;
}

}  // namespace herald::store
