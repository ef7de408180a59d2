#include "acme_client/client.h"

#include <openssl/hmac.h>
#include <strings.h>

#include <algorithm>
#include <thread>

#include "acme/jws.h"
#include "x509/csr.h"
#include "x509/san.h"

namespace herald::acme_client {

using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr auto kRequestTimeout = std::chrono::seconds(30);
// ARI is asked from the agent's pass: a slow answer must not hold it long.
constexpr auto kAriTimeout = std::chrono::seconds(10);

std::string header_of(const net::Response& r, const char* name) {
  for (const auto& [k, v] : r.headers) {
    if (::strcasecmp(k.c_str(), name) == 0) return v;
  }
  return "";
}

AcmeError failure(ErrorCode code, std::string message, bool refused = false) {
  return AcmeError{Error{code, std::move(message), {}}, refused};
}

AcmeError not_refused(Error e) { return AcmeError{std::move(e), false}; }

std::string join(const std::vector<Identifier>& ids) {
  std::string out;
  for (const auto& i : ids) out += (out.empty() ? "" : ", ") + i.describe();
  return out;
}

std::string ms_since(std::chrono::steady_clock::time_point t0) {
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld.%03lld s", static_cast<long long>(ms / 1000),
                static_cast<long long>(ms % 1000));
  return buf;
}

}  // namespace

// ---------------------------------------------------------------- free functions

Result<json> eab_binding(const std::string& kid, const Bytes& hmac_key, const json& account_jwk,
                         const std::string& new_account_url) {
  if (kid.empty() || hmac_key.empty())
    return make_error(ErrorCode::kInvalidArgument,
                      "an External Account Binding needs a key id and an HMAC key");
  const json header = {{"alg", "HS256"}, {"kid", kid}, {"url", new_account_url}};
  const std::string h = header.dump(), p = account_jwk.dump();
  const std::string protected_b64 =
      base64url_encode(std::span(reinterpret_cast<const uint8_t*>(h.data()), h.size()));
  const std::string payload_b64 =
      base64url_encode(std::span(reinterpret_cast<const uint8_t*>(p.data()), p.size()));
  const std::string input = protected_b64 + "." + payload_b64;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), hmac_key.data(), static_cast<int>(hmac_key.size()),
            reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len)) {
    return ossl::error(ErrorCode::kCrypto, "HMAC-SHA256 failed");
  }
  return json{{"protected", protected_b64},
              {"payload", payload_b64},
              {"signature", base64url_encode(std::span<const uint8_t>(mac, len))}};
}

Result<std::vector<Identifier>> identifiers_of_csr(const Bytes& csr_der) {
  HERALD_TRY(auto csr, x509::parse_csr(csr_der));
  std::vector<Identifier> out;
  auto add = [&out](Identifier id) {
    if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(std::move(id));
  };
  if (!csr.common_name.empty()) {
    if (!x509::ip_octets(csr.common_name).empty()) {
      HERALD_TRY(auto san, x509::make_san(x509::SanType::kIp, csr.common_name));
      add({"ip", san.value});
    } else {
      HERALD_TRY(auto san, x509::make_san(x509::SanType::kDns, csr.common_name));
      add({"dns", san.value});
    }
  }
  for (const auto& s : csr.requested_sans) {
    if (s.type == x509::SanType::kDns) {
      add({"dns", s.value});
    } else if (s.type == x509::SanType::kIp) {
      add({"ip", s.value});
    } else {
      return make_error(ErrorCode::kInvalidArgument,
                        "ACME proves DNS names and IP addresses only, not " + s.to_string());
    }
  }
  if (out.empty()) return make_error(ErrorCode::kInvalidArgument, "the CSR names no identifier");
  return out;
}

Result<std::string> account_thumbprint(EVP_PKEY& key) {
  HERALD_TRY(auto jwk, acme::key_to_jwk(key));
  return acme::jwk_thumbprint(jwk);
}

// ---------------------------------------------------------------- Client

Client::Client(std::string directory_url, Transport transport, Sleep sleep, const Clock& clock)
    : directory_url_(std::move(directory_url)),
      transport_(std::move(transport)),
      sleep_(std::move(sleep)),
      clock_(clock) {}

