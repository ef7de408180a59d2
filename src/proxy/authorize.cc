#include "proxy/authorize.h"

#include <algorithm>
#include <cctype>

namespace herald::proxy {

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string fingerprint_form(const std::string& s) {
  std::string out;
  std::string t = lower(s);
  if (t.rfind("sha256:", 0) == 0) t = t.substr(7);
  for (char c : t) {
    if (c != ':') out += c;
  }
  return out;
}

bool is_fingerprint(const std::string& s) {
  const std::string f = fingerprint_form(s);
  return f.size() == 64 && std::all_of(f.begin(), f.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c));
         });
}

}  // namespace

bool spiffe_matches(const std::string& pattern, const std::string& id) {
  if (pattern.size() >= 2 && pattern.compare(pattern.size() - 2, 2, "/*") == 0) {
    const std::string prefix = pattern.substr(0, pattern.size() - 1);  // keeps the '/'
    return id.size() > prefix.size() && id.compare(0, prefix.size(), prefix) == 0;
  }
  return id == pattern;
}

bool dns_matches(const std::string& pattern, const std::string& name) {
  const std::string p = lower(pattern), n = lower(name);
  if (p.rfind("*.", 0) == 0) {
    const std::string suffix = p.substr(1);  // ".example.com"
    if (n.size() <= suffix.size() || n.compare(n.size() - suffix.size(), suffix.size(), suffix) != 0)
      return false;
    const std::string label = n.substr(0, n.size() - suffix.size());
    return label.find('.') == std::string::npos;
  }
  return p == n;
}

Status check_rules(const Rules& r) {
  auto bad = [](const std::string& what, const std::string& v, const std::string& why) {
    return make_error(ErrorCode::kInvalidArgument, what + " '" + v + "': " + why);
  };
  for (const auto& p : r.allow_spiffe) {
    if (p.rfind("spiffe://", 0) != 0) return bad("allow-spiffe", p, "must start with spiffe://");
    const auto star = p.find('*');
    if (star != std::string::npos && star != p.size() - 1)
      return bad("allow-spiffe", p, "'*' only as the last path segment (spiffe://td/path/*)");
    if (star != std::string::npos && (p.size() < 2 || p[p.size() - 2] != '/'))
      return bad("allow-spiffe", p, "'*' only as a whole last segment (.../*)");
    const std::string domain = p.substr(9, p.find('/', 9) == std::string::npos
                                               ? std::string::npos
                                               : p.find('/', 9) - 9);
    if (domain.empty() || domain.find('*') != std::string::npos)
      return bad("allow-spiffe", p, "name a trust domain (spiffe://example.org/...)");
  }
  for (const auto& p : r.allow_uri) {
    if (p.empty() || p == "*") return bad("allow-uri", p, "name a URI or a prefix followed by '*'");
    const auto star = p.find('*');
    if (star != std::string::npos && star != p.size() - 1)
      return bad("allow-uri", p, "'*' only at the end (a prefix)");
  }
  for (const auto& p : r.allow_dns) {
    if (p.empty()) return bad("allow-dns", p, "empty");
    const auto star = p.find('*');
    if (star != std::string::npos && (star != 0 || p.size() < 3 || p[1] != '.' ||
                                      p.find('*', 1) != std::string::npos))
      return bad("allow-dns", p, "a wildcard only as the whole first label (*.example.com)");
  }
  for (const auto* list : {&r.allow_o, &r.allow_ou}) {
    for (const auto& p : *list) {
      if (p.empty()) return bad("allow-o/ou", p, "empty");
    }
  }
  for (const auto& p : r.allow_issuer) {
    if (p.empty()) return bad("allow-issuer", p, "empty");
    if (!is_fingerprint(p) && p.find('=') == std::string::npos)
      return bad("allow-issuer", p, "a SHA-256 fingerprint (64 hex digits) or a subject (CN=...)");
  }
  return {};
}

Decision authorize(const Identity& id, const std::vector<CaRef>& cas, const Rules& r) {
  Decision d;
  if (!r.allow_issuer.empty()) {
    bool ok = false;
    for (const auto& want : r.allow_issuer) {
      for (const auto& ca : cas) {
        if (is_fingerprint(want) ? fingerprint_form(want) == ca.fingerprint : want == ca.subject) {
          ok = true;
        }
      }
    }
    if (!ok) {
      d.reason = "issuer_not_allowed";
      d.detail = "the certificate was issued under " +
                 (cas.empty() ? std::string("no CA") : "'" + cas.front().subject + "'") +
                 ", not a CA this route allows";
      return d;
    }
  }
  if (r.identity_lists_empty()) {
    d.allow = true;
    d.matched = "any";
    return d;
  }
  auto allow = [&](const std::string& how) {
    d.allow = true;
    d.matched = how;
    return d;
  };
  if (!id.spiffe_id.empty()) {
    for (const auto& p : r.allow_spiffe) {
      if (spiffe_matches(p, id.spiffe_id)) return allow("allow-spiffe " + p);
    }
  }
  for (const auto& u : id.uris) {
    for (const auto& p : r.allow_uri) {
      const bool prefix = !p.empty() && p.back() == '*';
      if (prefix ? u.rfind(p.substr(0, p.size() - 1), 0) == 0 : u == p) return allow("allow-uri " + p);
    }
  }
  for (const auto& n : id.dns) {
    for (const auto& p : r.allow_dns) {
      if (dns_matches(p, n)) return allow("allow-dns " + p);
    }
  }
  for (const auto& o : id.organizations) {
    if (std::find(r.allow_o.begin(), r.allow_o.end(), o) != r.allow_o.end()) return allow("allow-o " + o);
  }
  for (const auto& ou : id.units) {
    if (std::find(r.allow_ou.begin(), r.allow_ou.end(), ou) != r.allow_ou.end())
      return allow("allow-ou " + ou);
  }
  d.reason = "not_allowed";
  std::string names = id.spiffe_id.empty() ? "" : id.spiffe_id;
  for (const auto* v : {&id.dns, &id.uris}) {
    for (const auto& x : *v) {
      if (x != id.spiffe_id) names += (names.empty() ? "" : ", ") + x;
    }
  }
  d.detail = "no allow-list entry of this route matches the certificate's names (" +
             header_safe(names.empty() ? std::string("none") : names) + ")";
  return d;
}

}  // namespace herald::proxy
