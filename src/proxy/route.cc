#include "proxy/route.h"

#include <algorithm>

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
  o.at = clock_.now();
  o.purpose = verify::Purpose::kClient;
  auto r = trust->verifier->verify(peer.chain.front(), intermediates, o);
  auto leaf = x509::Certificate::from_der(peer.chain.front());
  const std::string who = leaf ? log_identity(identity_of(*leaf)) : "unparseable certificate";
  if (!r.valid || !leaf) return refuse(403, reason_of(r), detail_of(r), who);
  if (!peer.resumed) remember_intermediates(r.chain, *trust);

  if (policy_.revocation != RevocationMode::kOff) {
    // What the feed reported revoked is refused whether the feed is followed
    // now or not: while it is lost, the CRLs cached before the revocation
    // would otherwise let the certificate through again.
    if (revocation_.feed_anchored(r.chain)) {
      if (auto serial = revocation_.feed_revoked(r.chain)) {
        return refuse(403, "revoked",
                      "certificate " + *serial + " of the chain is revoked (the CA's revocation feed)",
                      who);
      }
    }
    if (!revocation_.feed_covers(r.chain)) {
      auto sources = revocation_.for_path(r.chain);
      verify::Options ro = o;
      ro.crls = std::move(sources.crls);
      ro.ocsp_responses = std::move(sources.ocsp_responses);
      ro.revocation = policy_.revocation == RevocationMode::kHard ? verify::RevocationPolicy::kHard
                                                                  : verify::RevocationPolicy::kSoft;
      auto rr = trust->verifier->verify(peer.chain.front(), intermediates, ro);
      if (!rr.valid) {
        const std::string reason = reason_of(rr);
        return refuse(403, reason,
                      reason == "revocation_unavailable"
                          ? "no current CRL or OCSP answer for this certificate yet (being "
                            "fetched; revocation is hard-fail on this route)"
                          : detail_of(rr),
                      who);
      }
    }
  }
  const Identity id = identity_of(*leaf);
  std::vector<CaRef> cas;
  for (size_t i = 1; i < r.chain.size(); ++i) {
    if (auto c = x509::Certificate::from_der(r.chain[i])) {
      std::string fp;
      for (char ch : c->fingerprint_sha256()) {
        if (ch != ':') fp += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      }
      cas.push_back(CaRef{c->subject(), fp});
    }
  }
  const Decision d = authorize(id, cas, policy_.rules);
  if (!d.allow) return refuse(403, d.reason, d.detail, who);
  net::Admission a;
  a.verdict = net::Admission::Verdict::kAllow;
  a.headers = identity_headers(id);
  a.identity = who;
  return a;
}

}  // namespace herald::proxy
