// ACME accounts (RFC 8555 §7.3): newAccount (onlyReturnExisting, External
// Account Binding, a rate limit per source address), account update and
// deactivation, keyChange, and how a kid-signed request is tied to its
// account.
#include <arpa/inet.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "acme/eab.h"
#include "acme/service_internal.h"
#include "base/encoding.h"
#include "obs/log.h"

namespace herald::acme {

using internal::fail;
using internal::send_json;
using internal::set_status;
using internal::status_of;

namespace {

json account_json(const Service::Ctx& c, const std::string& id, const json& doc) {
  return json{{"status", doc["status"]},
              {"contact", doc.value("contact", json::array())},
              {"termsOfServiceAgreed", doc.value("termsOfServiceAgreed", false)},
              {"orders", c.account_url(id) + "/orders"}};
}

std::optional<Problem> check_contacts(const json& contact) {
  if (!contact.is_array()) return Problem{ProblemType::kMalformed, "\"contact\" must be an array"};
  for (const auto& c : contact) {
    if (!c.is_string()) return Problem{ProblemType::kInvalidContact, "contacts must be strings"};
    const std::string s = c;
    if (s.rfind("mailto:", 0) != 0)
      return Problem{ProblemType::kUnsupportedContact, "only mailto: contacts are supported: " + s};
    const std::string addr = s.substr(7);
    auto at = addr.find('@');
    if (at == std::string::npos || at == 0 || at + 1 >= addr.size() ||
        addr.find_first_of(",; \t\r\n<>") != std::string::npos || addr.size() > 254)
      return Problem{ProblemType::kInvalidContact, "'" + s + "' is not a mailto: address"};
  }
  return std::nullopt;
}

// The rate-limit key of a client address: IPv4 as it is (also when mapped
// into IPv6), IPv6 by its /64 (what one subscriber usually gets).
std::string address_key(const std::string& address) {
  unsigned char b[16];
  if (::inet_pton(AF_INET6, address.c_str(), b) != 1) return address;
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  if (std::memcmp(b, kMapped, sizeof kMapped) == 0)
    return std::to_string(b[12]) + "." + std::to_string(b[13]) + "." + std::to_string(b[14]) + "." +
           std::to_string(b[15]);
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
        buckets_.erase(std::min_element(
            buckets_.begin(), buckets_.end(),
            [](const auto& a, const auto& b) { return a.second.last < b.second.last; }));
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

void Service::new_account(Ctx& c) {
  if (auto p = check_envelope(c)) return fail(c, *p);
  if (!c.jws->jwk)
    return fail(c, {ProblemType::kMalformed, "newAccount must be signed with \"jwk\""});
  if (c.jws->post_as_get) return fail(c, {ProblemType::kMalformed, "newAccount needs a payload"});
  auto key = jwk_to_key(*c.jws->jwk);
  if (!key) return fail(c, problem_of(key.error(), ProblemType::kBadPublicKey));
  if (auto p = verify_signature(c, **key)) return fail(c, *p);
  auto thumb = jwk_thumbprint(*c.jws->jwk);
  if (!thumb) return fail(c, problem_of(thumb.error(), ProblemType::kBadPublicKey));
  auto existing = store_.acme_account_by_key(c.prov->name, *thumb);
  if (!existing) return fail(c, problem_of(existing.error()));
  if (*existing) {
    obs::note_request("account", (*existing)->id);  // herald serve's request log
    json doc = json::parse((*existing)->data, nullptr, false);
    auto status = status_of<AccountStatus>(doc);
    if (!status) return fail(c, problem_of(status.error()));
    // RFC 8555 §7.3.6: nothing more is accepted with a deactivated account's key.
    if (*status != AccountStatus::kValid)
      return fail(c, {ProblemType::kAccountNotValid,
                      "the account for this key is " + std::string(to_string(*status))});
    c.res.set_header("Location", c.account_url((*existing)->id));
    return send_json(c, 200, account_json(c, (*existing)->id, doc));
  }
  if (c.payload.value("onlyReturnExisting", false))
    return fail(c, {ProblemType::kAccountDoesNotExist, "no account exists for this key"});
  json contact = c.payload.value("contact", json::array());
  if (auto p = check_contacts(contact)) return fail(c, *p);
  if (c.prov->require_eab && !c.payload.contains("externalAccountBinding")) {
    return fail(c, {ProblemType::kExternalAccountRequired,
                    "provisioner '" + c.prov->name + "' requires External Account Binding"});
  }
  // Accounts cost storage forever: a few per source address and hour.
  const int per_hour = c.state->settings.new_accounts_per_address_per_hour;
  if (auto wait = take_account_token(c.req.remote_address, per_hour)) {
    c.res.set_header("Retry-After", std::to_string(wait->count()));
    return fail(c, {ProblemType::kRateLimited,
                    "too many new accounts from " + c.req.remote_address + ": at most " +
                        std::to_string(per_hour) +
                        " per hour per address ([acme] new_accounts_per_address_per_hour); "
                        "retry in " +
                        std::to_string(wait->count()) + " s"});
  }
  const std::string id = internal::random_id();
  json doc{{"contact", contact},
           {"termsOfServiceAgreed", c.payload.value("termsOfServiceAgreed", false)},
           {"jwk", *c.jws->jwk},
           {"provisioner", c.prov->name},
           {"created", format_time(clock_.now())}};
  set_status(doc, AccountStatus::kValid);
  if (c.payload.contains("externalAccountBinding")) {
    auto binding = parse_eab(c.payload["externalAccountBinding"]);
    if (!binding) return fail(c, problem_of(binding.error()));
    auto eab = store_.acme_eab(binding->kid);
    if (!eab) return fail(c, problem_of(eab.error()));
    if (!*eab || (*eab)->provisioner != c.prov->name)
      return fail(c, {ProblemType::kUnauthorized, "unknown External Account Binding key id"});
    if (!(*eab)->account_id.empty())
      return fail(
          c, {ProblemType::kUnauthorized, "this External Account Binding key is already used"});
    auto hmac_key = base64url_decode((*eab)->hmac_key);
    if (!hmac_key) return fail(c, {ProblemType::kServerInternal, "the stored EAB key is corrupt"});
    if (auto v = verify_eab(*binding, c.base + "/new-account", *c.jws->jwk, *hmac_key); !v)
      return fail(c, problem_of(v.error()));
    doc["eab_kid"] = binding->kid;
    auto s = store_.acme_insert_account_with_eab(id, c.prov->name, *thumb, doc.dump(), clock_.now(),
                                                 binding->kid);
    if (!s && s.error().code == ErrorCode::kConflict)
      return fail(c, {ProblemType::kUnauthorized, s.error().message});
    if (!s) return fail(c, problem_of(s.error()));
  } else if (auto s =
                 store_.acme_insert_account(id, c.prov->name, *thumb, doc.dump(), clock_.now());
             !s) {
    return fail(c, problem_of(s.error()));
  }
  obs::note_request("account", id);  // the account did not exist before this request
  c.res.set_header("Location", c.account_url(id));
  send_json(c, 201, account_json(c, id, doc));
}

void Service::account(Ctx& c, const std::string& id) {
  if (auto p = authenticate_kid(c)) return fail(c, *p);
  if (id != c.account_id)
    return fail(c, {ProblemType::kUnauthorized, "an account may only read or change itself"});
  if (!c.jws->post_as_get) {
    bool changed = false;
    if (c.payload.contains("contact")) {
      if (auto p = check_contacts(c.payload["contact"])) return fail(c, *p);
      c.account["contact"] = c.payload["contact"];
      changed = true;
    }
    if (c.payload.contains("status")) {
      const json& asked = c.payload["status"];
      const auto wanted =
          asked.is_string() ? parse<AccountStatus>(asked.get<std::string>()) : std::nullopt;
      // authenticate_account let only a valid account through.
      const auto next = account_deactivate(AccountStatus::kValid);
      if (wanted != next)
        return fail(
            c, {ProblemType::kMalformed, "an account's status may only become \"deactivated\""});
      set_status(c.account, *next);
      changed = true;
    }
    if (changed) {
      auto thumb = jwk_thumbprint(c.account["jwk"]);
      if (!thumb) return fail(c, problem_of(thumb.error()));
      if (auto s = store_.acme_update_account(id, *thumb, c.account.dump()); !s)
        return fail(c, problem_of(s.error()));
    }
  }
  c.res.set_header("Location", c.account_url(id));
  send_json(c, 200, account_json(c, id, c.account));
}

void Service::key_change(Ctx& c) {
  if (auto p = authenticate_kid(c)) return fail(c, *p);
  if (c.jws->post_as_get) return fail(c, {ProblemType::kMalformed, "keyChange needs a payload"});
  auto inner = parse_jws_request(c.jws->payload_raw, false);
  if (!inner) return fail(c, problem_of(inner.error()));
  if (inner->protected_header.contains("nonce"))
    return fail(c, {ProblemType::kMalformed, "the inner keyChange JWS must not carry a nonce"});
  if (!inner->jwk || inner->kid)
    return fail(c, {ProblemType::kMalformed, "the inner keyChange JWS must carry the new \"jwk\""});
  if (inner->url != c.url)
    return fail(c, {ProblemType::kMalformed, "the inner JWS \"url\" must equal the outer one"});
  auto new_key = jwk_to_key(*inner->jwk);
  if (!new_key) return fail(c, problem_of(new_key.error(), ProblemType::kBadPublicKey));
  // The inner JWS has no nonce of its own (the outer one's was spent).
  if (auto v = verify_jws_request(*inner, **new_key); !v) return fail(c, problem_of(v.error()));
  json p = json::parse(inner->payload_raw, nullptr, false);
  if (!p.is_object() || !p.contains("account") || !p.contains("oldKey"))
    return fail(
        c, {ProblemType::kMalformed, "the keyChange payload needs \"account\" and \"oldKey\""});
  if (p["account"] != *c.jws->kid)
    return fail(c, {ProblemType::kUnauthorized, "\"account\" is not the signing account"});
  auto old_thumb = jwk_thumbprint(p["oldKey"]);
  auto cur_thumb = jwk_thumbprint(c.account["jwk"]);
  if (!old_thumb || !cur_thumb || *old_thumb != *cur_thumb)
    return fail(c, {ProblemType::kUnauthorized, "\"oldKey\" is not the account's current key"});
  auto new_thumb = jwk_thumbprint(*inner->jwk);
  if (!new_thumb) return fail(c, problem_of(new_thumb.error(), ProblemType::kBadPublicKey));
  if (auto other = store_.acme_account_by_key(c.prov->name, *new_thumb); other && *other) {
    c.res.set_header("Location", c.account_url((*other)->id));
    return fail(c, {ProblemType::kKeyInUse, "another account already uses the new key"});
  }
  c.account["jwk"] = *inner->jwk;
  if (auto s = store_.acme_update_account(c.account_id, *new_thumb, c.account.dump()); !s)
    return fail(c, problem_of(s.error()));
  c.res.set_header("Location", c.account_url(c.account_id));
  send_json(c, 200, account_json(c, c.account_id, c.account));
}

// ---------------------------------------------------------------- authentication

std::optional<Problem> Service::authenticate_account(Ctx& c) {
  const std::string prefix = c.base + "/acct/";
  if (c.jws->kid->rfind(prefix, 0) != 0)
    return Problem{ProblemType::kAccountDoesNotExist,
                   "\"kid\" is not an account of this provisioner"};
  c.account_id = c.jws->kid->substr(prefix.size());
  auto row = store_.acme_account(c.account_id);
  if (!row) return Problem{ProblemType::kServerInternal, "the account store is unavailable"};
  if (!*row) return Problem{ProblemType::kAccountDoesNotExist, "no account " + *c.jws->kid};
  c.account = json::parse((*row)->data, nullptr, false);
  if (c.account.value("provisioner", "") != c.prov->name)
    return Problem{ProblemType::kAccountDoesNotExist, "no account " + *c.jws->kid};
  auto key = account_key(c.account["jwk"]);
  if (!key) return Problem{ProblemType::kServerInternal, "the account key cannot be loaded"};
  if (auto p = verify_signature(c, *key)) return p;
  // RFC 8555 §7.3.6: requests from a deactivated account get 401 unauthorized.
  auto status = status_of<AccountStatus>(c.account);
  if (!status) return problem_of(status.error());
  if (*status != AccountStatus::kValid)
    return Problem{ProblemType::kAccountNotValid,
                   "the account is " + std::string(to_string(*status))};
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
