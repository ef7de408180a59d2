#pragma once
// What the ACME service's files share (service.cc, account.cc, order.cc,
// authorization.cc): one request's context, answers, identifiers and the
// typed "status" of stored documents. Not an interface of the module: only
// those files include it.

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "acme/jws.h"
#include "acme/problem.h"
#include "acme/service.h"
#include "acme/status.h"

namespace herald::acme {

using json = nlohmann::json;

// One request: what routing found, and what authentication established.
struct Service::Ctx {
  const net::Request& req;
  net::Response& res;
  std::shared_ptr<const State> state;
  const Provisioner* prov = nullptr;
  std::string base;  // https://host/acme/<provisioner>
  std::string url;   // this request's URL
  // Set by check_envelope():
  std::optional<JwsRequest> jws;
  json payload;  // null for POST-as-GET
  // Set by authenticate_account():
  std::string account_id;
  json account;  // the account document

  [[nodiscard]] std::string account_url(const std::string& id) const {
    return base + "/acct/" + id;
  }
  [[nodiscard]] std::string order_url(const std::string& id) const { return base + "/order/" + id; }
  [[nodiscard]] std::string authz_url(const std::string& id) const { return base + "/authz/" + id; }
  [[nodiscard]] std::string chall_url(const std::string& authz, const std::string& type) const {
    return base + "/chall/" + authz + "/" + type;
  }
  [[nodiscard]] std::string cert_url(const std::string& serial) const {
    return base + "/cert/" + serial;
  }
};

namespace internal {

// `bytes` random bytes, base64url ("" if the RNG fails).
[[nodiscard]] std::string random_id(size_t bytes = 16);

// A JSON answer with a success status (200, 201).
void send_json(Service::Ctx& c, int status, const json& body);
// A problem+json answer; handlers end with `return fail(c, ...)`.
void fail(Service::Ctx& c, const Problem& p);

// An identifier as (type, value), normalised: DNS lowercased, IPs canonical.
struct Identifier {
  std::string type;  // "dns" or "ip"
  std::string value;
  auto operator<=>(const Identifier&) const = default;
};
[[nodiscard]] json identifier_json(const Identifier& id);
// A client's {"type", "value"}: rejectedIdentifier for a malformed name or
// address, unsupportedIdentifier for another type.
[[nodiscard]] Result<Identifier> parse_identifier(const json& j);

// The "status" of a stored document (status.h); serverInternal for a
// document without one Herald knows (the store holds something it did not
// write), never a crash.
template <typename S>
[[nodiscard]] Result<S> status_of(const json& doc) {
  std::optional<S> parsed;
  if (doc.is_object()) {
    auto it = doc.find("status");
    if (it != doc.end() && it->is_string())
      parsed = parse<S>(it->template get_ref<const std::string&>());
  }
  if (!parsed)
    return acme_error(ErrorCode::kStore, "a stored ACME object has an unknown status",
                      ProblemType::kServerInternal);
  return *parsed;
}
template <typename S>
void set_status(json& doc, S status) {
  doc["status"] = std::string(to_string(status));
}

// A stored order's or authorization's expiry ("expires_unix").
[[nodiscard]] TimePoint expires_of(const json& doc);

}  // namespace internal
}  // namespace herald::acme
