#include "server/feed.h"

#include <nlohmann/json.hpp>

#include "x509/crl.h"

namespace herald::server {

namespace {

// Decimal digits only, at most `max_digits` of them.
std::optional<int64_t> parse_decimal(std::string_view s, size_t max_digits) {
  if (s.empty() || s.size() > max_digits) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace

Result<FeedQuery> parse_feed_query(std::string_view since, std::string_view wait) {
  FeedQuery q;
  if (!since.empty()) {
    q.since = parse_decimal(since, 18);
    if (!q.since)
      return make_error(ErrorCode::kInvalidArgument,
                        "since must be a revocation id (a non-negative integer), the 'next' of the "
                        "previous page");
  }
  if (!wait.empty()) {
    auto w = parse_decimal(wait, 9);
    if (!w)
      return make_error(
          ErrorCode::kInvalidArgument,
          "wait must be a number of seconds (0 to " + std::to_string(kFeedMaxWait.count()) + ")");
    q.wait = std::min(std::chrono::seconds(*w), kFeedMaxWait);
  }
  return q;
}

std::string_view feed_status_name(const FeedEntry& e) {
  if (e.status == store::CertStatus::kValid) return "valid";
  if (e.reason == x509::RevocationReason::kCertificateHold) return "on-hold";
  return "revoked";
}

std::string feed_page_json(const std::vector<FeedEntry>& entries, int64_t next) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& e : entries) {
    nlohmann::json j = {{"id", e.id}, {"serial", e.serial.hex()}, {"status", feed_status_name(e)}};
    if (e.status != store::CertStatus::kValid) {
      if (e.reason) j["reason"] = std::string(x509::reason_name(*e.reason));
      if (e.revoked_at) j["revoked_at"] = format_time(*e.revoked_at);
    }
    list.push_back(std::move(j));
  }
  return nlohmann::json{{"revocations", std::move(list)}, {"next", next}}.dump();
}

std::string feed_reset_json(int64_t newest) {
  return nlohmann::json{{"revocations", nlohmann::json::array()}, {"next", newest}, {"reset", true}}
      .dump();
}

// ---------------------------------------------------------------- FeedWaiters

FeedWaiters::Admit FeedWaiters::add(int64_t since, const std::string& client, SteadyTime deadline,
                                    std::shared_ptr<net::Deferred> answer, uint64_t& id) {
  std::lock_guard lock(mu_);
  if (since < newest_) return Admit::kNewer;
  if (waiters_.size() >= limits_.max_waiters) return Admit::kTooMany;
  size_t& mine = per_client_[client];
  if (mine >= limits_.per_client) {
    if (mine == 0) per_client_.erase(client);
    return Admit::kTooManyForClient;
  }
  ++mine;
  id = next_id_++;
  waiters_.emplace(id, Waiter{id, since, client, deadline, std::move(answer)});
  return Admit::kWaiting;
}

void FeedWaiters::erase_locked(std::map<uint64_t, Waiter>::iterator it) {
  auto c = per_client_.find(it->second.client);
  if (c != per_client_.end() && --c->second == 0) per_client_.erase(c);
  waiters_.erase(it);
}

void FeedWaiters::remove(uint64_t id) {
  std::lock_guard lock(mu_);
  if (auto it = waiters_.find(id); it != waiters_.end()) erase_locked(it);
}

std::vector<FeedWaiters::Waiter> FeedWaiters::advance(int64_t newest) {
  std::vector<Waiter> out;
  std::lock_guard lock(mu_);
  if (newest <= newest_) return out;
  newest_ = newest;
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    auto next = std::next(it);
    if (it->second.since < newest) {
      out.push_back(it->second);
      erase_locked(it);
    }
    it = next;
  }
  return out;
}

std::vector<FeedWaiters::Waiter> FeedWaiters::expire(SteadyTime now) {
  std::vector<Waiter> out;
  std::lock_guard lock(mu_);
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    auto next = std::next(it);
    if (it->second.deadline <= now) {
      out.push_back(it->second);
      erase_locked(it);
    }
    it = next;
  }
  return out;
}

size_t FeedWaiters::size() const {
  std::lock_guard lock(mu_);
  return waiters_.size();
}

int64_t FeedWaiters::newest() const {
  std::lock_guard lock(mu_);
  return newest_;
}

}  // namespace herald::server
