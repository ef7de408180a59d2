// ACME orders and certificates (RFC 8555 §7.4, §7.6; RFC 9773): newOrder
// (identifiers checked with the Backend's `authorize`, rate limits in the
// store), order, an account's orders, finalize (issuance through the
// Backend), certificate download, renewal information and revokeCert.
#include <openssl/x509v3.h>

#include <algorithm>
#include <set>

#include "acme/service_internal.h"
#include "base/encoding.h"
#include "ossl/ossl.h"
#include "policy/rules.h"
#include "x509/certificate.h"
#include "x509/san.h"

namespace herald::acme {

using internal::expires_of;
using internal::fail;
using internal::Identifier;
using internal::identifier_json;
using internal::send_json;
using internal::set_status;
using internal::status_of;

namespace {

// The order's status as a client sees it now (expiry applied).
Result<OrderStatus> order_status_now(const json& doc, TimePoint now) {
  HERALD_TRY(auto stored, status_of<OrderStatus>(doc));
  return order_status_at(stored, expires_of(doc), now);
}

Result<json> order_json(const Service::Ctx& c, const std::string& id, const json& doc,
                        TimePoint now) {
  HERALD_TRY(auto status, order_status_now(doc, now));
  json authzs = json::array();
  for (const auto& a : doc["authorizations"]) authzs.push_back(c.authz_url(a.get<std::string>()));
  json j{{"status", to_string(status)},
         {"expires", doc["expires"]},
         {"identifiers", doc["identifiers"]},
         {"authorizations", authzs},
         {"finalize", c.order_url(id) + "/finalize"}};
  if (doc.contains("certificate")) j["certificate"] = c.cert_url(doc["certificate"]);
  if (doc.contains("error")) j["error"] = doc["error"];
  if (doc.contains("replaces")) j["replaces"] = doc["replaces"];
  return j;
}

void send_order(Service::Ctx& c, int http_status, const std::string& id, const json& doc,
                TimePoint now) {
  auto j = order_json(c, id, doc, now);
  if (!j) return fail(c, problem_of(j.error()));
  send_json(c, http_status, *j);
}

// Whether the CSR's key is `key` (compared as keys, and as SubjectPublicKeyInfo
// DER when the CSR's key was not loaded into OpenSSL).
bool same_key(const x509::Csr& csr, const std::shared_ptr<EVP_PKEY>& key) {
  if (!key) return false;
  if (csr.public_key.pkey) return EVP_PKEY_eq(csr.public_key.pkey.get(), key.get()) == 1;
  auto spki = keys::public_key_of(*key);
  return spki && spki->spki_der == csr.public_key.spki_der;
}

x509::San san_of(const Identifier& id) {
  return {id.type == "ip" ? x509::SanType::kIp : x509::SanType::kDns, id.value};
}

}  // namespace

// ---------------------------------------------------------------- newOrder

std::optional<Problem> Service::authorize_identifiers(const Ctx& c,
                                                      const std::set<Identifier>& idents) {
  if (!backend_.authorize)
    return Problem{ProblemType::kServerInternal, "no authorization is configured for ACME orders"};
  std::vector<x509::San> sans;
  for (const auto& id : idents) sans.push_back(san_of(id));
  auto s = backend_.authorize(c.prov->name, c.prov->profile, sans);
  if (s) return std::nullopt;
  if (s.error().code != ErrorCode::kForbidden && s.error().code != ErrorCode::kPolicyViolation)
    return problem_of(s.error());
  // Refused: the client is told which identifier, found by asking about each
  // alone (only on this path, at most max_identifiers_per_order calls). A
  // refusal of the combination alone keeps the backend's words.
  for (const auto& id : idents) {
    auto one = backend_.authorize(c.prov->name, c.prov->profile, {san_of(id)});
    if (!one)
      return Problem{ProblemType::kRejectedIdentifier,
                     "provisioner '" + c.prov->name + "' does not issue for " + id.type +
                         " identifier '" + id.value + "': " + one.error().message};
  }
  return Problem{ProblemType::kRejectedIdentifier, s.error().message};
}

void Service::new_order(Ctx& c) {
  if (auto p = authenticate_kid(c)) return fail(c, *p);
  if (c.jws->post_as_get) return fail(c, {ProblemType::kMalformed, "newOrder needs a payload"});
  const auto& settings = c.state->settings;
  const json& ids = c.payload.contains("identifiers") ? c.payload["identifiers"] : json();
  if (!ids.is_array() || ids.empty())
    return fail(c, {ProblemType::kMalformed, "\"identifiers\" must be a non-empty array"});
  if (settings.max_identifiers_per_order > 0 && ids.size() > settings.max_identifiers_per_order)
    return fail(c, {ProblemType::kRejectedIdentifier,
                    "the order names " + std::to_string(ids.size()) +
                        " identifiers; this server accepts at most " +
                        std::to_string(settings.max_identifiers_per_order) +
                        " per order ([acme] max_identifiers_per_order)"});
  if (c.payload.contains("notBefore") || c.payload.contains("notAfter"))
    return fail(c, {ProblemType::kMalformed,
                    "notBefore/notAfter are not supported: the provisioner sets the lifetime"});
  std::set<Identifier> idents;
  for (const auto& j : ids) {
    auto id = internal::parse_identifier(j);
    if (!id) return fail(c, problem_of(id.error()));
    // No challenge could prove control: the validator never dials there.
    if (id->type == "ip") {
      if (auto range = validation::denied_range(settings.validation, id->value))
        return fail(c, {ProblemType::kRejectedIdentifier,
                        "the validator never connects to " + id->value + " (denied range " +
                            *range + ", [acme] validation_denied_ranges)"});
    }
    idents.insert(*id);
  }
  // Refused now rather than after the client has proven control.
  if (auto p = authorize_identifiers(c, idents)) return fail(c, *p);
  const TimePoint now = clock_.now();
  json replaces;
  if (c.payload.contains("replaces")) {
    if (!c.payload["replaces"].is_string())
      return fail(c, {ProblemType::kMalformed, "\"replaces\" must be a string"});
    auto rec = find_by_cert_id(c.payload["replaces"].get<std::string>());
    if (!rec) return fail(c, problem_of(rec.error()));
    auto owner = rec->owner.find("acme_account");
    if (owner == rec->owner.end() || owner->second != c.account_id)
      return fail(c, {ProblemType::kUnauthorized,
                      "\"replaces\" names a certificate this account did not obtain"});
    replaces = c.payload["replaces"];
  }

  const std::string order_id = internal::random_id();
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
    for (const auto& t : types) {
      json ch{{"type", t}};
      set_status(ch, ChallengeStatus::kPending);
      chs.push_back(std::move(ch));
    }
    Identifier shown = id;
    if (wildcard) shown.value = id.value.substr(2);
    json doc{{"order", order_id},
             {"account", c.account_id},
             {"identifier", identifier_json(shown)},
             {"wildcard", wildcard},
             {"expires", format_time(authz_expires)},
             {"expires_unix", authz_expires.time_since_epoch().count()},
             {"token", internal::random_id(32)},
             {"challenges", chs}};
    set_status(doc, AuthzStatus::kPending);
    const std::string aid = internal::random_id();
    rows.push_back({aid, doc.dump()});
    authz_ids.push_back(aid);
    ident_json.push_back(identifier_json(id));
  }
  json order{{"account", c.account_id},
             {"provisioner", c.prov->name},
             {"identifiers", ident_json},
             {"authorizations", authz_ids},
             {"expires", format_time(order_expires)},
             {"expires_unix", order_expires.time_since_epoch().count()}};
  set_status(order, OrderStatus::kPending);
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
    return fail(c, problem_of(s.error()));
  }
  c.res.set_header("Location", c.order_url(order_id));
  send_order(c, 201, order_id, order, now);
}

