// REST API v1 (docs/api.md): sign, renew, revoke, list, get.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "base/duration.h"
#include "ca/revocation.h"
#include "keys/jws.h"
#include "obs/log.h"
#include "policy/rules.h"
#include "server/app.h"
#include "server/list_query.h"
#include "server/one_time_token.h"
#include "server/problem.h"
#include "store/record_json.h"
#include "x509/csr.h"

namespace herald::server {

using nlohmann::json;

namespace {

json record_json(const store::CertRecord& r, TimePoint now) { return store::to_json(r, now); }

// The request body: JSON {"csr": PEM, "profile", "ttl", "owner"} or a bare
// PKCS#10 (application/pkcs10, PEM or DER) with ?profile=&ttl=.
struct SignBody {
  Bytes csr;
  std::string profile;
  std::optional<std::string> ttl;
  store::Labels owner;
  std::optional<std::string> serial;  // revoke
  std::optional<std::string> reason;  // revoke
};

Result<SignBody> parse_body(const net::Request& req) {
  SignBody b;
  std::string_view ct = req.header("content-type");
  ct = ct.substr(0, ct.find(';'));
  if (ct == "application/json") {
    json j = json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return make_error(ErrorCode::kMalformedInput, "the body is not a JSON object");
    }
    auto str = [&](const char* key) -> Result<std::optional<std::string>> {
      if (!j.contains(key) || j[key].is_null()) return std::optional<std::string>();
      if (!j[key].is_string())
        return make_error(ErrorCode::kMalformedInput,
                          std::string("'") + key + "' must be a string");
      return std::optional<std::string>(j[key].get<std::string>());
    };
    HERALD_TRY(auto csr, str("csr"));
    if (csr) b.csr.assign(csr->begin(), csr->end());
    HERALD_TRY(auto profile, str("profile"));
    b.profile = profile.value_or("");
    HERALD_TRY(b.ttl, str("ttl"));
    HERALD_TRY(b.serial, str("serial"));
    HERALD_TRY(b.reason, str("reason"));
    if (j.contains("owner")) {
      if (!j["owner"].is_object())
        return make_error(ErrorCode::kMalformedInput, "'owner' must be an object of strings");
      for (auto& [k, v] : j["owner"].items()) {
        if (!v.is_string())
          return make_error(ErrorCode::kMalformedInput, "'owner' must be an object of strings");
        HERALD_TRY_VOID(store::check_label(k, v.get<std::string>()));
        if (store::is_reserved_label(k, v.get<std::string>())) {
          return make_error(ErrorCode::kInvalidArgument,
                            "owner label '" + k + "=" + v.get<std::string>() +
                                "' is reserved: Herald sets it itself");
        }
        b.owner[k] = v.get<std::string>();
      }
    }
    return b;
  }
  if (ct == "application/pkcs10") {
    b.csr.assign(req.body.begin(), req.body.end());
    b.profile = req.query_param("profile");
    if (auto t = req.query_param("ttl"); !t.empty()) b.ttl = t;
    return b;
  }
  Error e{ErrorCode::kInvalidArgument,
          "unsupported Content-Type '" + std::string(ct) +
              "' (use application/json or application/pkcs10)",
          {}};
  e.with("content_type", std::string(ct));
  return tl::unexpected(std::move(e));
}

// 415 for an unsupported media type; every other body error keeps its class's status.
int status_for_body_error(const Error& e) {
  for (const auto& [k, v] : e.context) {
    if (k == "content_type") return 415;
  }
  return 0;
}

}  // namespace

Status App::rate_limit(const net::Request& req) {
  const double rate = callers()->config().issuance_rate_per_second;  // follows SIGHUP
  const double burst = std::max(1.0, 2 * rate);
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(rate_mu_);
  if (buckets_.size() > 100000) buckets_.clear();  // bounded memory under address churn
  auto [it, fresh] = buckets_.try_emplace(req.remote_address, Bucket{burst, now});
  Bucket& b = it->second;
  b.tokens = std::min(burst, b.tokens + std::chrono::duration<double>(now - b.at).count() * rate);
  b.at = now;
  if (b.tokens < 1) {
    return make_error(ErrorCode::kRateLimited,
                      "too many issuance requests from " + req.remote_address + "; retry shortly");
  }
  b.tokens -= 1;
  return {};
}

