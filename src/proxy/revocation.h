#pragma once
// What `herald proxy` knows about revocation, and how it keeps it fresh
// without ever making a connection wait on the network:
//
// - the CA's revocation feed (feed::Follower): while it is followed, the
//   serials it reported revoked or on hold, for paths anchored at the
//   feed's root (Herald's own hierarchy): a revocation reaches the proxy
//   within about a second, even while a cached CRL is still current;
// - CRLs from the certificates' CDPs and OCSP responses from their AIA,
//   fetched by a background thread, cached per URL (CRLs) and per
//   certificate (OCSP) until nextUpdate, refreshed before it, bounded;
//
// admit() asks for_path(): the CRLs and responses it has for a built path
// (verify() judges them), and queues fetches for what it lacks; the first
// connection of a certificate nobody has fetched anything for yet is
// judged without (refused under hard revocation, "revocation_unavailable";
// the next one finds the fetch done). Prefetch CRLs at start with
// prefetch_crl() (the proxy's own issuer's, configured crl_urls).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/encoding.h"

namespace herald::proxy {

struct RevocationSources {
  std::vector<Bytes> crls;
  std::vector<Bytes> ocsp_responses;
};

class RevocationCache {
 public:
  static constexpr size_t kMaxCrls = 256;
  static constexpr size_t kMaxOcsp = 65536;
  static constexpr size_t kMaxQueue = 1024;

  RevocationCache(const Clock& clock, std::function<void(const std::string&)> log);
  ~RevocationCache();  // stop()
  void start();
  void stop();

  // The cached sources for `path` (DER, leaf first, anchor last); queues
  // fetches for missing or soon-stale ones (never blocks on the network).
  // `crl_urls`: each certificate's first http:// CDP (one per certificate
  // but the anchor, "" for none), known to the caller: nothing is parsed.
  [[nodiscard]] RevocationSources for_path(const std::vector<Bytes>& path,
                                           const std::vector<std::string>& crl_urls);
  void prefetch_crl(const std::string& url);

  // The feed.
  void feed_apply(const std::vector<std::pair<std::string, bool>>& changes, bool reset);
  void set_feed_connected(bool connected);
  void set_feed_root(const Bytes& root_der);
  // Whether the feed answers for `path` (followed, and anchored at its root).
  [[nodiscard]] bool feed_covers(const std::vector<Bytes>& path) const;
  // Whether `path` is anchored at the feed's root, followed now or not:
  // what the feed reported revoked stays known while it is lost.
  [[nodiscard]] bool feed_anchored(const std::vector<Bytes>& path) const;
  // The first certificate of `path` (not the anchor) the feed reported
  // revoked, as its serial; nullopt if none.
  // The first of `serials` (Serial::hex(), the path's certificates but the
  // anchor) the feed reported revoked or on hold; nullopt if none.
  [[nodiscard]] std::optional<std::string> feed_revoked(
      const std::vector<std::string>& serials) const;

  // Changes whenever a cached CRL or OCSP answer is added or replaced, or
  // the feed's state changes: a verdict reached at one generation holds
  // while it does not change (and the clock second is the same).
  [[nodiscard]] uint64_t generation() const { return generation_.load(); }

  struct Stats {
    size_t crls = 0, ocsp = 0, feed_revoked = 0;
    uint64_t fetch_ok = 0, fetch_failed = 0;
  };
  [[nodiscard]] Stats stats() const;

 private:
  struct Entry {
    Bytes der;
    TimePoint fetched{}, next_update{};
    TimePoint last_used{};
  };
  struct Task {
    std::string key;  // "crl URL" or "ocsp FINGERPRINT URL"
    std::string url;
    Bytes cert, issuer;  // OCSP
  };
  void run();
  void queue(Task t);
  [[nodiscard]] bool stale(const Entry& e, TimePoint now) const;

  const Clock& clock_;
  std::function<void(const std::string&)> log_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::map<std::string, Entry> crls_;  // by URL
  std::map<std::string, Entry> ocsp_;  // by "fingerprint" of the certificate
  std::deque<Task> queue_;
  std::set<std::string> queued_;
  std::map<std::string, TimePoint> failed_;  // key -> no retry before
  std::set<std::string> revoked_;            // serials, from the feed
  std::atomic<bool> feed_connected_{false};
  std::atomic<uint64_t> generation_{1};
  Bytes feed_root_;
  uint64_t fetch_ok_ = 0, fetch_failed_ = 0;
  std::thread thread_;
};

}  // namespace herald::proxy
