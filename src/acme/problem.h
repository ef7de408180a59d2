#pragma once
// ACME problems (RFC 8555 §6.7): the one table of the error types Herald's
// ACME server answers with, each with its URN suffix and HTTP status, and
// the mapping from Herald's ErrorCode (base/error.h) to the type used when a
// backend call fails. Handlers name a ProblemType; none spells a type string
// or a status number.
//
// A few rows share a type and differ in their HTTP status (a "malformed"
// request for a resource that does not exist is 404, one with the wrong
// method 405, ...): the row is what a handler means, the type and status
// are what the client sees.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"

namespace herald::acme {

enum class ProblemType {
  // RFC 8555 §6.7 types, at their usual status.
  kAccountDoesNotExist,      // 400
  kAlreadyRevoked,           // 400
  kBadCsr,                   // 400 badCSR
  kBadNonce,                 // 400
  kBadPublicKey,             // 400
  kBadRevocationReason,      // 400
  kBadSignatureAlgorithm,    // 400; the document lists kAlgorithms (RFC 8555 §6.2)
  kConnection,               // 400 (challenge validation)
  kDns,                      // 400 (challenge validation)
  kExternalAccountRequired,  // 400
  kIncorrectResponse,        // 400 (challenge validation)
  kInvalidContact,           // 400
  kMalformed,                // 400
  kOrderNotReady,            // 403
  kRateLimited,              // 429
  kRejectedIdentifier,       // 400
  kServerInternal,           // 500
  kTls,                      // 400 (challenge validation)
  kUnauthorized,             // 403
  kUnsupportedContact,       // 400
  kUnsupportedIdentifier,    // 400
  // The same types at another status.
  kNotFound,              // malformed, 404: no such resource (for this account)
  kMethodNotAllowed,      // malformed, 405: not POST (RFC 8555 §6.3)
  kUnsupportedMediaType,  // malformed, 415: not application/jose+json
  kKeyInUse,              // malformed, 409: keyChange to a key another account has
  kAccountNotValid,       // unauthorized, 401: a deactivated account (RFC 8555 §7.3.6)
};

struct ProblemSpec {
  ProblemType type;
  std::string_view name;  // the URN's last part: "badNonce"
  int status;             // HTTP status
};

// The table's row for `type`.
[[nodiscard]] const ProblemSpec& problem_spec(ProblemType type);

// The type named `name` ("badNonce"; the first row with that name, at its
// usual status); nullopt for a name not in the table.
[[nodiscard]] std::optional<ProblemType> parse_problem_type(std::string_view name);

// The type a failed backend or store call becomes:
//   kPolicyViolation, kForbidden                    rejectedIdentifier
//   kBadSignature                                   badCSR
//   kMalformedInput, kInvalidArgument, kLintFailed  `fallback` (malformed unless said)
//   kRateLimited                                    rateLimited
//   kUnauthenticated                                unauthorized
//   anything else                                   serverInternal
[[nodiscard]] ProblemType problem_type_for(ErrorCode code,
                                           ProblemType fallback = ProblemType::kMalformed);

// One problem document: what a handler means and what went wrong.
struct Problem {
  ProblemType type = ProblemType::kServerInternal;
  std::string detail;

  [[nodiscard]] std::string_view name() const { return problem_spec(type).name; }
  [[nodiscard]] int status() const { return problem_spec(type).status; }
};

// The problem for an error: its "acme" context names the type when it has
// one (the JWS layer tags its errors so, as does acme_error below);
// otherwise problem_type_for(e.code, fallback). A serverInternal problem from
// an untagged error says only that the request could not be completed: the
// error's own message (a database's, OpenSSL's) is not the client's business.
[[nodiscard]] Problem problem_of(const Error& e, ProblemType fallback = ProblemType::kMalformed);

// An error tagged with its ACME problem type, for helpers whose errors end
// up as problems (problem_of reads the tag).
[[nodiscard]] tl::unexpected<Error> acme_error(ErrorCode code, std::string message,
                                               ProblemType type);

// The problem+json document: {"type": "urn:ietf:params:acme:error:<name>",
// "detail", "status"} (and "algorithms" for badSignatureAlgorithm).
[[nodiscard]] nlohmann::json problem_json(const Problem& p);

// A challenge's "error" (RFC 8555 §8): `type` is a validation outcome's
// error_type ("dns", "connection", ...; one not in the table becomes
// serverInternal). Its status is 400 whatever the type: the document
// describes the client's failed answer, not the HTTP exchange that reports
// it (and Herald has always said 400 there).
[[nodiscard]] nlohmann::json challenge_error_json(std::string_view type, const std::string& detail);

}  // namespace herald::acme
