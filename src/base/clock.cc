#include "base/clock.h"

#include <ctime>
#include <string>

namespace herald {

TimePoint SystemClock::now() const {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

namespace {
std::string format_utc(TimePoint t, const char* format) {
  std::time_t tt = t.time_since_epoch().count();
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}
}  // namespace

std::string format_time(TimePoint t) { return format_utc(t, "%Y-%m-%dT%H:%M:%SZ"); }
std::string format_http_date(TimePoint t) { return format_utc(t, "%a, %d %b %Y %H:%M:%S GMT"); }

}  // namespace herald
