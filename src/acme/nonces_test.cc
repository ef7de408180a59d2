#include "acme/nonces.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>

namespace herald::acme {
namespace {

// The store's used-id table, in memory (the adapters' own behaviour is the
// store conformance suite's).
class UsedIds final : public store::TokenStore {
 public:
  Result<int64_t> add_token(const store::TokenRecord&) override { return 0; }
  Result<std::optional<store::TokenRecord>> find_token(std::string_view) override {
    return std::nullopt;
  }
  Result<std::vector<store::TokenRecord>> list_tokens() override { return {}; }
  Status revoke_token(int64_t) override { return {}; }
  Status use_token_id(std::string_view jti, TimePoint expires_at, TimePoint) override {
    std::lock_guard lock(mu);
    if (!used.emplace(std::string(jti), expires_at).second)
      return make_error(ErrorCode::kConflict, "used");
    return {};
  }
  std::mutex mu;
  std::map<std::string, TimePoint> used;
};

Bytes key(uint8_t fill) { return Bytes(32, fill); }

TEST(SharedNonces, IssuedOnOneNodeUsableOnceOnAnother) {
  FakeClock clock{TimePoint{std::chrono::seconds(1'700'000'000)}};
  UsedIds store;  // the one both nodes share
  SharedNonces node_a(key(7), store, clock), node_b(key(7), store, clock);
  const std::string n = node_a.issue();
  ASSERT_FALSE(n.empty());
  EXPECT_TRUE(node_b.consume(n));
  EXPECT_FALSE(node_a.consume(n));  // a replay, on any node
  EXPECT_FALSE(node_b.consume(n));
  EXPECT_NE(node_a.issue(), node_a.issue());
}

TEST(SharedNonces, RefusesForgedTamperedExpiredAndFutureNonces) {
  FakeClock clock{TimePoint{std::chrono::seconds(1'700'000'000)}};
  UsedIds store;
  SharedNonces node(key(7), store, clock), stranger(key(8), store, clock);
  EXPECT_FALSE(node.consume(stranger.issue()));  // another key
  std::string n = node.issue();
  std::string tampered = n;
  tampered[3] = tampered[3] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(node.consume(tampered));
  for (const char* junk : {"", "abc", "!!!!", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})
    EXPECT_FALSE(node.consume(junk)) << junk;
  EXPECT_FALSE(node.consume(std::string(10000, 'A')));
  // An hour old: expired, and never recorded.
  const std::string old = node.issue();
  clock.advance(std::chrono::seconds(3601));
  EXPECT_FALSE(node.consume(old));
  EXPECT_EQ(store.used.count("acme-nonce:" + old), 0u);
  // Issued by a node whose clock runs two minutes ahead: refused.
  FakeClock ahead{clock.now() + std::chrono::minutes(2)};
  SharedNonces fast(key(7), store, ahead);
  EXPECT_FALSE(node.consume(fast.issue()));
  EXPECT_TRUE(node.consume(node.issue()));  // a fresh one still works
}

// check() is what a request meets before its signature is verified: it
// spends nothing and writes nothing; consume() spends, once.
TEST(SharedNonces, CheckWritesNothingAndSpendsNothing) {
  FakeClock clock{TimePoint{std::chrono::seconds(1'700'000'000)}};
  UsedIds store;
  SharedNonces node(key(7), store, clock);
  const std::string n = node.issue();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(node.check(n));
  EXPECT_TRUE(store.used.empty());
  EXPECT_FALSE(node.check("AAAA"));
  EXPECT_FALSE(node.consume("AAAA"));  // refused before the store
  EXPECT_TRUE(store.used.empty());
  EXPECT_TRUE(node.consume(n));
  EXPECT_EQ(store.used.size(), 1u);
  EXPECT_FALSE(node.consume(n));
  // Expired: check() refuses it too, without asking the store.
  const std::string old = node.issue();
  clock.advance(std::chrono::seconds(3601));
  EXPECT_FALSE(node.check(old));
}

TEST(NoncePool, CheckDoesNotSpend) {
  NoncePool pool;
  const std::string n = pool.issue();
  EXPECT_TRUE(pool.check(n));
  EXPECT_TRUE(pool.check(n));
  EXPECT_TRUE(pool.consume(n));
  EXPECT_FALSE(pool.check(n));  // the pool knows it is spent
  EXPECT_FALSE(pool.consume(n));
  EXPECT_FALSE(pool.check(""));
}

TEST(NoncePool, SingleUseAndBounded) {
  NoncePool pool(2);
  const std::string a = pool.issue(), b = pool.issue(), c = pool.issue();
  EXPECT_FALSE(pool.consume(a));  // evicted: the pool holds 2
  EXPECT_TRUE(pool.consume(b));
  EXPECT_FALSE(pool.consume(b));
  EXPECT_TRUE(pool.consume(c));
  EXPECT_FALSE(pool.consume(""));
}

}  // namespace
}  // namespace herald::acme
