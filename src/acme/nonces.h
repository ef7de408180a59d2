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
//
// Two steps, so that a request nobody authenticated costs no store write:
// the service calls check() (MAC, age: no state, no I/O) when it reads a
// request's envelope, and consume() (the single use, a store write for
// SharedNonces) only once the request's JWS signature has verified. A flood
// of requests carrying fresh nonces and garbage signatures therefore writes
// nothing, and does not spend the nonces it carries either: a nonce is spent
// by the first request that proves it holds an account's (or, for newAccount
// and revokeCert, the JWK's) private key. A replay of such a request is
// refused by consume(), on any node.

#include <chrono>
#include <deque>
#include <mutex>
#include <optional>
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
  // True if this source (or, shared, any node) issued `nonce` and it has not
  // expired. Changes nothing and reads no store: a nonce already used may
  // still pass (SharedNonces); consume() decides.
  [[nodiscard]] virtual bool check(const std::string& nonce) = 0;
  // True once for a nonce check() accepts: marks it used (checking it again
  // first; call it after the request's signature verified).
  [[nodiscard]] virtual bool consume(const std::string& nonce) = 0;
};

class NoncePool final : public NonceSource {
 public:
  explicit NoncePool(size_t capacity = 200000,
                     std::chrono::seconds max_age = std::chrono::seconds(3600))
      : capacity_(capacity), max_age_(max_age) {}
  // 128 random bits, base64url.
  [[nodiscard]] std::string issue() override;
  [[nodiscard]] bool check(const std::string& nonce) override;
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
  // The MAC checks, and the age is within max_age (and not ahead of this
  // node's clock by more than a minute).
  [[nodiscard]] bool check(const std::string& nonce) override;
  // check(), and the store records it as used now (refused if it was).
  [[nodiscard]] bool consume(const std::string& nonce) override;

 private:
  // check()'s work: the nonce's issue time (unix seconds) if it passes.
  [[nodiscard]] std::optional<int64_t> verify(const std::string& nonce) const;
  Bytes key_;
  store::TokenStore& used_;
  const Clock& clock_;
  std::chrono::seconds max_age_;
};

}  // namespace herald::acme
