#pragma once
// Herald's configuration file (DIR/herald.toml): CA settings and issuance
// policy. Every key has a safe default; unknown keys and bad values are
// refused with the line and the reason. docs/configuration.md documents it.

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "base/encoding.h"
#include "base/error.h"
#include "policy/profile.h"

namespace herald::policy {

struct IpRange {
  Bytes network;  // 4 or 16 octets, host bits zero
  int prefix = 0;
  std::string text;
  [[nodiscard]] bool contains(const Bytes& ip) const;
};
[[nodiscard]] Result<IpRange> parse_ip_range(std::string_view cidr);

struct ProfileRules {
  std::chrono::seconds default_ttl{0};
  std::chrono::seconds max_ttl{0};
  // DNS name patterns: "name" exact, "*.suffix" one label below suffix,
  // ".suffix" any depth below suffix, "*" anything.
  std::vector<std::string> allowed_dns;
  std::vector<IpRange> allowed_ips;
  std::vector<std::string> allowed_uri_prefixes;
};

struct Policy {
  ProfileRules server;
  ProfileRules client;
  ProfileRules spiffe;
  std::string spiffe_trust_domain = "herald.internal";
  std::vector<std::string> allowed_key_types;  // "rsa", "ec-p256", "ec-p384", "ec-p521", "ed25519"
  int min_rsa_bits = 2048;
  int max_rsa_bits = 8192;
  size_t max_sans = 100;

  // The rules of a requestable profile; for kOcspSigner, rules that allow nothing.
  [[nodiscard]] const ProfileRules& rules(Profile p) const;
};

struct CaSettings {
  std::string organization = "Herald";
  std::string base_url;  // "" = no CDP/AIA URLs in issued certificates
};

struct Config {
  CaSettings ca;
  Policy policy;
};

[[nodiscard]] Policy default_policy();
// Parses TOML text; `source` names the file in error messages.
[[nodiscard]] Result<Config> parse_config(std::string_view toml_text, std::string_view source);
// The commented default file `ca init` writes.
[[nodiscard]] std::string default_config_text(const CaSettings& ca);

}  // namespace herald::policy
