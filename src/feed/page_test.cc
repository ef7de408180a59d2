#include "feed/page.h"

#include <gtest/gtest.h>

#include <string>

namespace herald::feed {
namespace {

const char* kPage = R"({"revocations":[
  {"id":7,"serial":"0A1B","status":"revoked","reason":"keyCompromise","revoked_at":"2026-12-06T10:00:00Z"},
  {"id":9,"serial":"0a1c","status":"on-hold","reason":"certificateHold","revoked_at":"2024-02-29T23:59:59Z"},
  {"id":12,"serial":"FF","status":"valid","future":{"x":[1]}}],
  "next":12,"extra":"ignored"})";

TEST(FeedPage, ParsesAPage) {
  auto p = parse_page(kPage, 5);
  ASSERT_TRUE(p) << p.error().describe();
  EXPECT_FALSE(p->reset);
  EXPECT_FALSE(p->full());
  EXPECT_EQ(p->next, 12);
  ASSERT_EQ(p->revocations.size(), 3u);
  const auto& r = p->revocations[0];
  EXPECT_EQ(r.id, 7);
  EXPECT_EQ(r.serial.hex(), "0A1B");
  EXPECT_EQ(r.status, Status::kRevoked);
  EXPECT_EQ(r.reason, x509::RevocationReason::kKeyCompromise);
  EXPECT_EQ(r.revoked_at->time_since_epoch(), std::chrono::seconds(1'796'551'200));
  EXPECT_EQ(p->revocations[1].status, Status::kOnHold);
  EXPECT_EQ(p->revocations[1].serial.hex(), "0A1C");
  EXPECT_EQ(p->revocations[2].status, Status::kValid);
  EXPECT_FALSE(p->revocations[2].reason);
  EXPECT_EQ(status_name(Status::kOnHold), "on-hold");
}

TEST(FeedPage, EmptyStartAndReset) {
  auto p = parse_page(R"({"revocations":[],"next":42})", std::nullopt);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->next, 42);
  EXPECT_TRUE(p->revocations.empty());
  p = parse_page(R"({"revocations":[],"next":3,"reset":true})", 50);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->reset);
  EXPECT_EQ(p->next, 3);
  p = parse_page(R"({"revocations":[],"next":50})", 50);  // a long poll that ended
  ASSERT_TRUE(p);
  EXPECT_EQ(p->next, 50);
}

TEST(FeedPage, FullPage) {
  std::string body = R"({"revocations":[)";
  for (int i = 1; i <= 1000; ++i) {
    if (i > 1) body += ",";
    body += R"({"id":)" + std::to_string(i) + R"(,"serial":"01","status":"revoked"})";
  }
  body += R"(],"next":1000})";
  auto p = parse_page(body, 0);
  ASSERT_TRUE(p) << p.error().describe();
  EXPECT_TRUE(p->full());
  auto over = body;
  over.replace(over.rfind("],"), 2, R"(,{"id":1001,"serial":"01","status":"revoked"}],)");
  EXPECT_FALSE(parse_page(over, 0));
}

TEST(FeedPage, RefusesWhatDepartsFromTheFormat) {
  const char* bad[] = {
      "",
      "[]",
      "nope",
      R"({"revocations":[]})",                              // no next
      R"({"next":1})",                                      // no revocations
      R"({"revocations":{},"next":1})",                     // not an array
      R"({"revocations":[],"next":-1})",                    // negative
      R"({"revocations":[],"next":1.5})",                   // not an integer
      R"({"revocations":[],"next":"1"})",                   // a string
      R"({"revocations":[],"next":18446744073709551615})",  // over int64
      R"({"revocations":[],"next":1,"reset":1})",           // reset not a bool
      R"({"revocations":[{"id":6,"serial":"01","status":"revoked"}],"next":6,"reset":true})",
      R"({"revocations":[1],"next":6})",                                   // entry not an object
      R"({"revocations":[{"serial":"01","status":"revoked"}],"next":6})",  // no id
      R"({"revocations":[{"id":0,"serial":"01","status":"revoked"}],"next":6})",  // id 0
      R"({"revocations":[{"id":5,"serial":"01","status":"revoked"}],"next":6})",  // not after since
      R"({"revocations":[{"id":7,"serial":"01","status":"revoked"},{"id":7,"serial":"02","status":"revoked"}],"next":7})",
      R"({"revocations":[{"id":8,"serial":"01","status":"revoked"},{"id":7,"serial":"02","status":"revoked"}],"next":8})",
      R"({"revocations":[{"id":7,"serial":"01","status":"revoked"}],"next":6})",  // next before
                                                                                  // last
      R"({"revocations":[],"next":4})",  // next before since
      R"({"revocations":[{"id":7,"serial":"0G","status":"revoked"}],"next":7})",  // not hex
      R"({"revocations":[{"id":7,"serial":"0A:1B","status":"revoked"}],"next":7})",
      R"({"revocations":[{"id":7,"serial":"","status":"revoked"}],"next":7})",
      R"({"revocations":[{"id":7,"serial":"00112233445566778899001122334455667788990","status":"revoked"}],"next":7})",
      R"({"revocations":[{"id":7,"serial":1,"status":"revoked"}],"next":7})",
      R"({"revocations":[{"id":7,"serial":"01","status":"gone"}],"next":7})",
      R"({"revocations":[{"id":7,"serial":"01"}],"next":7})",
      R"({"revocations":[{"id":7,"serial":"01","status":"revoked","reason":"because"}],"next":7})",
      R"({"revocations":[{"id":7,"serial":"01","status":"valid","reason":"keyCompromise"}],"next":7})",
      R"({"revocations":[{"id":7,"serial":"01","status":"revoked","revoked_at":"2026-12-06 10:00:00Z"}],"next":7})",
      R"({"revocations":[{"id":7,"serial":"01","status":"revoked","revoked_at":"2026-02-30T10:00:00Z"}],"next":7})",
      R"({"revocations":[{"id":7,"serial":"01","status":"revoked","revoked_at":"2025-02-29T10:00:00Z"}],"next":7})",
      R"({"revocations":[{"id":7,"serial":"01","status":"revoked","revoked_at":"2026-12-06T24:00:00Z"}],"next":7})",
      R"({"revocations":[{"id":7,"serial":"01","status":"revoked","revoked_at":1}],"next":7})",
      R"({"revocations":[],"next":7,"x":[[[[[[[[[1]]]]]]]]]})",  // too deep
  };
  for (const char* b : bad) {
    auto p = parse_page(b, 5);
    EXPECT_FALSE(p) << b;
    if (!p) {
      EXPECT_EQ(p.error().code, ErrorCode::kMalformedInput) << b;
    }
  }
  EXPECT_FALSE(parse_page(std::string(kMaxPageBytes + 1, ' '), std::nullopt));
}

}  // namespace
}  // namespace herald::feed