std::chrono::milliseconds Client::Deadline::left() const {
  auto l =
      std::chrono::duration_cast<std::chrono::milliseconds>(at - std::chrono::steady_clock::now());
  return l < 0ms ? 0ms : l;
}

std::chrono::seconds Client::Deadline::request_timeout() const {
  // Whole seconds (what the transport takes), at least 1, at most kRequestTimeout.
  return std::clamp(std::chrono::ceil<std::chrono::seconds>(left()), 1s, kRequestTimeout);
}

AcmeResult<Directory> Client::directory() {
  if (directory_) return *directory_;
  if (auto s = check_url(directory_url_, "the ACME directory"); !s)
    return tl::unexpected(AcmeError{s.error(), true});
  auto r = transport_("GET", directory_url_, {}, "", kRequestTimeout);
  if (!r) {
    return tl::unexpected(failure(
        r.error().code, "ACME directory " + directory_url_ + " unreachable: " + r.error().message));
  }
  if (r->status != 200) {
    return tl::unexpected(failure(
        ErrorCode::kIo, "ACME directory " + directory_url_ + ": HTTP " + std::to_string(r->status),
        r->status >= 400 && r->status < 500 && r->status != 429));
  }
  auto d = parse_directory(r->body);
  if (!d) {
    return tl::unexpected(failure(ErrorCode::kMalformedInput,
                                  "ACME directory " + directory_url_ + ": " + d.error().message,
                                  true));
  }
  directory_ = *d;
  return *d;
}

void Client::take_nonce(const net::Response& r) {
  std::string n = header_of(r, "Replay-Nonce");
  if (valid_nonce(n)) nonce_ = std::move(n);
}

AcmeResult<std::string> Client::nonce(const Deadline& d) {
  if (nonce_) {
    std::string n = std::move(*nonce_);
    nonce_.reset();
    return n;
  }
  HERALD_TRY(auto dir, directory());
  // GET (204) rather than HEAD: the same nonce, and no body to skip (§7.2).
  auto r = transport_("GET", dir.new_nonce, {}, "", d.request_timeout());
  if (!r) return tl::unexpected(failure(r.error().code, "newNonce: " + r.error().message));
  std::string n = header_of(*r, "Replay-Nonce");
  if (!valid_nonce(n)) {
    return tl::unexpected(
        failure(ErrorCode::kMalformedInput,
                "newNonce: HTTP " + std::to_string(r->status) + " without a usable Replay-Nonce"));
  }
  return n;
}

AcmeError Client::problem_error(const std::string& what, const net::Response& r) const {
  auto p = parse_problem(r.body);
  std::string why = p ? p->describe() : "(no problem document: " + clean(r.body, 120) + ")";
  const std::string type = p ? p->acme_type() : "";
  ErrorCode code = r.status >= 500 ? ErrorCode::kIo : ErrorCode::kPolicyViolation;
  if (type == "unauthorized" || type == "externalAccountRequired" ||
      type == "accountDoesNotExist") {
    code = ErrorCode::kUnauthenticated;
  } else if (type == "rateLimited" || r.status == 429) {
    code = ErrorCode::kRateLimited;
  } else if (type == "malformed" || type == "badCSR" || type == "badPublicKey" ||
             type == "badSignatureAlgorithm") {
    code = ErrorCode::kInvalidArgument;
  } else if (type == "serverInternal") {
    code = ErrorCode::kIo;
  }
  const bool refused = r.status >= 400 && r.status < 500 && r.status != 429 &&
                       type != "rateLimited" && type != "badNonce";
  std::string msg = what + " refused (HTTP " + std::to_string(r.status) + "): " + why;
  if (auto ra = parse_retry_after(header_of(r, "Retry-After"), clock_.now());
      ra && code == ErrorCode::kRateLimited)
    msg += " (retry after " + std::to_string(ra->count()) + " s)";
  return failure(code, msg, refused);
}

