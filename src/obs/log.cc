#include "obs/log.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>

#include "base/json_line.h"

namespace herald::obs {

namespace {

// Cuts s at `max` bytes, backing off to the start of a UTF-8 sequence.
std::string_view cut(std::string_view s, size_t max, bool& cut_off) {
  cut_off = s.size() > max;
  if (!cut_off) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

std::string rfc3339_ms(std::chrono::system_clock::time_point t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  const int frac = static_cast<int>(ms - static_cast<int64_t>(secs) * 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

std::string number_text(const LogField& f) {
  switch (f.kind) {
    case LogField::Kind::kInt:
      return std::to_string(f.i);
    case LogField::Kind::kUint:
      return std::to_string(f.u);
    case LogField::Kind::kFloat: {
      if (!std::isfinite(f.d)) return "null";
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.3f", f.d);
      return buf;
    }
    case LogField::Kind::kBool:
      return f.b ? "true" : "false";
    case LogField::Kind::kStr:
      break;
  }
  return "";
}

bool plain_text_value(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7F) return false;
  }
  return true;
}

// A field's rendering (with its leading separator), or "" if it is empty.
std::string render_field(LogFormat format, const LogField& f) {
  bool key_cut = false, value_cut = false;
  const std::string_view key = cut(f.key, 64, key_cut);
  std::string out;
  if (format == LogFormat::kJson) {
    out += ',';
    append_json_string(out, key);
    out += ':';
  } else {
    out += ' ';
    // Keys are ours (identifiers); escape them all the same.
    if (plain_text_value(key)) {
      out += key;
    } else {
      append_json_string(out, key);
    }
    out += '=';
  }
  if (f.kind == LogField::Kind::kStr) {
    std::string v(cut(f.s, kMaxFieldBytes, value_cut));
    if (value_cut) v += "...";
    if (format == LogFormat::kText && plain_text_value(v)) {
      out += v;
    } else {
      append_json_string(out, v);
    }
  } else {
    out += number_text(f);
  }
  return out;
}

}  // namespace

Result<LogLevel> parse_log_level(std::string_view s) {
  if (s == "debug") return LogLevel::kDebug;
  if (s == "info") return LogLevel::kInfo;
  if (s == "warn" || s == "warning") return LogLevel::kWarn;
  if (s == "error") return LogLevel::kError;
  return make_error(ErrorCode::kInvalidArgument,
                    "log level '" + std::string(s) + "': debug, info, warn or error");
}

Result<LogFormat> parse_log_format(std::string_view s) {
  if (s == "json") return LogFormat::kJson;
  if (s == "text") return LogFormat::kText;
  return make_error(ErrorCode::kInvalidArgument,
                    "log format '" + std::string(s) + "': json or text");
}

std::string_view log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

std::string format_log_line(LogFormat format, std::chrono::system_clock::time_point time,
                            LogLevel level, std::string_view msg, const LogField* fields,
                            size_t count) {
  bool msg_cut = false;
  std::string m(cut(msg, kMaxFieldBytes, msg_cut));
  if (msg_cut) m += "...";
  std::string out;
  out.reserve(256);
  const std::string ts = rfc3339_ms(time);
  if (format == LogFormat::kJson) {
    out += "{\"time\":\"" + ts + "\",\"level\":\"" + std::string(log_level_name(level)) +
           "\",\"msg\":";
    append_json_string(out, m);
  } else {
    std::string lv(log_level_name(level));
    for (auto& c : lv) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    lv.resize(5, ' ');
    out += ts + " " + lv + " ";
    // The message as is, but on one line: control characters escaped.
    std::string esc;
    append_json_string(esc, m);
    out += esc.substr(1, esc.size() - 2);
  }
  // Room kept for the closing, the truncation mark and the newline.
  constexpr size_t kReserve = 32;
  bool truncated = false;
  for (size_t i = 0; i < count; ++i) {
    std::string f = render_field(format, fields[i]);
    if (out.size() + f.size() + kReserve > kMaxLineBytes) {
      truncated = true;
      continue;  // a later, shorter field may still fit
    }
    out += f;
  }
  if (truncated) out += format == LogFormat::kJson ? ",\"truncated\":true" : " truncated=true";
  if (format == LogFormat::kJson) out += '}';
  out += '\n';
  return out;
}

// ------------------------------------------------------------------ sink

namespace {

struct Sink {
  std::mutex mu;
  LogFormat format = isatty(STDERR_FILENO) ? LogFormat::kText : LogFormat::kJson;
  LogLevel level = LogLevel::kInfo;
  std::string path;  // empty: stderr
  int fd = STDERR_FILENO;
};

Sink& sink() {
  static Sink* s = new Sink;  // never destroyed: threads may log during exit
  return *s;
}

Result<int> open_log_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    return make_error(ErrorCode::kIo,
                      "cannot open the log file " + path + ": " + std::strerror(errno));
  }
  return fd;
}

void write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere to report it
    }
    s.remove_prefix(static_cast<size_t>(n));
  }
}

