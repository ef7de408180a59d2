#include "base/duration.h"

#include <cstdint>
#include <limits>

namespace herald {

Result<std::chrono::seconds> parse_duration(std::string_view text) {
  auto bad = [&](std::string why) {
    return make_error(ErrorCode::kInvalidArgument, "invalid duration '" + std::string(text) +
                                                       "': " + why +
                                                       " (use e.g. 90d, 720h, 30m, 3600s, 2y)");
  };
  if (text.empty()) return bad("empty");
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] < '0' || text[i] > '9') return bad("expected a number");
    int64_t n = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (n > (std::numeric_limits<int64_t>::max() / 10) - 10) return bad("too large");
      n = n * 10 + (text[i] - '0');
      ++i;
    }
    if (i == text.size()) return bad("missing unit");
    int64_t unit = 0;
    switch (text[i]) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      case 'w':
        unit = 7 * 86400;
        break;
      case 'y':
        unit = 365 * 86400;
        break;
      default:
        return bad(std::string("unknown unit '") + text[i] + "'");
    }
    ++i;
    // Cap at 1000 years: anything larger is a typo, and it keeps time_t math safe.
    constexpr int64_t kMax = int64_t{1000} * 365 * 86400;
    if (n > kMax / unit || total + n * unit > kMax) return bad("longer than 1000y");
    total += n * unit;
  }
  if (total <= 0) return bad("must be positive");
  return std::chrono::seconds(total);
}

std::string format_duration(std::chrono::seconds d) {
  int64_t s = d.count();
  struct Unit {
    int64_t secs;
    char c;
  };
  for (auto u : {Unit{365 * 86400, 'y'}, Unit{86400, 'd'}, Unit{3600, 'h'}, Unit{60, 'm'}}) {
    if (s != 0 && s % u.secs == 0) return std::to_string(s / u.secs) + u.c;
  }
  return std::to_string(s) + "s";
}

}  // namespace herald
