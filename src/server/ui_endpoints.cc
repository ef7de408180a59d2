// The dashboard: its pages at /ui/ (files embedded in the binary, ui/assets.h)
// and the read-only JSON API they use, which scripts can use too:
//
//   GET  /v1/overview                  counts by status, expiring, revocations,
//                                      issuance rate, CA and CRL health
//   GET  /v1/expiry-timeline?days=N    valid certificates by expiry day (or week)
//   GET  /v1/hierarchy                 the CA certificates, by issuer
//   GET  /v1/alerts/recent             the alerts sent lately, the active silences
//   GET  /v1/certs, /v1/certs/{serial} for an admin: every certificate, with the
//                                      total (?count=1), and a certificate's chain,
//                                      deployments (herald scan) and audit trail
//   POST /ui/login, /ui/logout         the session cookie (ui_session.h)
//
// Every route needs an admin: a bearer API token whose provisioner has the
// `admin` permission, the session cookie made from one at /ui/login, or a
// client certificate (mutual TLS) named in [dashboard] admin_client_names.
// The cookie and the certificate are accepted on these routes only (GET
// requests, and login/logout, which check Origin): they never sign, revoke
// or reach anything else. Counts and paging are done by the store
// (store/overview.h), never by loading records.

#include <algorithm>
#include <nlohmann/json.hpp>

#include "base/duration.h"
#include "base/encoding.h"
#include "ossl/ossl.h"
#include "server/app.h"
#include "server/list_query.h"
#include "server/problem.h"
#include "server/ui_session.h"
#include "store/record_json.h"
#include "ui/assets.h"
#include "x509/certificate.h"