AcmeResult<net::Response> Client::post(EVP_PKEY& key, const std::string& url,
                                       const std::string& payload, const std::string& what,
                                       const Deadline& d, bool use_jwk) {
  for (int attempt = 0;; ++attempt) {
    if (d.left() <= 0ms) {
      return tl::unexpected(failure(ErrorCode::kIo, what + ": the order's time is up"));
    }
    HERALD_TRY(auto n, nonce(d));
    json header = {{"nonce", n}, {"url", url}};
    if (use_jwk) {
      auto jwk = acme::key_to_jwk(key);
      if (!jwk) return tl::unexpected(not_refused(jwk.error()));
      header["jwk"] = *jwk;
    } else {
      header["kid"] = account_url_;
    }
    auto body = acme::sign_jws_request(header, payload, key);
    if (!body) return tl::unexpected(not_refused(body.error()));
    auto r = transport_("POST", url, {{"Content-Type", "application/jose+json"}}, *body,
                        d.request_timeout());
    if (!r) return tl::unexpected(failure(r.error().code, what + ": " + r.error().message));
    take_nonce(*r);
    if (r->status == 400 && attempt == 0) {
      auto p = parse_problem(r->body);
      if (p && p->acme_type() == "badNonce") continue;  // §6.5: retry with the fresh nonce
    }
    return std::move(*r);
  }
}

void Client::wait_before_poll(const net::Response& r, const Deadline& d, int attempt) {
  std::chrono::milliseconds wait;
  if (auto ra = parse_retry_after(header_of(r, "Retry-After"), clock_.now())) {
    wait = std::clamp<std::chrono::milliseconds>(*ra, 100ms, 30s);
  } else {
    wait = std::min<std::chrono::milliseconds>(250ms * (1 << std::min(attempt, 5)), 5s);
  }
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      d.at - std::chrono::steady_clock::now());
  if (left < wait) wait = std::max(left, 0ms);
  sleep_(wait);
}

AcmeResult<std::string> Client::account(EVP_PKEY& key, const AccountOptions& opts) {
  std::lock_guard lock(mu_);
  auto thumb = account_thumbprint(key);
  if (!thumb) return tl::unexpected(not_refused(thumb.error()));
  if (!account_url_.empty() && account_thumbprint_ == *thumb) return account_url_;
  HERALD_TRY(auto dir, directory());
  Deadline d{std::chrono::steady_clock::now() + 60s};
  auto jwk = acme::key_to_jwk(key);
  if (!jwk) return tl::unexpected(not_refused(jwk.error()));
  if (dir.external_account_required && !opts.eab_kid) {
    return tl::unexpected(
        failure(ErrorCode::kUnauthenticated,
                "the ACME server requires an External Account Binding: configure "
                "eab_kid and eab_hmac_key_file (--acme-eab-kid, --acme-eab-hmac-key-file)",
                true));
  }
  auto accept = [&](const net::Response& r) -> AcmeResult<std::string> {
    std::string loc = header_of(r, "Location");
    if (auto s = check_url(loc, "the account's Location"); !s)
      return tl::unexpected(not_refused(s.error()));
    auto st = parse_account_status(r.body);
    if (!st) return tl::unexpected(not_refused(st.error()));
    if (*st != AcmeStatus::kValid) {
      return tl::unexpected(
          failure(ErrorCode::kUnauthenticated,
                  "the ACME account " + loc + " is " + std::string(status_name(*st)), true));
    }
    account_url_ = loc;
    account_thumbprint_ = *thumb;
    return loc;
  };
  if (opts.eab_kid) {
    // A binding key makes one account: once it exists, find it without the binding.
    auto r = post(key, dir.new_account, json{{"onlyReturnExisting", true}}.dump(), "newAccount", d,
                  true);
    if (!r) return tl::unexpected(r.error());
    if (r->status == 200) return accept(*r);
    auto p = parse_problem(r->body);
    if (!p || p->acme_type() != "accountDoesNotExist")
      return tl::unexpected(problem_error("newAccount", *r));
  }
  json payload = {{"termsOfServiceAgreed", true}};
  if (opts.email) payload["contact"] = json::array({"mailto:" + *opts.email});
  if (opts.eab_kid) {
    auto b = eab_binding(*opts.eab_kid, opts.eab_hmac_key, *jwk, dir.new_account);
    if (!b) return tl::unexpected(not_refused(b.error()));
    payload["externalAccountBinding"] = *b;
  }
  auto r = post(key, dir.new_account, payload.dump(), "newAccount", d, true);
  if (!r) return tl::unexpected(r.error());
  if (r->status != 200 && r->status != 201) return tl::unexpected(problem_error("newAccount", *r));
  return accept(*r);
}

