#include "server/list_query.h"

#include <gtest/gtest.h>

namespace herald::server {
namespace {

net::Request get(std::string query) {
  net::Request r;
  r.method = "GET";
  r.path = "/v1/certs";
  r.query = std::move(query);
  r.target = r.path + "?" + r.query;
  return r;
}

const TimePoint kNow{std::chrono::seconds(1'800'000'000)};

// owner= repeats and its labels add up (as herald list --owner repeats);
// a comma list is the same query.
TEST(ListQuery, RepeatedOwnerLabelsAddUp) {
  auto q = parse_list_query(get("owner=team%3Dt7&owner=service%3Ds17"), kNow);
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(q->filter.owner, (store::Labels{{"team", "t7"}, {"service", "s17"}}));
  auto same = parse_list_query(get("owner=team%3Dt7%2Cservice%3Ds17"), kNow);
  ASSERT_TRUE(same);
  EXPECT_EQ(same->filter.owner, q->filter.owner);
}

// Two values for one key cannot both match a certificate: refused, never
// one of them dropped.
TEST(ListQuery, OneOwnerKeyTwiceIsRefused) {
  for (const char* query : {"owner=team%3Da&owner=team%3Db", "owner=team%3Da%2Cteam%3Db"}) {
    auto q = parse_list_query(get(query), kNow);
    ASSERT_FALSE(q) << query;
    EXPECT_EQ(q.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(q.error().message.find("'team' given twice"), std::string::npos)
        << q.error().message;
  }
}

// Any other filter given twice is refused by name (the first alone would
// silently widen the listing).
TEST(ListQuery, OtherParametersGivenTwiceAreRefused) {
  for (const char* key : {"status", "profile", "san", "expiring", "limit", "after"}) {
    const std::string v = std::string(key) == "limit" ? "5" : std::string(key) == "expiring" ? "7d"
                          : std::string(key) == "status"                                      ? "valid"
                          : std::string(key) == "after" ? "1:0A"
                                                        : "x";
    const std::string query = std::string(key) + "=" + v + "&" + key + "=" + v;
    auto q = parse_list_query(get(query), kNow);
    ASSERT_FALSE(q) << query;
    EXPECT_EQ(q.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(q.error().message.find(std::string(key) + " given more than once"),
              std::string::npos)
        << q.error().message;
    auto once = parse_list_query(get(std::string(key) + "=" + v), kNow);
    EXPECT_TRUE(once) << key << ": " << (once ? "" : once.error().message);
  }
}

}  // namespace
}  // namespace herald::server
