#include <algorithm>
#include <cctype>
#include <sstream>

#include "base/duration.h"
#include "report/report.h"

namespace herald::report {

namespace {

constexpr size_t kPage = 1000;
// notBefore is backdated 5 minutes; a lifetime within this of the maximum is at it.
constexpr std::chrono::seconds kLifetimeSlack{10 * 60};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string who(const store::CertRecord& r) {
  if (!r.subject.empty()) return r.subject;
  std::string out;
  for (const auto& s : r.sans) out += (out.empty() ? "" : ", ") + s.to_string();
  return out;
}

bool is_ca(const store::CertRecord& r) { return r.profile.ends_with("-ca"); }
bool is_herald_own(const store::CertRecord& r) {
  auto it = r.owner.find("service");
  return r.profile == "ocsp-signer" || (it != r.owner.end() && it->second == "herald-serve");
}

struct Rules {
  Rule weak_key{"weak-key", "high",
                "RSA keys under the policy's minimum (and never under 2048 bits), EC keys under "
                "256 bits",
                0,
                {}};
  Rule weak_signature{"weak-signature", "high", "signed with SHA-1 or MD5", 0, {}};
  Rule lifetime{"lifetime-above-policy", "medium",
                "a lifetime longer than the policy's max_ttl for its profile", 0, {}};
  Rule cn_only{"cn-only-name", "medium",
               "a server certificate with its name in the common name and no subjectAltName "
               "(TLS clients match SANs only, RFC 6125)",
               0,
               {}};
  Rule no_owner{"no-owner", "low",
                "no owner label (team=, service=, ...): nobody to tell before it expires", 0, {}};
  Rule expired_deployed{"expired-but-deployed", "high",
                        "an expired certificate an endpoint still presented at its last scan", 0,
                        {}};
  Rule foreign{"foreign-on-endpoint", "medium",
               "a certificate this CA did not issue, presented by an endpoint scanned", 0, {}};
  Rule ca_expiry{"ca-expires-before-children", "high",
                 "a CA certificate that expires before a certificate below it, or before the "
                 "longest lifetime the policy lets it issue",
                 0,
                 {}};
  std::vector<Rule*> all() {
    return {&weak_key,  &weak_signature,   &lifetime, &cn_only,
            &no_owner,  &expired_deployed, &foreign,  &ca_expiry};
  }
};

void add(Rule& rule, const store::CertRecord& r, std::string detail, size_t max_examples) {
  ++rule.count;
  if (rule.examples.size() < max_examples)
    rule.examples.push_back({r.serial.hex(), who(r), std::move(detail)});
}

std::optional<std::chrono::seconds> max_ttl_of(const policy::Policy& p, const std::string& profile) {
  if (profile == "server") return p.server.max_ttl;
  if (profile == "client") return p.client.max_ttl;
  if (profile == "spiffe") return p.spiffe.max_ttl;
  return std::nullopt;
}

std::string html_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

std::string owner_of(const store::CertRecord& record) {
  std::string out;
  for (const auto& [k, v] : record.owner) {
    if (k == "provisioner" || k == "renewed_from" || k.starts_with("acme_")) continue;
    out += (out.empty() ? "" : ",") + k + "=" + v;
  }
  return out;
}

int64_t Compliance::findings() const {
  int64_t n = 0;
  for (const auto& r : rules) n += r.count;
  return n;
}

Result<Compliance> compliance(store::Inventory& inventory, store::DeploymentStore* deployments,
                              const policy::Policy& policy,
                              const Hierarchy& h, TimePoint now, size_t max_examples) {
  Rules rules;
  Compliance out;
  out.generated_at = now;
  const int min_rsa = std::max(2048, policy.min_rsa_bits);
  const std::chrono::seconds longest =
      std::max({policy.server.max_ttl, policy.client.max_ttl, policy.spiffe.max_ttl});

  // The CAs: each outlives what it signs and could sign.
  auto ca_before = [&](const store::CertRecord& ca, const store::CertRecord& child) {
    if (ca.not_after < child.not_after) {
      add(rules.ca_expiry, ca, "expires " + format_time(ca.not_after) + ", before " +
                                   who(child) + " (" + format_time(child.not_after) + ")",
          max_examples);
    }
  };
  ca_before(h.root, h.intermediate);
  ca_before(h.intermediate, h.issuing);
  if (h.issuing.not_after < now + longest) {
    add(rules.ca_expiry, h.issuing,
        "expires " + format_time(h.issuing.not_after) + ": certificates issued now with the "
            "policy's longest lifetime (" + format_duration(longest) +
            ") would be cut short; rotate it",
        max_examples);
  }

  auto key_and_signature = [&](const store::CertRecord& r) {
    const std::string alg = lower(r.key_algorithm);
    if (alg.starts_with("rsa") && r.key_bits < min_rsa) {
      add(rules.weak_key, r, "RSA " + std::to_string(r.key_bits) + " bits (minimum " +
                                 std::to_string(min_rsa) + ")",
          max_examples);
    } else if ((alg.starts_with("ec") || alg.starts_with("ecdsa")) && r.key_bits > 0 &&
               r.key_bits < 256) {
      add(rules.weak_key, r, "EC " + std::to_string(r.key_bits) + " bits", max_examples);
    }
    const std::string sig = lower(r.signature_algorithm);
    if (sig.find("sha1") != std::string::npos || sig.find("md5") != std::string::npos) {
      add(rules.weak_signature, r, r.signature_algorithm, max_examples);
    }
  };

  store::ListFilter f;
  f.now = now;
  f.status = "valid";
  f.limit = kPage;
  for (;;) {
    HERALD_TRY(auto page, inventory.list(f));
    for (const auto& r : page) {
      ++out.certificates_checked;
      key_and_signature(r);
      if (auto max = max_ttl_of(policy, r.profile)) {
        const auto lifetime =
            std::chrono::duration_cast<std::chrono::seconds>(r.not_after - r.not_before);
        if (lifetime > *max + kLifetimeSlack) {
          add(rules.lifetime, r,
              format_duration(lifetime) + " (policy " + r.profile + ".max_ttl " +
                  format_duration(*max) + ")",
              max_examples);
        }
      }
      // A client certificate's CN is its identity; a server's name must be a SAN.
      if (r.profile == "server" && r.sans.empty() && !r.common_name.empty()) {
        add(rules.cn_only, r, "CN " + r.common_name + " and no SAN", max_examples);
      }
      if (!is_ca(r) && !is_herald_own(r) && owner_of(r).empty()) {
        auto p = r.owner.find("provisioner");
        add(rules.no_owner, r,
            p == r.owner.end() ? "issued with the CLI without --owner"
                               : "issued by provisioner '" + p->second + "' without owner labels",
            max_examples);
      }
      if (r.issuer_serial == h.issuing.serial && !is_ca(r)) ca_before(h.issuing, r);
    }
    if (page.size() < kPage) break;
    f.after = std::make_pair(page.back().not_after, page.back().serial);
  }

  if (deployments) {
    // Foreign certificates seen deployed: the same key, signature and name
    // rules, as far as a scan can tell.
    for (size_t offset = 0;; offset += kPage) {
      HERALD_TRY(auto page, deployments->discovered_certificates(kPage, offset));
      for (const auto& d : page) {
        if (d.not_after <= now) continue;  // expired ones count below, where deployed
        ++out.certificates_checked;
        store::CertRecord r;
        r.serial = Serial::parse(d.serial_hex).value_or(Serial{});
        r.subject = d.subject;
        r.common_name = d.subject.starts_with("CN=") ? d.subject.substr(3) : "";
        r.key_algorithm = d.key_algorithm;
        r.key_bits = d.key_bits;
        r.signature_algorithm = d.signature_algorithm;
        for (const auto& s : d.sans) {
          if (auto san = x509::parse_san(s)) r.sans.push_back(*san);
        }
        key_and_signature(r);
        if (r.sans.empty() && !r.common_name.empty())
          add(rules.cn_only, r, "CN " + r.common_name + " and no SAN (foreign)", max_examples);
      }
      if (page.size() < kPage) break;
    }
    store::DeploymentFilter all;
    all.limit = kPage;
    for (;; all.offset += kPage) {
      HERALD_TRY(auto page, deployments->deployments(all));
      for (const auto& d : page) {
        store::CertRecord r;
        r.serial = Serial::parse(d.serial_hex).value_or(Serial{});
        r.subject = d.subject;
        const std::string where = d.endpoint + (d.sni.empty() ? "" : " (SNI " + d.sni + ")") +
                                  ", last seen " + format_time(d.last_seen);
        if (d.not_after <= now) {
          add(rules.expired_deployed, r, "expired " + format_time(d.not_after) + ", at " + where,
              max_examples);
        }
        if (d.foreign) add(rules.foreign, r, "at " + where, max_examples);
      }
      if (page.size() < kPage) break;
    }
  }
  for (Rule* r : rules.all()) out.rules.push_back(std::move(*r));
  return out;
}

nlohmann::json to_json(const Compliance& report) {
  nlohmann::json rules = nlohmann::json::array();
  for (const auto& r : report.rules) {
    nlohmann::json ex = nlohmann::json::array();
    for (const auto& e : r.examples)
      ex.push_back({{"serial", e.serial}, {"subject", e.subject}, {"detail", e.detail}});
    rules.push_back({{"id", r.id},
                     {"severity", r.severity},
                     {"description", r.description},
                     {"count", r.count},
                     {"examples", ex}});
  }
  return {{"generated_at", format_time(report.generated_at)},
          {"certificates_checked", report.certificates_checked},
          {"findings", report.findings()},
          {"rules", rules}};
}

std::string to_text(const Compliance& report) {
  std::ostringstream o;
  o << "Compliance report, " << format_time(report.generated_at) << ": "
    << report.certificates_checked << " valid certificates checked, " << report.findings()
    << " findings\n\n";
  for (const auto& r : report.rules) {
    o << (r.count ? "FAIL " : "ok   ") << r.id << " (" << r.severity << "): " << r.count << "\n";
    o << "     " << r.description << "\n";
    for (const auto& e : r.examples)
      o << "     - " << e.serial << "  " << e.subject << ": " << e.detail << "\n";
    if (r.count > static_cast<int64_t>(r.examples.size()))
      o << "     ... and " << (r.count - static_cast<int64_t>(r.examples.size())) << " more\n";
  }
  return o.str();
}

std::string to_html(const Compliance& report) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
       "<title>Herald compliance report</title><style>"
       "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
       "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}"
       ".fail{color:#a00;font-weight:bold}.ok{color:#070}code{font-size:90%}"
       "</style></head><body>\n";
  o << "<h1>Compliance report</h1>\n<p>" << html_escape(format_time(report.generated_at))
    << ": " << report.certificates_checked << " valid certificates checked, "
    << report.findings() << " findings.</p>\n";
  o << "<table><tr><th>Rule</th><th>Severity</th><th>Count</th><th>What it checks</th></tr>\n";
  for (const auto& r : report.rules) {
    o << "<tr><td><a href=\"#" << html_escape(r.id) << "\">" << html_escape(r.id)
      << "</a></td><td>" << html_escape(r.severity) << "</td><td class=\""
      << (r.count ? "fail" : "ok") << "\">" << r.count << "</td><td>"
      << html_escape(r.description) << "</td></tr>\n";
  }
  o << "</table>\n";
  for (const auto& r : report.rules) {
    if (!r.count) continue;
    o << "<h2 id=\"" << html_escape(r.id) << "\">" << html_escape(r.id) << " (" << r.count
      << ")</h2>\n<table><tr><th>Serial</th><th>Subject</th><th>Finding</th></tr>\n";
    for (const auto& e : r.examples) {
      o << "<tr><td><code>" << html_escape(e.serial) << "</code></td><td>"
        << html_escape(e.subject) << "</td><td>" << html_escape(e.detail) << "</td></tr>\n";
    }
    o << "</table>\n";
    if (r.count > static_cast<int64_t>(r.examples.size()))
      o << "<p>... and " << (r.count - static_cast<int64_t>(r.examples.size()))
        << " more (herald report compliance --json lists the first ones too).</p>\n";
  }
  o << "</body></html>\n";
  return o.str();
}

}  // namespace herald::report
