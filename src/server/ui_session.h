#pragma once
// The dashboard's session cookie and login guard (server/ui_endpoints.cc).
//
// A session is a cookie the server can check without a session table (so
// it works on every node of a store): the provisioner, the SHA-256 of the
// API token it logged in with (a revoked token ends its sessions) and an
// expiry, sealed with HMAC-SHA256 under the store's shared secret
// "ui-session". Its value is base64url(payload) "." base64url(mac); the mac
// is compared in constant time and the payload read only once it matched.

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/clock.h"
#include "base/error.h"
#include "net/http.h"

namespace herald::server::ui {

inline constexpr const char* kCookieName = "herald_session";
inline constexpr std::chrono::hours kSessionLifetime{8};

struct Session {
  std::string provisioner;
  std::string token_sha256;  // hex, as the token store keys it
  TimePoint expires;
};

// The cookie value for `s`, sealed with `key` (at least 32 bytes).
[[nodiscard]] std::string seal(const Session& s, std::span<const uint8_t> key);
// The session in `value` if its mac matches and it has not expired at
// `now`; kUnauthenticated otherwise (the reason in the message, no secret).
[[nodiscard]] Result<Session> open(std::string_view value, std::span<const uint8_t> key,
                                   TimePoint now);

// Set-Cookie values: the session (Secure; HttpOnly; SameSite=Strict;
// Path=/; Max-Age) and its removal.
[[nodiscard]] std::string set_cookie(const std::string& value, std::chrono::seconds max_age);
[[nodiscard]] std::string clear_cookie();
// The value of cookie `name` in the request's Cookie header, "" if absent.
[[nodiscard]] std::string cookie(const net::Request& req, std::string_view name);

// A state-changing request comes from the dashboard's own pages: its Origin
// header names the host it was sent to over HTTPS (a cross-site form or
// script sends another Origin, or none when a browser hides it).
[[nodiscard]] bool same_origin(const net::Request& req);

// Login attempts per client address: at most `per_minute` a minute each,
// for at most `max_addresses` addresses at once (beyond that new addresses
// are refused until old windows end), so unauthenticated callers can
// neither guess tokens quickly nor grow the map without bound.
class LoginLimiter {
 public:
  explicit LoginLimiter(int per_minute = 10, size_t max_addresses = 4096)
      : per_minute_(per_minute), max_addresses_(max_addresses) {}
  // True if an attempt from `address` at `now` is allowed (and counts it).
  [[nodiscard]] bool allow(const std::string& address, std::chrono::steady_clock::time_point now);
  [[nodiscard]] size_t tracked() const { return windows_.size(); }

 private:
  struct Window {
    std::chrono::steady_clock::time_point start;
    int attempts;
  };
  int per_minute_;
  size_t max_addresses_;
  std::unordered_map<std::string, Window> windows_;
};

}  // namespace herald::server::ui
