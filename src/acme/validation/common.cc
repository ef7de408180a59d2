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

}  // namespace detail

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
