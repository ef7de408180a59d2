#include "store/inventory.h"

#include <algorithm>
#include <cctype>

namespace herald::store {

std::string CertRecord::status_at(TimePoint now) const {
  if (status == CertStatus::kRevoked) return "revoked";
  return now >= not_after ? "expired" : "valid";
}

Status check_label(std::string_view key, std::string_view value) {
  bool key_ok = !key.empty() && key.size() <= 64 && std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
  bool value_ok = !value.empty() && value.size() <= 256 &&
                  std::all_of(value.begin(), value.end(),
                              [](char c) { return c >= 0x20 && c < 0x7F && c != ',' && c != '='; });
  if (!key_ok || !value_ok) {
    return make_error(
        ErrorCode::kInvalidArgument,
        "invalid owner label '" + std::string(key) + "=" + std::string(value) +
            "' (key: letters, digits, _ - .; value: 1-256 printable characters without , or =)");
  }
  return {};
}

bool is_reserved_label(std::string_view key, std::string_view value) {
  for (std::string_view r : {"provisioner", "renewed_from", "acme_account", "acme_order"}) {
    if (key == r) return true;
  }
  return key == "service" && value == "herald-serve";
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
    if (eq == item.npos) {
      return make_error(ErrorCode::kInvalidArgument,
                        "invalid owner label '" + std::string(item) + "' (expected key=value)");
    }
    HERALD_TRY_VOID(check_label(item.substr(0, eq), item.substr(eq + 1)));
    out[std::string(item.substr(0, eq))] = std::string(item.substr(eq + 1));
  }
  return out;
}

}  // namespace herald::store
