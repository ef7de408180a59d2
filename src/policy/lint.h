#pragma once
// Pre-issuance lint: checks the to-be-signed certificate itself (the built
// X509, not the request) against RFC 5280 basics and the profile, so a bug in
// the builder or the profile cannot reach a signature. Any error-severity
// finding blocks issuance.

#include <string>
#include <vector>

#include "base/error.h"
#include "ossl/ossl.h"
#include "policy/profile.h"

namespace herald::policy {

enum class Severity { kWarning, kError };

struct Finding {
  std::string code;  // "serial.not_positive", "san.missing", ...
  Severity severity = Severity::kError;
  std::string message;  // what was expected and what was found
};

enum class CertKind { kLeaf, kRootCa, kSubordinateCa };

struct LintTarget {
  CertKind kind = CertKind::kLeaf;
  Profile profile = Profile::kServer;  // leaves only
};

[[nodiscard]] std::vector<Finding> lint_certificate(X509& tbs, const LintTarget& target);
// kLintFailed naming every error finding, or success.
[[nodiscard]] Status lint_gate(X509& tbs, const LintTarget& target);

}  // namespace herald::policy
