#pragma once
// Human durations used on the command line and in config: "90d", "720h",
// "20y", "15m", "3600s", and sums such as "1d12h". A year is 365 days.

#include <chrono>
#include <string>
#include <string_view>

#include "base/error.h"

namespace herald {

[[nodiscard]] Result<std::chrono::seconds> parse_duration(std::string_view text);
// The largest exact unit: 7776000s -> "90d".
[[nodiscard]] std::string format_duration(std::chrono::seconds d);

}  // namespace herald
