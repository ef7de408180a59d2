// Relying-party endpoints: OCSP (RFC 6960, RFC 5019 GET), CRLs, CA
// certificates, the chain and the trust package. No authentication.
#include <dirent.h>

#include <algorithm>
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

}  // namespace

void App::ocsp(const net::Request& req, net::Response& res) {
  const auto t0 = std::chrono::steady_clock::now();
  std::string status_label = "malformed";
  auto finish = [&](Bytes der) {
    res.status = 200;
    res.body.assign(der.begin(), der.end());
    res.set_header("Content-Type", "application/ocsp-response");
    ocsp_requests_->with({status_label}).inc();
    ocsp_latency_->with({status_label})
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
    status_label = "unauthorized";
    return finish(ca::ocsp_error_response(OCSP_RESPONSE_STATUS_UNAUTHORIZED));
  }
  const TimePoint now = clock_.now();
  // The common case: one CertID, no nonce: a pre-signed answer from memory.
  if (request->ids.size() == 1 && !request->nonce) {
    auto answer = publisher_->single_answer(request->ids.front(), now);
    if (!answer) {
      status_label = "error";
      return finish(ca::ocsp_error_response(OCSP_RESPONSE_STATUS_INTERNALERROR));
    }
    const auto& cached = *answer;
    if (!cached) {
      status_label = "try_later";
      return finish(ca::ocsp_error_response(OCSP_RESPONSE_STATUS_TRYLATER));
    }
    if (cached->next_update > now) {
      status_label = cached->kind == ca::OcspStatus::Kind::kRevoked   ? "revoked"
                     : cached->kind == ca::OcspStatus::Kind::kUnknown ? "unknown"
                                                                      : "good";
      if (req.header("if-none-match") == cached->etag) {
        res.status = 304;
        cache_headers(res, cached->etag, cached->this_update, cached->next_update, now);
        ocsp_requests_->with({status_label}).inc();
        return;
      }
      cache_headers(res, cached->etag, cached->this_update, cached->next_update, now);
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
            status_label = "presigned_no_nonce";
            cache_headers(res, cached.etag, cached.this_update, cached.next_update, now);
            return finish(cached.der);
          }
        }
        status_label = "error";
        return finish(ca::ocsp_error_response(OCSP_RESPONSE_STATUS_INTERNALERROR));
      }
      st = *s;
    }
    entries.emplace_back(id, st);
  }
  auto signed_der = publisher_->sign_now(entries, request->nonce, now);
  if (!signed_der) {
    status_label = "error";
    return finish(ca::ocsp_error_response(OCSP_RESPONSE_STATUS_INTERNALERROR));
  }
  if (!*signed_der) {  // an unknown serial, over the budget for signing those
    status_label = "try_later";
    return finish(ca::ocsp_error_response(OCSP_RESPONSE_STATUS_TRYLATER));
  }
  const auto& first = entries.front().second;
  status_label = first.kind == ca::OcspStatus::Kind::kRevoked   ? "revoked"
                 : first.kind == ca::OcspStatus::Kind::kUnknown ? "unknown"
                                                                : "good";
  res.set_header("Cache-Control", "no-store");
  finish(std::move(**signed_der));
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
