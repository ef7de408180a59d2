#pragma once
// Time is passed in (ARCHITECTURE.md, principle 1): nothing in the core reads
// the wall clock behind the caller's back.

#include <chrono>

namespace herald {

using TimePoint = std::chrono::sys_seconds;

class Clock {
 public:
  virtual ~Clock() = default;
  [[nodiscard]] virtual TimePoint now() const = 0;
};

class SystemClock final : public Clock {
 public:
  [[nodiscard]] TimePoint now() const override;
};

// A clock tests set and advance by hand.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint t) : now_(t) {}
  [[nodiscard]] TimePoint now() const override { return now_; }
  void set(TimePoint t) { now_ = t; }
  void advance(std::chrono::seconds d) { now_ += d; }

 private:
  TimePoint now_;
};

// "2026-11-23T14:41:00Z"
[[nodiscard]] std::string format_time(TimePoint t);
// RFC 9110 HTTP-date: "Mon, 23 Nov 2026 14:41:00 GMT"
[[nodiscard]] std::string format_http_date(TimePoint t);

}  // namespace herald