namespace herald::server {

using nlohmann::json;

struct App::UiState {
  std::mutex mu;
  Bytes key;  // the store's "ui-session" secret, read once
  ui::LoginLimiter limiter;
};

namespace {

constexpr size_t kMaxLoginBody = 4096;
constexpr int64_t kDay = 86400;

int64_t unix_of(TimePoint t) { return t.time_since_epoch().count(); }

// What every dashboard answer carries: no framing, no inline script, no
// sniffing, no referrer.
void secure_headers(net::Response& res) {
  res.set_header("Content-Security-Policy",
                 "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                 "frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
  res.set_header("X-Frame-Options", "DENY");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
}

// Assets anyone may fetch: the login page and what it loads. The rest of
// the dashboard needs a credential.
bool public_asset(std::string_view name) {
  return name == "login.html" || name == "login.js" || name == "ui.css";
}

void serve_asset(const net::Request& req, net::Response& res, const ::herald::ui::Asset& a) {
  res.set_header("ETag", std::string(a.etag));
  res.set_header("Cache-Control", "no-cache");
  if (req.header("if-none-match") == a.etag) {
    res.status = 304;
    return;
  }
  res.status = 200;
  res.set_header("Content-Type", std::string(a.content_type));
  if (req.method != "HEAD") res.body = std::string(a.body);
}

// The first SAN of `cert` that is one of the dashboard's admin names (type
// and value; DNS names without regard to ASCII case), if any. The subject
// (its CN) is never looked at.
std::optional<x509::San> admin_name(const x509::Certificate& cert,
                                    const std::vector<x509::San>& admins) {
  for (x509::San san : cert.sans()) {
    if (san.type == x509::SanType::kDns)
      std::transform(san.value.begin(), san.value.end(), san.value.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (std::find(admins.begin(), admins.end(), san) != admins.end()) return san;
  }
  return std::nullopt;
}

json ca_json(const store::CertRecord& r, TimePoint now) {
  return {{"serial", r.serial.hex()},
          {"issuer_serial", r.issuer_serial.hex()},
          {"subject", r.subject},
          {"profile", r.profile},
          {"status", r.status_at(now)},
          {"not_before", unix_of(r.not_before)},
          {"not_after", unix_of(r.not_after)},
          {"days_left", (unix_of(r.not_after) - unix_of(now)) / kDay}};
}

}  // namespace

bool App::route_ui(const net::Request& req, net::Response& res) {
  const std::string& p = req.path;
  const bool get = req.method == "GET" || req.method == "HEAD";
  const bool is_api =
      get && (p == "/v1/overview" || p == "/v1/expiry-timeline" || p == "/v1/hierarchy" ||
              p == "/v1/session" || p == "/v1/alerts/recent");
  const bool is_certs = get && (p == "/v1/certs" || p.starts_with("/v1/certs/"));
  if (!(p == "/ui" || p.starts_with("/ui/") || is_api || is_certs)) return false;
  std::call_once(ui_once_, [this] { ui_ = std::make_shared<UiState>(); });

  auto session_key = [this]() -> Result<Bytes> {
    std::lock_guard lock(ui_->mu);
    if (ui_->key.empty()) {
      HERALD_TRY(ui_->key, inventory_->shared_secret("ui-session"));
    }
    return ui_->key;
  };
  // An admin client certificate: issued by this Herald's issuing CA (the
  // handshake checked the chain against Herald's own CAs; the inventory
  // record, the issuer and the signature are checked again here), not
  // revoked, in date, with the clientAuth EKU and a SAN listed in
  // [dashboard] admin_client_names. "cert:<san>" if so.
  auto admin_certificate = [&](const Provisioners& snapshot) -> Result<std::string> {
    const auto& admins = snapshot.config().dashboard.admin_client_names;
    if (admins.empty()) {
      return make_error(ErrorCode::kUnauthenticated,
                        "log in at /ui/login, or send Authorization: Bearer <token> of a "
                        "provisioner with the admin permission (no client certificate is an "
                        "admin: [dashboard] admin_client_names is empty)");
    }
    HERALD_TRY(auto rec, client_certificate(req));  // verified, ours, not revoked, not expired
    HERALD_TRY(auto cert, x509::Certificate::from_der(req.peer_chain.front()));
    if (!issuing_ || rec.issuer_serial != issuing_->serial() ||
        X509_verify(&cert.x509(), X509_get0_pubkey(&issuing_->x509())) != 1) {
      ossl::clear_errors();
      return make_error(ErrorCode::kUnauthenticated,
                        "the client certificate was not issued by this Herald's issuing CA");
    }
    if (clock_.now() < rec.not_before)
      return make_error(ErrorCode::kUnauthenticated, "the client certificate is not yet valid");
    const auto eku = cert.ext_key_usage();
    if (std::find(eku.begin(), eku.end(), "clientAuth") == eku.end()) {
      return make_error(ErrorCode::kForbidden,
                        "the client certificate " + rec.serial.hex() +
                            " lacks the clientAuth extended key usage");
    }
    auto name = admin_name(cert, admins);
    if (!name) {
      return make_error(ErrorCode::kForbidden,
                        "the client certificate " + rec.serial.hex() +
                            " has no SAN listed in [dashboard] admin_client_names");
    }
    return "cert:" + name->to_string();
  };
  // The caller's name if it is an admin: a bearer token; else the session
  // cookie, then an admin client certificate.
  auto admin = [&]() -> Result<std::string> {
    auto snapshot = callers();
    if (!req.header("authorization").empty()) {
      HERALD_TRY(auto who, snapshot->authenticate(*inventory_, req, Permission::kAdmin));
      return who->name;
    }
    std::string value = ui::cookie(req, ui::kCookieName);
    const bool has_cert = req.tls && !req.peer_chain.empty();
    if (value.empty() && has_cert) return admin_certificate(*snapshot);
    if (value.empty()) {
      return make_error(ErrorCode::kUnauthenticated,
                        "log in at /ui/login, or send Authorization: Bearer <token> of a "
                        "provisioner with the admin permission");
    }
    auto by_cookie = [&]() -> Result<std::string> {
      HERALD_TRY(auto key, session_key());
      HERALD_TRY(auto s, ui::open(value, key, clock_.now()));
      // The session lasts only as long as its token and the provisioner's grant.
      HERALD_TRY(auto token, inventory_->find_token(s.token_sha256));
      if (!token || token->revoked || token->provisioner != s.provisioner) {
        return make_error(ErrorCode::kUnauthenticated,
                          "the session's token was revoked: log in again");
      }
      const ProvisionerConfig* who = snapshot->config().provisioner(s.provisioner);
      if (!who || who->type != "token" || !who->can(Permission::kAdmin)) {
        return make_error(ErrorCode::kForbidden,
                          "provisioner '" + s.provisioner + "' lacks the 'admin' permission");
      }
      return s.provisioner;
    };
    auto who = by_cookie();
    // A stale cookie does not shadow an admin certificate.
    if (!who && has_cert) {
      if (auto by_cert = admin_certificate(*snapshot)) return by_cert;
    }
    return who;
  };
  auto done = [&] {
    secure_headers(res);
    http_requests_->with({"ui", std::to_string(res.status)}).inc();
    return true;
  };

  // Bearer callers without the admin permission keep the plain /v1/certs
  // (route_api: the read permission, scoped to what they issued).
  if (is_certs && !req.header("authorization").empty()) {
    auto snapshot = callers();
    auto who = snapshot->authenticate(*inventory_, req, Permission::kAdmin);
    if (!who && who.error().code == ErrorCode::kForbidden) return false;
  }

  // --- pages
  if (p == "/ui") {
    res.status = 308;
    res.set_header("Location", "/ui/");
    return done();
  }
  if (p.starts_with("/ui/") && get) {
    std::string name = p.substr(4);
    if (name.empty()) name = "index.html";
    if (name == "login") name = "login.html";
    const ::herald::ui::Asset* asset =
        name.find('/') == std::string::npos ? ::herald::ui::find_asset(name) : nullptr;
    if (!asset) {
      problem(res, ErrorCode::kNotFound, "no such page: " + p);
      return done();
    }
    if (!public_asset(name)) {
      auto who = admin();
      if (!who) {
        // A browser goes to the login page; a script gets the problem.
        if (who.error().code == ErrorCode::kUnauthenticated &&
            req.header("accept").find("text/html") != std::string_view::npos) {
          res.status = 303;
          res.set_header("Location", "/ui/login");
          res.set_header("Cache-Control", "no-store");
          return done();
        }
        problem(res, who.error());
        return done();
      }
    }
    serve_asset(req, res, *asset);
    return done();
  }
  if (p == "/ui/login" || p == "/ui/logout") {
    if (req.method != "POST") {
      problem(res, ErrorCode::kInvalidArgument, "method " + req.method + " not allowed on " + p,
              405);
      return done();
    }
    if (!ui::same_origin(req)) {
      problem(res, ErrorCode::kForbidden,
              "cross-origin request refused (Origin must be this host)");
      return done();
    }
    if (p == "/ui/logout") {
      res.status = 204;
      res.set_header("Set-Cookie", ui::clear_cookie());
      res.set_header("Cache-Control", "no-store");
      return done();
    }
    {
      std::lock_guard lock(ui_->mu);
      if (!ui_->limiter.allow(req.remote_address, std::chrono::steady_clock::now())) {
        res.set_header("Retry-After", "60");
        problem(res, ErrorCode::kRateLimited, "too many login attempts: wait a minute");
        return done();
      }
    }
    if (req.body.size() > kMaxLoginBody ||
        !req.header("content-type").starts_with("application/json")) {
      problem(res, ErrorCode::kInvalidArgument, "send {\"token\": \"...\"} as application/json");
      return done();
    }
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("token") || !body["token"].is_string() ||
        body["token"].get<std::string>().empty()) {
      problem(res, ErrorCode::kInvalidArgument, "send {\"token\": \"...\"} as application/json");
      return done();
    }
    const std::string token = body["token"].get<std::string>();
    net::Request as_bearer;
    as_bearer.headers = {{"authorization", "Bearer " + token}};
    auto snapshot = callers();
    auto who = snapshot->authenticate(*inventory_, as_bearer, Permission::kAdmin);
    if (!who) {
      problem(res, who.error());
      return done();
    }
    auto digest =
        ossl::sha256(std::span(reinterpret_cast<const uint8_t*>(token.data()), token.size()));
    auto key = session_key();
    if (!digest || !key) {
      problem(res, !digest ? digest.error() : key.error());
      return done();
    }
    ui::Session s{(*who)->name, to_hex(*digest, false), clock_.now() + ui::kSessionLifetime};
    res.set_header("Set-Cookie", ui::set_cookie(ui::seal(s, *key), ui::kSessionLifetime));
    json_response(res, 200,
                  json{{"provisioner", s.provisioner}, {"expires", unix_of(s.expires)}}.dump());
    return done();
  }
  if (p.starts_with("/ui/")) {
    problem(res, ErrorCode::kInvalidArgument, "method " + req.method + " not allowed on " + p, 405);
    return done();
  }

  // --- the JSON API
  auto who = admin();
  if (!who) {
    problem(res, who.error());
    return done();
  }
  const TimePoint now = clock_.now();
  auto fail = [&](const Error& e) {
    problem(res, e);
    return done();
  };

  if (p == "/v1/session") {
    json_response(res, 200, json{{"provisioner", *who}}.dump());
    return done();
  }

  if (p == "/v1/overview") {
    auto counts = inventory_->count_by_status(now);
    if (!counts) return fail(counts.error());
    // From the (status, not_after) index alone: Herald's own server
    // certificates included (the metrics' gauge leaves them out).
    auto expiring = [&](int days) {
      store::ListFilter f;
      f.now = now;
      f.expiring_before = now + std::chrono::hours(24 * days);
      return inventory_->count_matching(f);
    };
    auto in7 = expiring(7);
    if (!in7) return fail(in7.error());
    auto in30 = expiring(30);
    if (!in30) return fail(in30.error());
    auto revoked_day = inventory_->count_revoked_since(now - std::chrono::hours(24));
    if (!revoked_day) return fail(revoked_day.error());
    auto issued_hour = inventory_->count_issued_since(now - std::chrono::hours(1));
    if (!issued_hour) return fail(issued_hour.error());
    auto issued_day = inventory_->count_issued_since(now - std::chrono::hours(24));
    if (!issued_day) return fail(issued_day.error());
    auto issued_week = inventory_->count_issued_since(now - std::chrono::hours(24 * 7));
    if (!issued_week) return fail(issued_week.error());
    json cas = json::array();
    auto add_ca = [&](const char* name, const std::optional<x509::Certificate>& c) {
      if (!c) return;
      bool revoked = std::string_view(name) == "issuing"        ? issuing_revoked_.load()
                     : std::string_view(name) == "intermediate" ? intermediate_revoked_.load()
                                                                : false;
      cas.push_back({{"name", name},
                     {"subject", c->subject()},
                     {"serial", c->serial().hex()},
                     {"not_after", unix_of(c->not_after())},
                     {"days_left", (unix_of(c->not_after()) - unix_of(now)) / kDay},
                     {"revoked", revoked}});
    };
    add_ca("root", root_);
    add_ca("intermediate", intermediate_);
    add_ca("issuing", issuing_);
    json crls = json::array();
    for (const char* name : {"issuing", "intermediate", "root"}) {
      auto crl = publisher_->crl(name);
      if (!crl) continue;
      crls.push_back({{"name", name},
                      {"this_update", unix_of(crl->this_update)},
                      {"next_update", unix_of(crl->next_update)},
                      {"fresh", crl->next_update > now}});
    }
    auto deployed = inventory_->deployment_counts();
    if (!deployed) return fail(deployed.error());
    json j = {{"now", unix_of(now)},
              {"counts",
               {{"valid", counts->valid},
                {"revoked", counts->revoked},
                {"expired", counts->expired},
                {"total", counts->total()}}},
              {"expiring", {{"7d", *in7}, {"30d", *in30}}},
              {"revoked_last_day", *revoked_day},
              {"issued",
               {{"last_hour", *issued_hour}, {"last_day", *issued_day}, {"last_7d", *issued_week}}},
              {"cas", cas},
              {"crls", crls},
              {"deployments",
               {{"endpoints", deployed->endpoints},
                {"deployments", deployed->deployments},
                {"foreign_certificates", deployed->foreign_certificates}}},
              {"alerts_configured", true}};
    json_response(res, 200, j.dump());
    return done();
  }

  if (p == "/v1/expiry-timeline") {
    int64_t days = 90;
    if (std::string d = req.query_param("days"); !d.empty()) {
      if (d.size() > 4 || d.find_first_not_of("0123456789") != std::string::npos ||
          std::stoll(d) < 1 || std::stoll(d) > 3650) {
        return fail(Error{ErrorCode::kInvalidArgument, "days must be an integer from 1 to 3650"});
      }
      days = std::stoll(d);
    }
    std::string by = req.query_param("bucket");
    if (by.empty()) by = days > 180 ? "week" : "day";
    if (by != "day" && by != "week")
      return fail(Error{ErrorCode::kInvalidArgument, "bucket must be day or week"});
    const int64_t width = by == "day" ? 1 : 7;
    const size_t n = static_cast<size_t>((days + width - 1) / width);
    const std::chrono::seconds bucket{width * kDay};
    auto hist = inventory_->expiry_histogram(now, bucket, n);
    if (!hist) return fail(hist.error());
    json buckets = json::array();
    for (size_t i = 0; i < hist->size(); ++i) {
      buckets.push_back({{"start", unix_of(now) + static_cast<int64_t>(i) * bucket.count()},
                         {"count", (*hist)[i]}});
    }
    json j = {{"from", unix_of(now)},
              {"days", days},
              {"bucket", by},
              {"bucket_seconds", bucket.count()},
              {"buckets", buckets}};
    json_response(res, 200, j.dump());
    return done();
  }

  if (p == "/v1/alerts/recent") {
    auto alerts = inventory_->recent_alerts(100);
    if (!alerts) return fail(alerts.error());
    auto silences = inventory_->active_silences(now);
    if (!silences) return fail(silences.error());
    json items = json::array();
    for (const auto& a : *alerts) {
      items.push_back({{"at", unix_of(a.at)},
                       {"kind", a.kind},
                       {"serial", a.serial},
                       {"key", a.key},
                       {"target", a.target},
                       {"result", a.result}});
    }
    json quiet = json::array();
    for (const auto& q : *silences) {
      quiet.push_back({{"owner", q.owner_key.empty() ? "" : q.owner_key + "=" + q.owner_value},
                       {"serial", q.serial},
                       {"ends_at", unix_of(q.ends_at)},
                       {"reason", q.reason}});
    }
    json_response(res, 200, json{{"items", items}, {"silences", quiet}}.dump());
    return done();
  }

  if (p == "/v1/hierarchy") {
    json cas = json::array();
    auto records = inventory_->ca_certificates();
    if (!records) return fail(records.error());
    for (const auto& r : *records) cas.push_back(ca_json(r, now));
    json active = json::object();
    if (root_) active["root"] = root_->serial().hex();
    if (intermediate_) active["intermediate"] = intermediate_->serial().hex();
    if (issuing_) active["issuing"] = issuing_->serial().hex();
    json_response(res, 200, json{{"cas", cas}, {"active", active}}.dump());
    return done();
  }

  if (p == "/v1/certs") {
    // count=1 is answered from an index for the status and expiry filters;
    // with profile, owner or SAN it reads every record (see api.md).
    auto query = parse_list_query(req, now);
    if (!query) return fail(query.error());
    const store::ListFilter& f = query->filter;
    const size_t* limit = &query->limit;
    const size_t* offset = &query->offset;
    auto records = inventory_->list(f);
    if (!records) return fail(records.error());
    json items = json::array();
    for (size_t i = 0; i < records->size() && i < *limit; ++i)
      items.push_back(store::to_json((*records)[i], now));
    json j = {{"items", items},
              {"next_offset", records->size() > *limit ? json(*offset + *limit) : json()},
              {"next_after", json()}};
    if (records->size() > *limit) {
      const auto& last = (*records)[*limit - 1];
      j["next_after"] = std::to_string(unix_of(last.not_after)) + ":" + last.serial.hex();
    }
    if (req.query_param("count") == "1") {
      auto total = inventory_->count_matching(f);
      if (!total) return fail(total.error());
      j["total"] = *total;
    }
    json_response(res, 200, j.dump());
    return done();
  }

  // GET /v1/certs/{serial}: the record, its PEM, the chain above it as the
  // inventory knows it, and its audit trail.
  auto serial = Serial::parse(std::string_view(p).substr(10));
  if (!serial) return fail(serial.error());
  auto rec = inventory_->find(*serial);
  if (!rec) return fail(rec.error());
  if (!*rec)
    return fail(Error{ErrorCode::kNotFound, "no certificate with serial " + serial->hex()});
  json j = store::to_json(**rec, now);
  j["certificate"] = ossl::pem_encode((*rec)->der, "CERTIFICATE");
  json chain = json::array();
  Serial up = (*rec)->issuer_serial;
  Serial at = (*rec)->serial;
  for (int depth = 0; depth < 5 && !(up == at); ++depth) {
    auto parent = inventory_->find(up);
    if (!parent) return fail(parent.error());
    if (!*parent) break;
    chain.push_back(ca_json(**parent, now));
    at = (*parent)->serial;
    up = (*parent)->issuer_serial;
  }
  j["chain"] = chain;
  json audit = json::array();
  {
    json issued = {
        {"at", unix_of((*rec)->issued_at)}, {"action", "issue"}, {"profile", (*rec)->profile}};
    if (auto it = (*rec)->owner.find("provisioner"); it != (*rec)->owner.end())
      issued["provisioner"] = it->second;
    if (auto it = (*rec)->owner.find("renewed_from"); it != (*rec)->owner.end())
      issued["renewed_from"] = it->second;
    audit.push_back(issued);
  }
  auto history = inventory_->revocation_history(*serial, 100);
  if (!history) return fail(history.error());
  for (const auto& e : *history) {
    json entry = {{"at", unix_of(e.at)}, {"action", e.action}};
    json detail = json::parse(e.detail, nullptr, false);
    if (detail.is_object()) entry.update(detail);
    audit.push_back(entry);
  }
  j["audit"] = audit;
  auto deployed = inventory_->deployments_of_serial(*serial);
  if (!deployed) return fail(deployed.error());
  json deployments = json::array();
  for (const auto& d : *deployed) {
    json problems = json::array();
    for (const auto& pr : d.problems)
      problems.push_back({{"code", pr.code}, {"message", pr.message}});
    deployments.push_back({{"endpoint", d.endpoint},
                           {"sni", d.sni},
                           {"first_seen", unix_of(d.first_seen)},
                           {"last_seen", unix_of(d.last_seen)},
                           {"problems", problems}});
  }
  j["deployments"] = deployments;
  json_response(res, 200, j.dump());
  return done();
}

}  // namespace herald::server