void emit(LogLevel level, std::string_view msg, const LogField* fields, size_t count) {
  Sink& s = sink();
  LogFormat format;
  {
    std::lock_guard lock(s.mu);
    if (level < s.level) return;
    format = s.format;
  }
  const std::string line =
      format_log_line(format, std::chrono::system_clock::now(), level, msg, fields, count);
  std::lock_guard lock(s.mu);
  write_all(s.fd, line);
}

}  // namespace

Status configure_logging(const LogOptions& options) {
  Sink& s = sink();
  int fd = STDERR_FILENO;
  if (!options.file.empty()) {
    HERALD_TRY(fd, open_log_file(options.file));
  }
  std::lock_guard lock(s.mu);
  if (s.fd != STDERR_FILENO) ::close(s.fd);
  s.fd = fd;
  s.path = options.file;
  s.level = options.level;
  s.format = options.format.value_or(isatty(STDERR_FILENO) ? LogFormat::kText : LogFormat::kJson);
  return {};
}

Status reopen_log() {
  Sink& s = sink();
  std::string path;
  {
    std::lock_guard lock(s.mu);
    path = s.path;
  }
  if (path.empty()) return {};
  HERALD_TRY(int fd, open_log_file(path));
  std::lock_guard lock(s.mu);
  if (s.fd != STDERR_FILENO) ::close(s.fd);
  s.fd = fd;
  return {};
}

bool log_enabled(LogLevel level) {
  Sink& s = sink();
  std::lock_guard lock(s.mu);
  return level >= s.level;
}

void log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields) {
  emit(level, msg, fields.begin(), fields.size());
}

void log(LogLevel level, std::string_view msg, const std::vector<LogField>& fields) {
  emit(level, msg, fields.data(), fields.size());
}

// -------------------------------------------------------------- requests

bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (unsigned char c : id) {
    if (!(std::isalnum(c) || c == '.' || c == '_' || c == '-')) return false;
  }
  return true;
}

std::string new_request_id() {
  unsigned char b[8];
  if (RAND_bytes(b, sizeof b) != 1) {
    // Not a secret, only unique enough: fall back on the clock.
    const auto t = std::chrono::steady_clock::now().time_since_epoch().count();
    std::memcpy(b, &t, sizeof b);
  }
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : b) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

namespace {
thread_local RequestLog* current_request = nullptr;
}

RequestLog::RequestLog() : previous_(current_request) { current_request = this; }
RequestLog::~RequestLog() { current_request = previous_; }

void RequestLog::note(std::string_view key, std::string_view value) {
  bool cut_off = false;
  std::string v(cut(value, kMaxFieldBytes, cut_off));
  for (auto& [k, old] : notes_) {
    if (k == key) {
      old = std::move(v);
      return;
    }
  }
  if (notes_.size() < 16) notes_.emplace_back(std::string(key), std::move(v));
}

void note_request(std::string_view key, std::string_view value) {
  if (current_request) current_request->note(key, value);
}

}  // namespace herald::obs
