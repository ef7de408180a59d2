#pragma once
// Subject alternative names (RFC 5280 §4.2.1.6) as Herald accepts them:
// "dns:NAME", "ip:ADDR", "uri:URI", "email:ADDR".

#include <string>
#include <string_view>
#include <vector>

#include "base/encoding.h"
#include "base/error.h"
#include "ossl/ossl.h"

namespace herald::x509 {

enum class SanType { kDns, kIp, kUri, kEmail };

struct San {
  SanType type;
  std::string value;                            // DNS lowercased; IP in canonical text form
  [[nodiscard]] std::string to_string() const;  // "dns:example.com"
  bool operator==(const San&) const = default;
};

// "dns:x" etc. Validates syntax: LDH labels (wildcard only as a whole leftmost
// label), IPv4/IPv6 literals, absolute URIs, addr-spec e-mails.
[[nodiscard]] Result<San> parse_san(std::string_view text);
// A comma-separated list, as --san takes it.
[[nodiscard]] Result<std::vector<San>> parse_san_list(std::string_view text);
[[nodiscard]] Result<San> make_san(SanType type, std::string_view value);

[[nodiscard]] bool is_valid_dns_name(std::string_view name, bool allow_wildcard);
// Raw 4 or 16 octets of an IP literal; empty if not one.
[[nodiscard]] Bytes ip_octets(std::string_view text);

[[nodiscard]] Result<ossl::GeneralNamesPtr> to_general_names(const std::vector<San>& sans);
// The SANs of a GENERAL_NAMES (types other than the four are skipped).
[[nodiscard]] std::vector<San> from_general_names(const GENERAL_NAMES& names);

}  // namespace herald::x509