void App::api_sign(const net::Request& req, net::Response& res) {
  std::string profile_label = "unknown";
  auto fail = [&](const Error& e, int status = 0) {
    problem(res, e, status);
    if (e.code == ErrorCode::kRateLimited) res.set_header("Retry-After", "1");
    issuance_->count_error(profile_label);
  };
  auto who = callers()->authenticate_sign(*inventory_, req, clock_.now());
  if (!who) return fail(who.error());
  obs::note_request("provisioner", who->options.provisioner);
  if (auto s = rate_limit(req); !s) return fail(s.error());
  auto body = parse_body(req);
  if (!body) return fail(body.error(), status_for_body_error(body.error()));
  auto profile = policy::parse_profile(body->profile);
  if (!profile) return fail(profile.error());
  profile_label = body->profile;
  std::optional<std::chrono::seconds> ttl;
  if (body->ttl) {
    auto d = parse_duration(*body->ttl);
    if (!d) return fail(d.error());
    ttl = *d;
  }
  if (body->csr.empty())
    return fail(Error{ErrorCode::kMalformedInput, "no CSR in the request", {}});
  auto csr = x509::parse_csr(body->csr);
  if (!csr) return fail(csr.error());
  if (who->jti) {
    // A one-time token is spent only by a request its names allow, so a
    // refused request leaves it usable; the pipeline checks again when it signs.
    if (auto s = issuance_->authorize(*profile, csr->common_name, csr->requested_sans,
                                      who->options);
        !s) {
      return fail(s.error());
    }
    // Used once, durably: a replay is refused even after a restart.
    if (auto used = inventory_->use_token_id(*who->jti, who->expires_at, clock_.now()); !used) {
      return fail(
          Error{ErrorCode::kUnauthenticated, "one-time token: " + used.error().message, {}});
    }
  }
  auto issued = issuance_->sign_csr(*csr, *profile, ttl, body->owner, who->options);
  if (!issued) return fail(issued.error());
  obs::note_request("serial", issued->record.serial.hex());
  const std::string pem = issued->pem();
  json j = record_json(issued->record, clock_.now());
  j["certificate"] = pem;
  j["chain"] = pem + issuing_->pem() + intermediate_->pem();
  j["warnings"] = issued->warnings;
  json_response(res, 201, j.dump());
}

Result<store::CertRecord> App::client_certificate(const net::Request& req) {
  if (!req.tls || req.peer_chain.empty()) {
    return make_error(ErrorCode::kUnauthenticated,
                      "this endpoint needs a client certificate (mutual TLS)");
  }
  if (!req.peer_verified) {
    return make_error(ErrorCode::kUnauthenticated,
                      "the client certificate does not chain to this CA or is expired");
  }
  HERALD_TRY(auto cert, x509::Certificate::from_der(req.peer_chain.front()));
  HERALD_TRY(auto rec, inventory_->find(cert.serial()));
  if (!rec || rec->fingerprint_sha256 != cert.fingerprint_sha256()) {
    return make_error(ErrorCode::kUnauthenticated,
                      "the client certificate is not in this CA's inventory");
  }
  if (rec->status == store::CertStatus::kRevoked) {
    return make_error(ErrorCode::kUnauthenticated,
                      "the client certificate " + rec->serial.hex() + " is revoked");
  }
  if (clock_.now() >= rec->not_after)
    return make_error(ErrorCode::kUnauthenticated, "the client certificate has expired");
  return std::move(*rec);
}

void App::api_renew(const net::Request& req, net::Response& res) {
  auto fail = [&](const Error& e, int status = 0) {
    problem(res, e, status);
    issuance_->count_error("renew");
  };
  auto current = client_certificate(req);
  if (!current) return fail(current.error());
  if (auto s = rate_limit(req); !s) return fail(s.error());
  auto body = parse_body(req);
  if (!body) return fail(body.error(), status_for_body_error(body.error()));
  if (body->csr.empty())
    return fail(Error{ErrorCode::kMalformedInput, "no CSR in the request", {}});
  auto csr = x509::parse_csr(body->csr);
  if (!csr) return fail(csr.error());
  if (auto v = x509::verify_csr_signature(*csr); !v) return fail(v.error());
  auto old = x509::Certificate::from_der(current->der);
  if (!old) return fail(old.error());
  if (EVP_PKEY_eq(X509_get0_pubkey(&old->x509()), csr->public_key.pkey.get()) == 1) {
    return fail(Error{ErrorCode::kInvalidArgument,
                      "renewal needs a new key: the CSR reuses the current certificate's key",
                      {}});
  }
  auto profile = policy::parse_profile(current->profile);
  if (!profile)
    return fail(Error{ErrorCode::kForbidden,
                      "certificates of profile '" + current->profile + "' are not renewed here",
                      {}});
  // Renewal is issuance: the provisioner that issued the certificate must
  // still exist and still allow its profile and names.
  auto options = callers()->renewal_options(*current, *profile);
  if (!options) return fail(options.error());
  // The same names and lifetime; only the key is the CSR's.
  policy::IssueRequest r;
  r.profile = *profile;
  r.common_name = current->common_name;
  r.sans = current->sans;
  r.ttl = std::chrono::duration_cast<std::chrono::seconds>(current->not_after -
                                                           current->not_before - ca::kBackdate);
  r.key = csr->public_key.info;
  r.csr_hash = csr->hash;
  store::Labels owner = current->owner;
  owner.erase("provisioner");  // set again from the options, if any
  if (!options->provisioner.empty()) obs::note_request("provisioner", options->provisioner);
  auto issued = issuance_->issue(r, csr->public_key, owner, *options);
  if (!issued) return fail(issued.error());
  obs::note_request("serial", issued->record.serial.hex());
  const std::string pem = issued->pem();
  json j = record_json(issued->record, clock_.now());
  j["certificate"] = pem;
  j["chain"] = pem + issuing_->pem() + intermediate_->pem();
  j["renewed_from"] = current->serial.hex();
  json_response(res, 201, j.dump());
}

