#include "alerts/rules.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cmath>

namespace herald::alerts {

std::vector<Crossed> crossed_thresholds(const AlertsConfig& cfg, TimePoint not_before,
                                        TimePoint not_after, TimePoint now) {
  std::vector<Crossed> out;
  if (now >= not_after) return out;
  const std::chrono::seconds left = not_after - now;
  for (int d : cfg.days) {
    const std::chrono::seconds at(int64_t{d} * 86400);
    if (left <= at) out.push_back({std::to_string(d) + "d", at});
  }
  if (cfg.lifetime_percent > 0 && not_after > not_before) {
    const auto lifetime = (not_after - not_before).count();
    const std::chrono::seconds at(static_cast<int64_t>(
        std::floor(static_cast<double>(lifetime) * cfg.lifetime_percent / 100)));
    if (left <= at) {
      std::string pct = std::to_string(cfg.lifetime_percent);
      // "10.000000" -> "10", "2.500000" -> "2.5"
      pct.erase(pct.find_last_not_of('0') + 1);
      if (!pct.empty() && pct.back() == '.') pct.pop_back();
      out.push_back({pct + "pct", at});
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const Crossed& a, const Crossed& b) {
    return a.at_remaining > b.at_remaining;
  });
  return out;
}

std::string alert_key(std::string_view kind, std::string_view id, std::string_view label) {
  std::string k(kind);
  k += ':';
  k += id;
  k += ':';
  k += label;
  return k;
}

const store::Silence* silenced_by(const std::vector<store::Silence>& silences,
                                  std::string_view serial_hex, const store::Labels& owner) {
  for (const auto& s : silences) {
    if (!s.serial.empty()) {
      if (s.serial.size() == serial_hex.size() &&
          std::equal(s.serial.begin(), s.serial.end(), serial_hex.begin(),
                     [](char a, char b) { return std::tolower(a) == std::tolower(b); }))
        return &s;
      continue;
    }
    auto it = owner.find(s.owner_key);
    if (it != owner.end() && it->second == s.owner_value) return &s;
  }
  return nullptr;
}

std::string signature_header(std::string_view secret, std::string_view timestamp,
                             std::string_view body) {
  std::string message;
  message.reserve(timestamp.size() + 1 + body.size());
  message.append(timestamp).append(".").append(body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
            reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &len))
    return "";
  static const char* kHex = "0123456789abcdef";
  std::string out = "sha256=";
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[mac[i] >> 4];
    out += kHex[mac[i] & 0xf];
  }
  return out;
}

bool verify_signature(std::string_view secret, std::string_view timestamp, std::string_view body,
                      std::string_view signature, TimePoint now, std::chrono::seconds tolerance) {
  if (secret.empty() || timestamp.empty() || timestamp.size() > 18 ||
      timestamp.find_first_not_of("0123456789") != std::string_view::npos)
    return false;
  const int64_t at = std::stoll(std::string(timestamp));
  const int64_t skew = at - now.time_since_epoch().count();
  if (skew > tolerance.count() || -skew > tolerance.count()) return false;
  const std::string want = signature_header(secret, timestamp, body);
  if (want.empty() || want.size() != signature.size()) return false;
  return CRYPTO_memcmp(want.data(), signature.data(), want.size()) == 0;
}

std::chrono::milliseconds retry_delay(const AlertsConfig& cfg, int attempt) {
  std::chrono::milliseconds d = cfg.retry_initial;
  for (int i = 2; i < attempt && d < cfg.retry_max; ++i) d *= 2;
  return std::min(d, cfg.retry_max);
}

}  // namespace herald::alerts
