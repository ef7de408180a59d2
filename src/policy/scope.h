#pragma once
// Which names a caller may be certified for. Every entry point (CLI, REST
// with a bearer or one-time token, renewal over mTLS, ACME finalize) hands
// the issuance pipeline the limits of its caller, and check_request()
// applies them here, in one place, to every name the certificate will carry:
// each SAN, by type, and the subject's common name.
//
// The common name (any profile):
//   form    at most 64 printable ASCII characters; no control character or
//           NUL, none of the DN specials , + = " \ < > ; and no leading '#'
//           or space, no trailing space (relying parties print and parse
//           DNs: nginx $ssl_client_s_dn, Kubernetes, LDAP filters)
//   server  copied into the SANs (effective_sans), so it is a DNS name or IP
//           checked like every other SAN
//   spiffe  empty, or exactly the certificate's SPIFFE ID (never a host name,
//           so no TLS client can match it as one)
//   client  empty, equal to one of the certificate's SANs, or (for a scoped
//           caller) matching one of the scope's `cns` patterns
//
// A scope (a provisioner's allowed_dns / allowed_ips / allowed_uris /
// allowed_cn) is all-or-nothing per name type: once any list is set, a name
// type whose list is empty is not allowed at all.

#include <string>
#include <vector>

#include "base/error.h"
#include "policy/config.h"
#include "policy/profile.h"
#include "x509/san.h"

namespace herald::policy {

struct NameScope {
  std::string owner;        // who is limited, for errors: "provisioner 'ci-web'"
  bool restricted = false;  // false: the profile policy alone decides
  std::vector<std::string> dns;  // DNS patterns (dns_allowed syntax); also e-mail domains
  std::vector<IpRange> ips;
  std::vector<std::string> uris;  // exact, or a prefix ending in '*'
  std::vector<std::string> cns;   // client common names: exact, or with one '*' (any run)

  // A scope from a provisioner's lists (restricted when any list is set).
  [[nodiscard]] static NameScope of(std::string owner, std::vector<std::string> dns,
                                    std::vector<IpRange> ips, std::vector<std::string> uris,
                                    std::vector<std::string> cns);
};

// What a caller brings to the pipeline besides the request.
struct Caller {
  const NameScope* scope = nullptr;               // the provisioner's; null: none
  const std::vector<std::string>* named = nullptr;  // a one-time token's exact names
};

// The CN's form and its profile rule (see the top of this file).
// kPolicyViolation naming the rule ("profile.client.cn", ...).
[[nodiscard]] Status check_common_name(Profile profile, const std::string& cn,
                                       const std::vector<x509::San>& sans);

// The scope's rules for every name (SANs as they will be issued, and the CN).
// kForbidden naming the scope's owner and the refused name.
[[nodiscard]] Status check_scope(const NameScope& scope, Profile profile, const std::string& cn,
                                 const std::vector<x509::San>& sans);

// A one-time token names exactly what may be certified: the CN (if any) and
// every SAN must be among `names`. kForbidden otherwise.
[[nodiscard]] Status check_named(const std::vector<std::string>& names, const std::string& cn,
                                 const std::vector<x509::San>& sans);

// True if `cn` matches `pattern`: exact, or one '*' standing for any run.
[[nodiscard]] bool cn_pattern_matches(std::string_view pattern, std::string_view cn);

}  // namespace herald::policy
