// ACME authorizations and challenges (RFC 8555 §7.5, §8): reading and
// deactivating an authorization, starting a challenge, the validation queue
// (fair between accounts, bounded per account and order), and how a
// validator's outcome settles the challenge, its authorization and its
// order (status.h's transitions).
#include <iostream>

#include "acme/service_internal.h"
#include "obs/log.h"

namespace herald::acme {

using internal::expires_of;
using internal::fail;
using internal::send_json;
using internal::set_status;
using internal::status_of;

namespace {

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

Result<json> authz_json(const Service::Ctx& c, const std::string& id, const json& doc,
                        TimePoint now) {
  HERALD_TRY(auto stored, status_of<AuthzStatus>(doc));
  json chs = json::array();
  for (const auto& ch : doc["challenges"]) chs.push_back(challenge_json(c, id, doc, ch));
  json j{{"identifier", doc["identifier"]},
         {"status", to_string(authz_status_at(stored, expires_of(doc), now))},
         {"expires", doc["expires"]},
         {"challenges", chs}};
  if (doc.value("wildcard", false)) j["wildcard"] = true;
  return j;
}

// The challenge of `type` in an authorization document, or null.
json* find_challenge(json& doc, const std::string& type) {
  if (!doc.is_object() || !doc.contains("challenges")) return nullptr;
  for (auto& ch : doc["challenges"])
    if (ch["type"] == type) return &ch;
  return nullptr;
}

}  // namespace

// ---------------------------------------------------------------- authorizations

void Service::authz(Ctx& c, const std::string& id) {
  if (auto p = authenticate_kid(c)) return fail(c, *p);
  auto row = store_.acme_authz(id);
  if (!row) return fail(c, problem_of(row.error()));
  json doc = *row ? json::parse((*row)->data, nullptr, false) : json();
  if (!*row || doc.value("account", "") != c.account_id)
    return fail(
        c, {ProblemType::kNotFound, "no authorization " + c.authz_url(id) + " for this account"});
  if (!c.jws->post_as_get) {
    const json& asked = c.payload.contains("status") ? c.payload["status"] : json();
    if (!asked.is_string() ||
        parse<AuthzStatus>(asked.get<std::string>()) != AuthzStatus::kDeactivated)
      return fail(c, {ProblemType::kMalformed, "an authorization may only become \"deactivated\""});
    auto s = store_.acme_transact([&](store::AcmeTxn& t) -> Status {
      HERALD_TRY(auto fresh, t.authz(id));
      if (!fresh)
        return acme_error(ErrorCode::kInternal, "authorization vanished",
                          ProblemType::kServerInternal);
      doc = json::parse(fresh->data, nullptr, false);
      HERALD_TRY(auto status, status_of<AuthzStatus>(doc));
      const auto next = authz_deactivate(status);
      if (!next)
        return acme_error(ErrorCode::kConflict,
                          "only pending or valid authorizations can be deactivated",
                          ProblemType::kMalformed);
      set_status(doc, *next);
      HERALD_TRY_VOID(t.put_authz({id, doc.dump()}));
      // Its order can no longer become (or stay) ready.
      HERALD_TRY(auto order_row, t.order(doc["order"]));
      if (!order_row) return {};
      json od = json::parse(order_row->data, nullptr, false);
      HERALD_TRY(auto order_status, status_of<OrderStatus>(od));
      const auto order_next = order_invalidate(order_status);
      if (!order_next) return {};
      set_status(od, *order_next);
      return t.put_order({order_row->id, od.dump()});
    });
    if (!s) return fail(c, problem_of(s.error()));
  }
  auto j = authz_json(c, id, doc, clock_.now());
  if (!j) return fail(c, problem_of(j.error()));
  send_json(c, 200, *j);
}

// ---------------------------------------------------------------- challenges

void Service::challenge(Ctx& c, const std::string& authz_id, const std::string& type) {
  if (auto p = authenticate_kid(c)) return fail(c, *p);
  auto row = store_.acme_authz(authz_id);
  if (!row) return fail(c, problem_of(row.error()));
  json doc = *row ? json::parse((*row)->data, nullptr, false) : json();
  if (!*row || doc.value("account", "") != c.account_id)
    return fail(c, {ProblemType::kNotFound, "no challenge " + c.req.path + " for this account"});
  if (!find_challenge(doc, type))
    return fail(c, {ProblemType::kNotFound, "no challenge " + c.req.path});
  c.res.set_header("Link", "<" + c.authz_url(authz_id) + ">;rel=\"up\"");
  bool queue = false;
  if (!c.jws->post_as_get) {
    // Read, decide and write in one transaction, so two requests (on any
    // node) cannot both start the challenge.
    const auto validator = c.state->settings.validator;
    auto s = store_.acme_transact([&](store::AcmeTxn& t) -> Status {
      queue = false;
      HERALD_TRY(auto fresh, t.authz(authz_id));
      if (!fresh)
        return acme_error(ErrorCode::kInternal, "authorization vanished",
                          ProblemType::kServerInternal);
      doc = json::parse(fresh->data, nullptr, false);
      json* ch = find_challenge(doc, type);
      if (!ch) return {};
      HERALD_TRY(auto authz_status, status_of<AuthzStatus>(doc));
      HERALD_TRY(auto ch_status, status_of<ChallengeStatus>(*ch));
      // Only a pending challenge of a pending, unexpired authorization
      // starts; otherwise the answer shows it as it is.
      const auto next = challenge_start(ch_status);
      if (!next ||
          authz_status_at(authz_status, expires_of(doc), clock_.now()) != AuthzStatus::kPending)
        return {};
      set_status(*ch, *next);
      // A validator that answers without I/O is asked here, and the answer
      // shows its result; any other validates on the pool.
      if (validator->immediate())
        return settle(t, doc, authz_id, type, validate(*validator, doc, type, c.account["jwk"]));
      queue = true;
      return t.put_authz({authz_id, doc.dump()});
    });
    if (!s) return fail(c, problem_of(s.error()));
  }
  if (queue) {
    enqueue(c.account_id, doc.value("order", std::string()),
            [this, authz_id, type] { run_validation(authz_id, type); });
    c.res.set_header("Retry-After", "1");
  }
  send_json(c, 200, challenge_json(c, authz_id, doc, *find_challenge(doc, type)));
}

validation::Outcome Service::validate(const ChallengeValidator& validator, const json& authz_doc,
                                      const std::string& type, const json& account_jwk) {
  auto thumb = jwk_thumbprint(account_jwk);
  if (!thumb)
    return {false,
            std::string(problem_spec(ProblemType::kServerInternal).name),
            "the account key cannot be read",
            {}};
  const std::string token = authz_doc.value("token", std::string());
  const json id = authz_doc.value("identifier", json::object());
  // RFC 8555 §8.1: the key authorization is the token and the account key's thumbprint.
  const std::string id_type = id.value("type", std::string());
  const std::string id_value = id.value("value", std::string());
  validation::Outcome out =
      validator.validate(type, id_type, id_value, token, token + "." + *thumb);
  // herald serve's log: one line per validation (docs/operations.md, "Logs").
  // The addresses dialled: the one that answered, else those tried.
  std::string dialled;
  size_t n = 0;
  for (const auto& r : out.records) {
    std::vector<std::string> addrs;
    if (!r.address_used.empty()) {
      addrs.push_back(r.address_used);
    } else {
      addrs = r.addresses_resolved;
    }
    for (const auto& a : addrs) {
      if (++n > 16) break;
      if (!dialled.empty()) dialled += ",";
      dialled += a.find(':') != std::string::npos && r.port ? "[" + a + "]" : a;
      if (r.port) dialled += ":" + std::to_string(r.port);
    }
  }
  std::vector<obs::LogField> f{{"identifier", id_value},
                               {"identifier_type", id_type},
                               {"challenge", type},
                               {"outcome", out.valid ? "valid" : "invalid"}};
  if (!dialled.empty()) f.emplace_back("dialled", dialled);
  if (!out.valid) {
    f.emplace_back("error", out.error_type);
    f.emplace_back("detail", out.detail);
  }
  obs::log(out.valid ? obs::LogLevel::kInfo : obs::LogLevel::kWarn, "acme validation", f);
  return out;
}

void Service::run_validation(const std::string& authz_id, const std::string& type) {
  const auto validator = state()->settings.validator;
  auto row = store_.acme_authz(authz_id);
  if (!row || !*row) return;
  json doc = json::parse((*row)->data, nullptr, false);
  auto acct = store_.acme_account(doc.value("account", std::string()));
  if (!acct || !*acct) return;
  json acct_doc = json::parse((*acct)->data, nullptr, false);
  const validation::Outcome out = validate(*validator, doc, type, acct_doc["jwk"]);
  auto s = store_.acme_transact([&](store::AcmeTxn& t) -> Status {
    HERALD_TRY(auto fresh, t.authz(authz_id));
    if (!fresh) return {};
    json current = json::parse(fresh->data, nullptr, false);
    return settle(t, current, authz_id, type, out);
  });
  if (!s) {
    obs::log(obs::LogLevel::kError, "acme: cannot record the result of a validation",
             {{"challenge", type}, {"authorization", authz_id}, {"error", s.error().describe()}});
  }
}

Status Service::settle(store::AcmeTxn& t, json& doc, const std::string& authz_id,
                       const std::string& type, const validation::Outcome& out) {
  json* ch = find_challenge(doc, type);
  if (!ch) return {};
  HERALD_TRY(auto ch_status, status_of<ChallengeStatus>(*ch));
  const auto ch_next = challenge_settle(ch_status, out.valid);
  if (!ch_next) return {};  // no longer processing: decided meanwhile
  set_status(*ch, *ch_next);
  if (out.valid)
    (*ch)["validated"] = format_time(clock_.now());
  else
    (*ch)["error"] = challenge_error_json(out.error_type, out.detail);
  // The authorization follows its challenge, unless it was decided otherwise
  // meanwhile (deactivated by the client, or made valid by another of its
  // challenges): then only the challenge records its result.
  HERALD_TRY(auto authz_status, status_of<AuthzStatus>(doc));
  const auto authz_next = authz_settle(authz_status, out.valid);
  if (authz_next) set_status(doc, *authz_next);
  HERALD_TRY_VOID(t.put_authz({authz_id, doc.dump()}));
  if (!authz_next) return {};
  // The order follows its authorizations: invalid as soon as one fails,
  // ready once every one is valid.
  HERALD_TRY(auto order_row, t.order(doc["order"]));
  if (!order_row) return {};
  json od = json::parse(order_row->data, nullptr, false);
  HERALD_TRY(auto order_status, status_of<OrderStatus>(od));
  if (order_status != OrderStatus::kPending) return {};
  if (!out.valid) {
    set_status(od, *order_invalidate(order_status));
    od["error"] = challenge_error_json(out.error_type, out.detail);
    return t.put_order({order_row->id, od.dump()});
  }
  for (const auto& aid : od["authorizations"]) {
    if (aid == authz_id) continue;
    HERALD_TRY(auto other, t.authz(aid));
    if (!other) return {};
    HERALD_TRY(auto other_status, status_of<AuthzStatus>(json::parse(other->data, nullptr, false)));
    if (other_status != AuthzStatus::kValid) return {};
  }
  set_status(od, *order_ready(order_status));
  return t.put_order({order_row->id, od.dump()});
}

// ---------------------------------------------------------------- the validation queue

void Service::validation_worker() {
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

}  // namespace herald::acme
