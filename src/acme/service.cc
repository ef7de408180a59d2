#include "acme/service.h"

#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "acme/eab.h"
#include "acme/jws.h"
#include "base/encoding.h"
#include "ossl/ossl.h"
#include "policy/rules.h"
#include "x509/certificate.h"
#include "x509/san.h"

namespace herald::acme {

using nlohmann::json;

namespace {

constexpr const char* kErrorPrefix = "urn:ietf:params:acme:error:";

std::string random_id(size_t bytes = 16) {
  std::vector<uint8_t> raw(bytes);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) return {};
  return base64url_encode(raw);
}

Problem problem_of(const Error& e, const char* fallback_type = "malformed") {
  for (const auto& [k, v] : e.context) {
    if (k == "acme") {
      int status = v == "unauthorized" || v == "orderNotReady" ? 403
                   : v == "serverInternal"                     ? 500
                   : v == "rateLimited"                        ? 429
                                                               : 400;
      return {v, e.message, status};
    }
  }
  switch (e.code) {
    case ErrorCode::kPolicyViolation:
    case ErrorCode::kForbidden:
      return {"rejectedIdentifier", e.message, 400};
    case ErrorCode::kBadSignature:
      return {"badCSR", e.message, 400};
    case ErrorCode::kMalformedInput:
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kLintFailed:
      return {fallback_type, e.message, 400};
    case ErrorCode::kRateLimited:
      return {"rateLimited", e.message, 429};
    case ErrorCode::kUnauthenticated:
      return {"unauthorized", e.message, 403};
    default:
      return {"serverInternal", "the server could not complete the request", 500};
  }
}

tl::unexpected<Error> acme_error(ErrorCode code, std::string message, std::string type) {
  Error e{code, std::move(message), {}};
  e.with("acme", std::move(type));
  return tl::unexpected(std::move(e));
}

json problem_json(const Problem& p) {
  json j{{"type", std::string(kErrorPrefix) + p.type}, {"detail", p.detail}, {"status", p.status}};
  // RFC 8555 §6.2: a badSignatureAlgorithm problem MUST list the accepted algs.
  if (p.type == "badSignatureAlgorithm") {
    json algs = json::array();
    for (auto a : kAlgorithms) algs.push_back(std::string(a));
    j["algorithms"] = std::move(algs);
  }
  return j;
}

// Identifiers as (type, value), normalised: DNS lowercased, IPs canonical.
struct Identifier {
  std::string type;
  std::string value;
  auto operator<=>(const Identifier&) const = default;
};

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
      return acme_error(ErrorCode::kMalformedInput, "'" + value + "' is not a valid DNS name", "rejectedIdentifier");
    }
    return Identifier{"dns", san->value};
  }
  if (type == "ip") {
    auto san = x509::make_san(x509::SanType::kIp, value);
    if (!san) {
      return acme_error(ErrorCode::kMalformedInput, "'" + value + "' is not an IP address", "rejectedIdentifier");
    }
    return Identifier{"ip", san->value};
  }
  return acme_error(ErrorCode::kMalformedInput, "identifier type '" + type + "' is not supported (dns, ip)", "unsupportedIdentifier");
}

std::string key_authorization(const std::string& token, const std::string& thumbprint) {
  return token + "." + thumbprint;
}

// Whether the CSR's key is `key` (compared as keys, and as SubjectPublicKeyInfo
// DER when the CSR's key was not loaded into OpenSSL).
bool same_key(const x509::Csr& csr, const std::shared_ptr<EVP_PKEY>& key) {
  if (!key) return false;
  if (csr.public_key.pkey) return EVP_PKEY_eq(csr.public_key.pkey.get(), key.get()) == 1;
  auto spki = keys::public_key_of(*key);
  return spki && spki->spki_der == csr.public_key.spki_der;
}

}  // namespace

// ---------------------------------------------------------------- request context

struct Service::Ctx {
  const net::Request& req;
  net::Response& res;
  std::shared_ptr<const State> state;
  const Provisioner* prov = nullptr;
  std::string base;  // https://host/acme/<provisioner>
  std::string url;   // this request's URL
  // Set by authenticate():
  std::optional<JwsRequest> jws;
  json payload;  // null for POST-as-GET
  std::string account_id;
  json account;  // the account document (kid requests)

  [[nodiscard]] std::string account_url(const std::string& id) const { return base + "/acct/" + id; }
  [[nodiscard]] std::string order_url(const std::string& id) const { return base + "/order/" + id; }
  [[nodiscard]] std::string authz_url(const std::string& id) const { return base + "/authz/" + id; }
  [[nodiscard]] std::string chall_url(const std::string& authz, const std::string& type) const {
    return base + "/chall/" + authz + "/" + type;
  }
  [[nodiscard]] std::string cert_url(const std::string& serial) const {
    return base + "/cert/" + serial;
  }
};

Service::Service(const Clock& clock, store::AcmeStore& acme_store, store::Inventory& inventory,
                 Backend backend, int validation_threads)
    : clock_(clock),
      store_(acme_store),
      inventory_(inventory),
      backend_(std::move(backend)),
      state_(std::make_shared<State>()) {
  for (int i = 0; i < std::max(1, validation_threads); ++i) {
    workers_.emplace_back([this] {
      std::unique_lock lk(jobs_mu_);
      for (;;) {
        std::optional<Job> job;
        jobs_cv_.wait(lk, [&] {
          job = next_job_locked();
          return job || (stopping_ && queued_.empty());
        });
        if (!job) return;
        lk.unlock();
        job->run();
        lk.lock();
        if (--running_accounts_[job->account] <= 0) running_accounts_.erase(job->account);
        if (--running_orders_[job->order] <= 0) running_orders_.erase(job->order);
        jobs_cv_.notify_all();  // an account or order at its limit may go on
      }
    });
  }
}

std::optional<Service::Job> Service::next_job_locked() {
  // Each account with queued validations in turn; the first whose account
  // and order are under their in-flight limits runs, and its account goes
  // to the back of the line.
  for (size_t n = turns_.size(); n > 0; --n) {
    std::string account = std::move(turns_.front());
    turns_.pop_front();
    auto q = queued_.find(account);
    if (q == queued_.end()) continue;
    std::optional<Job> job;
    auto running = running_accounts_.find(account);
    if (per_account_ <= 0 || running == running_accounts_.end() || running->second < per_account_) {
      for (auto it = q->second.begin(); it != q->second.end(); ++it) {
        auto r = running_orders_.find(it->order);
        if (per_order_ <= 0 || r == running_orders_.end() || r->second < per_order_) {
          job = std::move(*it);
          q->second.erase(it);
          break;
        }
      }
    }
    if (q->second.empty())
      queued_.erase(q);
    else
      turns_.push_back(account);
    if (job) {
      ++running_accounts_[job->account];
      ++running_orders_[job->order];
      return job;
    }
  }
  return std::nullopt;
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
  {
    std::lock_guard lk(jobs_mu_);
    per_account_ = s->settings.validations_per_account;
    per_order_ = s->settings.validations_per_order;
  }
  jobs_cv_.notify_all();
  std::lock_guard lock(state_mu_);
  state_ = std::move(s);
}

