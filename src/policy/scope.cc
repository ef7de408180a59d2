#include "policy/scope.h"

#include <algorithm>

#include "policy/rules.h"

namespace herald::policy {

namespace {

tl::unexpected<Error> outside(const NameScope& s, const std::string& what) {
  Error e{ErrorCode::kForbidden, s.owner + " may not request " + what, {}};
  e.with("scope", s.owner);
  return tl::unexpected(std::move(e));
}

// Printable text for an error message: control and non-ASCII bytes as \xNN.
std::string printable(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s.substr(0, 80)) {
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return s.size() > 80 ? out + "..." : out;
}

bool uri_allowed(const std::string& uri, const std::vector<std::string>& patterns) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) {
    if (!p.empty() && p.back() == '*') return uri.starts_with(std::string_view(p).substr(0, p.size() - 1));
    return uri == p;
  });
}

bool ip_in(const std::string& ip, const std::vector<IpRange>& ranges) {
  Bytes o = x509::ip_octets(ip);
  return !o.empty() &&
         std::any_of(ranges.begin(), ranges.end(), [&](const IpRange& r) { return r.contains(o); });
}

}  // namespace

NameScope NameScope::of(std::string owner, std::vector<std::string> dns, std::vector<IpRange> ips,
                        std::vector<std::string> uris, std::vector<std::string> cns) {
  NameScope s;
  s.owner = std::move(owner);
  s.restricted = !dns.empty() || !ips.empty() || !uris.empty() || !cns.empty();
  s.dns = std::move(dns);
  s.ips = std::move(ips);
  s.uris = std::move(uris);
  s.cns = std::move(cns);
  return s;
}

bool cn_pattern_matches(std::string_view pattern, std::string_view cn) {
  auto star = pattern.find('*');
  if (star == std::string_view::npos) return pattern == cn;
  std::string_view head = pattern.substr(0, star), tail = pattern.substr(star + 1);
  return cn.size() >= head.size() + tail.size() && cn.starts_with(head) && cn.ends_with(tail);
}

Status check_common_name(Profile profile, const std::string& cn,
                         const std::vector<x509::San>& sans) {
  if (cn.empty()) return {};
  const std::string prof(profile_name(profile));
  const std::string rule = "profile." + prof + ".cn";
  if (cn.size() > 64) {
    return violation(rule, "the common name is longer than 64 characters (RFC 5280 ub-common-name)");
  }
  for (unsigned char c : cn) {
    if (c < 0x20 || c >= 0x7F) {
      return violation(rule, "the common name '" + printable(cn) +
                                 "' contains a control, NUL or non-ASCII character");
    }
    if (std::string_view(",+=\"\\<>;").find(static_cast<char>(c)) != std::string_view::npos) {
      return violation(rule, "the common name '" + printable(cn) + "' contains '" +
                                 std::string(1, static_cast<char>(c)) +
                                 "' (a DN special character: , + = \" \\ < > ;)");
    }
  }
  if (cn.front() == '#' || cn.front() == ' ' || cn.back() == ' ') {
    return violation(rule, "the common name '" + cn +
                               "' starts with '#' or a space, or ends with a space");
  }
  if (profile == Profile::kSpiffe) {
    bool is_id = sans.size() == 1 && sans[0].type == x509::SanType::kUri && sans[0].value == cn;
    if (!is_id) {
      return violation(rule, "a spiffe certificate's common name is empty or its SPIFFE ID, not '" +
                                 cn + "' (TLS clients would match it as a host name)");
    }
  }
  return {};
}

Status check_scope(const NameScope& scope, Profile profile, const std::string& cn,
                   const std::vector<x509::San>& sans) {
  if (!scope.restricted) return {};
  for (const auto& s : sans) {
    switch (s.type) {
      case x509::SanType::kDns:
        if (!dns_allowed(s.value, scope.dns)) return outside(scope, "DNS name '" + s.value + "'");
        break;
      case x509::SanType::kIp:
        if (!ip_in(s.value, scope.ips)) return outside(scope, "IP address " + s.value);
        break;
      case x509::SanType::kUri:
        if (!uri_allowed(s.value, scope.uris)) return outside(scope, "URI '" + s.value + "'");
        break;
      case x509::SanType::kEmail: {
        std::string domain = s.value.substr(s.value.find('@') + 1);
        if (!dns_allowed(domain, scope.dns)) {
          return outside(scope, "e-mail address '" + s.value + "'");
        }
        break;
      }
    }
  }
  // Server CNs are among the SANs already; spiffe CNs are the SPIFFE ID
  // (check_common_name). A client CN repeats a SAN or matches allowed_cn.
  if (profile == Profile::kClient && !cn.empty()) {
    bool is_san = std::any_of(sans.begin(), sans.end(),
                              [&](const x509::San& s) { return s.value == cn; });
    bool matches = std::any_of(scope.cns.begin(), scope.cns.end(),
                               [&](const std::string& p) { return cn_pattern_matches(p, cn); });
    if (!is_san && !matches) return outside(scope, "common name '" + printable(cn) + "'");
  }
  if (profile != Profile::kClient && profile != Profile::kServer && profile != Profile::kSpiffe) {
    return outside(scope, "a " + std::string(profile_name(profile)) + " certificate");
  }
  return {};
}

Status check_named(const std::vector<std::string>& names, const std::string& cn,
                   const std::vector<x509::San>& sans) {
  auto named = [&](const std::string& v) {
    return std::find(names.begin(), names.end(), v) != names.end();
  };
  auto refuse = [](const std::string& v) {
    return make_error(ErrorCode::kForbidden, "the token does not name '" + printable(v) + "'");
  };
  if (!cn.empty() && !named(cn)) return refuse(cn);
  for (const auto& s : sans) {
    if (!named(s.value)) return refuse(s.value);
  }
  return {};
}

}  // namespace herald::policy
