#include "base/error.h"

#include <array>

namespace herald {
namespace {

// Exit codes follow sysexits.h where one fits.
constexpr std::array<ErrorMapping, 13> kMappings{{
    {ErrorCode::kInvalidArgument, "invalid-argument", 64, 400},
    {ErrorCode::kMalformedInput, "malformed-input", 65, 400},
    {ErrorCode::kBadSignature, "bad-signature", 65, 400},
    {ErrorCode::kPolicyViolation, "policy-violation", 77, 403},
    {ErrorCode::kLintFailed, "lint-failed", 70, 422},
    {ErrorCode::kNotFound, "not-found", 66, 404},
    {ErrorCode::kAlreadyExists, "already-exists", 73, 409},
    {ErrorCode::kConflict, "conflict", 75, 409},
    {ErrorCode::kBadPassphrase, "bad-passphrase", 77, 500},
    {ErrorCode::kCrypto, "crypto", 70, 500},
    {ErrorCode::kIo, "io", 74, 500},
    {ErrorCode::kStore, "store", 74, 503},
    {ErrorCode::kInternal, "internal", 70, 500},
}};

}  // namespace

const ErrorMapping& error_mapping(ErrorCode code) {
  for (const auto& m : kMappings) {
    if (m.code == code) return m;
  }
  return kMappings.back();
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