void Service::enqueue(const std::string& account, const std::string& order,
                      std::function<void()> job) {
  {
    std::lock_guard lk(jobs_mu_);
    auto& q = queued_[account];
    if (q.empty()) turns_.push_back(account);
    q.push_back(Job{account, order, std::move(job)});
  }
  jobs_cv_.notify_all();
}

namespace {

// The rate-limit key of a client address: IPv4 as it is (also when mapped
// into IPv6), IPv6 by its /64 (what one subscriber usually gets).
std::string address_key(const std::string& address) {
  unsigned char b[16];
  if (::inet_pton(AF_INET6, address.c_str(), b) != 1) return address;
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  if (std::memcmp(b, kMapped, sizeof kMapped) == 0)
    return std::to_string(b[12]) + "." + std::to_string(b[13]) + "." + std::to_string(b[14]) +
           "." + std::to_string(b[15]);
  return to_hex(std::span<const uint8_t>(b, 8)) + "::/64";
}

}  // namespace

std::optional<std::chrono::seconds> Service::take_account_token(const std::string& address,
                                                                int per_hour) {
  if (per_hour <= 0) return std::nullopt;
  using namespace std::chrono;
  const auto now = steady_clock::now();
  const double capacity = per_hour, rate = per_hour / 3600.0;  // tokens per second
  auto level = [&](const Bucket& b) {
    return std::min(capacity, b.tokens + duration<double>(now - b.last).count() * rate);
  };
  const std::string key = address_key(address);
  std::lock_guard lk(buckets_mu_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= kMaxAddresses) {
      // Full buckets are as good as none; else the least recently used goes.
      std::erase_if(buckets_, [&](const auto& kv) { return level(kv.second) >= capacity; });
      if (buckets_.size() >= kMaxAddresses)
        buckets_.erase(std::min_element(buckets_.begin(), buckets_.end(), [](const auto& a,
                                                                               const auto& b) {
          return a.second.last < b.second.last;
        }));
    }
    it = buckets_.emplace(key, Bucket{capacity, now}).first;
  }
  Bucket& b = it->second;
  b.tokens = level(b);
  b.last = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return std::nullopt;
  }
  return seconds(static_cast<int64_t>(std::ceil((1 - b.tokens) / rate)));
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
  std::shared_ptr<const State> state;
  {
    std::lock_guard lock(state_mu_);
    state = state_;
  }
  // Orders younger than the rate-limit window (an hour) still count against
  // the limits; none younger than the order lifetime can have expired.
  const TimePoint now = clock_.now();
  const auto keep = std::max<seconds>(hours(1), state->settings.order_lifetime);
  auto purged = store_.acme_purge_expired(now, now - keep, kPurgeBatch);
  if (!purged) {
    std::cerr << "herald serve: ACME: cannot purge expired orders: " << purged.error().describe()
              << "\n";
    return;
  }
  if (static_cast<size_t>(purged->orders) == kPurgeBatch) {  // more to go: next tick
    std::lock_guard lk(purge_mu_);
    next_purge_ = now_steady;
  }
}

// ---------------------------------------------------------------- responses

namespace {

void send_json(Service::Ctx& c, int status, const json& body) {
  c.res.status = status;
  c.res.body = body.dump();
  c.res.set_header("Content-Type", "application/json");
}

}  // namespace

#define ACME_FAIL(c, p)           \
  do {                            \
    fail_with(c, p);              \
    return;                       \
  } while (0)

namespace {

void fail_with(Service::Ctx& c, const Problem& p) {
  c.res.status = p.status;
  c.res.body = problem_json(p).dump();
  c.res.set_header("Content-Type", "application/problem+json");
}

}  // namespace

// ---------------------------------------------------------------- routing

