#include "acme/problem.h"

#include <array>

#include "acme/jws.h"

namespace herald::acme {

namespace {

constexpr std::string_view kErrorPrefix = "urn:ietf:params:acme:error:";

// In ProblemType's order (checked below).
constexpr std::array kTable = {
    ProblemSpec{ProblemType::kAccountDoesNotExist, "accountDoesNotExist", 400},
    ProblemSpec{ProblemType::kAlreadyRevoked, "alreadyRevoked", 400},
    ProblemSpec{ProblemType::kBadCsr, "badCSR", 400},
    ProblemSpec{ProblemType::kBadNonce, "badNonce", 400},
    ProblemSpec{ProblemType::kBadPublicKey, "badPublicKey", 400},
    ProblemSpec{ProblemType::kBadRevocationReason, "badRevocationReason", 400},
    ProblemSpec{ProblemType::kBadSignatureAlgorithm, "badSignatureAlgorithm", 400},
    ProblemSpec{ProblemType::kConnection, "connection", 400},
    ProblemSpec{ProblemType::kDns, "dns", 400},
    ProblemSpec{ProblemType::kExternalAccountRequired, "externalAccountRequired", 400},
    ProblemSpec{ProblemType::kIncorrectResponse, "incorrectResponse", 400},
    ProblemSpec{ProblemType::kInvalidContact, "invalidContact", 400},
    ProblemSpec{ProblemType::kMalformed, "malformed", 400},
    ProblemSpec{ProblemType::kOrderNotReady, "orderNotReady", 403},
    ProblemSpec{ProblemType::kRateLimited, "rateLimited", 429},
    ProblemSpec{ProblemType::kRejectedIdentifier, "rejectedIdentifier", 400},
    ProblemSpec{ProblemType::kServerInternal, "serverInternal", 500},
    ProblemSpec{ProblemType::kTls, "tls", 400},
    ProblemSpec{ProblemType::kUnauthorized, "unauthorized", 403},
    ProblemSpec{ProblemType::kUnsupportedContact, "unsupportedContact", 400},
    ProblemSpec{ProblemType::kUnsupportedIdentifier, "unsupportedIdentifier", 400},
    ProblemSpec{ProblemType::kNotFound, "malformed", 404},
    ProblemSpec{ProblemType::kMethodNotAllowed, "malformed", 405},
    ProblemSpec{ProblemType::kUnsupportedMediaType, "malformed", 415},
    ProblemSpec{ProblemType::kKeyInUse, "malformed", 409},
    ProblemSpec{ProblemType::kAccountNotValid, "unauthorized", 401},
};

constexpr bool table_in_order() {
  for (size_t i = 0; i < kTable.size(); ++i)
    if (static_cast<size_t>(kTable[i].type) != i) return false;
  return kTable.back().type == ProblemType::kAccountNotValid;  // the last enumerator
}
static_assert(table_in_order(), "kTable must list every ProblemType in declaration order");

}  // namespace

const ProblemSpec& problem_spec(ProblemType type) { return kTable[static_cast<size_t>(type)]; }

std::optional<ProblemType> parse_problem_type(std::string_view name) {
  for (const auto& row : kTable)
    if (row.name == name) return row.type;
  return std::nullopt;
}

ProblemType problem_type_for(ErrorCode code, ProblemType fallback) {
  // Every code listed (no default): a new ErrorCode must be given its type here.
  switch (code) {
    case ErrorCode::kPolicyViolation:
    case ErrorCode::kForbidden:
      return ProblemType::kRejectedIdentifier;
    case ErrorCode::kBadSignature:
      return ProblemType::kBadCsr;
    case ErrorCode::kMalformedInput:
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kLintFailed:
      return fallback;
    case ErrorCode::kRateLimited:
      return ProblemType::kRateLimited;
    case ErrorCode::kUnauthenticated:
      return ProblemType::kUnauthorized;
    case ErrorCode::kNotFound:
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kConflict:
    case ErrorCode::kBadPassphrase:
    case ErrorCode::kCrypto:
    case ErrorCode::kIo:
    case ErrorCode::kStore:
    case ErrorCode::kInternal:
    case ErrorCode::kNotValid:
      return ProblemType::kServerInternal;
  }
  return ProblemType::kServerInternal;
}

Problem problem_of(const Error& e, ProblemType fallback) {
  for (const auto& [k, v] : e.context) {
    if (k == "acme")
      return {parse_problem_type(v).value_or(ProblemType::kServerInternal), e.message};
  }
  const ProblemType type = problem_type_for(e.code, fallback);
  if (type == ProblemType::kServerInternal)
    return {type, "the server could not complete the request"};
  return {type, e.message};
}

tl::unexpected<Error> acme_error(ErrorCode code, std::string message, ProblemType type) {
  Error e{code, std::move(message), {}};
  e.with("acme", std::string(problem_spec(type).name));
  return tl::unexpected(std::move(e));
}

nlohmann::json problem_json(const Problem& p) {
  nlohmann::json j{{"type", std::string(kErrorPrefix) + std::string(p.name())},
                   {"detail", p.detail},
                   {"status", p.status()}};
  // RFC 8555 §6.2: a badSignatureAlgorithm problem MUST list the accepted algs.
  if (p.type == ProblemType::kBadSignatureAlgorithm) {
    nlohmann::json algs = nlohmann::json::array();
    for (auto a : kAlgorithms) algs.push_back(std::string(a));
    j["algorithms"] = std::move(algs);
  }
  return j;
}

nlohmann::json challenge_error_json(std::string_view type, const std::string& detail) {
  const ProblemType t = parse_problem_type(type).value_or(ProblemType::kServerInternal);
  auto j = problem_json({t, detail});
  j["status"] = problem_spec(ProblemType::kMalformed).status;  // 400, see the header
  return j;
}

}  // namespace herald::acme
