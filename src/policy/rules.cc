#include "policy/rules.h"

#include <algorithm>

#include "base/duration.h"

namespace herald::policy {

tl::unexpected<Error> violation(const std::string& rule, const std::string& what) {
  Error e{ErrorCode::kPolicyViolation, "policy violation (" + rule + "): " + what, {}};
  e.with("rule", rule);
  return tl::unexpected(std::move(e));
}

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "none" : out;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

Status check_key(const Policy& p, const keys::KeyInfo& key) {
  using keys::KeyAlgorithm;
  auto allowed = [&](const char* t) {
    return std::find(p.allowed_key_types.begin(), p.allowed_key_types.end(), t) !=
           p.allowed_key_types.end();
  };
  switch (key.algorithm) {
    case KeyAlgorithm::kRsa:
      if (!allowed("rsa")) return violation("policy.allowed_key_types", "RSA keys are not allowed");
      if (key.bits < p.min_rsa_bits) {
        return violation("policy.min_rsa_bits", "RSA key of " + std::to_string(key.bits) +
                                                    " bits is too small (minimum " +
                                                    std::to_string(p.min_rsa_bits) + ")");
      }
      if (key.bits > p.max_rsa_bits) {
        return violation("policy.max_rsa_bits",
                         "RSA key of " + std::to_string(key.bits) + " bits is too large");
      }
      return {};
    case KeyAlgorithm::kEc:
    case KeyAlgorithm::kEd25519:
      if (allowed(key.name().c_str())) return {};
      break;
    default:
      break;
  }
  return violation(
      "policy.allowed_key_types",
      "key type " + key.name() + " is not allowed (allowed: " + join(p.allowed_key_types) + ")");
}

bool ip_allowed(const std::string& ip, const std::vector<IpRange>& ranges) {
  Bytes o = x509::ip_octets(ip);
  return std::any_of(ranges.begin(), ranges.end(), [&](const IpRange& r) { return r.contains(o); });
}

Status check_spiffe_id(const Policy& p, const std::string& uri) {
  const std::string prefix = "spiffe://" + p.spiffe_trust_domain + "/";
  if (!uri.starts_with(prefix)) {
    return violation("policy.spiffe_trust_domain",
                     "'" + uri + "' is not a SPIFFE ID in trust domain " + p.spiffe_trust_domain);
  }
  std::string_view path = std::string_view(uri).substr(prefix.size() - 1);  // starts with '/'
  if (path.size() < 2 || path.back() == '/' || uri.find_first_of("?#%") != std::string::npos) {
    return violation("profile.spiffe.id",
                     "'" + uri + "' is not a valid SPIFFE ID (non-empty path, no query/fragment)");
  }
  size_t start = 1;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string_view seg = path.substr(start, slash == path.npos ? path.npos : slash - start);
    bool ok =
        !seg.empty() && seg != "." && seg != ".." &&
        std::all_of(seg.begin(), seg.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
        });
    if (!ok) return violation("profile.spiffe.id", "'" + uri + "' has an invalid path segment");
    if (slash == path.npos) break;
    start = slash + 1;
  }
  return {};
}

}  // namespace

bool dns_allowed(std::string_view name, const std::vector<std::string>& patterns) {
  for (const auto& p : patterns) {
    if (p == "*") return true;
    if (p.starts_with("*.")) {
      std::string_view suffix = std::string_view(p).substr(1);  // ".suffix"
      if (ends_with(name, suffix)) {
        std::string_view label = name.substr(0, name.size() - suffix.size());
        if (!label.empty() && label.find('.') == std::string_view::npos) return true;
      }
    } else if (p.starts_with(".")) {
      if (name.size() > p.size() && ends_with(name, p)) return true;
    } else if (name == p) {
      return true;
    }
  }
  return false;
}

Result<std::vector<x509::San>> effective_sans(const IssueRequest& req) {
  std::vector<x509::San> sans = req.sans;
  if (req.profile == Profile::kServer && !req.common_name.empty()) {
    auto type = x509::ip_octets(req.common_name).empty() ? x509::SanType::kDns : x509::SanType::kIp;
    auto cn = x509::make_san(type, req.common_name);
    if (!cn) {
      return violation(
          "profile.server.cn",
          "the common name of a server certificate must be a DNS name or IP address (it is copied "
          "into the SANs): '" +
              req.common_name + "'");
    }
    sans.insert(sans.begin(), *cn);
  }
  std::vector<x509::San> unique;
  for (auto& s : sans) {
    if (std::find(unique.begin(), unique.end(), s) == unique.end()) unique.push_back(std::move(s));
  }
  return unique;
}

