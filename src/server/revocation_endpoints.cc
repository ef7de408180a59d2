// Relying-party endpoints: OCSP (RFC 6960, RFC 5019 GET), CRLs, CA
// certificates, the chain and the trust package. No authentication.
#include <dirent.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>

#include "base/fs.h"
#include "datadir/trust_package.h"
#include "server/app.h"
#include "server/problem.h"

namespace herald::server {

namespace {

// Standard base64 (with + / =), as RFC 6960 appendix A.1 GET requests use, URL-decoded first.
Result<Bytes> base64_decode(std::string_view in) {
  std::string s = net::percent_decode(in);
  std::string clean;
  for (char c : s) {
    if (c == '=') break;
    if (c == '+')
      clean += '-';
    else if (c == '/')
      clean += '_';
    else if (c == ' ')
      clean += '-';  // '+' turned into ' ' by form decoding
    else
      clean += c;
  }
  return base64url_decode(clean);
}

void cache_headers(net::Response& res, const std::string& etag, TimePoint this_update,
                   TimePoint next_update, TimePoint now) {
  auto max_age = std::max<int64_t>(0, (next_update - now).count());
  res.set_header("ETag", etag);
  res.set_header("Last-Modified", format_http_date(this_update));
  res.set_header("Expires", format_http_date(next_update));
  res.set_header("Cache-Control",
                 "public, max-age=" + std::to_string(max_age) + ", no-transform, must-revalidate");
}

// cache_headers for a pre-signed OCSP response: its dates formatted once.
void cache_headers(net::Response& res, const ca::CachedOcspResponse& c, TimePoint now) {
  auto max_age = std::max<int64_t>(0, (c.next_update - now).count());
  res.set_header("ETag", c.etag);
  res.set_header("Last-Modified", c.last_modified);
  res.set_header("Expires", c.expires);
  res.set_header("Cache-Control",
                 "public, max-age=" + std::to_string(max_age) + ", no-transform, must-revalidate");
}

// What an OCSP request came to: its label in herald_ocsp_requests and
// herald_ocsp_duration_seconds, and its slot in App's series.
enum Outcome : size_t {
  kMalformed,
  kUnauthorized,
  kError,
  kTryLater,
  kGood,
  kRevoked,
  kUnknown,
  kPresignedNoNonce,
  kOutcomeCount
};
constexpr std::array<std::string_view, kOutcomeCount> kOutcomeLabels = {
    "malformed", "unauthorized", "error",   "try_later",
    "good",      "revoked",      "unknown", "presigned_no_nonce"};

Outcome outcome_of(ca::OcspStatus::Kind kind) {
  return kind == ca::OcspStatus::Kind::kRevoked   ? kRevoked
         : kind == ca::OcspStatus::Kind::kUnknown ? kUnknown
                                                  : kGood;
}

// The series of `family` for `label`, from `slot` once it has been looked up.
template <typename Series>
Series& kept(std::atomic<Series*>& slot, obs::Family<Series>& family, std::string_view label) {
  Series* s = slot.load(std::memory_order_acquire);
  if (s == nullptr) {
    s = &family.with({label});
    slot.store(s, std::memory_order_release);
  }
  return *s;
}

}  // namespace

void App::ocsp(const net::Request& req, net::Response& res) {
  static_assert(kOutcomeCount == kOcspOutcomes);
  const auto t0 = std::chrono::steady_clock::now();
  Outcome outcome = kMalformed;
  auto count = [&] {
    kept(ocsp_counted_[outcome], *ocsp_requests_, kOutcomeLabels[outcome]).inc();
  };
  auto finish = [&](const Bytes& der) {
    res.status = 200;
    res.body.assign(der.begin(), der.end());
    res.set_header("Content-Type", "application/ocsp-response");
    count();
    kept(ocsp_timed_[outcome], *ocsp_latency_, kOutcomeLabels[outcome])
        .observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  };
  Bytes der;
  if (req.method == "POST") {
    if (req.header("content-type") != "application/ocsp-request") {
      return finish(ca::ocsp_error_response(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST));
    }
    der.assign(req.body.begin(), req.body.end());
  } else if (req.method == "GET" && req.path.size() > 6) {
    auto decoded = base64_decode(std::string_view(req.target).substr(6));
    if (!decoded) return finish(ca::ocsp_error_response(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST));
    der = std::move(*decoded);
  } else {
    return finish(ca::ocsp_error_response(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST));
  }
  auto request = ca::parse_ocsp_request(der);
  if (!request) return finish(ca::ocsp_error_response(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST));
  bool ours = std::any_of(request->ids.begin(), request->ids.end(),
                          [&](const ca::OcspCertId& id) { return issuer_matcher_->matches(id); });
  if (!ours) {
    outcome = kUnauthorized;
    return finish(ca::ocsp_error_response(OCSP_RESPONSE_STATUS_UNAUTHORIZED));
  }
  const TimePoint now = clock_.now();
  // The common case: one CertID, no nonce: a pre-signed answer from memory.
  if (request->ids.size() == 1 && !request->nonce) {
    auto answer = publisher_->single_answer(request->ids.front(), now);
    if (!answer) {
      outcome = kError;
      return finish(ca::ocsp_error_response(OCSP_RESPONSE_STATUS_INTERNALERROR));
    }
    const auto& cached = *answer;
    if (!cached) {
      outcome = kTryLater;
      return finish(ca::ocsp_error_response(OCSP_RESPONSE_STATUS_TRYLATER));
    }
    if (cached->next_update > now) {
      outcome = outcome_of(cached->kind);
      if (req.header("if-none-match") == cached->etag) {
        res.status = 304;
        cache_headers(res, *cached, now);
        count();
        return;
      }
      cache_headers(res, *cached, now);
      return finish(cached->der);
    }
  }
  // A nonce (RFC 8954) or several CertIDs: signed afresh.
  std::vector<std::pair<ca::OcspCertId, ca::OcspStatus>> entries;
  for (const auto& id : request->ids) {
    ca::OcspStatus st;
    if (issuer_matcher_->matches(id)) {
      auto s = publisher_->status(id.serial);
      if (!s) {
        // The store is unreachable: a pre-signed answer, without the nonce
        // (a responder may leave it out, RFC 8954 §2.1), beats an error.
        if (request->ids.size() == 1) {
          auto answer = publisher_->single_answer(id, now);
          if (answer && *answer && (*answer)->next_update > now) {
            const auto& cached = **answer;
            outcome = kPresignedNoNonce;
            cache_headers(res, cached, now);
            return finish(cached.der);
          }
        }
        outcome = kError;
        return finish(ca::ocsp_error_response(OCSP_RESPONSE_STATUS_INTERNALERROR));
      }
      st = *s;
    }
    entries.emplace_back(id, st);
  }
  auto signed_der = publisher_->sign_now(entries, request->nonce, now);
  if (!signed_der) {
    outcome = kError;
    return finish(ca::ocsp_error_response(OCSP_RESPONSE_STATUS_INTERNALERROR));
  }
  if (!*signed_der) {  // an unknown serial, over the budget for signing those
    outcome = kTryLater;
    return finish(ca::ocsp_error_response(OCSP_RESPONSE_STATUS_TRYLATER));
  }
  outcome = outcome_of(entries.front().second.kind);
  res.set_header("Cache-Control", "no-store");
  finish(**signed_der);
}

void App::get_crl(const net::Request& req, net::Response& res, std::string_view name) {
  auto crl = publisher_->crl(name);
  if (!crl) return problem(res, ErrorCode::kNotFound, "no CRL named '" + std::string(name) + "'");
  cache_headers(res, crl->etag, crl->this_update, crl->next_update, clock_.now());
  if (req.header("if-none-match") == crl->etag) {
    res.status = 304;
    return;
  }
  res.status = 200;
  res.body.assign(crl->der.begin(), crl->der.end());
  res.set_header("Content-Type", "application/pkix-crl");
}

void App::get_ca_cert(net::Response& res, std::string_view name) {
  const x509::Certificate* c = name == "issuing"        ? &*issuing_
                               : name == "intermediate" ? &*intermediate_
                               : name == "root"         ? &*root_
                                                        : nullptr;
  if (!c)
    return problem(res, ErrorCode::kNotFound,
                   "no CA certificate named '" + std::string(name) + "'");
  res.status = 200;
  res.body.assign(c->der().begin(), c->der().end());
  res.set_header("Content-Type", "application/pkix-cert");
  res.set_header("Cache-Control", "public, max-age=86400");
}

void App::get_chain(net::Response& res) {
  res.status = 200;
  res.body = issuing_->pem() + intermediate_->pem();
  res.set_header("Content-Type", "application/pem-certificate-chain");
}

void App::get_trust_package(net::Response& res) {
  // Built at most about once a second whatever the request rate (it reads
  // and hashes DIR/trust/, whose CRLs change on every revocation).
  const auto now = std::chrono::steady_clock::now();
  std::shared_ptr<const std::string> tar;
  {
    std::lock_guard lock(trust_package_mu_);
    if (trust_package_ && now - trust_package_at_ < std::chrono::seconds(1)) tar = trust_package_;
  }
  if (!tar) {
    auto built = datadir::trust_package_archive(dir_, clock_.now());
    if (!built) return problem(res, built.error());
    tar = std::make_shared<const std::string>(std::move(*built));
    std::lock_guard lock(trust_package_mu_);
    trust_package_ = tar;
    trust_package_at_ = now;
  }
  res.status = 200;
  res.body = *tar;
  res.set_header("Content-Type", "application/x-tar");
  res.set_header("Content-Disposition", "attachment; filename=\"herald-trust.tar\"");
}

}  // namespace herald::server
