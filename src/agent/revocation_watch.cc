#include "agent/revocation_watch.h"

#include <algorithm>

#include "feed/client.h"

namespace herald::agent {

using namespace std::chrono;

RevocationWatch::RevocationWatch(ServerRef server, Hooks hooks, seconds wait)
    : server_(std::move(server)), hooks_(std::move(hooks)), wait_(wait) {}

RevocationWatch::~RevocationWatch() { stop(); }

void RevocationWatch::start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void RevocationWatch::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  cancel_.cancel();
  if (thread_.joinable()) thread_.join();
}

bool RevocationWatch::sleep_for(milliseconds d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [this] { return stopping_; });
  return !stopping_;
}

void RevocationWatch::run() {
  std::optional<int64_t> since;  // nullopt: start from now
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
    net::ClientTls tls{server_.trust_pem, creds->cert_pem, creds->key_pem};
    auto page = feed::poll_revocations(server_.url, tls, since, since ? wait_ : seconds(0),
                                       &cancel_);
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
    for (const auto& r : page->revocations) {
      if (r.status != feed::Status::kValid) hooks_.revoked(r.serial.hex());
    }
    since = page->next;
  }
  connected_ = false;
}

}  // namespace herald::agent
