#include "proxy/identity.h"

#include <openssl/objects.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>

namespace herald::proxy {

namespace {

std::vector<std::string> name_entries(X509_NAME* name, int nid) {
  std::vector<std::string> out;
  if (!name) return out;
  int pos = -1;
  while ((pos = X509_NAME_get_index_by_NID(name, nid, pos)) >= 0) {
    X509_NAME_ENTRY* e = X509_NAME_get_entry(name, pos);
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(e);
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, data);
    if (n >= 0 && utf8) out.emplace_back(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
    OPENSSL_free(utf8);
  }
  return out;
}

std::string lower_hex(std::string fp) {
  std::string out;
  for (char c : fp) {
    if (c == ':') continue;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

}  // namespace

Identity identity_of(const x509::Certificate& leaf) {
  Identity id;
  id.subject = leaf.subject();
  id.issuer_subject = leaf.issuer();
  id.serial = leaf.serial().hex();
  id.fingerprint = lower_hex(leaf.fingerprint_sha256());
  std::vector<std::string> spiffe;
  for (const auto& san : leaf.sans()) {
    switch (san.type) {
      case x509::SanType::kDns:
        id.dns.push_back(san.value);
        break;
      case x509::SanType::kIp:
        id.ips.push_back(san.value);
        break;
      case x509::SanType::kEmail:
        id.emails.push_back(san.value);
        break;
      case x509::SanType::kUri:
        id.uris.push_back(san.value);
        if (san.value.size() > 9 &&
            std::equal(san.value.begin(), san.value.begin() + 9, "spiffe://",
                       [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; })) {
          spiffe.push_back(san.value);
        }
        break;
    }
  }
  // The SPIFFE X.509-SVID spec: exactly one URI SAN. Two spiffe IDs name no one.
  if (spiffe.size() == 1) id.spiffe_id = spiffe.front();
  X509_NAME* subject = X509_get_subject_name(&leaf.x509());
  id.organizations = name_entries(subject, NID_organizationName);
  id.units = name_entries(subject, NID_organizationalUnitName);
  return id;
}

std::string header_safe(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c >= 0x20 && c <= 0x7e && c != '%') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> identity_headers(const Identity& id) {
  std::string san;
  auto add = [&](const char* kind, const std::vector<std::string>& v) {
    for (const auto& x : v) san += (san.empty() ? "" : ", ") + std::string(kind) + ":" + x;
  };
  add("DNS", id.dns);
  add("URI", id.uris);
  add("IP", id.ips);
  add("email", id.emails);
  std::vector<std::pair<std::string, std::string>> h = {
      {"X-Client-Cert-Verified", "SUCCESS"},
      {"X-Client-Cert-Subject", header_safe(id.subject)},
      {"X-Client-Cert-SAN", header_safe(san)},
      {"X-Client-Cert-Serial", id.serial},
      {"X-Client-Cert-Fingerprint", id.fingerprint},
  };
  if (!id.spiffe_id.empty()) h.emplace_back("X-Client-Cert-Spiffe-Id", header_safe(id.spiffe_id));
  return h;
}

std::vector<std::pair<std::string, std::string>> anonymous_headers() {
  return {{"X-Client-Cert-Verified", "NONE"}};
}

std::string log_identity(const Identity& id) {
  std::string out = "serial=" + id.serial;
  if (!id.spiffe_id.empty()) out += " spiffe=" + header_safe(id.spiffe_id);
  std::string names;
  for (const auto* v : {&id.dns, &id.uris, &id.ips}) {
    for (const auto& x : *v) names += (names.empty() ? "" : ",") + header_safe(x);
  }
  if (!names.empty()) out += " san=" + names;
  if (out.size() > 512) out = out.substr(0, 509) + "...";
  return out;
}

}  // namespace herald::proxy
