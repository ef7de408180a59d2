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
#include "x509/finding.h"

namespace herald::policy {

// The findings type of path verification too (x509/finding.h): codes such
// as "serial.not_positive", "san.missing"; `expected` says the rule.
using Severity = x509::Severity;
using Finding = x509::Finding;

enum class CertKind { kLeaf, kRootCa, kSubordinateCa };

struct LintTarget {
  CertKind kind = CertKind::kLeaf;
  Profile profile = Profile::kServer;  // leaves only
};

[[nodiscard]] std::vector<Finding> lint_certificate(X509& tbs, const LintTarget& target);
// kLintFailed naming every error finding, or success.
[[nodiscard]] Status lint_gate(X509& tbs, const LintTarget& target);

}  // namespace herald::policy
