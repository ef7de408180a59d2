#include "server/feed.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "x509/crl.h"

namespace herald::server {
namespace {

using std::chrono::seconds;

TEST(FeedQuery, SinceAndWait) {
  auto q = parse_feed_query("", "");
  ASSERT_TRUE(q);
  EXPECT_FALSE(q->since);
  EXPECT_EQ(q->wait, seconds(0));
  q = parse_feed_query("42", "30");
  ASSERT_TRUE(q);
  EXPECT_EQ(*q->since, 42);
  EXPECT_EQ(q->wait, seconds(30));
  EXPECT_EQ(parse_feed_query("0", "3600")->wait, kFeedMaxWait);  // capped
  for (const char* bad : {"-1", "1.5", "x", "0x10", " 1", "1234567890123456789"})
    EXPECT_EQ(parse_feed_query(bad, "").error().code, ErrorCode::kInvalidArgument) << bad;
  for (const char* bad : {"-1", "1s", "1e3", "1234567890"})
    EXPECT_EQ(parse_feed_query("1", bad).error().code, ErrorCode::kInvalidArgument) << bad;
}

TEST(FeedPage, JsonShape) {
  auto serial = Serial::parse("0A1B");
  ASSERT_TRUE(serial);
  FeedEntry revoked{7, *serial, store::CertStatus::kRevoked, x509::RevocationReason::kKeyCompromise,
                    TimePoint{seconds(1'700'000'000)}};
  FeedEntry held{8, *serial, store::CertStatus::kRevoked, x509::RevocationReason::kCertificateHold,
                 TimePoint{seconds(1'700'000'001)}};
  FeedEntry released{9, *serial, store::CertStatus::kValid, std::nullopt, std::nullopt};
  auto j = nlohmann::json::parse(feed_page_json({revoked, held, released}, 9));
  EXPECT_EQ(j["next"], 9);
  ASSERT_EQ(j["revocations"].size(), 3u);
  EXPECT_EQ(j["revocations"][0],
            nlohmann::json::parse(R"({"id":7,"serial":"0A1B","status":"revoked",
              "reason":"keyCompromise","revoked_at":"2023-11-14T22:13:20Z"})"));
  EXPECT_EQ(j["revocations"][1]["status"], "on-hold");
  EXPECT_EQ(j["revocations"][2],
            nlohmann::json::parse(R"({"id":9,"serial":"0A1B","status":"valid"})"));
  EXPECT_EQ(nlohmann::json::parse(feed_page_json({}, 5)),
            nlohmann::json::parse(R"({"revocations":[],"next":5})"));
  EXPECT_EQ(nlohmann::json::parse(feed_reset_json(3)),
            nlohmann::json::parse(R"({"revocations":[],"next":3,"reset":true})"));
}

std::shared_ptr<net::Deferred> handle() {
  net::Response r;
  return r.defer();
}

TEST(FeedWaiters, CapsInAllAndPerClient) {
  FeedWaiters w({3, 2}, 10);
  const auto later = std::chrono::steady_clock::now() + seconds(30);
  uint64_t id = 0, a1 = 0, a2 = 0;
  EXPECT_EQ(w.add(10, "a", later, handle(), a1), FeedWaiters::Admit::kWaiting);
  EXPECT_EQ(w.add(10, "a", later, handle(), a2), FeedWaiters::Admit::kWaiting);
  EXPECT_NE(a1, a2);
  EXPECT_EQ(w.add(10, "a", later, handle(), id), FeedWaiters::Admit::kTooManyForClient);
  EXPECT_EQ(w.add(10, "b", later, handle(), id), FeedWaiters::Admit::kWaiting);
  EXPECT_EQ(w.add(10, "c", later, handle(), id), FeedWaiters::Admit::kTooMany);
  EXPECT_EQ(w.size(), 3u);
  // A client that went away frees its slot.
  w.remove(a1);
  w.remove(a1);  // twice: no-op
  EXPECT_EQ(w.size(), 2u);
  EXPECT_EQ(w.add(10, "a", later, handle(), id), FeedWaiters::Admit::kWaiting);
}

TEST(FeedWaiters, NewerChangesWakeAndRefuseToWait) {
  FeedWaiters w({100, 4}, 10);
  const auto later = std::chrono::steady_clock::now() + seconds(30);
  uint64_t id = 0;
  EXPECT_EQ(w.add(9, "a", later, handle(), id), FeedWaiters::Admit::kNewer);
  ASSERT_EQ(w.add(10, "a", later, handle(), id), FeedWaiters::Admit::kWaiting);
  ASSERT_EQ(w.add(10, "b", later, handle(), id), FeedWaiters::Admit::kWaiting);
  EXPECT_TRUE(w.advance(10).empty());  // not newer
  EXPECT_TRUE(w.advance(7).empty());   // older: ignored
  EXPECT_EQ(w.newest(), 10);
  auto woken = w.advance(11);
  ASSERT_EQ(woken.size(), 2u);
  EXPECT_EQ(woken[0].since, 10);
  EXPECT_EQ(woken[0].client, "a");
  EXPECT_EQ(woken[1].client, "b");
  EXPECT_EQ(w.size(), 0u);
  EXPECT_EQ(w.newest(), 11);
  // The per-client counts were released with them.
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(w.add(11, "a", later, handle(), id), FeedWaiters::Admit::kWaiting);
}

TEST(FeedWaiters, ExpireTakesOnlyTheEndedWaits) {
  FeedWaiters w({100, 4}, 0);
  const auto now = std::chrono::steady_clock::now();
  uint64_t id = 0;
  ASSERT_EQ(w.add(0, "a", now + seconds(1), handle(), id), FeedWaiters::Admit::kWaiting);
  ASSERT_EQ(w.add(0, "a", now + seconds(5), handle(), id), FeedWaiters::Admit::kWaiting);
  EXPECT_TRUE(w.expire(now).empty());
  auto ended = w.expire(now + seconds(2));
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].deadline, now + seconds(1));
  EXPECT_TRUE(ended[0].answer->open());
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(w.expire(now + seconds(5)).size(), 1u);
}

}  // namespace
}  // namespace herald::server