AcmeResult<std::string> Client::obtain(EVP_PKEY& account_key, const AccountOptions& opts,
                                       const Bytes& csr_der, Solver& solver,
                                       std::chrono::seconds order_timeout, const LogFn& log) {
  const auto t0 = std::chrono::steady_clock::now();
  auto ids = identifiers_of_csr(csr_der);
  if (!ids) return tl::unexpected(AcmeError{ids.error(), true});
  HERALD_TRY(auto kid, account(account_key, opts));
  std::lock_guard lock(mu_);
  const Deadline d{t0 + order_timeout};
  HERALD_TRY(auto dir, directory());
  const std::string names = join(*ids);

  // newOrder.
  json idents = json::array();
  for (const auto& i : *ids) idents.push_back({{"type", i.type}, {"value", i.value}});
  HERALD_TRY(auto r, post(account_key, dir.new_order, json{{"identifiers", idents}}.dump(),
                          "newOrder for " + names, d));
  if (r.status != 201) return tl::unexpected(problem_error("newOrder for " + names, r));
  const std::string order_url = header_of(r, "Location");
  if (auto s = check_url(order_url, "the order's Location"); !s)
    return tl::unexpected(not_refused(s.error()));
  auto order = parse_order(r.body);
  if (!order) return tl::unexpected(not_refused(order.error()));
  log("ACME order " + order_url + " for " + names + " (account " + kid + ")");

  // The authorizations, and the challenge of our type in each.
  auto thumb = account_thumbprint(account_key);
  if (!thumb) return tl::unexpected(not_refused(thumb.error()));
  struct Pending {
    std::string authz_url;
    Identifier id;
    std::string challenge_url;
    bool respond = false;
  };
  std::vector<Pending> pending;
  std::vector<ChallengeTask> tasks;
  for (const auto& url : order->authorizations) {
    HERALD_TRY(auto ar, post(account_key, url, "", "the authorization " + url, d));
    if (ar.status != 200) return tl::unexpected(problem_error("the authorization " + url, ar));
    auto a = parse_authorization(ar.body);
    if (!a) return tl::unexpected(not_refused(a.error()));
    const std::string who = "authorization for " + a->identifier.describe();
    if (a->status == AcmeStatus::kValid) {
      log(who + " is already valid");
      continue;
    }
    if (a->status != AcmeStatus::kPending) {
      return tl::unexpected(failure(ErrorCode::kPolicyViolation,
                                    who + " is " + std::string(status_name(a->status)), true));
    }
    const Challenge* ch = nullptr;
    std::string offered;
    for (const auto& c : a->challenges) {
      offered += (offered.empty() ? "" : ", ") + c.type;
      if (c.type == solver.type() && !ch) ch = &c;
    }
    if (!ch) {
      return tl::unexpected(failure(ErrorCode::kPolicyViolation,
                                    "the CA offers no " + solver.type() + " challenge for " +
                                        a->identifier.describe() + " (it offers: " + offered + ")",
                                    true));
    }
    Pending p{url, a->identifier, ch->url, ch->status == AcmeStatus::kPending};
    if (ch->status == AcmeStatus::kInvalid) {
      return tl::unexpected(failure(ErrorCode::kPolicyViolation,
                                    who + ": its " + ch->type + " challenge is invalid" +
                                        (ch->error ? ": " + ch->error->describe() : ""),
                                    false));
    }
    if (p.respond) {
      tasks.push_back(
          {a->identifier, a->wildcard, ch->token, key_authorization(ch->token, *thumb)});
    }
    pending.push_back(std::move(p));
  }

  // Prove control; whatever happens next, undo it.
  struct CleanupGuard {
    Solver& s;
    const LogFn& log;
    bool armed = true;
    void run() {
      if (!armed) return;
      armed = false;
      if (auto c = s.cleanup(); !c)
        log("cleaning up " + s.type() + " failed: " + c.error().message);
    }
    ~CleanupGuard() { run(); }
  } guard{solver, log};
  if (!tasks.empty()) {
    if (auto s = solver.present(tasks); !s) return tl::unexpected(not_refused(s.error()));
    std::string which;
    for (const auto& t : tasks) which += (which.empty() ? "" : ", ") + t.identifier.describe();
    log(solver.describe() + ": ready for " + which);
  }
  for (const auto& p : pending) {
    if (!p.respond) continue;
    HERALD_TRY(auto cr,
               post(account_key, p.challenge_url, "{}", "the challenge for " + p.id.describe(), d));
    if (cr.status != 200)
      return tl::unexpected(problem_error("the challenge for " + p.id.describe(), cr));
  }
  for (const auto& p : pending) {
    const std::string who = "authorization for " + p.id.describe();
    for (int attempt = 0;; ++attempt) {
      HERALD_TRY(auto ar, post(account_key, p.authz_url, "", who, d));
      if (ar.status != 200) return tl::unexpected(problem_error(who, ar));
      auto a = parse_authorization(ar.body);
      if (!a) return tl::unexpected(not_refused(a.error()));
      if (a->status == AcmeStatus::kValid) {
        log(who + " is valid (" + solver.type() + ")");
        break;
      }
      if (a->status == AcmeStatus::kInvalid) {
        std::string why;
        for (const auto& c : a->challenges) {
          if (c.error && (why.empty() || c.type == solver.type())) why = c.error->describe();
        }
        return tl::unexpected(failure(ErrorCode::kPolicyViolation,
                                      who + " is invalid" + (why.empty() ? "" : ": " + why),
                                      false));
      }
      if (a->status != AcmeStatus::kPending) {
        return tl::unexpected(failure(ErrorCode::kPolicyViolation,
                                      who + " is " + std::string(status_name(a->status)), false));
      }
      if (d.left() <= 0ms) {
        return tl::unexpected(
            failure(ErrorCode::kIo, "timed out after " + std::to_string(order_timeout.count()) +
                                        " s waiting for the " + who + " (still pending)"));
      }
      wait_before_poll(ar, d, attempt);
    }
  }
  guard.run();

  // Ready (the order may lag its authorizations), finalize, valid.
  auto poll_order = [&](Order o, const net::Response& last, AcmeStatus want) -> AcmeResult<Order> {
    net::Response prev = last;
    for (int attempt = 0;; ++attempt) {
      if (o.status == want || o.status == AcmeStatus::kValid) return o;
      if (o.status == AcmeStatus::kInvalid) {
        return tl::unexpected(failure(
            ErrorCode::kPolicyViolation,
            "the order for " + names + " is invalid" + (o.error ? ": " + o.error->describe() : ""),
            false));
      }
      if (d.left() <= 0ms) {
        return tl::unexpected(
            failure(ErrorCode::kIo, "timed out after " + std::to_string(order_timeout.count()) +
                                        " s waiting for the order for " + names + " (" +
                                        std::string(status_name(o.status)) + ")"));
      }
      wait_before_poll(prev, d, attempt);
      HERALD_TRY(auto orr, post(account_key, order_url, "", "the order " + order_url, d));
      if (orr.status != 200) return tl::unexpected(problem_error("the order " + order_url, orr));
      auto parsed = parse_order(orr.body);
      if (!parsed) return tl::unexpected(not_refused(parsed.error()));
      o = std::move(*parsed);
      prev = std::move(orr);
    }
  };
  if (order->status != AcmeStatus::kReady) {
    HERALD_TRY(auto orr, post(account_key, order_url, "", "the order " + order_url, d));
    if (orr.status != 200) return tl::unexpected(problem_error("the order " + order_url, orr));
    auto parsed = parse_order(orr.body);
    if (!parsed) return tl::unexpected(not_refused(parsed.error()));
    HERALD_TRY(order, poll_order(std::move(*parsed), orr, AcmeStatus::kReady));
  }
  if (order->status == AcmeStatus::kReady) {
    const json fin = {{"csr", base64url_encode(csr_der)}};
    HERALD_TRY(auto fr, post(account_key, order->finalize, fin.dump(), "finalize for " + names, d));
    if (fr.status != 200) return tl::unexpected(problem_error("finalize for " + names, fr));
    auto parsed = parse_order(fr.body);
    if (!parsed) return tl::unexpected(not_refused(parsed.error()));
    HERALD_TRY(order, poll_order(std::move(*parsed), fr, AcmeStatus::kValid));
  }
  if (!order->certificate) {
    return tl::unexpected(
        failure(ErrorCode::kMalformedInput, "the order for " + names + " has no certificate URL"));
  }

  // The certificate (POST-as-GET), PEM chain.
  HERALD_TRY(auto cr, post(account_key, *order->certificate, "",
                           "the certificate " + *order->certificate, d));
  if (cr.status != 200)
    return tl::unexpected(problem_error("the certificate " + *order->certificate, cr));
  const std::string ctype = header_of(cr, "Content-Type");
  if (!ctype.starts_with("application/pem-certificate-chain") ||
      cr.body.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return tl::unexpected(
        failure(ErrorCode::kMalformedInput, "the certificate " + *order->certificate +
                                                " is not a PEM chain (Content-Type '" +
                                                clean(ctype, 80) + "')"));
  }
  log("ACME order " + order_url + " valid, certificate " + *order->certificate + " (" +
      ms_since(t0) + ")");
  return cr.body;
}

