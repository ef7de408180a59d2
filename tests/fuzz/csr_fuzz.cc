// Fuzz target: CSR parsing (PEM or DER), the proof-of-possession check, and
// the name decisions a CSR's CN and SANs go through (policy/scope.h) for
// every profile, scoped and not.
#include <cstdint>
#include <span>

#include "policy/rules.h"
#include "policy/scope.h"
#include "x509/csr.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace herald;
  auto csr = x509::parse_csr(std::span(data, size));
  if (!csr) return 0;
  (void)x509::verify_csr_signature(*csr);
  static const policy::Policy policy = policy::default_policy();
  static const policy::NameScope scope = policy::NameScope::of(
      "provisioner 'fuzz'", {"*.web.internal"}, {*policy::parse_ip_range("10.0.0.0/8")},
      {"spiffe://herald.internal/ns/web/*"}, {"svc-*"});
  for (auto profile : {policy::Profile::kServer, policy::Profile::kClient, policy::Profile::kSpiffe}) {
    policy::IssueRequest req;
    req.profile = profile;
    req.common_name = csr->common_name;
    req.sans = csr->requested_sans;
    req.key = csr->public_key.info;
    auto sans = policy::effective_sans(req);
    if (!sans) continue;
    (void)policy::check_request(policy, req, *sans);
    req.caller.scope = &scope;
    (void)policy::check_request(policy, req, *sans);
    const std::vector<std::string> named{csr->common_name};
    req.caller.named = &named;
    (void)policy::check_request(policy, req, *sans);
  }
  return 0;
}
