#include "store/inventory.h"

#include <algorithm>
#include <cctype>
#include <cstdint>

#include <nlohmann/json.hpp>

namespace herald::store {

std::string CertRecord::status_at(TimePoint now) const {
  if (status == CertStatus::kRevoked) return "revoked";
  return now >= not_after ? "expired" : "valid";
}

std::string issue_audit_detail(const CertRecord& r) {
  return nlohmann::json{{"profile", r.profile}, {"subject", r.subject}}.dump();
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
    // A certificate has one value per key: a second would silently replace
    // the first (as a filter, match what was not asked for).
    if (!out.emplace(std::string(item.substr(0, eq)), std::string(item.substr(eq + 1))).second) {
      return make_error(ErrorCode::kInvalidArgument,
                        "owner label '" + std::string(item.substr(0, eq)) + "' given twice");
    }
  }
  return out;
}

namespace {

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool is_name_boundary(char c) { return c == '.' || c == '@' || c == '/' || c == ':'; }

// The code points of a UTF-8 string; nullopt if it is not UTF-8 (overlong
// forms, surrogates and values past U+10FFFF included).
std::optional<std::vector<uint32_t>> decode_utf8(std::string_view s) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t cp = 0;
    uint32_t min = 0;
    if (b < 0x80) {
      len = 1, cp = b;
    } else if ((b & 0xE0) == 0xC0) {
      len = 2, cp = b & 0x1F, min = 0x80;
    } else if ((b & 0xF0) == 0xE0) {
      len = 3, cp = b & 0x0F, min = 0x800;
    } else if ((b & 0xF8) == 0xF0) {
      len = 4, cp = b & 0x07, min = 0x10000;
    } else {
      return std::nullopt;
    }
    if (i + len > s.size()) return std::nullopt;
    for (size_t k = 1; k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
    out.push_back(cp);
    i += len;
  }
  return out;
}

void encode_utf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

std::vector<std::string> name_search_keys(const x509::San& san) {
  const std::string name = ascii_lower(san.value);
  std::vector<std::string> out;
  if (!name.empty()) out.push_back(name);
  for (size_t i = 0; i + 1 < name.size(); ++i) {
    if (is_name_boundary(name[i])) out.push_back(name.substr(i + 1));
  }
  return out;
}

std::vector<std::string> name_search_keys(const std::vector<x509::San>& sans) {
  std::vector<std::string> out;
  for (const auto& san : sans) {
    auto keys = name_search_keys(san);
    out.insert(out.end(), std::make_move_iterator(keys.begin()),
               std::make_move_iterator(keys.end()));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string normalise_name_term(std::string_view term) {
  std::string t = ascii_lower(term);
  for (std::string_view prefix : {"dns:", "ip:", "uri:", "email:"}) {
    if (std::string_view(t).starts_with(prefix)) return t.substr(prefix.size());
  }
  return t;
}

std::optional<NameRange> name_search_range(std::string_view term) {
  NameRange r{normalise_name_term(term), std::nullopt};
  auto cps = decode_utf8(r.low);
  if (!cps) return std::nullopt;
  // Keys starting with low are exactly those in [low, low with its last
  // code point + 1): UTF-8's byte order is its code points' order.
  while (!cps->empty() && cps->back() == 0x10FFFF) cps->pop_back();
  if (!cps->empty()) {
    uint32_t& last = cps->back();
    last = last == 0xD7FF ? 0xE000 : last + 1;
    std::string high;
    for (uint32_t cp : *cps) encode_utf8(cp, high);
    r.high = std::move(high);
  }
  return r;
}

}  // namespace herald::store
