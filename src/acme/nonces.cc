#include "acme/nonces.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <cstring>

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

bool NoncePool::check(const std::string& nonce) {
  if (nonce.empty()) return false;
  std::lock_guard lock(mu_);
  evict_locked(std::chrono::steady_clock::now());
  return live_.count(nonce) == 1;
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

namespace {

constexpr size_t kStamp = 8, kRandom = 16, kMac = 16, kNonce = kStamp + kRandom + kMac;

bool mac(const Bytes& key, const uint8_t* data, size_t len, uint8_t out[kMac]) {
  unsigned char full[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data, len, full, &n) ==
          nullptr ||
      n < kMac) {
    return false;
  }
  std::memcpy(out, full, kMac);
  OPENSSL_cleanse(full, sizeof full);
  return true;
}

int64_t unix_seconds(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

SharedNonces::SharedNonces(Bytes key, store::TokenStore& used, const Clock& clock,
                           std::chrono::seconds max_age)
    : key_(std::move(key)), used_(used), clock_(clock), max_age_(max_age) {}

SharedNonces::~SharedNonces() { OPENSSL_cleanse(key_.data(), key_.size()); }

std::string SharedNonces::issue() {
  std::array<uint8_t, kNonce> raw{};
  const auto now = static_cast<uint64_t>(unix_seconds(clock_.now()));
  for (size_t i = 0; i < kStamp; ++i) raw[i] = static_cast<uint8_t>(now >> (8 * (kStamp - 1 - i)));
  if (RAND_bytes(raw.data() + kStamp, kRandom) != 1) return {};
  if (!mac(key_, raw.data(), kStamp + kRandom, raw.data() + kStamp + kRandom)) return {};
  return base64url_encode(std::span<const uint8_t>(raw.data(), raw.size()));
}

std::optional<int64_t> SharedNonces::verify(const std::string& nonce) const {
  if (nonce.empty() || nonce.size() > 64) return std::nullopt;
  auto raw = base64url_decode(nonce);
  if (!raw || raw->size() != kNonce) return std::nullopt;
  uint8_t expect[kMac];
  if (!mac(key_, raw->data(), kStamp + kRandom, expect) ||
      CRYPTO_memcmp(expect, raw->data() + kStamp + kRandom, kMac) != 0) {
    return std::nullopt;
  }
  uint64_t stamp = 0;
  for (size_t i = 0; i < kStamp; ++i) stamp = (stamp << 8) | (*raw)[i];
  const int64_t now = unix_seconds(clock_.now());
  if (stamp > static_cast<uint64_t>(now) + 60) return std::nullopt;  // from the future
  if (static_cast<int64_t>(stamp) + max_age_.count() < now) return std::nullopt;  // expired
  return static_cast<int64_t>(stamp);
}

bool SharedNonces::check(const std::string& nonce) { return verify(nonce).has_value(); }

bool SharedNonces::consume(const std::string& nonce) {
  // Checked again: consume() must never record what check() would refuse
  // (a forged nonce would otherwise cost a row).
  const auto stamp = verify(nonce);
  if (!stamp) return false;
  // First use anywhere: recorded until it would have expired anyway.
  const TimePoint expires{std::chrono::seconds(*stamp + max_age_.count())};
  return static_cast<bool>(used_.use_token_id("acme-nonce:" + nonce, expires, clock_.now()));
}

}  // namespace herald::acme