// ---------------------------------------------------------------- reading orders

void Service::orders_list(Ctx& c, const std::string& account_id) {
  if (auto p = authenticate_kid(c)) return fail(c, *p);
  if (account_id != c.account_id)
    return fail(c, {ProblemType::kUnauthorized, "an account may only list its own orders"});
  auto ids = store_.acme_orders_of(account_id, 1000);
  if (!ids) return fail(c, problem_of(ids.error()));
  json urls = json::array();
  for (const auto& id : *ids) urls.push_back(c.order_url(id));
  send_json(c, 200, json{{"orders", urls}});
}

void Service::order(Ctx& c, const std::string& id) {
  if (auto p = authenticate_kid(c)) return fail(c, *p);
  auto row = store_.acme_order(id);
  if (!row) return fail(c, problem_of(row.error()));
  json doc = *row ? json::parse((*row)->data, nullptr, false) : json();
  if (!*row || doc.value("account", "") != c.account_id)
    return fail(c, {ProblemType::kNotFound, "no order " + c.order_url(id) + " for this account"});
  if (status_of<OrderStatus>(doc) == OrderStatus::kProcessing) c.res.set_header("Retry-After", "1");
  send_order(c, 200, id, doc, clock_.now());
}

// ---------------------------------------------------------------- finalize, certificates

