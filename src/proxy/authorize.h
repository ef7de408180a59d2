#pragma once
// Which verified clients a route lets through. Pure: the identity and the
// path go in, a decision with its reason comes out (unit-tested for every
// rule). Checked after the chain verified and revocation was checked.
//
// Identity lists, any match allows (as ghostunnel's --allow-* flags):
//   allow_spiffe  SPIFFE IDs: exact, or ending in "/*": any ID under that
//                 path ("spiffe://td/ns/*" allows spiffe://td/ns/a and
//                 spiffe://td/ns/a/b, not spiffe://td/ns or spiffe://td/nsx/a)
//   allow_uri     URI SANs: exact, or ending in "*": that prefix
//   allow_dns     DNS SANs: exact, or "*.example.com": one label under it
//   allow_o/ou    an exact subject O / OU value
// Every list empty: any client the trust bundle verifies is allowed. One
// list set: deny by default.
// allow_issuer, when set, must match too (AND): a CA of the verified path
// other than the leaf, by SHA-256 fingerprint (hex, any case, ':' allowed)
// or exact subject (RFC 2253), e.g. to accept one partner's CA on one
// route while the trust bundle holds several.

#include <string>
#include <vector>

#include "proxy/identity.h"

namespace herald::proxy {

struct Rules {
  std::vector<std::string> allow_spiffe, allow_uri, allow_dns, allow_o, allow_ou, allow_issuer;
  [[nodiscard]] bool identity_lists_empty() const {
    return allow_spiffe.empty() && allow_uri.empty() && allow_dns.empty() && allow_o.empty() &&
           allow_ou.empty();
  }
};

// kInvalidArgument naming the bad pattern (a wildcard elsewhere than
// allowed, an empty entry, a SPIFFE pattern not starting spiffe://).
[[nodiscard]] Status check_rules(const Rules& r);

struct CaRef {
  std::string subject;
  std::string fingerprint;  // lowercase hex
};

struct Decision {
  bool allow = false;
  std::string reason;  // "not_allowed" | "issuer_not_allowed"
  std::string detail;  // which names were presented / what was expected
  std::string matched; // the entry that allowed it ("any" when no list is set)
};

[[nodiscard]] Decision authorize(const Identity& id, const std::vector<CaRef>& cas,
                                 const Rules& r);

[[nodiscard]] bool spiffe_matches(const std::string& pattern, const std::string& id);
[[nodiscard]] bool dns_matches(const std::string& pattern, const std::string& name);

}  // namespace herald::proxy
