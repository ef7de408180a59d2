#pragma once
// Issuance policy: a request either satisfies every configured rule or is
// refused with kPolicyViolation naming the rule it broke (e.g.
// "policy.server.allowed_dns"), before anything is built or recorded.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "keys/key_type.h"
#include "policy/config.h"
#include "policy/profile.h"
#include "policy/scope.h"
#include "x509/csr.h"
#include "x509/san.h"

namespace herald::policy {

// kPolicyViolation "policy violation (RULE): WHAT", with context rule=RULE.
[[nodiscard]] tl::unexpected<Error> violation(const std::string& rule, const std::string& what);

struct IssueRequest {
  Profile profile = Profile::kServer;
  std::string common_name;
  std::vector<x509::San> sans;
  std::optional<std::chrono::seconds> ttl;  // nullopt: the profile's default
  keys::KeyInfo key;
  std::optional<x509::SignatureHash> csr_hash;  // set when the key came in a CSR
  bool requests_ca = false;
  Caller caller;  // the caller's name limits (scope, one-time token names)
};

// The SAN list a certificate of this profile gets: the request's SANs, plus
// the CN for server certificates (as a DNS name, or an IP if it is one),
// without duplicates.
[[nodiscard]] Result<std::vector<x509::San>> effective_sans(const IssueRequest& req);

// True if `name` is allowed by one of the patterns (see ProfileRules).
[[nodiscard]] bool dns_allowed(std::string_view name, const std::vector<std::string>& patterns);

// The name rules alone (allowed_dns, allowed_ips, URI prefixes, no client
// wildcards): what ACME checks at newOrder, before any validation.
[[nodiscard]] Status check_names(const Policy& policy, Profile profile,
                                 const std::vector<x509::San>& sans);

// Checks every rule (profile, key, TTL, names, the CN, and the caller's
// limits: policy/scope.h); returns the effective TTL on success.
[[nodiscard]] Result<std::chrono::seconds> check_request(const Policy& policy,
                                                         const IssueRequest& req,
                                                         const std::vector<x509::San>& sans);

}  // namespace herald::policy
