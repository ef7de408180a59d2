#include "acme/validation/common.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace herald::acme::validation {

namespace detail {

std::optional<IpAddress> parse_ip(std::string_view text) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  std::string s(text);
  IpAddress ip;
  char buf[INET6_ADDRSTRLEN] = {};
  if (::inet_pton(AF_INET, s.c_str(), ip.bytes.data()) == 1) {
    ip.family = AF_INET;
    ip.size = 4;
  } else if (::inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) == 1) {
    ip.family = AF_INET6;
    ip.size = 16;
  } else {
    return std::nullopt;
  }
  if (!::inet_ntop(ip.family, ip.bytes.data(), buf, sizeof buf)) return std::nullopt;
  ip.text = buf;
  return ip;
}

bool is_host_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    std::string_view label = name.substr(start, dot - start);
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      bool ok =
          (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
      if (!ok) return false;
    }
    start = dot + 1;
  }
  // An all-numeric last label reads as an IPv4 address to some software.
  std::string_view last =
      name.substr(name.rfind('.') == std::string_view::npos ? 0 : name.rfind('.') + 1);
  return !std::all_of(last.begin(), last.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_base64url(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

bool is_key_authorization(std::string_view s) {
  auto dot = s.find('.');
  return dot != std::string_view::npos && is_base64url(s.substr(0, dot)) &&
         is_base64url(s.substr(dot + 1));
}

Outcome failure(std::string error_type, std::string detail, std::vector<ValidationRecord> records) {
  Outcome o;
  o.valid = false;
  o.error_type = std::move(error_type);
  o.detail = std::move(detail);
  o.records = std::move(records);
  return o;
}

tl::expected<Target, Outcome> check_identifier(std::string_view identifier_type,
                                               std::string_view identifier,
                                               std::string_view challenge) {
  const std::string c(challenge);
  if (identifier_type == "ip") {
    auto ip = parse_ip(identifier);
    if (!ip)
      return tl::unexpected(failure(
          "malformed",
          c + ": the ip identifier " + printable(identifier) + " is not an IPv4 or IPv6 address"));
    return Target{true, ip->text, ip};
  }
  if (identifier_type == "dns") {
    if (!is_host_name(identifier))
      return tl::unexpected(failure(
          "malformed", c + ": the dns identifier " + printable(identifier) +
                           " is not a host name (letters, digits and hyphens in dot-separated "
                           "labels; no wildcard, no trailing dot)"));
    std::string host(identifier);
    std::transform(host.begin(), host.end(), host.begin(),
                   [](char ch) { return ch >= 'A' && ch <= 'Z' ? char(ch - 'A' + 'a') : ch; });
    return Target{false, host, std::nullopt};
  }
  return tl::unexpected(failure("malformed", c + ": unsupported identifier type " +
                                                 printable(identifier_type) +
                                                 " (expected \"dns\" or \"ip\")"));
}

std::string host_for_url(std::string_view host) {
  if (host.find(':') != std::string_view::npos) return "[" + std::string(host) + "]";
  return std::string(host);
}

std::string address_with_port(std::string_view ip, uint16_t port) {
  return host_for_url(ip) + ":" + std::to_string(port);
}

std::string printable(std::string_view data, size_t max) {
  std::string out = "\"";
  size_t n = std::min(data.size(), max);
  for (size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(data[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c > 0x7E) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  if (data.size() > max) out += "...";
  return out;
}

dns::Endpoint txt_resolver(const Settings& settings) {
  if (settings.dns_resolver)
    return dns::Endpoint{settings.dns_resolver->first, settings.dns_resolver->second};
  return dns::system_nameserver();
}

tl::expected<std::vector<std::string>, Outcome> resolve(const Settings& settings,
                                                        std::string_view host,
                                                        std::string_view purpose) {
  if (auto ip = parse_ip(host)) return std::vector<std::string>{ip->text};
  const std::string prefix =
      "resolving " + std::string(host) + " for " + std::string(purpose) + ": ";
  std::vector<std::string> v4, v6;
  auto add = [](std::vector<std::string>& to, std::string a) {
    if (std::find(to.begin(), to.end(), a) == to.end()) to.push_back(std::move(a));
  };
  if (settings.dns_resolver) {
    dns::Endpoint ep{settings.dns_resolver->first, settings.dns_resolver->second};
    auto a = dns::lookup(ep, host, dns::type::kA, settings.timeout);
    if (!a && a.error().code == ErrorCode::kNotFound)
      return tl::unexpected(failure("dns", prefix + a.error().message));
    auto aaaa = dns::lookup(ep, host, dns::type::kAaaa, settings.timeout);
    if (a) {
      for (const auto& rr : a->records) {
        char buf[INET6_ADDRSTRLEN] = {};
        if (::inet_ntop(AF_INET, rr.data.data(), buf, sizeof buf)) add(v4, buf);
      }
    }
    if (aaaa) {
      for (const auto& rr : aaaa->records) {
        char buf[INET6_ADDRSTRLEN] = {};
        if (::inet_ntop(AF_INET6, rr.data.data(), buf, sizeof buf)) add(v6, buf);
      }
    }
    if (!a && !aaaa)
      return tl::unexpected(
          failure("dns", prefix + a.error().message + "; " + aaaa.error().message));
    if (v4.empty() && v6.empty()) {
      std::string why = "no A or AAAA records (resolver " + ep.to_string() + ")";
      if (!a) why += "; " + a.error().message;
      if (!aaaa) why += "; " + aaaa.error().message;
      return tl::unexpected(failure("dns", prefix + why));
    }
  } else {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const std::string name(host);
    int rc = ::getaddrinfo(name.c_str(), nullptr, &hints, &res);
    if (rc != 0)
      return tl::unexpected(
          failure("dns", prefix + "the system resolver says: " + ::gai_strerror(rc)));
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
      char buf[INET6_ADDRSTRLEN] = {};
      if (ai->ai_family == AF_INET) {
        auto* sin = reinterpret_cast<sockaddr_in*>(ai->ai_addr);
        if (::inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf)) add(v4, buf);
      } else if (ai->ai_family == AF_INET6) {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(ai->ai_addr);
        if (::inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof buf)) add(v6, buf);
      }
    }
    ::freeaddrinfo(res);
    if (v4.empty() && v6.empty())
      return tl::unexpected(failure("dns", prefix + "the system resolver returned no address"));
  }
  v4.insert(v4.end(), v6.begin(), v6.end());
  return v4;
}

namespace {

bool in_range(const IpAddress& ip, const Cidr& r) {
  if (ip.size != r.size) return false;
  int bits = r.prefix;
  for (size_t i = 0; bits > 0; ++i, bits -= 8) {
    const uint8_t mask = bits >= 8 ? 0xFF : static_cast<uint8_t>(0xFF << (8 - bits));
    if ((ip.bytes[i] & mask) != (r.bytes[i] & mask)) return false;
  }
  return true;
}

// Non-public addresses: a redirect may reach one only if the identifier
// itself resolved to it.
const std::vector<Cidr>& internal_ranges() {
  static const std::vector<Cidr> ranges = [] {
    std::vector<Cidr> v;
    for (const char* t : {"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8",
                          "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16", "198.18.0.0/15",
                          "::/128", "::1/128", "fc00::/7", "fe80::/10"})
      v.push_back(*parse_cidr(t));
    return v;
  }();
  return ranges;
}

}  // namespace

IpAddress unmapped(const IpAddress& ip) {
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  if (ip.size != 16 || std::memcmp(ip.bytes.data(), kMapped, sizeof kMapped) != 0) return ip;
  IpAddress v4;
  v4.family = AF_INET;
  v4.size = 4;
  std::memcpy(v4.bytes.data(), ip.bytes.data() + 12, 4);
  char buf[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, v4.bytes.data(), buf, sizeof buf);
  v4.text = buf;
  return v4;
}

bool is_internal(const IpAddress& address) {
  const IpAddress ip = unmapped(address);
  return std::any_of(internal_ranges().begin(), internal_ranges().end(),
                     [&](const Cidr& r) { return in_range(ip, r); });
}

std::vector<std::string> dialable(const Settings& s, const std::vector<std::string>& addresses,
                                  const std::vector<std::string>* own, std::string& refused) {
  std::vector<std::string> out;
  for (const auto& a : addresses) {
    auto ip = parse_ip(a);
    if (!ip) continue;
    std::string why;
    if (auto range = denied_range(s, a)) {
      why = a + " is in the denied range " + *range + " ([acme] validation_denied_ranges)";
    } else if (own && is_internal(*ip) &&
               std::none_of(own->begin(), own->end(), [&](const std::string& o) {
                 auto mine = parse_ip(o);  // ::ffff:a.b.c.d is a.b.c.d
                 return mine && unmapped(*mine).text == unmapped(*ip).text;
               })) {
      std::string mine;
      for (const auto& o : *own) mine += (mine.empty() ? "" : ", ") + o;
      why = a + " is not a public address, and a redirect may lead only to a public address or "
                "to the identifier's own (" + (mine.empty() ? std::string("none") : mine) + ")";
    }
    if (why.empty())
      out.push_back(ip->text);
    else
      refused += (refused.empty() ? "" : "; ") + why;
  }
  return out;
}

}  // namespace detail