std::mutex& Service::order_lock(const std::string& order_id) {
  return order_locks_[std::hash<std::string>{}(order_id) % order_locks_.size()];
}

void Service::finalize(Ctx& c, const std::string& id) {
  if (auto p = authenticate_kid(c)) return fail(c, *p);
  if (c.jws->post_as_get) return fail(c, {ProblemType::kMalformed, "finalize needs a payload"});
  std::lock_guard lock(order_lock(id));
  auto row = store_.acme_order(id);
  if (!row) return fail(c, problem_of(row.error()));
  json doc = *row ? json::parse((*row)->data, nullptr, false) : json();
  if (!*row || doc.value("account", "") != c.account_id)
    return fail(c, {ProblemType::kNotFound, "no order " + c.order_url(id) + " for this account"});
  const TimePoint now = clock_.now();
  auto status = order_status_now(doc, now);
  if (!status) return fail(c, problem_of(status.error()));
  const auto next = order_finalize(*status);
  if (!next) {
    return fail(
        c, {ProblemType::kOrderNotReady,
            "the order is " + std::string(to_string(*status)) +
                (*status == OrderStatus::kPending ? ": complete its authorizations first" : "")});
  }
  if (!c.payload.contains("csr") || !c.payload["csr"].is_string())
    return fail(c, {ProblemType::kMalformed, "finalize needs \"csr\" (base64url DER)"});
  auto der = base64url_decode(c.payload["csr"].get<std::string>());
  if (!der) return fail(c, {ProblemType::kBadCsr, "\"csr\" is not base64url"});
  auto csr = x509::parse_csr(*der);
  if (!csr) return fail(c, {ProblemType::kBadCsr, csr.error().message});
  // RFC 8555 §11.1: the certificate's key must not be the account's key.
  if (same_key(*csr, account_key(c.account["jwk"])))
    return fail(c, {ProblemType::kBadCsr,
                    "the CSR's public key is this account's key; a certificate must have "
                    "its own key (RFC 8555 §11.1)"});
  // The CSR must name exactly the order's identifiers (CN included).
  policy::IssueRequest probe;
  probe.profile = c.prov->profile;
  probe.common_name = csr->common_name;
  probe.sans = csr->requested_sans;
  auto sans = policy::effective_sans(probe);
  if (!sans) return fail(c, {ProblemType::kBadCsr, sans.error().message});
  std::set<Identifier> in_csr, in_order;
  for (const auto& s : *sans) {
    if (s.type == x509::SanType::kDns)
      in_csr.insert({"dns", s.value});
    else if (s.type == x509::SanType::kIp)
      in_csr.insert({"ip", s.value});
    else
      return fail(c, {ProblemType::kBadCsr,
                      "the CSR asks for " + s.to_string() + ", which is not an ACME identifier"});
  }
  for (const auto& j : doc["identifiers"]) in_order.insert({j["type"], j["value"]});
  if (in_csr != in_order) {
    std::string extra, missing;
    for (const auto& i : in_csr)
      if (!in_order.count(i)) extra += (extra.empty() ? "" : ", ") + i.value;
    for (const auto& i : in_order)
      if (!in_csr.count(i)) missing += (missing.empty() ? "" : ", ") + i.value;
    return fail(c,
                {ProblemType::kBadCsr, "the CSR's names must equal the order's identifiers" +
                                           (extra.empty() ? "" : "; not in the order: " + extra) +
                                           (missing.empty() ? "" : "; missing: " + missing)});
  }
  store::Labels owner{
      {"provisioner", c.prov->name}, {"acme_account", c.account_id}, {"acme_order", id}};
  // The certificate and the order's "valid" commit together (one fsync).
  json valid = doc;
  set_status(valid, *next);
  const std::string ready_data = (*row)->data;
  auto record = [&](const store::CertRecord& r) -> Status {
    valid["certificate"] = r.serial.hex();
    auto s = store_.acme_finalize_order(r, store::AcmeRow{id, valid.dump()}, ready_data);
    if (!s && s.error().code == ErrorCode::kConflict)  // another node finalized it first
      return acme_error(ErrorCode::kConflict,
                        "the order is no longer ready: it was finalized meanwhile",
                        ProblemType::kOrderNotReady);
    return s;
  };
  auto issued = backend_.issue(*csr, c.prov->profile, c.prov->ttl, owner, record);
  if (!issued) {
    auto p = problem_of(issued.error(), ProblemType::kBadCsr);
    // A malformed request here is a CSR the pipeline refused.
    if (p.type == ProblemType::kMalformed) p.type = ProblemType::kBadCsr;
    return fail(c, p);
  }
  doc = std::move(valid);
  c.res.set_header("Location", c.order_url(id));
  send_order(c, 200, id, doc, now);
}

