#include "feed/page.h"

#include <ctime>
#include <limits>
#include <nlohmann/json.hpp>

namespace herald::feed {

namespace {

using nlohmann::json;

tl::unexpected<Error> bad(std::string why) {
  return make_error(ErrorCode::kMalformedInput, "revocation feed page: " + std::move(why));
}

// Nesting of arrays and objects outside strings, without parsing: refuses a
// deep document before the parser builds it.
bool depth_within(std::string_view s, int max_depth) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : s) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

// A non-negative integer that fits int64_t (JSON integers only, no 1.0).
std::optional<int64_t> non_negative(const json& j) {
  if (j.is_number_unsigned()) {
    auto v = j.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(v);
  }
  if (j.is_number_integer()) {
    auto v = j.get<int64_t>();
    if (v < 0) return std::nullopt;
    return v;
  }
  return std::nullopt;
}

// YYYY-MM-DDTHH:MM:SSZ, as base/clock.h's format_time writes it.
std::optional<TimePoint> parse_time(std::string_view s) {
  if (s.size() != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
      s[16] != ':' || s[19] != 'Z')
    return std::nullopt;
  auto num = [&](size_t at, size_t n) -> int {
    int v = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return -1;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  const int year = num(0, 4), month = num(5, 2), day = num(8, 2);
  const int hour = num(11, 2), minute = num(14, 2), second = num(17, 2);
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 ||
      minute < 0 || minute > 59 || second < 0 || second > 60)
    return std::nullopt;
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (day > kDays[month - 1] || (month == 2 && day == 29 && !leap)) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return TimePoint{std::chrono::seconds(::timegm(&tm))};
}

bool hex_serial(std::string_view s) {
  if (s.empty() || s.size() > 40) return false;
  for (char c : s) {
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex) return false;
  }
  return true;
}

Result<Revocation> parse_entry(const json& e, size_t index) {
  const std::string at = "revocations[" + std::to_string(index) + "]";
  if (!e.is_object()) return bad(at + " is not an object");
  Revocation r;
  auto id = e.find("id");
  if (id == e.end()) return bad(at + ": no id");
  auto idv = non_negative(*id);
  if (!idv || *idv == 0) return bad(at + ".id is not a positive integer");
  r.id = *idv;
  auto serial = e.find("serial");
  if (serial == e.end() || !serial->is_string() ||
      !hex_serial(serial->get_ref<const std::string&>()))
    return bad(at + ".serial is not 1 to 40 hex digits");
  auto parsed = Serial::parse(serial->get_ref<const std::string&>());
  if (!parsed) return bad(at + ".serial: " + parsed.error().message);
  r.serial = std::move(*parsed);
  auto status = e.find("status");
  if (status == e.end() || !status->is_string()) return bad(at + ".status is not a string");
  const auto& st = status->get_ref<const std::string&>();
  if (st == "revoked") {
    r.status = Status::kRevoked;
  } else if (st == "on-hold") {
    r.status = Status::kOnHold;
  } else if (st == "valid") {
    r.status = Status::kValid;
  } else {
    return bad(at + ".status is not revoked, on-hold or valid");
  }
  if (auto reason = e.find("reason"); reason != e.end()) {
    if (r.status == Status::kValid) return bad(at + ": a valid certificate with a reason");
    if (!reason->is_string()) return bad(at + ".reason is not a string");
    auto rr = x509::parse_reason(reason->get_ref<const std::string&>());
    if (!rr) return bad(at + ".reason is not a CRL reason name");
    r.reason = *rr;
  }
  if (auto when = e.find("revoked_at"); when != e.end()) {
    if (r.status == Status::kValid) return bad(at + ": a valid certificate with revoked_at");
    if (!when->is_string()) return bad(at + ".revoked_at is not a string");
    r.revoked_at = parse_time(when->get_ref<const std::string&>());
    if (!r.revoked_at) return bad(at + ".revoked_at is not YYYY-MM-DDTHH:MM:SSZ");
  }
  return r;
}

}  // namespace

Result<Page> parse_page(std::string_view body, std::optional<int64_t> since) {
  if (body.size() > kMaxPageBytes)
    return bad("larger than " + std::to_string(kMaxPageBytes) + " bytes");
  if (!depth_within(body, kMaxDepth)) return bad("nested deeper than " + std::to_string(kMaxDepth));
  json j = json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded()) return bad("not JSON");
  if (!j.is_object()) return bad("not a JSON object");
  Page page;
  auto next = j.find("next");
  if (next == j.end()) return bad("no next");
  auto nv = non_negative(*next);
  if (!nv) return bad("next is not a non-negative integer");
  page.next = *nv;
  if (auto reset = j.find("reset"); reset != j.end()) {
    if (!reset->is_boolean()) return bad("reset is not a boolean");
    page.reset = reset->get<bool>();
  }
  auto list = j.find("revocations");
  if (list == j.end() || !list->is_array()) return bad("revocations is not an array");
  if (list->size() > kMaxPageEntries)
    return bad("more than " + std::to_string(kMaxPageEntries) + " entries");
  if (page.reset) {
    if (!list->empty()) return bad("a reset page with entries");
    return page;
  }
  int64_t last = since.value_or(0);
  page.revocations.reserve(list->size());
  for (size_t i = 0; i < list->size(); ++i) {
    HERALD_TRY(auto r, parse_entry((*list)[i], i));
    if (r.id <= last) {
      return bad("revocations[" + std::to_string(i) + "].id " + std::to_string(r.id) +
                 (i == 0 ? " is not after since " : " is not after the previous id ") +
                 std::to_string(last));
    }
    last = r.id;
    page.revocations.push_back(std::move(r));
  }
  if (page.next < last)
    return bad("next " + std::to_string(page.next) + " is before " + std::to_string(last));
  return page;
}

std::string_view status_name(Status s) {
  switch (s) {
    case Status::kRevoked:
      return "revoked";
    case Status::kOnHold:
      return "on-hold";
    case Status::kValid:
      return "valid";
  }
  return "revoked";
}

}  // namespace herald::feed
