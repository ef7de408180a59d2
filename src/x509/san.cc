#include "x509/san.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

namespace herald::x509 {

namespace {
std::string_view type_prefix(SanType t) {
  switch (t) {
    case SanType::kDns:
      return "dns";
    case SanType::kIp:
      return "ip";
    case SanType::kUri:
      return "uri";
    case SanType::kEmail:
      return "email";
  }
  return "?";
}

bool is_ldh_label(std::string_view l) {
  if (l.empty() || l.size() > 63) return false;
  if (l.front() == '-' || l.back() == '-') return false;
  return std::all_of(l.begin(), l.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
  });
}

bool printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7F; });
}
}  // namespace

std::string San::to_string() const { return std::string(type_prefix(type)) + ":" + value; }

bool is_valid_dns_name(std::string_view name, bool allow_wildcard) {
  if (name.empty() || name.size() > 253) return false;
  size_t start = 0;
  bool first = true;
  while (true) {
    size_t dot = name.find('.', start);
    std::string_view label =
        name.substr(start, dot == std::string_view::npos ? name.npos : dot - start);
    bool ok = is_ldh_label(label) || (first && allow_wildcard && label == "*" && dot != name.npos);
    if (!ok) return false;
    first = false;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

Bytes ip_octets(std::string_view text) {
  std::string s(text);
  uint8_t buf[16];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) return Bytes(buf, buf + 4);
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) return Bytes(buf, buf + 16);
  return {};
}

namespace {
std::string ip_text(const Bytes& octets) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(octets.size() == 4 ? AF_INET : AF_INET6, octets.data(), buf, sizeof buf);
  return buf;
}
}  // namespace

Result<San> make_san(SanType type, std::string_view value) {
  auto bad = [&](std::string why) {
    return make_error(
        ErrorCode::kInvalidArgument,
        "invalid SAN '" + std::string(type_prefix(type)) + ":" + std::string(value) + "': " + why);
  };
  switch (type) {
    case SanType::kDns: {
      std::string lower(value);
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (!is_valid_dns_name(lower, true)) {
        return bad(
            "not a valid DNS name (letters, digits and '-' in labels of 1-63, wildcard only as "
            "'*.' prefix)");
      }
      return San{type, lower};
    }
    case SanType::kIp: {
      Bytes o = ip_octets(value);
      if (o.empty()) return bad("not an IPv4 or IPv6 address");
      return San{type, ip_text(o)};
    }
    case SanType::kUri: {
      auto colon = value.find(':');
      if (colon == 0 || colon == value.npos || !printable_ascii(value) ||
          !std::isalpha(static_cast<unsigned char>(value[0]))) {
        return bad("not an absolute URI (scheme:rest, printable ASCII)");
      }
      return San{type, std::string(value)};
    }
    case SanType::kEmail: {
      auto at = value.find('@');
      if (at == 0 || at == value.npos || value.find('@', at + 1) != value.npos ||
          !printable_ascii(value) || !is_valid_dns_name(value.substr(at + 1), false)) {
        return bad("not an e-mail address (local@domain)");
      }
      return San{type, std::string(value)};
    }
  }
  return bad("unknown type");
}

Result<San> parse_san(std::string_view text) {
  auto colon = text.find(':');
  if (colon == text.npos) {
    return make_error(ErrorCode::kInvalidArgument,
                      "invalid SAN '" + std::string(text) +
                          "': expected TYPE:VALUE with TYPE dns, ip, uri or email");
  }
  std::string_view t = text.substr(0, colon);
  std::string_view v = text.substr(colon + 1);
  for (SanType type : {SanType::kDns, SanType::kIp, SanType::kUri, SanType::kEmail}) {
    if (t == type_prefix(type)) return make_san(type, v);
  }
  return make_error(ErrorCode::kInvalidArgument, "invalid SAN '" + std::string(text) +
                                                     "': unknown type '" + std::string(t) +
                                                     "' (use dns, ip, uri or email)");
}

Result<std::vector<San>> parse_san_list(std::string_view text) {
  std::vector<San> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string_view item = text.substr(start, comma == text.npos ? text.npos : comma - start);
    if (!item.empty()) {
      HERALD_TRY(auto san, parse_san(item));
      out.push_back(std::move(san));
    }
    if (comma == text.npos) break;
    start = comma + 1;
  }
  return out;
}

Result<ossl::GeneralNamesPtr> to_general_names(const std::vector<San>& sans) {
  ossl::GeneralNamesPtr names(GENERAL_NAMES_new());
  for (const auto& san : sans) {
    GENERAL_NAME* gn = GENERAL_NAME_new();
    if (!gn) return ossl::error(ErrorCode::kCrypto, "out of memory");
    if (san.type == SanType::kIp) {
      Bytes o = ip_octets(san.value);
      ASN1_OCTET_STRING* os = ASN1_OCTET_STRING_new();
      ASN1_OCTET_STRING_set(os, o.data(), static_cast<int>(o.size()));
      GENERAL_NAME_set0_value(gn, GEN_IPADD, os);
    } else {
      ASN1_IA5STRING* s = ASN1_IA5STRING_new();
      ASN1_STRING_set(s, san.value.data(), static_cast<int>(san.value.size()));
      int type = san.type == SanType::kDns   ? GEN_DNS
                 : san.type == SanType::kUri ? GEN_URI
                                             : GEN_EMAIL;
      GENERAL_NAME_set0_value(gn, type, s);
    }
    sk_GENERAL_NAME_push(names.get(), gn);
  }
  return names;
}

std::vector<San> from_general_names(const GENERAL_NAMES& names) {
  std::vector<San> out;
  for (int i = 0; i < sk_GENERAL_NAME_num(&names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(&names, i);
    auto str = [](const ASN1_STRING* s) {
      return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                         static_cast<size_t>(ASN1_STRING_length(s)));
    };
    switch (gn->type) {
      case GEN_DNS:
        out.push_back({SanType::kDns, str(gn->d.dNSName)});
        break;
      case GEN_URI:
        out.push_back({SanType::kUri, str(gn->d.uniformResourceIdentifier)});
        break;
      case GEN_EMAIL:
        out.push_back({SanType::kEmail, str(gn->d.rfc822Name)});
        break;
      case GEN_IPADD: {
        const ASN1_OCTET_STRING* o = gn->d.iPAddress;
        Bytes b(ASN1_STRING_get0_data(o), ASN1_STRING_get0_data(o) + ASN1_STRING_length(o));
        if (b.size() == 4 || b.size() == 16) out.push_back({SanType::kIp, ip_text(b)});
        break;
      }
      default:
        break;
    }
  }
  return out;
}

}  // namespace herald::x509