void Service::certificate(Ctx& c, const std::string& serial_hex) {
  if (auto p = authenticate_kid(c)) return fail(c, *p);
  auto serial = Serial::parse(serial_hex);
  if (!serial) return fail(c, {ProblemType::kNotFound, "no certificate " + c.req.path});
  auto rec = inventory_.find(*serial);
  if (!rec) return fail(c, problem_of(rec.error()));
  auto owner = *rec ? (*rec)->owner.find("acme_account") : decltype((*rec)->owner.end()){};
  if (!*rec || owner == (*rec)->owner.end() || owner->second != c.account_id)
    return fail(c, {ProblemType::kNotFound, "no certificate " + c.req.path + " for this account"});
  // The DER was built and checked by the issuance pipeline: encode, don't re-parse.
  c.res.status = 200;
  c.res.body = ossl::pem_encode((*rec)->der, "CERTIFICATE") + backend_.chain_pem();
  c.res.set_header("Content-Type", "application/pem-certificate-chain");
}

// ---------------------------------------------------------------- renewal information

Result<store::CertRecord> Service::find_by_cert_id(const std::string& cert_id) {
  // RFC 9773 §4.1: base64url(AKI keyIdentifier) "." base64url(serial DER content)
  auto dot = cert_id.find('.');
  auto bad = [&] {
    return acme_error(ErrorCode::kMalformedInput,
                      "'" + cert_id.substr(0, 200) + "' is not an ARI certificate identifier",
                      ProblemType::kMalformed);
  };
  if (dot == std::string::npos) return bad();
  auto aki = base64url_decode(cert_id.substr(0, dot));
  auto serial_bytes = base64url_decode(cert_id.substr(dot + 1));
  if (!aki || !serial_bytes || aki->empty() || serial_bytes->empty()) return bad();
  auto serial = Serial::parse(to_hex(*serial_bytes));
  if (!serial) return bad();
  HERALD_TRY(auto rec, inventory_.find(*serial));
  if (!rec) {
    return acme_error(ErrorCode::kNotFound, "no certificate with serial " + serial->hex(),
                      ProblemType::kMalformed);
  }
  HERALD_TRY(auto cert, x509::Certificate::from_der(rec->der));
  const ASN1_OCTET_STRING* kid = X509_get0_authority_key_id(&cert.x509());
  if (!kid || static_cast<size_t>(ASN1_STRING_length(kid)) != aki->size() ||
      !std::equal(aki->begin(), aki->end(), ASN1_STRING_get0_data(kid))) {
    return acme_error(ErrorCode::kNotFound, "the certificate identifier's AKI does not match",
                      ProblemType::kMalformed);
  }
  return std::move(*rec);
}

