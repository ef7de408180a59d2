#pragma once
// ACME challenge validation (RFC 8555 §8.3 http-01, §8.4 dns-01; RFC 8737
// tls-alpn-01; RFC 8738 IP identifiers): what the ACME server runs, from a
// worker thread, once a client says a challenge is ready.
//
// Every function is synchronous, thread-safe (no shared state: each call
// owns its sockets, io_context and TLS context) and never throws for network
// or peer behaviour: the answer is always an Outcome. `timeout` bounds each
// DNS query and each connection (connect + TLS handshake + request +
// response together), so a peer that accepts and never answers costs at most
// `timeout` per address dialled. The worst case of one call is therefore
// (2 DNS queries + 1 connection) x `timeout` per hop, one hop per redirect.
// With no dns_resolver configured, A/AAAA go through getaddrinfo, whose
// timeouts are the system's (resolv.conf `options timeout/attempts`).
//
// Addresses: dns identifiers are resolved (A then AAAA, IPv4 addresses
// dialled first, in the order received); ip identifiers are dialled as they
// are. The next address is tried only when connecting (TCP) fails; once a
// connection is up its result is final, as Let's Encrypt does.
//
// Input checks (error_type "malformed"): identifier_type must be "dns" or
// "ip"; a dns identifier must be an LDH host name (labels 1-63 bytes of
// letters, digits and inner hyphens, 253 bytes at most, no trailing dot, no
// wildcard: validate the base domain of a wildcard order); an ip identifier
// must be an IPv4 or IPv6 address; the token base64url characters only; the
// key authorization "<base64url>.<base64url>" (token "." thumbprint).

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herald::acme::validation {

// An address range ("169.254.0.0/16", "fe80::/10"; a bare address is /32 or
// /128), host bits cleared.
struct Cidr {
  std::array<uint8_t, 16> bytes{};
  size_t size = 0;  // 4 or 16
  int prefix = 0;
  std::string text;  // canonical: "169.254.0.0/16"
};
[[nodiscard]] std::optional<Cidr> parse_cidr(std::string_view text);

// The default of [acme] validation_denied_ranges: "this network" and the
// unspecified address (connecting there reaches the local host), link-local
// (where cloud metadata services live: 169.254.169.254), multicast and
// broadcast, and the metadata / host-agent addresses outside link-local
// (AWS IPv6, Alibaba Cloud, Azure).
inline constexpr const char* kDefaultDeniedRanges[] = {
    "0.0.0.0/8",         "169.254.0.0/16",  "224.0.0.0/4",       "255.255.255.255/32",
    "100.100.100.200/32", "168.63.129.16/32", "::/128",            "fe80::/10",
    "ff00::/8",          "fd00:ec2::254/128"};
[[nodiscard]] std::vector<Cidr> default_denied_ranges();

struct Settings {
  uint16_t http01_port = 80;
  uint16_t tlsalpn01_port = 443;
  // The only port an https:// redirect of http-01 may name (or imply).
  uint16_t https_port = 443;
  // "HOST", PORT of a recursive resolver used for A/AAAA (http-01,
  // tls-alpn-01) and TXT (dns-01). Unset: getaddrinfo for A/AAAA and the
  // first nameserver of /etc/resolv.conf for TXT.
  std::optional<std::pair<std::string, uint16_t>> dns_resolver;
  std::chrono::milliseconds timeout{10000};  // per connection / per DNS query
  size_t max_body_bytes = 4096;              // http-01 response body cap
  int max_redirects = 10;
  // The address policy (every address dialled for http-01 and tls-alpn-01,
  // after resolution, the identifier's and each redirect target's):
  //  1. an address in a denied range is never dialled (IPv4-mapped IPv6
  //     addresses are judged as the IPv4 address they map);
  //  2. the identifier's own addresses (an ip identifier's address, or what
  //     a dns identifier resolves to) may be internal (loopback, RFC 1918,
  //     CGNAT, ULA...): a private CA validates internal hosts;
  //  3. a redirect target must be a public address, or one of the
  //     identifier's own addresses: a redirect never leads the validator to
  //     another internal host.
  // Addresses refused by 1 or 3 are dropped before dialling; if none is left
  // the outcome names each and why ("rejectedIdentifier" for the identifier
  // itself, "connection" for a redirect).
  std::vector<Cidr> denied_ranges = default_denied_ranges();
};

// The denied range of `settings` holding `address` (its canonical text), or
// nullopt if it is not denied (or not an address).
[[nodiscard]] std::optional<std::string> denied_range(const Settings& settings,
                                                      std::string_view address);

// What was dialled, in the spirit of RFC 8555's validationRecord: one entry
// per connection attempt target (per redirect hop for http-01); for dns-01,
// the name queried and the resolver asked.
struct ValidationRecord {
  std::string url;       // http-01 only: the URL fetched
  std::string hostname;  // the identifier or redirect host; for dns-01 the TXT name
  uint16_t port = 0;     // for dns-01, the resolver's port
  std::vector<std::string> addresses_resolved;  // for dns-01, the resolver's address
  std::string address_used;  // the address that accepted the connection ("" if none did)
};

struct Outcome {
  bool valid = false;
  // RFC 8555 §6.7 problem type without "urn:ietf:params:acme:error:":
  //   "malformed"         the arguments are unusable (see above)
  //   "dns"               resolution failed: NXDOMAIN, SERVFAIL, timeout,
  //                       truncated or unparsable answers, no A/AAAA records
  //   "connection"        no address accepted a connection; timeout or a
  //                       broken HTTP response; too many or refused redirects
  //   "tls"               the TLS handshake failed or no certificate came back
  //   "unauthorized"      http-01: a status other than 200; tls-alpn-01: the
  //                       server does not negotiate acme-tls/1; dns-01: no TXT
  //                       record holds the expected value
  //   "incorrectResponse" http-01: a body that is not the key authorization
  //                       (or over max_body_bytes); tls-alpn-01: a
  //                       certificate without the exact SAN or without the
  //                       critical, matching acmeIdentifier extension
  // Empty when valid.
  std::string error_type;
  // One sentence a person can act on: what was dialled and what came back
  // (peer data is truncated and escaped to printable ASCII; an HTTP response
  // body never appears, only its length). Empty when valid.
  std::string detail;
  std::vector<ValidationRecord> records;
};

// RFC 8555 §8.3: GET http://<identifier>:<http01_port>/.well-known/acme-challenge/<token>
// with "Host: <identifier>" ("[v6]" for IPv6). Redirects (301, 302, 303, 307,
// 308) are followed up to max_redirects times, to http:// on http01_port or
// https:// on https_port only (a missing port means those); https is fetched
// without certificate verification, as RFC 8555 §8.3 allows. A 200 body, with
// trailing whitespace removed, must equal key_authorization.
[[nodiscard]] Outcome validate_http01(const Settings& settings, std::string_view identifier_type,
                                      std::string_view identifier, std::string_view token,
                                      std::string_view key_authorization);

// RFC 8737: TLS (1.2+) to <address>:<tlsalpn01_port>, ALPN exactly
// "acme-tls/1", SNI = the domain or, for an ip identifier (RFC 8738 §6), its
// reverse-DNS name ("1.0.0.127.in-addr.arpa"). The chain is not verified.
// acme-tls/1 must be negotiated; the certificate's subjectAltName must hold
// exactly the identifier (one dNSName, case-insensitively, or one iPAddress)
// and it must carry exactly one id-pe-acmeIdentifier (1.3.6.1.5.5.7.1.31)
// extension, critical, whose value is the DER OCTET STRING of
// SHA-256(key_authorization).
[[nodiscard]] Outcome validate_tlsalpn01(const Settings& settings, std::string_view identifier_type,
                                         std::string_view identifier,
                                         std::string_view key_authorization);

// RFC 8555 §8.4: TXT _acme-challenge.<domain> over UDP (the configured
// resolver, else /etc/resolv.conf's first nameserver); CNAMEs are followed
// only as far as the answer section goes. One record's character-strings,
// concatenated, must equal base64url(SHA-256(key_authorization)) unpadded.
// A truncated (TC) answer is a "dns" error: there is no TCP fallback.
[[nodiscard]] Outcome validate_dns01(const Settings& settings, std::string_view domain,
                                     std::string_view key_authorization);

// The reverse-DNS name of an IP address ("1.0.0.127.in-addr.arpa",
// "...ip6.arpa" with 32 nibbles); empty if `ip` is not an address.
[[nodiscard]] std::string reverse_dns_name(std::string_view ip);

}  // namespace herald::acme::validation
