#include "feed/follower.h"

#include <algorithm>

#include "feed/client.h"

namespace herald::feed {

using namespace std::chrono;

Follower::Follower(std::string server_url, std::string trust_pem, Hooks hooks, seconds wait,
                   std::optional<int64_t> start_since)
    : url_(std::move(server_url)),
      trust_pem_(std::move(trust_pem)),
      hooks_(std::move(hooks)),
      wait_(wait),
      start_since_(start_since) {}

Follower::~Follower() { stop(); }

steady_clock::time_point Follower::last_page() const {
  return steady_clock::time_point(nanoseconds(last_page_ns_.load()));
}

void Follower::start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void Follower::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  cancel_.cancel();
  if (thread_.joinable()) thread_.join();
}

bool Follower::sleep_for(milliseconds d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [this] { return stopping_; });
  return !stopping_;
}

void Follower::run() {
  std::optional<int64_t> since = start_since_;  // nullopt: start from now
  int failures = 0;
  std::string last_problem;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
    }
    auto creds = hooks_.credentials();
    if (!creds) {
      connected_ = false;
      if (!sleep_for(seconds(2))) break;
      continue;
    }
    net::ClientTls tls{trust_pem_, creds->cert_pem, creds->key_pem};
    // No waiting while catching up (since unknown, or history pages to read).
    const bool catching_up = !since || !caught_up_;
    auto page = poll_revocations(url_, tls, since, catching_up ? seconds(0) : wait_, &cancel_);
    if (!page) {
      if (cancel_.cancelled()) break;
      connected_ = false;
      ++failures;
      // 1 s doubling to 60 s; a 429 says when to come back.
      milliseconds delay = milliseconds(1000L << std::min(failures - 1, 6));
      delay = std::min(delay, milliseconds(60000));
      for (const auto& [k, v] : page.error().context) {
        if (k != "retry_after") continue;
        long long s = 0;
        for (char c : v.substr(0, 6)) {
          if (c < '0' || c > '9') break;
          s = s * 10 + (c - '0');
        }
        delay = std::max(delay, milliseconds(s * 1000));
      }
      const std::string problem = page.error().describe();
      if (problem != last_problem) {
        hooks_.log("revocation feed unavailable (" + problem +
                   "); checking revocation over OCSP meanwhile");
        last_problem = problem;
      }
      if (!sleep_for(delay)) break;
      continue;
    }
    if (!connected_.exchange(true) || failures > 0) {
      hooks_.log("following the CA's revocation feed from id " + std::to_string(page->next));
    }
    failures = 0;
    last_problem.clear();
    if (page->reset) {
      hooks_.log("the CA's revocation feed was reset (its inventory was replaced); "
                 "following it from id " + std::to_string(page->next));
    }
    last_page_ns_ = steady_clock::now().time_since_epoch().count();
    if (hooks_.page) {
      std::vector<std::pair<std::string, bool>> changes;
      for (const auto& r : page->revocations) {
        changes.emplace_back(r.serial.hex(), r.status != Status::kValid);
      }
      if (!changes.empty() || page->reset) hooks_.page(changes, page->reset);
    }
    if (hooks_.revoked) {
      for (const auto& r : page->revocations) {
        if (r.status != Status::kValid) hooks_.revoked(r.serial.hex());
      }
    }
    since = page->next;
    if (page->reset && start_since_ == 0) {
      // A follower of the whole history reads the new one from its start.
      since = 0;
      caught_up_ = false;
      continue;
    }
    if (!page->full()) caught_up_ = true;
  }
  connected_ = false;
}

}  // namespace herald::feed
