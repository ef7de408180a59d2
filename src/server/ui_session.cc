#include "server/ui_session.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <nlohmann/json.hpp>

#include "base/encoding.h"

namespace herald::server::ui {

namespace {

using nlohmann::json;

Bytes mac(std::string_view payload, std::span<const uint8_t> key) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int n = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), out.data(),
            &n)) {
    return {};
  }
  out.resize(n);
  return out;
}

std::span<const uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

Result<Session> refuse(const char* why) {
  return make_error(ErrorCode::kUnauthenticated, std::string("session cookie ") + why);
}

}  // namespace

std::string seal(const Session& s, std::span<const uint8_t> key) {
  const std::string payload = base64url_encode(bytes_of(json{
      {"p", s.provisioner},
      {"t", s.token_sha256},
      // Invalid UTF-8 in a name becomes U+FFFD instead of an exception.
      {"e", s.expires.time_since_epoch().count()}}.dump(-1, ' ', false,
                                                        json::error_handler_t::replace)));
  return payload + "." + base64url_encode(mac(payload, key));
}

Result<Session> open(std::string_view value, std::span<const uint8_t> key, TimePoint now) {
  if (value.size() > 1024) return refuse("too long");
  auto dot = value.find('.');
  if (dot == std::string_view::npos) return refuse("malformed");
  const std::string_view payload = value.substr(0, dot);
  auto got = base64url_decode(value.substr(dot + 1));
  const Bytes want = mac(payload, key);
  if (!got || want.empty() || got->size() != want.size() ||
      CRYPTO_memcmp(got->data(), want.data(), want.size()) != 0) {
    return refuse("not valid");
  }
  auto raw = base64url_decode(payload);
  if (!raw) return refuse("malformed");
  json j = json::parse(raw->begin(), raw->end(), nullptr, false);
  if (!j.is_object() || !j.contains("p") || !j["p"].is_string() || !j.contains("t") ||
      !j["t"].is_string() || !j.contains("e") || !j["e"].is_number_integer()) {
    return refuse("malformed");
  }
  Session s{j["p"].get<std::string>(), j["t"].get<std::string>(),
            TimePoint{std::chrono::seconds(j["e"].get<int64_t>())}};
  if (s.expires <= now) return refuse("expired: log in again");
  return s;
}

std::string set_cookie(const std::string& value, std::chrono::seconds max_age) {
  return std::string(kCookieName) + "=" + value + "; Secure; HttpOnly; SameSite=Strict; Path=/; " +
         "Max-Age=" + std::to_string(max_age.count());
}

std::string clear_cookie() {
  return std::string(kCookieName) + "=; Secure; HttpOnly; SameSite=Strict; Path=/; Max-Age=0";
}

std::string cookie(const net::Request& req, std::string_view name) {
  std::string_view all = req.header("cookie");
  while (!all.empty()) {
    auto end = all.find(';');
    std::string_view part = all.substr(0, end);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (part.size() > name.size() && part.starts_with(name) && part[name.size()] == '=')
      return std::string(part.substr(name.size() + 1));
    if (end == std::string_view::npos) break;
    all.remove_prefix(end + 1);
  }
  return {};
}

bool same_origin(const net::Request& req) {
  std::string_view origin = req.header("origin");
  std::string_view host = req.header("host");
  if (origin.empty() || host.empty() || !req.tls) return false;
  return origin.size() == 8 + host.size() && origin.starts_with("https://") &&
         origin.substr(8) == host;
}

bool LoginLimiter::allow(const std::string& address, std::chrono::steady_clock::time_point now) {
  constexpr auto kWindow = std::chrono::minutes(1);
  auto it = windows_.find(address);
  if (it == windows_.end()) {
    if (windows_.size() >= max_addresses_) {
      std::erase_if(windows_, [&](const auto& kv) { return now - kv.second.start >= kWindow; });
      if (windows_.size() >= max_addresses_) return false;
    }
    windows_.emplace(address, Window{now, 1});
    return true;
  }
  if (now - it->second.start >= kWindow) it->second = Window{now, 0};
  if (it->second.attempts >= per_minute_) return false;
  ++it->second.attempts;
  return true;
}

}  // namespace herald::server::ui
