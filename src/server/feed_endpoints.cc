// GET /v1/revocations: the revocation push feed (server/feed.h), for proxies
// and renewal agents that must act on a revocation within a second without
// polling OCSP per certificate. Callers authenticate with a certificate of
// this CA over mutual TLS (valid, not revoked, any profile).
//
// A long poll holds no thread: the answer is deferred (net::Deferred) and
// kept in feed_waiters_, bounded in all ([server] feed_max_waiters) and per
// client certificate (feed_max_waiters_per_client); 429 beyond. Waiters are
// woken by a revocation made in this process (on_revocation_change ->
// feed_wake, at once) and by follow_feed(), every 100 ms, which notices
// changes made by other processes on the same inventory (one indexed query)
// and ends the waits that ran out with an empty page.
#include <iostream>
#include <map>

#include "obs/log.h"
#include "server/app.h"
#include "server/feed.h"
#include "server/problem.h"

namespace herald::server {

void App::init_feed() {
  FeedWaiters::Limits limits;
  limits.max_waiters = server_config_.feed_max_waiters;
  limits.per_client = server_config_.feed_max_waiters_per_client;
  feed_waiters_ = std::make_unique<FeedWaiters>(limits, last_revocation_id_);
  feed_responses_ = &registry_.counter(
      "herald_feed_responses",
      "Revocation feed answers by result (events, empty, start, reset, unauthenticated, "
      "rate-limited, invalid, error) and waits abandoned by the client (cancelled)",
      {"result"});
  registry_.gauge_callback(
      "herald_feed_waiting", "Revocation feed requests waiting (long poll)", {}, [this] {
        return std::vector<obs::CallbackSample>{{{}, static_cast<double>(feed_waiters_->size())}};
      });
}

Result<App::FeedPage> App::feed_page(int64_t since) {
  HERALD_TRY(auto events, inventory_->revocations_since(since, kFeedPageSize));
  std::vector<FeedEntry> entries;
  entries.reserve(events.size());
  for (const auto& e : events) {
    HERALD_TRY(auto state, inventory_->revocation_state(e.serial));
    if (!state) continue;  // no such certificate (cannot happen: the log names issued ones)
    entries.push_back(FeedEntry{e.id, e.serial, state->status, state->reason, state->revoked_at});
  }
  const int64_t next = events.empty() ? since : events.back().id;
  return FeedPage{feed_page_json(entries, next), events.empty() ? "empty" : "events"};
}

void App::answer_feed_waiters(std::vector<FeedWaiters::Waiter> woken) {
  if (woken.empty()) return;
  // Most waiters wait from the same id: one page each `since`.
  std::map<int64_t, net::Response> pages;
  std::map<int64_t, std::string> results;
  for (auto& w : woken) {
    auto it = pages.find(w.since);
    if (it == pages.end()) {
      net::Response r;
      auto page = feed_page(w.since);
      if (page) {
        json_response(r, 200, page->json);
        results[w.since] = page->result;
      } else {
        problem(r, page.error());
        results[w.since] = "error";
      }
      it = pages.emplace(w.since, std::move(r)).first;
    }
    if (w.answer->complete(it->second)) feed_responses_->with({results[w.since]}).inc();
  }
}

void App::feed_wake() {
  if (!feed_waiters_ || feed_waiters_->size() == 0) return;
  auto newest = inventory_->last_revocation_id();
  if (!newest) return;  // the follower tries again
  answer_feed_waiters(feed_waiters_->advance(*newest));
}

void App::follow_feed() {
  if (feed_waiters_->size() == 0) return;
  if (auto newest = inventory_->last_revocation_id(); newest) {
    answer_feed_waiters(feed_waiters_->advance(*newest));
  } else {
    obs::log(obs::LogLevel::kError, "revocation feed: cannot read the newest revocation",
             {{"error", newest.error().describe()}});
  }
  for (auto& w : feed_waiters_->expire(std::chrono::steady_clock::now())) {
    net::Response r;
    json_response(r, 200, feed_page_json({}, w.since));
    if (w.answer->complete(std::move(r))) feed_responses_->with({"empty"}).inc();
  }
}

void App::api_revocations(const net::Request& req, net::Response& res) {
  auto fail = [&](const Error& e, const char* result, int status = 0) {
    problem(res, e, status);
    if (e.code == ErrorCode::kRateLimited) res.set_header("Retry-After", "1");
    feed_responses_->with({result}).inc();
  };
  if (req.method != "GET" && req.method != "HEAD") {
    return fail(Error{ErrorCode::kInvalidArgument,
                      "method " + req.method + " not allowed on " + req.path + " (GET)",
                      {}},
                "invalid", 405);
  }
  auto client = client_certificate(req);
  if (!client) return fail(client.error(), "unauthenticated");
  auto query = parse_feed_query(req.query_param("since"), req.query_param("wait"));
  if (!query) return fail(query.error(), "invalid");
  auto newest = inventory_->last_revocation_id();
  if (!newest) return fail(newest.error(), "error");
  // A change the follower has not seen yet wakes the others too.
  answer_feed_waiters(feed_waiters_->advance(*newest));
  if (!query->since) {  // start from now
    json_response(res, 200, feed_page_json({}, *newest));
    feed_responses_->with({"start"}).inc();
    return;
  }
  const int64_t since = *query->since;
  if (since > *newest) {  // not this inventory's history: the client resynchronises
    json_response(res, 200, feed_reset_json(*newest));
    feed_responses_->with({"reset"}).inc();
    return;
  }
  auto answer_now = [&](net::Response& r) {
    auto page = feed_page(since);
    if (!page) {
      problem(r, page.error());
      feed_responses_->with({"error"}).inc();
      return;
    }
    json_response(r, 200, page->json);
    feed_responses_->with({page->result}).inc();
  };
  if (since < *newest || query->wait.count() == 0) return answer_now(res);

  // Nothing newer: wait for a change or the end of the wait, holding no thread.
  auto answer = res.defer();
  uint64_t id = 0;
  const auto admit = feed_waiters_->add(since, client->serial.hex(),
                                        std::chrono::steady_clock::now() + query->wait, answer, id);
  net::Response now;
  switch (admit) {
    case FeedWaiters::Admit::kWaiting:
      answer->on_cancel([this, id] {
        feed_waiters_->remove(id);
        feed_responses_->with({"cancelled"}).inc();
      });
      return;
    case FeedWaiters::Admit::kNewer:  // a change arrived since the query above
      answer_now(now);
      break;
    case FeedWaiters::Admit::kTooManyForClient:
    case FeedWaiters::Admit::kTooMany: {
      const std::string why =
          admit == FeedWaiters::Admit::kTooMany
              ? "the server has " + std::to_string(server_config_.feed_max_waiters) +
                    " revocation feed requests waiting already (feed_max_waiters)"
              : "this client certificate has " +
                    std::to_string(server_config_.feed_max_waiters_per_client) +
                    " revocation feed requests waiting already";
      problem(now, ErrorCode::kRateLimited, why + "; retry shortly");
      now.set_header("Retry-After", "1");
      feed_responses_->with({"rate-limited"}).inc();
      break;
    }
  }
  (void)answer->complete(std::move(now));
}

}  // namespace herald::server
