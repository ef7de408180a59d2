#pragma once
// One route of `herald proxy`: who may pass (the trust bundle, the client
// purpose, revocation, the allow-lists) and what the backend learns about
// them. admit() is the policy net::ProxyServer calls once per connection;
// it works from memory (verifier cache, revocation cache, feed set) and
// never blocks.

#include <memory>
#include <atomic>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <string>
#include <vector>

#include "base/clock.h"
#include "net/proxy.h"
#include "proxy/authorize.h"
#include "proxy/revocation.h"
#include "verify/verify.h"

namespace herald::proxy {

enum class RevocationMode { kHard, kSoft, kOff };
[[nodiscard]] Result<RevocationMode> parse_revocation_mode(const std::string& s);

struct RoutePolicy {
  std::string name;
  bool require_client_cert = true;
  RevocationMode revocation = RevocationMode::kHard;
  Rules rules;
};

// The trust bundle, parsed once; replaced whole on reload.
struct Trust {
  std::vector<Bytes> anchors;        // self-signed roots of the bundle (DER)
  std::vector<Bytes> intermediates;  // the bundle's other CA certificates, offered to path building
  std::unique_ptr<verify::Verifier> verifier;
};
// From a PEM bundle: at least one CA certificate; the self-signed ones are
// the anchors, the others help build paths (a partner may publish its
// intermediate). kMalformedInput / kInvalidArgument with the reason.
[[nodiscard]] Result<std::shared_ptr<const Trust>> load_trust(const std::string& pem);

class Route {
 public:
  Route(RoutePolicy policy, std::shared_ptr<const Trust> trust, RevocationCache& revocation,
        const Clock& clock);

  [[nodiscard]] net::Admission admit(const net::PeerInfo& peer) const;
  void set_trust(std::shared_ptr<const Trust> trust);
  [[nodiscard]] const RoutePolicy& policy() const { return policy_; }

 private:
  [[nodiscard]] std::shared_ptr<const Trust> trust() const;

  // The CA certificates (not anchors) of paths that verified, offered to
  // path building for resumed sessions: a resumed TLS session gives the
  // leaf alone (net::PeerInfo), and a trust bundle holding only roots could
  // not build its path. Hints, never trust: the anchors decide. Bounded,
  // oldest dropped first; kept across trust reloads.
  static constexpr size_t kMaxSeenIntermediates = 256;
  void remember_intermediates(const std::vector<Bytes>& path, const Trust& trust) const;

  // What a verified client certificate's admission needs that does not
  // change until its path expires or the trust bundle is replaced: worked
  // out once per leaf (keyed by the SHA-256 of its DER), so a returning
  // client costs a hash, a lookup and its revocation check, with nothing
  // parsed again. Only successes are kept; at most kMaxVerified (then the
  // cache starts afresh); emptied when the trust bundle changes.
  struct Verified {
    std::vector<Bytes> path;                // leaf first, anchor last
    std::vector<std::string> serials;       // of every certificate but the anchor
    std::vector<std::string> crl_urls;      // first http:// CDP of each, "" if none
    TimePoint not_before{}, not_after{};    // when every certificate of the path is valid
    Identity id;
    std::string who;                        // log_identity
    Decision decision;                      // the route's allow-lists, applied
    // The last CRL/OCSP verdict that passed: at this revocation-cache
    // generation, in this clock second (RevocationCache::generation()).
    mutable std::atomic<uint64_t> passed_generation{0};
    mutable std::atomic<int64_t> passed_second{-1};
  };
  static constexpr size_t kMaxVerified = 16384;
  [[nodiscard]] std::shared_ptr<const Verified> verified(const net::PeerInfo& peer,
                                                         net::Admission& refusal) const;
  // A refusal if the path is revoked (or, under hard, its status unknown).
  [[nodiscard]] std::optional<net::Admission> revocation_refusal(const Verified& v) const;

  RoutePolicy policy_;
  mutable std::mutex mu_;
  std::shared_ptr<const Trust> trust_;
  mutable std::unordered_map<std::string, std::shared_ptr<const Verified>> verified_;  // mu_
  mutable std::vector<Bytes> seen_intermediates_;  // guarded by mu_
  RevocationCache& revocation_;
  const Clock& clock_;
};

}  // namespace herald::proxy
