#pragma once
// What one caller may get. Each provisioner turns an authenticated caller
// into SignOptions (server/provisioners.h: a bearer token, a one-time token,
// a renewal over mTLS, an ACME account; the CLI's operator gets the default,
// which the profile policy alone limits), and the Authority applies them in
// one place, before anything is signed: the profile, every name (SANs by
// type and the CN, policy/scope.h), the lifetime and the labels recorded.
// The model is smallstep's provisioner sign options.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "policy/profile.h"
#include "policy/scope.h"
#include "store/inventory.h"

namespace herald::ca {

struct SignOptions {
  // Recorded on the certificate as the owner label provisioner=NAME, which
  // later decides who may revoke or renew it. Empty: the operator (CLI).
  std::string provisioner;
  // The profiles it may issue; empty: any.
  std::vector<policy::Profile> profiles;
  // Its names on top of the profile policy; unrestricted: the policy alone.
  policy::NameScope scope;
  // Exactly these names and no other (a one-time token's).
  std::optional<std::vector<std::string>> names;
  // The lifetime when the request asks for none (an ACME provisioner's ttl).
  std::optional<std::chrono::seconds> ttl;
  // Labels the pipeline sets on the record, over the caller's own owner
  // labels (renewed_from=SERIAL).
  store::Labels labels;

  [[nodiscard]] bool allows(policy::Profile p) const;
};

}  // namespace herald::ca
