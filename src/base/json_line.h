#pragma once
// One JSON object on one line, written field by field: for access logs and
// other lines on hot paths, where building a JSON tree per request costs
// more than the request. Strings are escaped; bytes that are not valid
// UTF-8 become U+FFFD, so bytes a client chose can neither break a line
// nor make it unwritable (and so missing from the log).

#include <cstdint>
#include <string>
#include <string_view>

namespace herald {

// Appends s as a JSON string literal (with the quotes) to out.
void append_json_string(std::string& out, std::string_view s);

class JsonLine {
 public:
  JsonLine() { out_.reserve(256); out_ += '{'; }
  JsonLine& str(std::string_view key, std::string_view value);
  JsonLine& num(std::string_view key, std::int64_t value);
  JsonLine& unsigned_num(std::string_view key, std::uint64_t value);
  // A fixed-point number with `decimals` digits after the point (0..9).
  JsonLine& fixed(std::string_view key, double value, int decimals);
  JsonLine& boolean(std::string_view key, bool value);
  // The object, closed, with a trailing newline. The line is spent.
  std::string finish();

 private:
  void key(std::string_view k);
  std::string out_;
};

}  // namespace herald