void Service::renewal_info(Ctx& c, const std::string& cert_id) {
  auto rec = find_by_cert_id(cert_id);
  if (!rec) {
    auto p = problem_of(rec.error());
    // Unknown here is a missing resource (in newOrder's "replaces", a malformed request).
    if (rec.error().code == ErrorCode::kNotFound) p.type = ProblemType::kNotFound;
    return fail(c, p);
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

// ---------------------------------------------------------------- revokeCert

void Service::revoke_cert(Ctx& c) {
  if (auto p = check_envelope(c)) return fail(c, *p);
  // Who signed comes first (and spends the nonce): an account by "kid", or
  // the certificate's key by "jwk" (RFC 8555 §7.6), compared below.
  ossl::EvpPkeyPtr jwk_key;  // the "jwk" signer's key
  if (c.jws->kid) {
    if (auto p = authenticate_account(c)) return fail(c, *p);
  } else {
    auto key = jwk_to_key(*c.jws->jwk);
    if (!key) return fail(c, problem_of(key.error(), ProblemType::kBadPublicKey));
    if (auto p = verify_signature(c, **key)) return fail(c, *p);
    jwk_key = std::move(*key);
  }
  if (c.jws->post_as_get) return fail(c, {ProblemType::kMalformed, "revokeCert needs a payload"});
  if (!c.payload.contains("certificate") || !c.payload["certificate"].is_string())
    return fail(c, {ProblemType::kMalformed, "revokeCert needs \"certificate\" (base64url DER)"});
  auto der = base64url_decode(c.payload["certificate"].get<std::string>());
  if (!der) return fail(c, {ProblemType::kMalformed, "\"certificate\" is not base64url"});
  auto cert = x509::Certificate::from_der(*der);
  if (!cert) return fail(c, {ProblemType::kMalformed, cert.error().message});
  auto rec = inventory_.find(cert->serial());
  if (!rec) return fail(c, problem_of(rec.error()));
  if (!*rec || (*rec)->der != *der)
    return fail(c, {ProblemType::kNotFound, "this CA did not issue that certificate"});
  int reason = 0;
  if (c.payload.contains("reason")) {
    if (!c.payload["reason"].is_number_integer())
      return fail(c, {ProblemType::kBadRevocationReason, "\"reason\" must be an integer"});
    reason = c.payload["reason"].get<int>();
  }
  // RFC 5280 reasons a subscriber may give (not CA compromise, hold, removeFromCRL, ...).
  if (reason != 0 && reason != 1 && reason != 3 && reason != 4 && reason != 5 && reason != 9)
    return fail(c, {ProblemType::kBadRevocationReason,
                    "reason " + std::to_string(reason) + " is not allowed (0, 1, 3, 4, 5, 9)"});
  if (c.jws->kid) {
    // Signed by an account: it must be the one that obtained the certificate.
    auto owner = (*rec)->owner.find("acme_account");
    if (owner == (*rec)->owner.end() || owner->second != c.account_id)
      return fail(c, {ProblemType::kUnauthorized, "this account did not obtain that certificate"});
  } else {
    // Signed by the certificate's own key.
    if (EVP_PKEY_eq(jwk_key.get(), X509_get0_pubkey(&cert->x509())) != 1)
      return fail(c, {ProblemType::kUnauthorized, "the JWS key is not the certificate's key"});
  }
  if ((*rec)->status == store::CertStatus::kRevoked)
    return fail(c, {ProblemType::kAlreadyRevoked, "the certificate is already revoked"});
  auto done = backend_.revoke((*rec)->serial, static_cast<x509::RevocationReason>(reason));
  if (!done) return fail(c, problem_of(done.error()));
  c.res.status = 200;
}

}  // namespace herald::acme
