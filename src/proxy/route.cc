#include "proxy/route.h"

#include <algorithm>
#include <atomic>

#include "fetch/revocation.h"
#include "ossl/ossl.h"
#include "proxy/identity.h"
#include "x509/certificate.h"

namespace herald::proxy {

namespace {

net::Admission refuse(int status, std::string reason, std::string detail,
                      std::string identity = "") {
  net::Admission a;
  a.verdict = net::Admission::Verdict::kRefuse;
  a.http_status = status;
  a.reason = std::move(reason);
  a.detail = std::move(detail);
  a.identity = std::move(identity);
  return a;
}

// The stable reason for a failed verification: what an operator greps for.
std::string reason_of(const verify::Result& r) {
  for (const auto& f : r.findings) {
    if (f.severity != verify::Severity::kError) continue;
    if (f.code == "untrusted_root" || f.code == "missing_issuer") return "unknown_ca";
    if (f.code == "eku_mismatch") return "wrong_purpose";
    return f.code;  // expired, not_yet_valid, bad_signature, ...
  }
  return "invalid";
}

std::string detail_of(const verify::Result& r) {
  for (const auto& f : r.findings) {
    if (f.severity != verify::Severity::kError) continue;
    std::string d = f.code;
    if (!f.subject.empty()) d += " (" + f.subject + ")";
    if (!f.expected.empty() || !f.found.empty()) d += ": expected " + f.expected + ", found " + f.found;
    return header_safe(d.substr(0, 300));
  }
  return "the certificate chain did not verify";
}

}  // namespace

Result<RevocationMode> parse_revocation_mode(const std::string& s) {
  if (s == "hard") return RevocationMode::kHard;
  if (s == "soft") return RevocationMode::kSoft;
  if (s == "off") return RevocationMode::kOff;
  return make_error(ErrorCode::kInvalidArgument, "revocation '" + s + "': hard, soft or off");
}

Result<std::shared_ptr<const Trust>> load_trust(const std::string& pem) {
  HERALD_TRY(auto certs, x509::Certificate::from_pem(pem));
  auto t = std::make_shared<Trust>();
  for (const auto& c : certs) {
    if (!c.is_ca()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "the trust bundle holds a certificate that is not a CA: " + c.subject());
    }
    if (c.subject() == c.issuer()) {
      t->anchors.push_back(c.der());
    } else {
      t->intermediates.push_back(c.der());
    }
  }
  if (t->anchors.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "the trust bundle holds no root (self-signed CA certificate)");
  }
  t->verifier = std::make_unique<verify::Verifier>(t->anchors);
  return std::shared_ptr<const Trust>(std::move(t));
}

Route::Route(RoutePolicy policy, std::shared_ptr<const Trust> trust, RevocationCache& revocation,
             const Clock& clock)
    : policy_(std::move(policy)), trust_(std::move(trust)), revocation_(revocation), clock_(clock) {}

void Route::set_trust(std::shared_ptr<const Trust> trust) {
  std::lock_guard lock(mu_);
  trust_ = std::move(trust);
  verified_.clear();
}

std::shared_ptr<const Trust> Route::trust() const {
  std::lock_guard lock(mu_);
  return trust_;
}

void Route::remember_intermediates(const std::vector<Bytes>& path, const Trust& trust) const {
  std::lock_guard lock(mu_);
  for (size_t i = 1; i + 1 < path.size(); ++i) {
    const Bytes& c = path[i];
    if (std::find(trust.intermediates.begin(), trust.intermediates.end(), c) !=
            trust.intermediates.end() ||
        std::find(seen_intermediates_.begin(), seen_intermediates_.end(), c) !=
            seen_intermediates_.end()) {
      continue;
    }
    if (seen_intermediates_.size() >= kMaxSeenIntermediates) {
      seen_intermediates_.erase(seen_intermediates_.begin());
    }
    seen_intermediates_.push_back(c);
  }
}

