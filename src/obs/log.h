#pragma once
// The process-wide log of `herald serve` (docs/operations.md, "Logs"): one
// line per event, JSON lines (one object per line: time, level, msg and the
// event's fields) or readable text, to stderr or to a file that SIGHUP
// reopens (logrotate). Every line is bounded: a string field is cut at
// kMaxFieldBytes, a line at kMaxLineBytes (the fields that do not fit are
// dropped and "truncated":true says so); strings are JSON-escaped, invalid
// UTF-8 becomes U+FFFD (base/json_line.h). Never log a request body, a
// header that carries a credential, a token, a key or a passphrase.
//
// Requests: the HTTP layer's caller opens a RequestLog per request on the
// thread that runs the handler; handlers add what they know (the caller's
// provisioner or ACME account, the serial issued or revoked) with
// note_request(), which does nothing outside a request.

#include <chrono>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"

namespace herald::obs {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class LogFormat { kJson, kText };

inline constexpr size_t kMaxFieldBytes = 1024;
inline constexpr size_t kMaxLineBytes = 8 * 1024;

[[nodiscard]] Result<LogLevel> parse_log_level(std::string_view s);
[[nodiscard]] Result<LogFormat> parse_log_format(std::string_view s);
[[nodiscard]] std::string_view log_level_name(LogLevel level);

// One field of a line: a string, an integer, a number or a boolean. Holds a
// view: the value must outlive the call it is passed to.
struct LogField {
  enum class Kind { kStr, kInt, kUint, kFloat, kBool };
  LogField(std::string_view k, std::string_view v) : key(k), kind(Kind::kStr), s(v) {}
  LogField(std::string_view k, const std::string& v) : key(k), kind(Kind::kStr), s(v) {}
  LogField(std::string_view k, const char* v) : key(k), kind(Kind::kStr), s(v) {}
  LogField(std::string_view k, bool v) : key(k), kind(Kind::kBool), b(v) {}
  LogField(std::string_view k, double v) : key(k), kind(Kind::kFloat), d(v) {}
  template <std::signed_integral T>
  LogField(std::string_view k, T v) : key(k), kind(Kind::kInt), i(static_cast<int64_t>(v)) {}
  template <std::unsigned_integral T>
  requires(!std::same_as<T, bool>) LogField(std::string_view k, T v)
      : key(k), kind(Kind::kUint), u(static_cast<uint64_t>(v)) {}

  std::string_view key;
  Kind kind;
  std::string_view s;
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
  bool b = false;
};

// The line, without writing it (the logger's formatting, for tests).
[[nodiscard]] std::string format_log_line(LogFormat format,
                                          std::chrono::system_clock::time_point time,
                                          LogLevel level, std::string_view msg,
                                          const LogField* fields, size_t count);

struct LogOptions {
  // Default: JSON unless stderr is a terminal.
  std::optional<LogFormat> format;
  LogLevel level = LogLevel::kInfo;
  std::string file;  // empty: stderr
};
// Sets up the process's logger (call once, before threads log). Without a
// call, lines go to stderr at info, JSON unless stderr is a terminal.
[[nodiscard]] Status configure_logging(const LogOptions& options);
// Opens the log file anew (SIGHUP, after logrotate moved it). Keeps the old
// one if the new cannot be opened. No-op when logging to stderr.
[[nodiscard]] Status reopen_log();
[[nodiscard]] bool log_enabled(LogLevel level);
void log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});
void log(LogLevel level, std::string_view msg, const std::vector<LogField>& fields);

// ------------------------------------------------------------- requests

// Whether `id` may be taken from a client's X-Request-Id: 1-64 characters
// of [A-Za-z0-9._-].
[[nodiscard]] bool valid_request_id(std::string_view id);
// 16 random hex characters.
[[nodiscard]] std::string new_request_id();

// What a request's line says besides method, path, status and duration:
// fields the handlers add (note_request) while it runs on this thread.
class RequestLog {
 public:
  RequestLog();  // becomes the thread's current request
  ~RequestLog();
  RequestLog(const RequestLog&) = delete;
  RequestLog& operator=(const RequestLog&) = delete;

  void note(std::string_view key, std::string_view value);
  [[nodiscard]] const std::vector<std::pair<std::string, std::string>>& notes() const {
    return notes_;
  }

 private:
  std::vector<std::pair<std::string, std::string>> notes_;
  RequestLog* previous_;
};
// Adds key=value to the current request's line (replacing an earlier value
// of that key); nothing outside a request.
void note_request(std::string_view key, std::string_view value);

}  // namespace herald::obs
