#pragma once
// Replay nonces (RFC 8555 §6.5): single use, bounded in age. Two sources:
// - NoncePool: random nonces held in this process's memory (one node: the
//   SQLite default). After a restart every earlier nonce is unknown, so a
//   replay is impossible and clients simply retry on badNonce with the fresh
//   nonce that error carries (§6.5: "the client SHOULD retry").
// - SharedNonces: valid on every node sharing a store (no sticky sessions
//   behind a load balancer): a nonce carries its issue time and an
//   HMAC-SHA256 under a key all nodes read from the store, so any node can
//   check it without asking the one that issued it; its first use is
//   recorded in the store (TokenStore::use_token_id), so a replay on any
//   node is refused.

#include <chrono>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_set>

#include "base/clock.h"
#include "base/encoding.h"
#include "store/inventory.h"

namespace herald::acme {

class NonceSource {
 public:
  virtual ~NonceSource() = default;
  // A fresh nonce (base64url); "" if none can be made (consume() never accepts "").
  [[nodiscard]] virtual std::string issue() = 0;
  // True once for a nonce this source (or, shared, any node) issued and that
  // has not expired.
  [[nodiscard]] virtual bool consume(const std::string& nonce) = 0;
};

class NoncePool final : public NonceSource {
 public:
  explicit NoncePool(size_t capacity = 200000,
                     std::chrono::seconds max_age = std::chrono::seconds(3600))
      : capacity_(capacity), max_age_(max_age) {}
  // 128 random bits, base64url.
  [[nodiscard]] std::string issue() override;
  [[nodiscard]] bool consume(const std::string& nonce) override;

 private:
  void evict_locked(std::chrono::steady_clock::time_point now);
  size_t capacity_;
  std::chrono::seconds max_age_;
  std::mutex mu_;
  std::unordered_set<std::string> live_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::string>> order_;
};

class SharedNonces final : public NonceSource {
 public:
  // `key`: 32 bytes every node shares (store::Store::shared_secret).
  SharedNonces(Bytes key, store::TokenStore& used, const Clock& clock,
               std::chrono::seconds max_age = std::chrono::seconds(3600));
  ~SharedNonces() override;
  // base64url(issued-at, 8 bytes big-endian unix seconds || 16 random bytes
  // || the first 16 bytes of HMAC-SHA256(key, the 24 before)).
  [[nodiscard]] std::string issue() override;
  // The MAC checks, the age is within max_age (and not ahead of this node's
  // clock by more than a minute), and the store records it as used now.
  [[nodiscard]] bool consume(const std::string& nonce) override;

 private:
  Bytes key_;
  store::TokenStore& used_;
  const Clock& clock_;
  std::chrono::seconds max_age_;
};

}  // namespace herald::acme
