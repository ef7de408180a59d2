#include "base/error.h"

#include <array>

namespace herald {
namespace {

// Exit codes: distinct per code, from 64 (sysexits.h range, then 79-80 for the
// API-only classes), never 77 (CTest and automake read 77 as "skipped").
// docs/cli.md lists them.
constexpr std::array<ErrorMapping, 17> kMappings{{
    {ErrorCode::kInvalidArgument, "invalid-argument", 64, 400},
    {ErrorCode::kMalformedInput, "malformed-input", 65, 400},
    {ErrorCode::kNotFound, "not-found", 66, 404},
    {ErrorCode::kBadSignature, "bad-signature", 67, 400},
    {ErrorCode::kPolicyViolation, "policy-violation", 68, 403},
    {ErrorCode::kLintFailed, "lint-failed", 69, 422},
    {ErrorCode::kInternal, "internal", 70, 500},
    {ErrorCode::kCrypto, "crypto", 71, 500},
    {ErrorCode::kAlreadyExists, "already-exists", 73, 409},
    {ErrorCode::kIo, "io", 74, 500},
    {ErrorCode::kConflict, "conflict", 75, 409},
    {ErrorCode::kStore, "store", 76, 503},
    {ErrorCode::kBadPassphrase, "bad-passphrase", 78, 500},
    {ErrorCode::kUnauthenticated, "unauthenticated", 72, 401},
    {ErrorCode::kForbidden, "forbidden", 79, 403},
    {ErrorCode::kRateLimited, "rate-limited", 80, 429},
    {ErrorCode::kNotValid, "not-valid", 81, 422},
}};

}  // namespace

const ErrorMapping& error_mapping(ErrorCode code) {
  for (const auto& m : kMappings) {
    if (m.code == code) return m;
  }
  return kMappings[6];  // internal
}

std::string_view error_name(ErrorCode code) { return error_mapping(code).name; }

std::string Error::describe() const {
  std::string out = message;
  if (!context.empty()) {
    out += " (";
    for (size_t i = 0; i < context.size(); ++i) {
      if (i) out += ", ";
      out += context[i].first + "=" + context[i].second;
    }
    out += ")";
  }
  return out;
}

}  // namespace herald
