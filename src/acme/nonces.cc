#include "acme/nonces.h"

#include <openssl/rand.h>

#include "base/encoding.h"

namespace herald::acme {

std::string NoncePool::issue() {
  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof raw) != 1) return {};  // consume() never accepts ""
  std::string n = base64url_encode(std::span<const uint8_t>(raw, sizeof raw));
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  evict_locked(now);
  live_.insert(n);
  order_.emplace_back(now, n);
  return n;
}

bool NoncePool::consume(const std::string& nonce) {
  if (nonce.empty()) return false;
  std::lock_guard lock(mu_);
  evict_locked(std::chrono::steady_clock::now());
  // Its entry in order_ stays until it ages out; erase() is what counts.
  return live_.erase(nonce) == 1;
}

void NoncePool::evict_locked(std::chrono::steady_clock::time_point now) {
  while (!order_.empty() && (order_.size() > capacity_ || now - order_.front().first > max_age_)) {
    live_.erase(order_.front().second);
    order_.pop_front();
  }
}

}  // namespace herald::acme