std::optional<Cidr> parse_cidr(std::string_view text) {
  auto slash = text.find('/');
  auto ip = detail::parse_ip(text.substr(0, slash));
  if (!ip) return std::nullopt;
  const int max = static_cast<int>(ip->size * 8);
  int prefix = max;
  if (slash != std::string_view::npos) {
    std::string_view p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3 ||
        !std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return std::nullopt;
    prefix = std::stoi(std::string(p));
    if (prefix > max) return std::nullopt;
  }
  Cidr c;
  c.size = ip->size;
  c.prefix = prefix;
  // Host bits cleared, so "10.1.2.3/8" means 10.0.0.0/8.
  for (size_t i = 0; i < c.size; ++i) {
    const int bits = prefix - static_cast<int>(i) * 8;
    const uint8_t mask =
        bits >= 8 ? 0xFF : bits <= 0 ? 0 : static_cast<uint8_t>(0xFF << (8 - bits));
    c.bytes[i] = ip->bytes[i] & mask;
  }
  char buf[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(ip->family, c.bytes.data(), buf, sizeof buf);
  c.text = std::string(buf) + "/" + std::to_string(prefix);
  return c;
}

std::vector<Cidr> default_denied_ranges() {
  std::vector<Cidr> v;
  for (const char* t : kDefaultDeniedRanges) v.push_back(*parse_cidr(t));
  return v;
}

std::optional<std::string> denied_range(const Settings& s, std::string_view address) {
  auto ip = detail::parse_ip(address);
  if (!ip) return std::nullopt;
  const detail::IpAddress plain = detail::unmapped(*ip);
  for (const auto& r : s.denied_ranges) {
    if (detail::in_range(plain, r) || detail::in_range(*ip, r)) return r.text;
  }
  return std::nullopt;
}

std::string reverse_dns_name(std::string_view text) {
  auto ip = detail::parse_ip(text);
  if (!ip) return {};
  std::string out;
  if (ip->size == 4) {
    for (int i = 3; i >= 0; --i) out += std::to_string(ip->bytes[static_cast<size_t>(i)]) + ".";
    return out + "in-addr.arpa";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    uint8_t b = ip->bytes[static_cast<size_t>(i)];
    out += kHex[b & 0xF];
    out += '.';
    out += kHex[b >> 4];
    out += '.';
  }
  return out + "ip6.arpa";
}

}  // namespace herald::acme::validation