AcmeResult<std::optional<RenewalInfo>> Client::renewal_info(const Bytes& cert_der) {
  std::lock_guard lock(mu_);
  const TimePoint now = clock_.now();
  // The agent asks at every pass: a directory that cannot be fetched is not
  // asked for again for a minute (a dead CA must not stall every pass).
  if (directory_error_ && now < directory_error_->first)
    return tl::unexpected(directory_error_->second);
  auto dir = directory();
  if (!dir) {
    directory_error_.emplace(now + 60s, dir.error());
    return tl::unexpected(dir.error());
  }
  directory_error_.reset();
  if (!dir->renewal_info) return std::optional<RenewalInfo>{};
  auto id = ari_cert_id_of(cert_der);
  if (!id) return tl::unexpected(AcmeError{id.error(), true});
  for (auto it = ari_.begin(); it != ari_.end();)
    it = it->second.until <= now ? ari_.erase(it) : std::next(it);
  if (ari_.size() > 1000) ari_.clear();
  if (auto it = ari_.find(*id); it != ari_.end()) {
    if (it->second.error) return tl::unexpected(*it->second.error);
    return it->second.info;
  }
  std::string url = *dir->renewal_info;
  if (!url.ends_with("/")) url += "/";
  url += *id;
  auto r = transport_("GET", url, {}, "", kAriTimeout);
  AriEntry e;
  if (!r) {
    e.error = failure(r.error().code, "renewalInfo " + url + ": " + r.error().message);
  } else if (r->status != 200) {
    e.error = failure(ErrorCode::kIo, "renewalInfo " + url + ": HTTP " + std::to_string(r->status) +
                                          (r->status >= 400 ? ": " + clean(r->body, 200) : ""));
  } else if (auto info = parse_renewal_info(r->body); !info) {
    e.error =
        failure(ErrorCode::kMalformedInput, "renewalInfo " + url + ": " + info.error().message);
  } else {
    e.info = *info;
  }
  if (e.error) {
    e.until = now + 60s;
  } else {
    auto ra = parse_retry_after(header_of(*r, "Retry-After"), now).value_or(std::chrono::hours(6));
    e.until = now + std::clamp<std::chrono::seconds>(ra, 60s, std::chrono::hours(24));
  }
  ari_[*id] = e;
  if (e.error) return tl::unexpected(*e.error);
  return e.info;
}

}  // namespace herald::acme_client
