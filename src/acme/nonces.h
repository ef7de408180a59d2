#pragma once
// Replay nonces (RFC 8555 §6.5): random, single use, bounded in number and
// age. They live in memory only: after a restart every earlier nonce is
// unknown, so a replay is impossible and clients simply retry on badNonce
// with the fresh nonce that error carries (§6.5: "the client SHOULD retry").

#include <chrono>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_set>

namespace herald::acme {

class NoncePool {
 public:
  explicit NoncePool(size_t capacity = 200000,
                     std::chrono::seconds max_age = std::chrono::seconds(3600))
      : capacity_(capacity), max_age_(max_age) {}
  // A fresh nonce: 128 random bits, base64url.
  [[nodiscard]] std::string issue();
  // True once for a nonce this pool issued and has not expired or evicted.
  [[nodiscard]] bool consume(const std::string& nonce);

 private:
  void evict_locked(std::chrono::steady_clock::time_point now);
  size_t capacity_;
  std::chrono::seconds max_age_;
  std::mutex mu_;
  std::unordered_set<std::string> live_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::string>> order_;
};

}  // namespace herald::acme
