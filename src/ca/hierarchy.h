#pragma once
// The three-tier hierarchy: an offline root (pathlen 2), a policy
// intermediate (pathlen 1) and the online issuing CA (pathlen 0). Pure:
// generates keys and certificates in memory; datadir/ writes them.

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "keys/key_type.h"
#include "ossl/ossl.h"
#include "x509/certificate.h"

namespace herald::ca {

enum class CaLevel { kRoot, kIntermediate, kIssuing };
[[nodiscard]] std::string_view ca_level_name(CaLevel l);  // "root", "intermediate", "issuing"
[[nodiscard]] Result<CaLevel> parse_ca_level(std::string_view name);
[[nodiscard]] std::string_view ca_profile_name(CaLevel l);  // "root-ca", ...

struct HierarchyOptions {
  std::string organization = "Herald";
  keys::KeyType key_type = keys::KeyType::kEcP256;
  std::chrono::seconds root_ttl = std::chrono::hours(24 * 365 * 20);
  std::chrono::seconds intermediate_ttl = std::chrono::hours(24 * 365 * 10);
  std::chrono::seconds issuing_ttl = std::chrono::hours(24 * 365 * 2);
  std::string base_url;  // "" = no CDP/AIA
};

struct CaMaterial {
  ossl::EvpPkeyPtr key;
  x509::Certificate cert;
};

struct Hierarchy {
  CaMaterial root;
  CaMaterial intermediate;
  CaMaterial issuing;
  std::vector<std::string> warnings;  // e.g. a lifetime clamped to its issuer's
};

// Backdating of notBefore for clock skew (at most 5 minutes).
constexpr std::chrono::seconds kBackdate{300};

[[nodiscard]] Result<Hierarchy> create_hierarchy(const Clock& clock,
                                                 const HierarchyOptions& options);

}  // namespace herald::ca