std::shared_ptr<const Route::Verified> Route::verified(const net::PeerInfo& peer,
                                                      net::Admission& refusal) const {
  const TimePoint now = clock_.now();
  auto digest = ossl::sha256(peer.chain.front());
  const std::string key = digest ? std::string(digest->begin(), digest->end()) : std::string();
  if (!key.empty()) {
    std::lock_guard lock(mu_);
    if (auto it = verified_.find(key); it != verified_.end()) {
      const auto& v = it->second;
      if (now >= v->not_before && now <= v->not_after) return v;
    }
  }
  const auto trust = this->trust();
  std::vector<Bytes> intermediates(peer.chain.begin() + 1, peer.chain.end());
  intermediates.insert(intermediates.end(), trust->intermediates.begin(), trust->intermediates.end());
  if (peer.resumed) {
    // The session carries the leaf alone: the CA certificates of the paths
    // verified in full handshakes (the one that made this session among them).
    std::lock_guard lock(mu_);
    intermediates.insert(intermediates.end(), seen_intermediates_.begin(),
                         seen_intermediates_.end());
  }
  verify::Options o;
  o.at = now;
  o.purpose = verify::Purpose::kClient;
  auto r = trust->verifier->verify(peer.chain.front(), intermediates, o);
  auto leaf = x509::Certificate::from_der(peer.chain.front());
  const std::string who = leaf ? log_identity(identity_of(*leaf)) : "unparseable certificate";
  if (!r.valid || !leaf) {
    refusal = refuse(403, reason_of(r), detail_of(r), who);
    return nullptr;
  }
  if (!peer.resumed) remember_intermediates(r.chain, *trust);
  auto v = std::make_shared<Verified>();
  v->path = r.chain;
  v->id = identity_of(*leaf);
  v->who = who;
  v->not_before = TimePoint::min();
  v->not_after = TimePoint::max();
  std::vector<CaRef> cas;
  for (size_t i = 0; i < r.chain.size(); ++i) {
    auto c = i == 0 ? std::move(leaf) : x509::Certificate::from_der(r.chain[i]);
    if (!c) {
      refusal = refuse(403, "malformed_certificate", "a certificate of the path cannot be read", who);
      return nullptr;
    }
    v->not_before = std::max(v->not_before, c->not_before());
    v->not_after = std::min(v->not_after, c->not_after());
    if (i + 1 < r.chain.size()) {
      v->serials.push_back(c->serial().hex());
      std::string url;
      for (const auto& u : fetch::crl_urls(r.chain[i])) {
        if (fetch::is_http(u)) {
          url = u;
          break;
        }
      }
      v->crl_urls.push_back(url);
    }
    if (i > 0) {
      std::string fp;
      for (char ch : c->fingerprint_sha256()) {
        if (ch != ':') fp += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      }
      cas.push_back(CaRef{c->subject(), fp});
    }
  }
  v->decision = authorize(v->id, cas, policy_.rules);
  if (!key.empty()) {
    std::lock_guard lock(mu_);
    if (trust_ == trust) {  // not replaced meanwhile
      if (verified_.size() >= kMaxVerified) verified_.clear();
      verified_[key] = v;
    }
  }
  return v;
}

std::optional<net::Admission> Route::revocation_refusal(const Verified& v) const {
  if (policy_.revocation == RevocationMode::kOff) return std::nullopt;
  // What the feed reported revoked is refused whether the feed is followed
  // now or not: while it is lost, the CRLs cached before the revocation
  // would otherwise let the certificate through again.
  if (revocation_.feed_anchored(v.path)) {
    if (auto serial = revocation_.feed_revoked(v.serials)) {
      return refuse(403, "revoked",
                    "certificate " + *serial + " of the chain is revoked (the CA's revocation feed)",
                    v.who);
    }
  }
  if (revocation_.feed_covers(v.path)) return std::nullopt;
  // The same CRLs and answers as a moment ago: the same verdict.
  const uint64_t generation = revocation_.generation();
  const int64_t second = clock_.now().time_since_epoch().count();
  if (v.passed_generation.load() == generation && v.passed_second.load() == second) {
    return std::nullopt;
  }
  const auto trust = this->trust();
  auto sources = revocation_.for_path(v.path, v.crl_urls);
  verify::Options ro;
  ro.at = clock_.now();
  ro.purpose = verify::Purpose::kClient;
  ro.crls = std::move(sources.crls);
  ro.ocsp_responses = std::move(sources.ocsp_responses);
  ro.revocation = policy_.revocation == RevocationMode::kHard ? verify::RevocationPolicy::kHard
                                                              : verify::RevocationPolicy::kSoft;
  std::vector<Bytes> intermediates(v.path.begin() + 1, v.path.end());
  auto rr = trust->verifier->verify(v.path.front(), intermediates, ro);
  if (rr.valid) {
    v.passed_second.store(second);
    v.passed_generation.store(generation);
    return std::nullopt;
  }
  const std::string reason = reason_of(rr);
  return refuse(403, reason,
                reason == "revocation_unavailable"
                    ? "no current CRL or OCSP answer for this certificate yet (being fetched; "
                      "revocation is hard-fail on this route)"
                    : detail_of(rr),
                v.who);
}

net::Admission Route::admit(const net::PeerInfo& peer) const {
  if (peer.chain.empty()) {
    if (policy_.require_client_cert) {
      return refuse(401, "no_certificate", "this route requires a client certificate");
    }
    net::Admission a;
    a.verdict = net::Admission::Verdict::kAllow;
    a.headers = anonymous_headers();
    a.identity = "anonymous";
    return a;
  }
  net::Admission refusal;
  auto v = verified(peer, refusal);
  if (!v) return refusal;
  if (auto r = revocation_refusal(*v)) return *r;
  if (!v->decision.allow) return refuse(403, v->decision.reason, v->decision.detail, v->who);
  net::Admission a;
  a.verdict = net::Admission::Verdict::kAllow;
  a.headers = identity_headers(v->id);
  a.identity = v->who;
  // Judged again before each request of the connection (and every second of
  // a TCP relay): expiry and revocation, from memory. A CRL-judged path is
  // checked again at most once a second.
  auto last = std::make_shared<std::atomic<int64_t>>(clock_.now().time_since_epoch().count());
  a.recheck = [this, v, last]() -> std::optional<net::Admission> {
    const TimePoint now = clock_.now();
    if (now > v->not_after) {
      return refuse(403, "expired", "a certificate of the path expired while connected", v->who);
    }
    const bool by_feed = revocation_.feed_covers(v->path);
    if (!by_feed && now.time_since_epoch().count() == last->load()) return std::nullopt;
    last->store(now.time_since_epoch().count());
    return revocation_refusal(*v);
  };
  return a;
}

}  // namespace herald::proxy
