// The ACME service's core: construction and configuration, routing, the
// directory and nonces, the JWS envelope, and housekeeping. The handlers of
// each resource are in account.cc, order.cc and authorization.cc.
#include "acme/service.h"

#include <openssl/rand.h>

#include <algorithm>
#include <iostream>

#include "acme/service_internal.h"
#include "base/encoding.h"
#include "obs/log.h"
#include "x509/san.h"

namespace herald::acme {

using internal::fail;
using internal::send_json;

// ---------------------------------------------------------------- shared helpers

namespace internal {

std::string random_id(size_t bytes) {
  std::vector<uint8_t> raw(bytes);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) return {};
  return base64url_encode(raw);
}

void send_json(Service::Ctx& c, int status, const json& body) {
  c.res.status = status;
  c.res.body = body.dump();
  c.res.set_header("Content-Type", "application/json");
}

void fail(Service::Ctx& c, const Problem& p) {
  c.res.status = p.status();
  c.res.body = problem_json(p).dump();
  c.res.set_header("Content-Type", "application/problem+json");
}

json identifier_json(const Identifier& id) { return json{{"type", id.type}, {"value", id.value}}; }

Result<Identifier> parse_identifier(const json& j) {
  if (!j.is_object() || !j.contains("type") || !j.contains("value") || !j["type"].is_string() ||
      !j["value"].is_string()) {
    return make_error(ErrorCode::kMalformedInput,
                      "an identifier must be an object with string \"type\" and \"value\"");
  }
  const std::string type = j["type"];
  const std::string value = j["value"];
  if (type == "dns") {
    auto san = x509::make_san(x509::SanType::kDns, value);
    if (!san || !x509::is_valid_dns_name(san->value, true)) {
      return acme_error(ErrorCode::kMalformedInput, "'" + value + "' is not a valid DNS name",
                        ProblemType::kRejectedIdentifier);
    }
    return Identifier{"dns", san->value};
  }
  if (type == "ip") {
    auto san = x509::make_san(x509::SanType::kIp, value);
    if (!san) {
      return acme_error(ErrorCode::kMalformedInput, "'" + value + "' is not an IP address",
                        ProblemType::kRejectedIdentifier);
    }
    return Identifier{"ip", san->value};
  }
  return acme_error(ErrorCode::kMalformedInput,
                    "identifier type '" + type + "' is not supported (dns, ip)",
                    ProblemType::kUnsupportedIdentifier);
}

TimePoint expires_of(const json& doc) {
  return TimePoint{std::chrono::seconds(doc.value("expires_unix", int64_t{0}))};
}

}  // namespace internal

// ---------------------------------------------------------------- construction

Service::Service(const Clock& clock, store::AcmeStore& acme_store, store::Inventory& inventory,
                 Backend backend, int validation_threads)
    : clock_(clock),
      store_(acme_store),
      inventory_(inventory),
      backend_(std::move(backend)),
      state_(std::make_shared<State>()) {
  for (int i = 0; i < std::max(1, validation_threads); ++i)
    workers_.emplace_back([this] { validation_worker(); });
}

