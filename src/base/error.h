#pragma once
// Errors are values with reasons (ARCHITECTURE.md, principle 3).
//
// Library code returns herald::Result<T>. An Error carries a typed code, a
// one-line human message and key/value context (never a secret). One table
// (error.cc) maps each code to the CLI exit code, HTTP status and problem type.

#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <utility>
#include <vector>

namespace herald {

enum class ErrorCode {
  kInvalidArgument,  // a flag or value the caller gave is malformed
  kMalformedInput,   // a PEM/DER/CSR/config document could not be parsed
  kBadSignature,     // a signature (e.g. CSR proof of possession) does not verify
  kPolicyViolation,  // the request breaks a configured policy rule
  kLintFailed,       // the to-be-signed certificate failed pre-issuance lint
  kNotFound,         // serial, file or data directory does not exist
  kAlreadyExists,    // refusing to overwrite (hierarchy, output file)
  kConflict,         // state does not allow it (already revoked, ...)
  kBadPassphrase,    // a key could not be decrypted with the passphrase given
  kCrypto,           // OpenSSL failed for another reason
  kIo,               // filesystem error
  kStore,            // database error
  kInternal,         // a bug
  kUnauthenticated,  // API caller without valid credentials
  kForbidden,        // API caller not allowed to do this
  kRateLimited,      // too many requests; retry later
  kNotValid,         // a verified certificate is not valid (herald verify)
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  std::vector<std::pair<std::string, std::string>> context;

  Error& with(std::string key, std::string value) & {
    context.emplace_back(std::move(key), std::move(value));
    return *this;
  }
  Error&& with(std::string key, std::string value) && {
    context.emplace_back(std::move(key), std::move(value));
    return std::move(*this);
  }
  // "message (key=value, key=value)".
  [[nodiscard]] std::string describe() const;
};

template <typename T>
using Result = tl::expected<T, Error>;
using Status = Result<void>;

[[nodiscard]] inline tl::unexpected<Error> make_error(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message), {}});
}

// The one table mapping codes to their outward forms.
struct ErrorMapping {
  ErrorCode code;
  std::string_view name;  // stable identifier, e.g. "policy-violation"
  int exit_code;          // CLI process exit code
  int http_status;        // REST status
};
[[nodiscard]] const ErrorMapping& error_mapping(ErrorCode code);
[[nodiscard]] std::string_view error_name(ErrorCode code);

}  // namespace herald

// Propagate an error: HERALD_TRY(auto x, expr); or HERALD_TRY_VOID(expr);
// HERALD_TRY expands to several statements: never make it the unbraced body
// of an if/else/for.
#define HERALD_CONCAT_(a, b) a##b
#define HERALD_CONCAT(a, b) HERALD_CONCAT_(a, b)
#define HERALD_TRY_IMPL_(tmp, decl, expr)                    \
  auto tmp = (expr);                                         \
  if (!tmp) return ::tl::unexpected(std::move(tmp).error()); \
  decl = std::move(tmp).value()
#define HERALD_TRY(decl, expr) HERALD_TRY_IMPL_(HERALD_CONCAT(herald_try_, __LINE__), decl, expr)
#define HERALD_TRY_VOID(expr)                                                      \
  do {                                                                             \
    auto herald_try_v_ = (expr);                                                   \
    if (!herald_try_v_) return ::tl::unexpected(std::move(herald_try_v_).error()); \
  } while (0)