void App::api_revoke(const net::Request& req, net::Response& res) {
  auto body = parse_body(req);
  if (!body) return problem(res, body.error(), status_for_body_error(body.error()));
  auto reason = x509::parse_reason(body->reason.value_or("unspecified"));
  if (!reason) return problem(res, reason.error());
  std::optional<Serial> serial;
  if (body->serial) {
    auto s = Serial::parse(*body->serial);
    if (!s) return problem(res, s.error());
    serial = *s;
  }
  std::string by;
  std::optional<ProvisionerConfig> revoker;
  if (!req.header("authorization").empty()) {
    auto snapshot = callers();  // `who` points into it
    auto who = snapshot->authenticate(*inventory_, req, Permission::kRevoke);
    if (!who) return problem(res, who.error());
    by = "provisioner:" + (*who)->name;
    obs::note_request("provisioner", (*who)->name);
    revoker = **who;
    if (!serial) return problem(res, ErrorCode::kInvalidArgument, "'serial' is required");
  } else {
    // Proof of possession: the caller holds the certificate being revoked.
    auto current = client_certificate(req);
    if (!current) return problem(res, current.error());
    if (serial && *serial != current->serial) {
      return problem(res, ErrorCode::kForbidden, "a client certificate may only revoke itself");
    }
    serial = current->serial;
    by = "self";
  }
  auto rec = inventory_->find(*serial);
  if (!rec) return problem(res, rec.error());
  if (!*rec)
    return problem(res, ErrorCode::kNotFound, "no certificate with serial " + serial->hex());
  if ((*rec)->issuer_serial != issuing_->serial()) {
    return problem(res, ErrorCode::kForbidden,
                   "only certificates of the issuing CA are revoked online; CA certificates with "
                   "'herald revoke'");
  }
  if (revoker) {
    if (auto s = Provisioners::may_revoke(*revoker, **rec); !s) return problem(res, s.error());
  }
  auto after = ca::revoke(clock_, *inventory_, *serial, *reason);
  if (!after) return problem(res, after.error());
  obs::note_request("serial", serial->hex());
  revocations_->with({std::string(x509::reason_name(*reason))}).inc();
  on_revocation_change(*serial);  // this node at once; others through the feed
  json j = record_json(*after, clock_.now());
  j["revoked_by"] = by;
  json_response(res, 200, j.dump());
}

void App::api_list(const net::Request& req, net::Response& res) {
  auto snapshot = callers();  // `who` points into it
  auto who = snapshot->authenticate(*inventory_, req, Permission::kRead);
  if (!who) return problem(res, who.error());
  obs::note_request("provisioner", (*who)->name);
  auto query = parse_list_query(req, clock_.now());
  if (!query) return problem(res, query.error());
  store::ListFilter& f = query->filter;
  // A scoped provisioner reads only what it issued (least privilege, as for revoke).
  if ((*who)->scope.restricted) {
    if (auto it = f.owner.find("provisioner"); it != f.owner.end() && it->second != (*who)->name) {
      return problem(res, ErrorCode::kForbidden,
                     "provisioner '" + (*who)->name + "' may only list certificates it issued");
    }
    f.owner["provisioner"] = (*who)->name;
  }
  const size_t limit = query->limit, offset = query->offset;
  auto records = inventory_->list(f);
  if (!records) return problem(res, records.error());
  json items = json::array();
  for (size_t i = 0; i < records->size() && i < limit; ++i)
    items.push_back(record_json((*records)[i], f.now));
  json j = {{"items", items},
            {"next_offset", records->size() > limit ? json(offset + limit) : json()}};
  json_response(res, 200, j.dump());
}

void App::api_get(const net::Request& req, net::Response& res, std::string_view serial_text) {
  auto snapshot = callers();  // `who` points into it
  auto who = snapshot->authenticate(*inventory_, req, Permission::kRead);
  if (!who) return problem(res, who.error());
  obs::note_request("provisioner", (*who)->name);
  auto serial = Serial::parse(serial_text);
  if (!serial) return problem(res, serial.error());
  auto rec = inventory_->find(*serial);
  if (!rec) return problem(res, rec.error());
  auto issued_by = [&] {
    auto it = (*rec)->owner.find("provisioner");
    return it == (*rec)->owner.end() ? std::string() : it->second;
  };
  // A scoped provisioner sees only what it issued; others' serials are "not found" to it.
  if (!*rec || ((*who)->scope.restricted && issued_by() != (*who)->name))
    return problem(res, ErrorCode::kNotFound, "no certificate with serial " + serial->hex());
  json j = record_json(**rec, clock_.now());
  j["certificate"] = ossl::pem_encode((*rec)->der, "CERTIFICATE");
  json_response(res, 200, j.dump());
}

}  // namespace herald::server