Service::~Service() {
  {
    std::lock_guard lk(jobs_mu_);
    stopping_ = true;
  }
  jobs_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void Service::configure(std::vector<Provisioner> provisioners, Settings settings) {
  auto s = std::make_shared<State>();
  s->provisioners = std::move(provisioners);
  s->settings = std::move(settings);
  if (!s->settings.validator)
    s->settings.validator = std::make_shared<NetworkValidator>(s->settings.validation);
  {
    std::lock_guard lk(jobs_mu_);
    per_account_ = s->settings.validations_per_account;
    per_order_ = s->settings.validations_per_order;
  }
  jobs_cv_.notify_all();
  std::lock_guard lock(state_mu_);
  state_ = std::move(s);
}

std::shared_ptr<const Service::State> Service::state() const {
  std::lock_guard lock(state_mu_);
  return state_;
}

void Service::housekeeping() {
  using namespace std::chrono;
  constexpr size_t kPurgeBatch = 500;
  const auto now_steady = steady_clock::now();
  {
    std::lock_guard lk(purge_mu_);
    if (now_steady < next_purge_) return;
    next_purge_ = now_steady + seconds(5);
  }
  // Orders younger than the rate-limit window (an hour) still count against
  // the limits; none younger than the order lifetime can have expired.
  const TimePoint now = clock_.now();
  const auto keep = std::max<seconds>(hours(1), state()->settings.order_lifetime);
  auto purged = store_.acme_purge_expired(now, now - keep, kPurgeBatch);
  if (!purged) {
    obs::log(obs::LogLevel::kError, "acme: cannot purge expired orders",
             {{"error", purged.error().describe()}});
    return;
  }
  if (static_cast<size_t>(purged->orders) == kPurgeBatch) {  // more to go: next tick
    std::lock_guard lk(purge_mu_);
    next_purge_ = now_steady;
  }
}

// ---------------------------------------------------------------- routing

bool Service::handle(const net::Request& req, net::Response& res) {
  if (req.path.rfind("/acme/", 0) != 0) return false;
  Ctx c{req, res, state()};
  std::string_view rest = std::string_view(req.path).substr(6);
  auto slash = rest.find('/');
  std::string prov_name(rest.substr(0, slash));
  for (const auto& p : c.state->provisioners) {
    if (p.name == prov_name) c.prov = &p;
  }
  if (!c.prov) {
    fail(c, {ProblemType::kNotFound, "no ACME provisioner named '" + prov_name + "'"});
    return true;
  }
  std::string host(req.header("host"));
  if (host.empty()) {
    fail(c, {ProblemType::kMalformed, "the request has no Host header"});
    return true;
  }
  c.base = "https://" + host + "/acme/" + prov_name;
  c.url = "https://" + host + req.target;
  res.set_header("Link", "<" + c.base + "/directory>;rel=\"index\"");
  res.set_header("Cache-Control", "no-store");
  route(c);
  // Every answer to a POST (errors included) carries a fresh nonce.
  if (req.method == "POST" || req.path == "/acme/" + prov_name + "/new-nonce")
    res.set_header("Replay-Nonce", nonces_->issue());
  return true;
}

bool Service::is_read(const net::Request& req) {
  std::string_view path(req.path);
  if (!path.starts_with("/acme/")) return false;
  path.remove_prefix(6);
  auto slash = path.find('/');  // after the provisioner's name
  if (slash == std::string_view::npos) return false;
  std::string_view rest = path.substr(slash + 1);
  auto part = rest.substr(0, rest.find('/'));
  const auto segments = std::count(rest.begin(), rest.end(), '/') + 1;
  if (req.method == "GET" || req.method == "HEAD")
    return part == "directory" || part == "new-nonce" || part == "renewal-info";
  if (req.method != "POST") return false;
  // An authorization is nearly always read; its rare deactivation commits
  // on the I/O thread, a short stall rather than a hop for every poll.
  return (part == "order" && segments == 2) || part == "cert" || part == "authz" ||
         (part == "acct" && segments == 3 && rest.ends_with("/orders"));
}

void Service::route(Ctx& c) {
  const std::string rest = c.req.path.substr(6 + c.prov->name.size());
  auto parts = [&] {
    std::vector<std::string> out;
    size_t i = 1;
    while (i <= rest.size()) {
      size_t j = rest.find('/', i);
      if (j == std::string::npos) j = rest.size();
      out.push_back(rest.substr(i, j - i));
      i = j + 1;
    }
    return out;
  }();
  const std::string& m = c.req.method;
  if (parts.size() == 1 && parts[0] == "directory" && (m == "GET" || m == "HEAD"))
    return directory(c);
  if (parts.size() == 1 && parts[0] == "new-nonce" && (m == "GET" || m == "HEAD"))
    return new_nonce(c);
  if (parts.size() == 2 && parts[0] == "renewal-info" && m == "GET")
    return renewal_info(c, parts[1]);
  if (m != "POST") {
    c.res.set_header("Allow", "POST");
    return fail(c, {ProblemType::kMethodNotAllowed,
                    "use POST (RFC 8555 §6.3: POST-as-GET) for " + c.req.path});
  }
  if (c.req.header("content-type") != "application/jose+json")
    return fail(
        c, {ProblemType::kUnsupportedMediaType, "the Content-Type must be application/jose+json"});
  if (parts.size() == 1 && parts[0] == "new-account") return new_account(c);
  if (parts.size() == 1 && parts[0] == "new-order") return new_order(c);
  if (parts.size() == 1 && parts[0] == "revoke-cert") return revoke_cert(c);
  if (parts.size() == 1 && parts[0] == "key-change") return key_change(c);
  if (parts.size() == 2 && parts[0] == "acct") return account(c, parts[1]);
  if (parts.size() == 3 && parts[0] == "acct" && parts[2] == "orders")
    return orders_list(c, parts[1]);
  if (parts.size() == 2 && parts[0] == "order") return order(c, parts[1]);
  if (parts.size() == 3 && parts[0] == "order" && parts[2] == "finalize")
    return finalize(c, parts[1]);
  if (parts.size() == 2 && parts[0] == "authz") return authz(c, parts[1]);
  if (parts.size() == 3 && parts[0] == "chall") return challenge(c, parts[1], parts[2]);
  if (parts.size() == 2 && parts[0] == "cert") return certificate(c, parts[1]);
  fail(c, {ProblemType::kNotFound, "no ACME resource at " + c.req.path});
}

void Service::directory(Ctx& c) {
  json meta = json::object();
  meta["externalAccountRequired"] = c.prov->require_eab;
  send_json(c, 200,
            json{{"newNonce", c.base + "/new-nonce"},
                 {"newAccount", c.base + "/new-account"},
                 {"newOrder", c.base + "/new-order"},
                 {"revokeCert", c.base + "/revoke-cert"},
                 {"keyChange", c.base + "/key-change"},
                 {"renewalInfo", c.base + "/renewal-info"},
                 {"meta", meta}});
}

void Service::new_nonce(Ctx& c) { c.res.status = c.req.method == "HEAD" ? 200 : 204; }

// ---------------------------------------------------------------- the JWS envelope

std::optional<Problem> Service::check_envelope(Ctx& c) {
  auto jws = parse_jws_request(c.req.body);
  if (!jws) return problem_of(jws.error());
  if (jws->url != c.url) {
    return Problem{ProblemType::kUnauthorized,
                   "the JWS \"url\" (" + jws->url + ") is not this request's URL (" + c.url + ")"};
  }
  // Only checked here (MAC and age, or the pool's set): the nonce is spent
  // by verify_signature, once the request proved who sent it.
  if (!nonces_->check(jws->nonce))
    return Problem{ProblemType::kBadNonce,
                   "the nonce is unknown, used or expired; retry with the fresh one"};
  if (!jws->post_as_get) {
    c.payload = json::parse(jws->payload_raw, nullptr, false);
    if (c.payload.is_discarded() || !c.payload.is_object())
      return Problem{ProblemType::kMalformed, "the payload is not a JSON object"};
  }
  c.jws = std::move(*jws);
  return std::nullopt;
}

std::optional<Problem> Service::verify_signature(Ctx& c, EVP_PKEY& key) {
  if (auto v = verify_jws_request(*c.jws, key); !v) return problem_of(v.error());
  // The nonce is spent only now: a request with a garbage signature writes
  // nothing (SharedNonces records a use in the store) and leaves its nonce
  // to the client that holds the key. A replay of a signed request, here or
  // on another node, is refused.
  if (!nonces_->consume(c.jws->nonce))
    return Problem{ProblemType::kBadNonce,
                   "the nonce is unknown, used or expired; retry with the fresh one"};
  return std::nullopt;
}

std::optional<Problem> Service::authenticate_kid(Ctx& c) {
  if (auto p = check_envelope(c)) return p;
  if (!c.jws->kid)
    return Problem{ProblemType::kMalformed, "this request must be signed with \"kid\""};
  auto p = authenticate_account(c);
  if (!p) obs::note_request("account", c.account_id);  // herald serve's request log
  return p;
}

}  // namespace herald::acme
