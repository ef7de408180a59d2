// Fuzz target: the dashboard's session cookie as a browser (or anyone) sends
// it (server/ui_session.h): the Cookie header is parsed for herald_session
// and the value opened with a fixed key and clock. Whatever the input,
// nothing may crash and nothing the target did not seal may open; a value it
// sealed itself opens to the same session.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "server/ui_session.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace ui = herald::server::ui;
  static const std::vector<uint8_t> key(32, 0x42);
  const herald::TimePoint now{std::chrono::seconds(1'700'000'000)};
  const std::string input(reinterpret_cast<const char*>(data), size);

  herald::net::Request req;
  req.headers = {{"cookie", input}};
  const std::string value = ui::cookie(req, ui::kCookieName);
  for (const std::string& v : {value, input}) {
    auto s = ui::open(v, key, now);
    // Only a value sealed under this key can open: the fuzzer cannot forge
    // one, so an input that opens must be one the target itself made.
    if (s && ui::seal(*s, key) != v) std::abort();
  }

  // Round trip: a session sealed here opens as itself, and not once expired;
  // sealing never throws, whatever the name.
  ui::Session mine{input.substr(0, 64), "ab", now + std::chrono::hours(1)};
  const std::string sealed = ui::seal(mine, key);
  auto back = ui::open(sealed, key, now);
  // (A name that is not UTF-8 comes back with U+FFFD, and seals the same.)
  if (!back || back->token_sha256 != mine.token_sha256 || ui::seal(*back, key) != sealed)
    std::abort();
  if (ui::open(sealed, key, now + std::chrono::hours(2))) std::abort();
  return 0;
}