bool Service::handle(const net::Request& req, net::Response& res) {
  if (req.path.rfind("/acme/", 0) != 0) return false;
  std::shared_ptr<const State> state;
  {
    std::lock_guard lock(state_mu_);
    state = state_;
  }
  Ctx c{req, res, state};
  std::string_view rest = std::string_view(req.path).substr(6);
  auto slash = rest.find('/');
  std::string prov_name(rest.substr(0, slash));
  for (const auto& p : state->provisioners) {
    if (p.name == prov_name) c.prov = &p;
  }
  if (!c.prov) {
    fail_with(c, {"malformed", "no ACME provisioner named '" + prov_name + "'", 404});
    return true;
  }
  std::string host(req.header("host"));
  if (host.empty()) {
    fail_with(c, {"malformed", "the request has no Host header", 400});
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
    ACME_FAIL(c, (Problem{"malformed", "use POST (RFC 8555 §6.3: POST-as-GET) for " + c.req.path,
                          405}));
  }
  if (c.req.header("content-type") != "application/jose+json") {
    ACME_FAIL(c, (Problem{"malformed", "the Content-Type must be application/jose+json", 415}));
  }
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
  ACME_FAIL(c, (Problem{"malformed", "no ACME resource at " + c.req.path, 404}));
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

void Service::new_nonce(Ctx& c) {
  c.res.status = c.req.method == "HEAD" ? 200 : 204;
}

// ---------------------------------------------------------------- authentication

namespace {

// Parses and checks the JWS envelope: URL, nonce. Returns a problem or nullopt.
std::optional<Problem> check_envelope(Service::Ctx& c, NonceSource& nonces) {
  auto jws = parse_jws_request(c.req.body);
  if (!jws) return problem_of(jws.error());
  if (jws->url != c.url) {
    return Problem{"unauthorized",
                   "the JWS \"url\" (" + jws->url + ") is not this request's URL (" + c.url + ")",
                   403};
  }
  if (!nonces.consume(jws->nonce)) {
    return Problem{"badNonce", "the nonce is unknown, used or expired; retry with the fresh one",
                   400};
  }
  if (!jws->post_as_get) {
    c.payload = json::parse(jws->payload_raw, nullptr, false);
    if (c.payload.is_discarded() || !c.payload.is_object())
      return Problem{"malformed", "the payload is not a JSON object", 400};
  }
  c.jws = std::move(*jws);
  return std::nullopt;
}

}  // namespace

#define ACME_AUTH_KID(c)                                     \
  do {                                                       \
    if (auto p = check_envelope(c, *nonces_); p) ACME_FAIL(c, *p); \
    if (!(c).jws->kid)                                       \
      ACME_FAIL(c, (Problem{"malformed", "this request must be signed with \"kid\"", 400})); \
    if (auto p = authenticate_account(c); p) ACME_FAIL(c, *p); \
  } while (0)

namespace {

json account_json(const Service::Ctx& c, const std::string& id, const json& doc) {
  return json{{"status", doc["status"]},
              {"contact", doc.value("contact", json::array())},
              {"termsOfServiceAgreed", doc.value("termsOfServiceAgreed", false)},
              {"orders", c.account_url(id) + "/orders"}};
}

std::optional<Problem> check_contacts(const json& contact) {
  if (!contact.is_array()) return Problem{"malformed", "\"contact\" must be an array", 400};
  for (const auto& c : contact) {
    if (!c.is_string()) return Problem{"invalidContact", "contacts must be strings", 400};
    const std::string s = c;
    if (s.rfind("mailto:", 0) != 0)
      return Problem{"unsupportedContact", "only mailto: contacts are supported: " + s, 400};
    const std::string addr = s.substr(7);
    auto at = addr.find('@');
    if (at == std::string::npos || at == 0 || at + 1 >= addr.size() ||
        addr.find_first_of(",; \t\r\n<>") != std::string::npos || addr.size() > 254)
      return Problem{"invalidContact", "'" + s + "' is not a mailto: address", 400};
  }
  return std::nullopt;
}

}  // namespace

void Service::new_account(Ctx& c) {
  if (auto p = check_envelope(c, *nonces_)) ACME_FAIL(c, *p);
  if (!c.jws->jwk) ACME_FAIL(c, (Problem{"malformed", "newAccount must be signed with \"jwk\"", 400}));
  if (c.jws->post_as_get) ACME_FAIL(c, (Problem{"malformed", "newAccount needs a payload", 400}));
  auto key = jwk_to_key(*c.jws->jwk);
  if (!key) ACME_FAIL(c, problem_of(key.error(), "badPublicKey"));
  if (auto v = verify_jws_request(*c.jws, **key); !v) ACME_FAIL(c, problem_of(v.error()));
  auto thumb = jwk_thumbprint(*c.jws->jwk);
  if (!thumb) ACME_FAIL(c, problem_of(thumb.error(), "badPublicKey"));
  auto existing = store_.acme_account_by_key(c.prov->name, *thumb);
  if (!existing) ACME_FAIL(c, problem_of(existing.error()));
  if (*existing) {
    json doc = json::parse((*existing)->data, nullptr, false);
    // RFC 8555 §7.3.6: nothing more is accepted with a deactivated account's key.
    if (doc.value("status", "") != "valid")
      ACME_FAIL(c, (Problem{"unauthorized", "the account for this key is " +
                                                doc.value("status", std::string("unknown")),
                            401}));
    c.res.set_header("Location", c.account_url((*existing)->id));
    return send_json(c, 200, account_json(c, (*existing)->id, doc));
  }
  if (c.payload.value("onlyReturnExisting", false))
    ACME_FAIL(c, (Problem{"accountDoesNotExist", "no account exists for this key", 400}));
  json contact = c.payload.value("contact", json::array());
  if (auto p = check_contacts(contact)) ACME_FAIL(c, *p);
  if (c.prov->require_eab && !c.payload.contains("externalAccountBinding")) {
    ACME_FAIL(c, (Problem{"externalAccountRequired",
                          "provisioner '" + c.prov->name + "' requires External Account Binding",
                          400}));
  }
  // Accounts cost storage forever: a few per source address and hour.
  const int per_hour = c.state->settings.new_accounts_per_address_per_hour;
  if (auto wait = take_account_token(c.req.remote_address, per_hour)) {
    c.res.set_header("Retry-After", std::to_string(wait->count()));
    ACME_FAIL(c, (Problem{"rateLimited",
                          "too many new accounts from " + c.req.remote_address + ": at most " +
                              std::to_string(per_hour) +
                              " per hour per address ([acme] new_accounts_per_address_per_hour); "
                              "retry in " + std::to_string(wait->count()) + " s",
                          429}));
  }
  const std::string id = random_id();
  json doc{{"status", "valid"},
           {"contact", contact},
           {"termsOfServiceAgreed", c.payload.value("termsOfServiceAgreed", false)},
           {"jwk", *c.jws->jwk},
           {"provisioner", c.prov->name},
           {"created", format_time(clock_.now())}};
  if (c.payload.contains("externalAccountBinding")) {
    auto binding = parse_eab(c.payload["externalAccountBinding"]);
    if (!binding) ACME_FAIL(c, problem_of(binding.error()));
    auto key = store_.acme_eab(binding->kid);
    if (!key) ACME_FAIL(c, problem_of(key.error()));
    if (!*key || (*key)->provisioner != c.prov->name)
      ACME_FAIL(c, (Problem{"unauthorized", "unknown External Account Binding key id", 403}));
    if (!(*key)->account_id.empty())
      ACME_FAIL(c, (Problem{"unauthorized", "this External Account Binding key is already used",
                            403}));
    auto hmac_key = base64url_decode((*key)->hmac_key);
    if (!hmac_key) ACME_FAIL(c, (Problem{"serverInternal", "the stored EAB key is corrupt", 500}));
    if (auto v = verify_eab(*binding, c.base + "/new-account", *c.jws->jwk, *hmac_key); !v)
      ACME_FAIL(c, problem_of(v.error()));
    doc["eab_kid"] = binding->kid;
    auto s = store_.acme_insert_account_with_eab(id, c.prov->name, *thumb, doc.dump(),
                                                 clock_.now(), binding->kid);
    if (!s && s.error().code == ErrorCode::kConflict)
      ACME_FAIL(c, (Problem{"unauthorized", s.error().message, 403}));
    if (!s) ACME_FAIL(c, problem_of(s.error()));
  } else if (auto s =
                 store_.acme_insert_account(id, c.prov->name, *thumb, doc.dump(), clock_.now());
             !s) {
    ACME_FAIL(c, problem_of(s.error()));
  }
  c.res.set_header("Location", c.account_url(id));
  send_json(c, 201, account_json(c, id, doc));
}

void Service::account(Ctx& c, const std::string& id) {
  ACME_AUTH_KID(c);
  if (id != c.account_id)
    ACME_FAIL(c, (Problem{"unauthorized", "an account may only read or change itself", 403}));
  if (!c.jws->post_as_get) {
    bool changed = false;
    if (c.payload.contains("contact")) {
      if (auto p = check_contacts(c.payload["contact"])) ACME_FAIL(c, *p);
      c.account["contact"] = c.payload["contact"];
      changed = true;
    }
    if (c.payload.contains("status")) {
      if (c.payload["status"] != "deactivated")
        ACME_FAIL(c, (Problem{"malformed", "an account's status may only become \"deactivated\"",
                              400}));
      c.account["status"] = "deactivated";
      changed = true;
    }
    if (changed) {
      auto thumb = jwk_thumbprint(c.account["jwk"]);
      if (!thumb) ACME_FAIL(c, problem_of(thumb.error()));
      if (auto s = store_.acme_update_account(id, *thumb, c.account.dump()); !s)
        ACME_FAIL(c, problem_of(s.error()));
    }
  }
  c.res.set_header("Location", c.account_url(id));
  send_json(c, 200, account_json(c, id, c.account));
}

void Service::key_change(Ctx& c) {
  ACME_AUTH_KID(c);
  if (c.jws->post_as_get) ACME_FAIL(c, (Problem{"malformed", "keyChange needs a payload", 400}));
  auto inner = parse_jws_request(c.jws->payload_raw, false);
  if (!inner) ACME_FAIL(c, problem_of(inner.error()));
  if (inner->protected_header.contains("nonce"))
    ACME_FAIL(c, (Problem{"malformed", "the inner keyChange JWS must not carry a nonce", 400}));
  if (!inner->jwk || inner->kid)
    ACME_FAIL(c, (Problem{"malformed", "the inner keyChange JWS must carry the new \"jwk\"", 400}));
  if (inner->url != c.url)
    ACME_FAIL(c, (Problem{"malformed", "the inner JWS \"url\" must equal the outer one", 400}));
  auto new_key = jwk_to_key(*inner->jwk);
  if (!new_key) ACME_FAIL(c, problem_of(new_key.error(), "badPublicKey"));
  if (auto v = verify_jws_request(*inner, **new_key); !v) ACME_FAIL(c, problem_of(v.error()));
  json p = json::parse(inner->payload_raw, nullptr, false);
  if (!p.is_object() || !p.contains("account") || !p.contains("oldKey"))
    ACME_FAIL(c, (Problem{"malformed", "the keyChange payload needs \"account\" and \"oldKey\"",
                          400}));
  if (p["account"] != *c.jws->kid)
    ACME_FAIL(c, (Problem{"unauthorized", "\"account\" is not the signing account", 403}));
  auto old_thumb = jwk_thumbprint(p["oldKey"]);
  auto cur_thumb = jwk_thumbprint(c.account["jwk"]);
  if (!old_thumb || !cur_thumb || *old_thumb != *cur_thumb)
    ACME_FAIL(c, (Problem{"unauthorized", "\"oldKey\" is not the account's current key", 403}));
  auto new_thumb = jwk_thumbprint(*inner->jwk);
  if (!new_thumb) ACME_FAIL(c, problem_of(new_thumb.error(), "badPublicKey"));
  if (auto other = store_.acme_account_by_key(c.prov->name, *new_thumb); other && *other) {
    c.res.set_header("Location", c.account_url((*other)->id));
    ACME_FAIL(c, (Problem{"malformed", "another account already uses the new key", 409}));
  }
  c.account["jwk"] = *inner->jwk;
  if (auto s = store_.acme_update_account(c.account_id, *new_thumb, c.account.dump()); !s)
    ACME_FAIL(c, problem_of(s.error()));
  c.res.set_header("Location", c.account_url(c.account_id));
  send_json(c, 200, account_json(c, c.account_id, c.account));
}

// ---------------------------------------------------------------- orders

namespace {

// The order's status as it stands now (expiry applied).
std::string current_status(const json& doc, TimePoint now) {
  std::string s = doc.value("status", "invalid");
  if ((s == "pending" || s == "ready") && doc.value("expires_unix", int64_t{0}) <= now.time_since_epoch().count())
    return "invalid";
  return s;
}

json order_json(const Service::Ctx& c, const std::string& id, const json& doc, TimePoint now) {
  json authzs = json::array();
  for (const auto& a : doc["authorizations"]) authzs.push_back(c.authz_url(a.get<std::string>()));
  json j{{"status", current_status(doc, now)},
         {"expires", doc["expires"]},
         {"identifiers", doc["identifiers"]},
         {"authorizations", authzs},
         {"finalize", c.order_url(id) + "/finalize"}};
  if (doc.contains("certificate")) j["certificate"] = c.cert_url(doc["certificate"]);
  if (doc.contains("error")) j["error"] = doc["error"];
  if (doc.contains("replaces")) j["replaces"] = doc["replaces"];
  return j;
}

json challenge_json(const Service::Ctx& c, const std::string& authz_id, const json& authz,
                    const json& ch) {
  json j{{"type", ch["type"]},
         {"url", c.chall_url(authz_id, ch["type"])},
         {"status", ch["status"]},
         {"token", authz["token"]}};
  if (ch.contains("validated")) j["validated"] = ch["validated"];
  if (ch.contains("error")) j["error"] = ch["error"];
  return j;
}

json authz_json(const Service::Ctx& c, const std::string& id, const json& doc, TimePoint now) {
  json chs = json::array();
  for (const auto& ch : doc["challenges"]) chs.push_back(challenge_json(c, id, doc, ch));
  std::string status = doc.value("status", "invalid");
  if (status == "pending" && doc.value("expires_unix", int64_t{0}) <= now.time_since_epoch().count())
    status = "expired";
  json j{{"identifier", doc["identifier"]},
         {"status", status},
         {"expires", doc["expires"]},
         {"challenges", chs}};
  if (doc.value("wildcard", false)) j["wildcard"] = true;
  return j;
}

bool names_allowed(const Provisioner& p, const Identifier& id) {
  if (id.type == "ip") return p.allow_ip;
  if (p.allowed_dns.empty()) return true;
  std::string name = id.value;
  return policy::dns_allowed(name, p.allowed_dns);
}

}  // namespace

void Service::new_order(Ctx& c) {
  ACME_AUTH_KID(c);
  if (c.jws->post_as_get) ACME_FAIL(c, (Problem{"malformed", "newOrder needs a payload", 400}));
  const auto& settings = c.state->settings;
  const json& ids = c.payload.contains("identifiers") ? c.payload["identifiers"] : json();
  if (!ids.is_array() || ids.empty())
    ACME_FAIL(c, (Problem{"malformed", "\"identifiers\" must be a non-empty array", 400}));
  if (settings.max_identifiers_per_order > 0 && ids.size() > settings.max_identifiers_per_order)
    ACME_FAIL(c, (Problem{"rejectedIdentifier",
                          "the order names " + std::to_string(ids.size()) +
                              " identifiers; this server accepts at most " +
                              std::to_string(settings.max_identifiers_per_order) +
                              " per order ([acme] max_identifiers_per_order)",
                          400}));
  if (c.payload.contains("notBefore") || c.payload.contains("notAfter"))
    ACME_FAIL(c, (Problem{"malformed",
                          "notBefore/notAfter are not supported: the provisioner sets the lifetime",
                          400}));
  std::set<Identifier> idents;
  for (const auto& j : ids) {
    auto id = parse_identifier(j);
    if (!id) ACME_FAIL(c, problem_of(id.error()));
    // No challenge could prove control: the validator never dials there.
    if (id->type == "ip") {
      if (auto range = validation::denied_range(settings.validation, id->value))
        ACME_FAIL(c, (Problem{"rejectedIdentifier",
                              "the validator never connects to " + id->value + " (denied range " +
                                  *range + ", [acme] validation_denied_ranges)",
                              400}));
    }
    if (!names_allowed(*c.prov, *id)) {
      ACME_FAIL(c, (Problem{"rejectedIdentifier",
                            "provisioner '" + c.prov->name + "' does not issue for " + id->type +
                                " identifier '" + id->value + "'",
                            400}));
    }
    idents.insert(*id);
  }
  if (backend_.check_names) {
    // Refused now rather than after the client has proven control.
    std::vector<x509::San> sans;
    for (const auto& id : idents)
      sans.push_back({id.type == "ip" ? x509::SanType::kIp : x509::SanType::kDns, id.value});
    if (auto s = backend_.check_names(c.prov->profile, sans); !s)
      ACME_FAIL(c, (Problem{"rejectedIdentifier", s.error().message, 400}));
  }
  const TimePoint now = clock_.now();
  json replaces;
  if (c.payload.contains("replaces")) {
    if (!c.payload["replaces"].is_string())
      ACME_FAIL(c, (Problem{"malformed", "\"replaces\" must be a string", 400}));
    auto rec = find_by_cert_id(c.payload["replaces"].get<std::string>());
    if (!rec) ACME_FAIL(c, problem_of(rec.error()));
    auto owner = rec->owner.find("acme_account");
    if (owner == rec->owner.end() || owner->second != c.account_id)
      ACME_FAIL(c, (Problem{"unauthorized",
                            "\"replaces\" names a certificate this account did not obtain", 403}));
    replaces = c.payload["replaces"];
  }

  const std::string order_id = random_id();
  std::vector<store::AcmeAuthzRow> rows;
  json authz_ids = json::array();
  json ident_json = json::array();
  const TimePoint order_expires = now + settings.order_lifetime;
  const TimePoint authz_expires = now + std::min(settings.authz_lifetime, settings.order_lifetime);
  for (const auto& id : idents) {
    const bool wildcard = id.type == "dns" && id.value.rfind("*.", 0) == 0;
    json chs = json::array();
    std::vector<std::string> types =
        id.type == "ip" ? std::vector<std::string>{"http-01", "tls-alpn-01"}
        : wildcard      ? std::vector<std::string>{"dns-01"}
                        : std::vector<std::string>{"http-01", "dns-01", "tls-alpn-01"};
    for (const auto& t : types) chs.push_back(json{{"type", t}, {"status", "pending"}});
    Identifier shown = id;
    if (wildcard) shown.value = id.value.substr(2);
    json doc{{"status", "pending"},
             {"order", order_id},
             {"account", c.account_id},
             {"identifier", identifier_json(shown)},
             {"wildcard", wildcard},
             {"expires", format_time(authz_expires)},
             {"expires_unix", authz_expires.time_since_epoch().count()},
             {"token", random_id(32)},
             {"challenges", chs}};
    const std::string aid = random_id();
    rows.push_back({aid, doc.dump()});
    authz_ids.push_back(aid);
    ident_json.push_back(identifier_json(id));
  }
  json order{{"status", "pending"},
             {"account", c.account_id},
             {"provisioner", c.prov->name},
             {"identifiers", ident_json},
             {"authorizations", authz_ids},
             {"expires", format_time(order_expires)},
             {"expires_unix", order_expires.time_since_epoch().count()}};
  if (!replaces.is_null()) order["replaces"] = replaces;
  // The rate limits are checked in the same transaction (durable, and shared
  // by every node on the store).
  store::AcmeNewOrder row{order_id, c.account_id, order.dump(), std::move(rows), {}, now};
  for (const auto& id : idents) row.identifiers.push_back(id.type + ":" + id.value);
  const store::AcmeOrderLimits limits{std::chrono::hours(1), settings.orders_per_account_per_hour,
                                      settings.orders_per_identifier_per_hour,
                                      settings.max_pending_orders_per_account};
  if (auto s = store_.acme_insert_order(row, limits); !s) {
    for (const auto& [k, v] : s.error().context)
      if (k == "retry_after") c.res.set_header("Retry-After", v);
    ACME_FAIL(c, problem_of(s.error()));
  }
  c.res.set_header("Location", c.order_url(order_id));
  send_json(c, 201, order_json(c, order_id, order, now));
}

void Service::orders_list(Ctx& c, const std::string& account_id) {
  ACME_AUTH_KID(c);
  if (account_id != c.account_id)
    ACME_FAIL(c, (Problem{"unauthorized", "an account may only list its own orders", 403}));
  auto ids = store_.acme_orders_of(account_id, 1000);
  if (!ids) ACME_FAIL(c, problem_of(ids.error()));
  json urls = json::array();
  for (const auto& id : *ids) urls.push_back(c.order_url(id));
  send_json(c, 200, json{{"orders", urls}});
}

void Service::order(Ctx& c, const std::string& id) {
  ACME_AUTH_KID(c);
  auto row = store_.acme_order(id);
  if (!row) ACME_FAIL(c, problem_of(row.error()));
  json doc = *row ? json::parse((*row)->data, nullptr, false) : json();
  if (!*row || doc.value("account", "") != c.account_id)
    ACME_FAIL(c, (Problem{"malformed", "no order " + c.order_url(id) + " for this account", 404}));
  if (doc.value("status", "") == "processing") c.res.set_header("Retry-After", "1");
  send_json(c, 200, order_json(c, id, doc, clock_.now()));
}

void Service::authz(Ctx& c, const std::string& id) {
  ACME_AUTH_KID(c);
  auto row = store_.acme_authz(id);
  if (!row) ACME_FAIL(c, problem_of(row.error()));
  json doc = *row ? json::parse((*row)->data, nullptr, false) : json();
  if (!*row || doc.value("account", "") != c.account_id)
    ACME_FAIL(c, (Problem{"malformed", "no authorization " + c.authz_url(id) + " for this account",
                          404}));
  if (!c.jws->post_as_get) {
    if (c.payload.value("status", "") != "deactivated")
      ACME_FAIL(c, (Problem{"malformed", "an authorization may only become \"deactivated\"", 400}));
    auto s = store_.acme_transact([&](store::AcmeTxn& t) -> Status {
      HERALD_TRY(auto fresh, t.authz(id));
      if (!fresh) return acme_error(ErrorCode::kInternal, "authorization vanished", "serverInternal");
      doc = json::parse(fresh->data, nullptr, false);
      if (doc["status"] != "valid" && doc["status"] != "pending")
        return acme_error(ErrorCode::kConflict,
                          "only pending or valid authorizations can be deactivated", "malformed");
      doc["status"] = "deactivated";
      HERALD_TRY_VOID(t.put_authz({id, doc.dump()}));
      HERALD_TRY(auto order_row, t.order(doc["order"]));
      if (!order_row) return {};
      json od = json::parse(order_row->data, nullptr, false);
      if (od["status"] != "pending" && od["status"] != "ready") return {};
      od["status"] = "invalid";
      return t.put_order({order_row->id, od.dump()});
    });
    if (!s) ACME_FAIL(c, problem_of(s.error()));
  }
  send_json(c, 200, authz_json(c, id, doc, clock_.now()));
}

std::mutex& Service::order_lock(const std::string& order_id) {
  return order_locks_[std::hash<std::string>{}(order_id) % order_locks_.size()];
}

void Service::challenge(Ctx& c, const std::string& authz_id, const std::string& type) {
  ACME_AUTH_KID(c);
  auto row = store_.acme_authz(authz_id);
  if (!row) ACME_FAIL(c, problem_of(row.error()));
  json doc = *row ? json::parse((*row)->data, nullptr, false) : json();
  if (!*row || doc.value("account", "") != c.account_id)
    ACME_FAIL(c, (Problem{"malformed", "no challenge " + c.req.path + " for this account", 404}));
  auto find = [&](json& d) -> json* {
    for (auto& ch : d["challenges"])
      if (ch["type"] == type) return &ch;
    return nullptr;
  };
  if (!find(doc)) ACME_FAIL(c, (Problem{"malformed", "no challenge " + c.req.path, 404}));
  c.res.set_header("Link", "<" + c.authz_url(authz_id) + ">;rel=\"up\"");
  bool start = !c.jws->post_as_get;
  if (start) {
    // Read, decide and write in one transaction, so two requests (on any
    // node) cannot both start the challenge.
    const bool skip = c.state->settings.skip_validation;
    auto s = store_.acme_transact([&](store::AcmeTxn& t) -> Status {
      start = false;
      HERALD_TRY(auto fresh, t.authz(authz_id));
      if (!fresh) return acme_error(ErrorCode::kInternal, "authorization vanished", "serverInternal");
      doc = json::parse(fresh->data, nullptr, false);
      json* ch = find(doc);
      const bool expired =
          doc.value("expires_unix", int64_t{0}) <= clock_.now().time_since_epoch().count();
      if (doc["status"] != "pending" || (*ch)["status"] != "pending" || expired) return {};
      (*ch)["status"] = "processing";
      // Validation skipped: decided at once, and the answer shows the result.
      if (skip) return settle(t, doc, authz_id, type, {true, "", ""});
      start = true;
      return t.put_authz({authz_id, doc.dump()});
    });
    if (!s) ACME_FAIL(c, problem_of(s.error()));
  }
  if (start) {
    enqueue(c.account_id, doc.value("order", std::string()),
            [this, authz_id, type] { run_validation(authz_id, type); });
    c.res.set_header("Retry-After", "1");
  }
  send_json(c, 200, challenge_json(c, authz_id, doc, *find(doc)));
}

void Service::run_validation(const std::string& authz_id, const std::string& type) {
  std::shared_ptr<const State> state;
  {
    std::lock_guard lock(state_mu_);
    state = state_;
  }
  auto row = store_.acme_authz(authz_id);
  if (!row || !*row) return;
  json doc = json::parse((*row)->data, nullptr, false);
  auto acct = store_.acme_account(doc["account"]);
  if (!acct || !*acct) return;
  json acct_doc = json::parse((*acct)->data, nullptr, false);
  auto thumb = jwk_thumbprint(acct_doc["jwk"]);
  validation::Outcome out;
  if (!thumb) {
    out = {false, "serverInternal", "the account key cannot be read"};
  } else if (state->settings.skip_validation) {
    out = {true, "", ""};
  } else {
    const std::string ka = key_authorization(doc["token"], *thumb);
    const std::string id_type = doc["identifier"]["type"];
    const std::string value = doc["identifier"]["value"];
    if (type == "http-01")
      out = validation::validate_http01(state->settings.validation, id_type, value,
                                        doc["token"].get<std::string>(), ka);
    else if (type == "tls-alpn-01")
      out = validation::validate_tlsalpn01(state->settings.validation, id_type, value, ka);
    else
      out = validation::validate_dns01(state->settings.validation, value, ka);
  }
  auto s = store_.acme_transact([&](store::AcmeTxn& t) -> Status {
    HERALD_TRY(auto fresh, t.authz(authz_id));
    if (!fresh) return {};
    json current = json::parse(fresh->data, nullptr, false);
    return settle(t, current, authz_id, type, out);
  });
  if (!s)
    std::cerr << "herald serve: ACME: cannot record the result of " << type << " for authorization "
              << authz_id << ": " << s.error().describe() << "\n";
}

Status Service::settle(store::AcmeTxn& t, json& doc, const std::string& authz_id,
                      const std::string& type, const validation::Outcome& out) {
  bool decided = false;
  for (auto& ch : doc["challenges"]) {
    if (ch["type"] != type || ch["status"] != "processing") continue;
    decided = true;
    if (out.valid) {
      ch["status"] = "valid";
      ch["validated"] = format_time(clock_.now());
    } else {
      ch["status"] = "invalid";
      ch["error"] = problem_json({out.error_type, out.detail, 400});
    }
  }
  if (!decided) return {};  // decided meanwhile
  doc["status"] = out.valid ? "valid" : "invalid";
  HERALD_TRY_VOID(t.put_authz({authz_id, doc.dump()}));
  // The order follows its authorizations.
  HERALD_TRY(auto order_row, t.order(doc["order"]));
  if (!order_row) return {};
  json od = json::parse(order_row->data, nullptr, false);
  if (od["status"] != "pending") return {};
  if (!out.valid) {
    od["status"] = "invalid";
    od["error"] = problem_json({out.error_type, out.detail, 400});
    return t.put_order({order_row->id, od.dump()});
  }
  for (const auto& aid : od["authorizations"]) {
    if (aid == authz_id) continue;
    HERALD_TRY(auto other, t.authz(aid));
    if (!other || json::parse(other->data, nullptr, false).value("status", "") != "valid")
      return {};
  }
  od["status"] = "ready";
  return t.put_order({order_row->id, od.dump()});
}

// ---------------------------------------------------------------- finalize, certificates

void Service::finalize(Ctx& c, const std::string& id) {
  ACME_AUTH_KID(c);
  if (c.jws->post_as_get) ACME_FAIL(c, (Problem{"malformed", "finalize needs a payload", 400}));
  std::lock_guard lock(order_lock(id));
  auto row = store_.acme_order(id);
  if (!row) ACME_FAIL(c, problem_of(row.error()));
  json doc = *row ? json::parse((*row)->data, nullptr, false) : json();
  if (!*row || doc.value("account", "") != c.account_id)
    ACME_FAIL(c, (Problem{"malformed", "no order " + c.order_url(id) + " for this account", 404}));
  const TimePoint now = clock_.now();
  const std::string status = current_status(doc, now);
  if (status != "ready") {
    ACME_FAIL(c, (Problem{"orderNotReady",
                          "the order is " + status +
                              (status == "pending" ? ": complete its authorizations first" : ""),
                          403}));
  }
  if (!c.payload.contains("csr") || !c.payload["csr"].is_string())
    ACME_FAIL(c, (Problem{"malformed", "finalize needs \"csr\" (base64url DER)", 400}));
  auto der = base64url_decode(c.payload["csr"].get<std::string>());
  if (!der) ACME_FAIL(c, (Problem{"badCSR", "\"csr\" is not base64url", 400}));
  auto csr = x509::parse_csr(*der);
  if (!csr) ACME_FAIL(c, (Problem{"badCSR", csr.error().message, 400}));
  // RFC 8555 §11.1: the certificate's key must not be the account's key.
  if (same_key(*csr, account_key(c.account["jwk"])))
    ACME_FAIL(c, (Problem{"badCSR",
                          "the CSR's public key is this account's key; a certificate must have "
                          "its own key (RFC 8555 §11.1)",
                          400}));
  // The CSR must name exactly the order's identifiers (CN included).
  policy::IssueRequest probe;
  probe.profile = c.prov->profile;
  probe.common_name = csr->common_name;
  probe.sans = csr->requested_sans;
  auto sans = policy::effective_sans(probe);
  if (!sans) ACME_FAIL(c, (Problem{"badCSR", sans.error().message, 400}));
  std::set<Identifier> in_csr, in_order;
  for (const auto& s : *sans) {
    if (s.type == x509::SanType::kDns) in_csr.insert({"dns", s.value});
    else if (s.type == x509::SanType::kIp) in_csr.insert({"ip", s.value});
    else ACME_FAIL(c, (Problem{"badCSR", "the CSR asks for " + s.to_string() +
                                             ", which is not an ACME identifier", 400}));
  }
  for (const auto& j : doc["identifiers"]) in_order.insert({j["type"], j["value"]});
  if (in_csr != in_order) {
    std::string extra, missing;
    for (const auto& i : in_csr)
      if (!in_order.count(i)) extra += (extra.empty() ? "" : ", ") + i.value;
    for (const auto& i : in_order)
      if (!in_csr.count(i)) missing += (missing.empty() ? "" : ", ") + i.value;
    ACME_FAIL(c, (Problem{"badCSR",
                          "the CSR's names must equal the order's identifiers" +
                              (extra.empty() ? "" : "; not in the order: " + extra) +
                              (missing.empty() ? "" : "; missing: " + missing),
                          400}));
  }
  store::Labels owner{{"provisioner", c.prov->name},
                      {"acme_account", c.account_id},
                      {"acme_order", id}};
  // The certificate and the order's "valid" commit together (one fsync).
  json valid = doc;
  valid["status"] = "valid";
  const std::string ready_data = (*row)->data;
  auto record = [&](const store::CertRecord& r) -> Status {
    valid["certificate"] = r.serial.hex();
    auto s = store_.acme_finalize_order(r, store::AcmeRow{id, valid.dump()}, ready_data);
    if (!s && s.error().code == ErrorCode::kConflict)  // another node finalized it first
      return acme_error(ErrorCode::kConflict, "the order is no longer ready: it was finalized meanwhile",
                        "orderNotReady");
    return s;
  };
  auto issued = backend_.issue(*csr, c.prov->profile, c.prov->ttl, owner, record);
  if (!issued) {
    auto p = problem_of(issued.error(), "badCSR");
    if (p.type == "malformed") p.type = "badCSR";
    ACME_FAIL(c, p);
  }
  doc = std::move(valid);
  c.res.set_header("Location", c.order_url(id));
  send_json(c, 200, order_json(c, id, doc, now));
}

void Service::certificate(Ctx& c, const std::string& serial_hex) {
  ACME_AUTH_KID(c);
  auto serial = Serial::parse(serial_hex);
  if (!serial) ACME_FAIL(c, (Problem{"malformed", "no certificate " + c.req.path, 404}));
  auto rec = inventory_.find(*serial);
  if (!rec) ACME_FAIL(c, problem_of(rec.error()));
  auto owner = *rec ? (*rec)->owner.find("acme_account") : decltype((*rec)->owner.end()){};
  if (!*rec || owner == (*rec)->owner.end() || owner->second != c.account_id)
    ACME_FAIL(c, (Problem{"malformed", "no certificate " + c.req.path + " for this account", 404}));
  // The DER was built and checked by the issuance pipeline: encode, don't re-parse.
  c.res.status = 200;
  c.res.body = ossl::pem_encode((*rec)->der, "CERTIFICATE") + backend_.chain_pem();
  c.res.set_header("Content-Type", "application/pem-certificate-chain");
}

Result<store::CertRecord> Service::find_by_cert_id(const std::string& cert_id) {
  // RFC 9773 §4.1: base64url(AKI keyIdentifier) "." base64url(serial DER content)
  auto dot = cert_id.find('.');
  auto bad = [&] {
    return acme_error(ErrorCode::kMalformedInput, "'" + cert_id.substr(0, 200) + "' is not an ARI certificate identifier", "malformed");
  };
  if (dot == std::string::npos) return bad();
  auto aki = base64url_decode(cert_id.substr(0, dot));
  auto serial_bytes = base64url_decode(cert_id.substr(dot + 1));
  if (!aki || !serial_bytes || aki->empty() || serial_bytes->empty()) return bad();
  auto serial = Serial::parse(to_hex(*serial_bytes));
  if (!serial) return bad();
  HERALD_TRY(auto rec, inventory_.find(*serial));
  if (!rec) {
    return acme_error(ErrorCode::kNotFound, "no certificate with serial " + serial->hex(), "malformed");
  }
  HERALD_TRY(auto cert, x509::Certificate::from_der(rec->der));
  const ASN1_OCTET_STRING* kid = X509_get0_authority_key_id(&cert.x509());
  if (!kid || static_cast<size_t>(ASN1_STRING_length(kid)) != aki->size() ||
      !std::equal(aki->begin(), aki->end(), ASN1_STRING_get0_data(kid))) {
    return acme_error(ErrorCode::kNotFound, "the certificate identifier's AKI does not match", "malformed");
  }
  return std::move(*rec);
}

void Service::renewal_info(Ctx& c, const std::string& cert_id) {
  auto rec = find_by_cert_id(cert_id);
  if (!rec) {
    auto p = problem_of(rec.error());
    if (rec.error().code == ErrorCode::kNotFound) p.status = 404;
    ACME_FAIL(c, p);
  }
  const TimePoint now = clock_.now();
  TimePoint start, end;
  if (rec->status == store::CertStatus::kRevoked) {
    // Renew now.
    start = now - std::chrono::hours(1);
    end = now;
  } else {
    // From when it was issued: notBefore is backdated (clock skew), which
    // would open a short certificate's window before it even existed.
    const TimePoint from = std::clamp(rec->issued_at, rec->not_before, rec->not_after);
    auto life = rec->not_after - from;
    start = from + life * 2 / 3;
    end = from + life * 5 / 6;
  }
  c.res.set_header("Retry-After", "21600");
  send_json(c, 200,
            json{{"suggestedWindow", {{"start", format_time(start)}, {"end", format_time(end)}}}});
}

void Service::revoke_cert(Ctx& c) {
  if (auto p = check_envelope(c, *nonces_)) ACME_FAIL(c, *p);
  if (c.jws->post_as_get) ACME_FAIL(c, (Problem{"malformed", "revokeCert needs a payload", 400}));
  if (!c.payload.contains("certificate") || !c.payload["certificate"].is_string())
    ACME_FAIL(c, (Problem{"malformed", "revokeCert needs \"certificate\" (base64url DER)", 400}));
  auto der = base64url_decode(c.payload["certificate"].get<std::string>());
  if (!der) ACME_FAIL(c, (Problem{"malformed", "\"certificate\" is not base64url", 400}));
  auto cert = x509::Certificate::from_der(*der);
  if (!cert) ACME_FAIL(c, (Problem{"malformed", cert.error().message, 400}));
  auto rec = inventory_.find(cert->serial());
  if (!rec) ACME_FAIL(c, problem_of(rec.error()));
  if (!*rec || (*rec)->der != *der)
    ACME_FAIL(c, (Problem{"malformed", "this CA did not issue that certificate", 404}));
  int reason = 0;
  if (c.payload.contains("reason")) {
    if (!c.payload["reason"].is_number_integer())
      ACME_FAIL(c, (Problem{"badRevocationReason", "\"reason\" must be an integer", 400}));
    reason = c.payload["reason"].get<int>();
  }
  // RFC 5280 reasons a subscriber may give (not CA compromise, hold, removeFromCRL, ...).
  if (reason != 0 && reason != 1 && reason != 3 && reason != 4 && reason != 5 && reason != 9)
    ACME_FAIL(c, (Problem{"badRevocationReason",
                          "reason " + std::to_string(reason) + " is not allowed (0, 1, 3, 4, 5, 9)",
                          400}));
  if (c.jws->kid) {
    // Signed by an account: it must be the one that obtained the certificate.
    if (auto p = authenticate_account(c)) ACME_FAIL(c, *p);
    auto owner = (*rec)->owner.find("acme_account");
    if (owner == (*rec)->owner.end() || owner->second != c.account_id)
      ACME_FAIL(c, (Problem{"unauthorized", "this account did not obtain that certificate", 403}));
  } else {
    // Signed by the certificate's own key (RFC 8555 §7.6).
    auto key = jwk_to_key(*c.jws->jwk);
    if (!key) ACME_FAIL(c, problem_of(key.error(), "badPublicKey"));
    if (EVP_PKEY_eq(key->get(), X509_get0_pubkey(&cert->x509())) != 1)
      ACME_FAIL(c, (Problem{"unauthorized", "the JWS key is not the certificate's key", 403}));
    if (auto v = verify_jws_request(*c.jws, **key); !v) ACME_FAIL(c, problem_of(v.error()));
  }
  if ((*rec)->status == store::CertStatus::kRevoked)
    ACME_FAIL(c, (Problem{"alreadyRevoked", "the certificate is already revoked", 400}));
  auto done = backend_.revoke((*rec)->serial, static_cast<x509::RevocationReason>(reason));
  if (!done) ACME_FAIL(c, problem_of(done.error()));
  c.res.status = 200;
}

std::optional<Problem> Service::authenticate_account(Ctx& c) {
  const std::string prefix = c.base + "/acct/";
  if (c.jws->kid->rfind(prefix, 0) != 0)
    return Problem{"accountDoesNotExist", "\"kid\" is not an account of this provisioner", 400};
  c.account_id = c.jws->kid->substr(prefix.size());
  auto row = store_.acme_account(c.account_id);
  if (!row) return Problem{"serverInternal", "the account store is unavailable", 500};
  if (!*row) return Problem{"accountDoesNotExist", "no account " + *c.jws->kid, 400};
  c.account = json::parse((*row)->data, nullptr, false);
  if (c.account.value("provisioner", "") != c.prov->name)
    return Problem{"accountDoesNotExist", "no account " + *c.jws->kid, 400};
  auto key = account_key(c.account["jwk"]);
  if (!key) return Problem{"serverInternal", "the account key cannot be loaded", 500};
  if (auto v = verify_jws_request(*c.jws, *key); !v) return problem_of(v.error());
  // RFC 8555 §7.3.6: requests from a deactivated account get 401 unauthorized.
  if (c.account.value("status", "") != "valid")
    return Problem{"unauthorized", "the account is " + c.account.value("status", "unknown"), 401};
  return std::nullopt;
}

std::shared_ptr<EVP_PKEY> Service::account_key(const json& jwk) {
  // Keyed by the stored JWK itself, so a keyChange (a new JWK) can never find
  // the old key; the account row is still read per request for its status.
  std::string text = jwk.dump();
  {
    std::lock_guard lock(keys_mu_);
    if (auto it = keys_.find(text); it != keys_.end()) return it->second;
  }
  auto key = jwk_to_key(jwk);
  if (!key) return nullptr;
  std::shared_ptr<EVP_PKEY> shared(key->release(), EVP_PKEY_free);
  std::lock_guard lock(keys_mu_);
  if (keys_.size() >= kMaxCachedKeys) keys_.clear();  // a simple bound; refills on demand
  keys_.emplace(std::move(text), shared);
  return shared;
}

}  // namespace herald::acme
