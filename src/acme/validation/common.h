#pragma once
// Private to acme/validation: argument checks, address resolution and the
// wording of outcomes, shared by the three challenge types.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

#include "acme/validation/dns.h"
#include "acme/validation/validator.h"

namespace herald::acme::validation::detail {

struct IpAddress {
  int family = 0;  // AF_INET or AF_INET6
  std::array<uint8_t, 16> bytes{};
  size_t size = 0;   // 4 or 16
  std::string text;  // canonical (inet_ntop)
};
[[nodiscard]] std::optional<IpAddress> parse_ip(std::string_view text);

// LDH host name: labels of 1-63 letters, digits and inner hyphens, at most
// 253 bytes, no trailing dot.
[[nodiscard]] bool is_host_name(std::string_view name);
[[nodiscard]] bool is_base64url(std::string_view s);
// "<base64url>.<base64url>".
[[nodiscard]] bool is_key_authorization(std::string_view s);

// What to dial: a checked identifier.
struct Target {
  bool is_ip = false;
  std::string host;  // lowercased domain, or the canonical IP text
  std::optional<IpAddress> ip;
};
// "malformed" Outcome for a bad type or value.
[[nodiscard]] tl::expected<Target, Outcome> check_identifier(std::string_view identifier_type,
                                                             std::string_view identifier,
                                                             std::string_view challenge);

// "example.com", "192.0.2.1", "[2001:db8::1]" (for Host headers and URLs).
[[nodiscard]] std::string host_for_url(std::string_view host);
// "192.0.2.1:80", "[2001:db8::1]:80".
[[nodiscard]] std::string address_with_port(std::string_view ip, uint16_t port);

// `data` quoted, with bytes outside printable ASCII, '"' and '\\' escaped,
// cut after `max` input bytes ("..." appended).
[[nodiscard]] std::string printable(std::string_view data, size_t max = 128);

// The resolver of Settings, else /etc/resolv.conf's first nameserver.
[[nodiscard]] dns::Endpoint txt_resolver(const Settings& settings);

// The addresses to dial for a host: an IP literal as it is; a name through
// the configured resolver (A then AAAA) or getaddrinfo. IPv4 first, no
// duplicates. Failure is a "dns" Outcome whose detail starts with
// "resolving <host> for <purpose>: ".
[[nodiscard]] tl::expected<std::vector<std::string>, Outcome> resolve(const Settings& settings,
                                                                      std::string_view host,
                                                                      std::string_view purpose);

// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address; others as they are.
[[nodiscard]] IpAddress unmapped(const IpAddress& ip);
// Loopback, "this network", RFC 1918, CGNAT, benchmarking, link-local, ULA.
[[nodiscard]] bool is_internal(const IpAddress& ip);
// The addresses of `addresses` the policy of Settings::denied_ranges lets the
// validator dial: `own` is null for the identifier itself, else the
// identifier's own addresses (for a redirect target). Why each other one was
// refused is appended to `refused` ("; "-separated).
[[nodiscard]] std::vector<std::string> dialable(const Settings& settings,
                                                const std::vector<std::string>& addresses,
                                                const std::vector<std::string>* own,
                                                std::string& refused);

[[nodiscard]] Outcome failure(std::string error_type, std::string detail,
                              std::vector<ValidationRecord> records = {});

}  // namespace herald::acme::validation::detail
