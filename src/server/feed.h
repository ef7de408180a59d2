#pragma once
// The revocation push feed of `herald serve` (GET /v1/revocations), the
// parts that need no HTTP: the query, the page's JSON, and the bounded set
// of long-polling waiters. The handler (feed_endpoints.cc) wires them to the
// inventory and to net::Deferred.
//
// A client keeps `next` and asks again with since=next. Each page lists the
// revocation-state changes (revoke, hold, release of a hold) recorded after
// `since`, oldest first, at most kFeedPageSize, each with the certificate's
// state now; a full page means more are waiting. With nothing newer and
// wait > 0 the answer waits until something changes or the wait ends.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "base/serial.h"
#include "net/http.h"
#include "store/inventory.h"

namespace herald::server {

inline constexpr size_t kFeedPageSize = 1000;
inline constexpr std::chrono::seconds kFeedMaxWait{60};

struct FeedQuery {
  std::optional<int64_t> since;  // absent: start from now
  std::chrono::seconds wait{0};  // 0: answer at once
};
// since: decimal digits (at most 18), "" = absent; wait: decimal seconds
// (at most 9 digits), "" = 0, capped at kFeedMaxWait. kInvalidArgument else.
[[nodiscard]] Result<FeedQuery> parse_feed_query(std::string_view since, std::string_view wait);

struct FeedEntry {
  int64_t id = 0;  // the change's id, strictly increasing within a page
  Serial serial;
  store::CertStatus status = store::CertStatus::kValid;  // now, not at the change
  std::optional<x509::RevocationReason> reason;
  std::optional<TimePoint> revoked_at;
};
// "revoked", "on-hold" (revoked with reason certificateHold) or "valid".
[[nodiscard]] std::string_view feed_status_name(const FeedEntry& e);
// {"revocations":[{"id":N,"serial":"HEX","status":"revoked","reason":"keyCompromise",
//   "revoked_at":"RFC 3339"},...],"next":N}; reason and revoked_at only when not valid.
[[nodiscard]] std::string feed_page_json(const std::vector<FeedEntry>& entries, int64_t next);
// {"revocations":[],"next":newest,"reset":true}: `since` is beyond anything
// this inventory recorded (it was replaced); the client resynchronises.
[[nodiscard]] std::string feed_reset_json(int64_t newest);

// Long-polling requests waiting for a change, bounded in all and per client
// certificate. Thread-safe. Waiters leave when woken (advance), when their
// wait ends (expire) or when their client goes away (remove).
class FeedWaiters {
 public:
  struct Limits {
    size_t max_waiters = 1024;  // in all
    size_t per_client = 4;      // per client certificate
  };
  using SteadyTime = std::chrono::steady_clock::time_point;
  struct Waiter {
    uint64_t id = 0;
    int64_t since = 0;
    std::string client;
    SteadyTime deadline;
    std::shared_ptr<net::Deferred> answer;
  };
  enum class Admit {
    kWaiting,           // registered; `id` set
    kNewer,             // a change newer than `since` is known: answer now
    kTooManyForClient,  // per_client reached
    kTooMany,           // max_waiters reached
  };

  FeedWaiters(Limits limits, int64_t newest) : limits_(limits), newest_(newest) {}

  [[nodiscard]] Admit add(int64_t since, const std::string& client, SteadyTime deadline,
                          std::shared_ptr<net::Deferred> answer, uint64_t& id);
  // The client went away: forget the waiter (no-op if it already left).
  void remove(uint64_t id);
  // `newest` is the newest change id now (kept if not newer than the one
  // known); returns the waiters whose `since` is older, removed.
  [[nodiscard]] std::vector<Waiter> advance(int64_t newest);
  // The waiters whose deadline is at or before `now`, removed.
  [[nodiscard]] std::vector<Waiter> expire(SteadyTime now);
  [[nodiscard]] size_t size() const;
  [[nodiscard]] int64_t newest() const;

 private:
  void erase_locked(std::map<uint64_t, Waiter>::iterator it);
  const Limits limits_;
  mutable std::mutex mu_;
  int64_t newest_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, Waiter> waiters_;
  std::unordered_map<std::string, size_t> per_client_;
};

}  // namespace herald::server