Status check_names(const Policy& p, Profile profile, const std::vector<x509::San>& sans) {
  const std::string prof(profile_name(profile));
  const ProfileRules& rules = p.rules(profile);
  for (const auto& s : sans) {
    switch (s.type) {
      case x509::SanType::kDns:
        if (s.value.starts_with("*.") && profile == Profile::kClient) {
          return violation("policy.client.no_wildcard",
                           "wildcard names are not allowed in client certificates: " + s.value);
        }
        if (!dns_allowed(s.value, rules.allowed_dns)) {
          return violation("policy." + prof + ".allowed_dns",
                           "DNS name '" + s.value + "' is not allowed for profile " + prof +
                               " (allowed: " + join(rules.allowed_dns) + ")");
        }
        break;
      case x509::SanType::kIp:
        if (!ip_allowed(s.value, rules.allowed_ips)) {
          std::vector<std::string> texts;
          for (const auto& r : rules.allowed_ips) texts.push_back(r.text);
          return violation("policy." + prof + ".allowed_ips",
                           "IP address " + s.value + " is not allowed for profile " + prof +
                               " (allowed: " + join(texts) + ")");
        }
        break;
      case x509::SanType::kUri: {
        bool ok = std::any_of(rules.allowed_uri_prefixes.begin(), rules.allowed_uri_prefixes.end(),
                              [&](const std::string& pre) { return s.value.starts_with(pre); });
        if (!ok) {
          return violation("policy." + prof + ".allowed_uri_prefixes",
                           "URI SAN '" + s.value + "' is not allowed for profile " + prof +
                               " (allowed prefixes: " + join(rules.allowed_uri_prefixes) + ")");
        }
        break;
      }
      case x509::SanType::kEmail: {
        std::string domain = s.value.substr(s.value.find('@') + 1);
        if (profile == Profile::kServer) {
          return violation("profile.server.san_types", "server certificates carry no e-mail SANs");
        }
        if (!dns_allowed(domain, rules.allowed_dns)) {
          return violation("policy." + prof + ".allowed_dns",
                           "e-mail domain '" + domain + "' is not allowed for profile " + prof);
        }
        break;
      }
    }
  }
  return {};
}

Result<std::chrono::seconds> check_request(const Policy& p, const IssueRequest& req,
                                           const std::vector<x509::San>& sans) {
  const std::string prof(profile_name(req.profile));
  const ProfileRules& rules = p.rules(req.profile);

  if (req.profile == Profile::kOcspSigner) {
    return violation("profile.ocsp_signer.not_requestable",
                     "OCSP responder certificates are issued by Herald itself, never on request");
  }
  HERALD_TRY_VOID(check_key(p, req.key));
  if (req.csr_hash == x509::SignatureHash::kSha1) {
    return violation("policy.csr_signature",
                     "CSRs signed with SHA-1 are refused; sign with SHA-256 or better");
  }
  if (req.requests_ca) {
    return violation("policy.no_ca_requests",
                     "the CSR asks for CA:TRUE; Herald never issues CA certificates from requests");
  }

  std::chrono::seconds ttl = req.ttl.value_or(rules.default_ttl);
  if (ttl > rules.max_ttl) {
    return violation("policy." + prof + ".max_ttl",
                     "requested TTL " + format_duration(ttl) + " exceeds the maximum " +
                         format_duration(rules.max_ttl) + " for profile " + prof);
  }
  if (sans.size() > p.max_sans) {
    return violation("policy.max_sans", std::to_string(sans.size()) + " SANs requested, at most " +
                                            std::to_string(p.max_sans) + " allowed");
  }
  HERALD_TRY_VOID(check_common_name(req.profile, req.common_name, sans));
  if (req.caller.scope) {
    HERALD_TRY_VOID(check_scope(*req.caller.scope, req.profile, req.common_name, sans));
  }
  if (req.caller.named) HERALD_TRY_VOID(check_named(*req.caller.named, req.common_name, sans));

  if (req.profile == Profile::kSpiffe) {
    if (sans.size() != 1 || sans[0].type != x509::SanType::kUri) {
      return violation("profile.spiffe.one_uri_san",
                       "a spiffe certificate carries exactly one URI SAN (spiffe://" +
                           p.spiffe_trust_domain + "/...) and no other SAN");
    }
    HERALD_TRY_VOID(check_spiffe_id(p, sans[0].value));
    return ttl;
  }

  if (req.profile == Profile::kServer &&
      std::none_of(sans.begin(), sans.end(), [](const x509::San& s) {
        return s.type == x509::SanType::kDns || s.type == x509::SanType::kIp;
      })) {
    return violation("profile.server.requires_dns_or_ip_san",
                     "a server certificate needs at least one DNS or IP SAN");
  }
  if (req.profile == Profile::kClient && sans.empty() && req.common_name.empty()) {
    return violation("profile.client.identity",
                     "a client certificate needs a common name or a SAN");
  }

  HERALD_TRY_VOID(check_names(p, req.profile, sans));
  return ttl;
}

}  // namespace herald::policy
