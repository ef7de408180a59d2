#include "acme_client/messages.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>

#include "ossl/ossl.h"

namespace herald::acme_client {

using nlohmann::json;

namespace {

constexpr int kMaxJsonDepth = 32;
constexpr size_t kMaxArray = 1000;
constexpr size_t kMaxChallenges = 32;
constexpr size_t kMaxTokenSize = 256;
constexpr size_t kMaxIdentifierSize = 512;

tl::unexpected<Error> malformed(std::string what) {
  return make_error(ErrorCode::kMalformedInput, std::move(what));
}

// JSON read strictly: size cap, depth cap, no duplicate member names, an object.
Result<json> parse_json(std::string_view text, const std::string& what) {
  if (text.size() > kMaxBodySize)
    return malformed(what + " is larger than " + std::to_string(kMaxBodySize) + " bytes");
  std::vector<std::set<std::string>> open;
  bool duplicate = false, too_deep = false;
  using Event = json::parse_event_t;
  auto callback = [&](int depth, Event event, json& parsed) {
    if (depth > kMaxJsonDepth) too_deep = true;
    if (event == Event::object_start) {
      open.emplace_back();
    } else if (event == Event::object_end && !open.empty()) {
      open.pop_back();
    } else if (event == Event::key && !open.empty() && parsed.is_string()) {
      if (!open.back().insert(parsed.get<std::string>()).second) duplicate = true;
    }
    return true;
  };
  auto j = json::parse(text.begin(), text.end(), callback, false);
  if (j.is_discarded()) return malformed(what + " is not valid JSON");
  if (too_deep) return malformed(what + " is nested too deeply");
  if (duplicate) return malformed(what + " has a duplicate member name");
  if (!j.is_object()) return malformed(what + " is not a JSON object");
  return j;
}

// A string member; nullopt when absent; an error when not a string or too long.
Result<std::optional<std::string>> opt_string(const json& o, const char* name,
                                              const std::string& where, size_t max = 4096) {
  auto it = o.find(name);
  if (it == o.end()) return std::nullopt;
  if (!it->is_string()) return malformed(where + ": \"" + name + "\" is not a string");
  const auto& s = it->get_ref<const std::string&>();
  if (s.size() > max) return malformed(where + ": \"" + name + "\" is too long");
  return s;
}

Result<std::string> req_string(const json& o, const char* name, const std::string& where,
                               size_t max = 4096) {
  HERALD_TRY(auto s, opt_string(o, name, where, max));
  if (!s || s->empty()) return malformed(where + ": no \"" + name + "\"");
  return *s;
}

Result<std::string> req_url(const json& o, const char* name, const std::string& where) {
  HERALD_TRY(auto s, req_string(o, name, where, kMaxUrlSize));
  HERALD_TRY_VOID(check_url(s, where + " " + name));
  return s;
}

Result<std::optional<std::string>> opt_url(const json& o, const char* name,
                                           const std::string& where) {
  HERALD_TRY(auto s, opt_string(o, name, where, kMaxUrlSize));
  if (s) {
    HERALD_TRY_VOID(check_url(*s, where + " " + name));
  }
  return s;
}

Result<AcmeStatus> status_of(const json& o, const std::string& where,
                             std::initializer_list<AcmeStatus> allowed) {
  HERALD_TRY(auto s, req_string(o, "status", where, 64));
  static constexpr AcmeStatus kAll[] = {AcmeStatus::kPending,    AcmeStatus::kReady,
                                        AcmeStatus::kProcessing, AcmeStatus::kValid,
                                        AcmeStatus::kInvalid,    AcmeStatus::kDeactivated,
                                        AcmeStatus::kExpired,    AcmeStatus::kRevoked};
  for (AcmeStatus st : kAll) {
    if (status_name(st) == s && std::find(allowed.begin(), allowed.end(), st) != allowed.end())
      return st;
  }
  return malformed(where + ": unknown status \"" + clean(s, 40) + "\"");
}

Result<Identifier> identifier_of(const json& o, const std::string& where) {
  if (!o.is_object()) return malformed(where + ": an identifier is not an object");
  Identifier id;
  HERALD_TRY(id.type, req_string(o, "type", where + " identifier", 32));
  HERALD_TRY(id.value, req_string(o, "value", where + " identifier", kMaxIdentifierSize));
  for (char c : id.type + id.value) {
    if (c <= 0x20 || c >= 0x7f)
      return malformed(where + ": identifier with a non-printable character");
  }
  return id;
}

Result<Problem> problem_of(const json& o, const std::string& where) {
  if (!o.is_object()) return malformed(where + " is not an object");
  Problem p;
  HERALD_TRY(auto type, opt_string(o, "type", where, 1024));
  p.type = type && !type->empty() ? clean(*type, 200) : "about:blank";
  HERALD_TRY(auto detail, opt_string(o, "detail", where, 16 * 1024));
  if (detail) p.detail = clean(*detail);
  if (auto it = o.find("status"); it != o.end()) {
    if (!it->is_number_integer()) return malformed(where + ": \"status\" is not an integer");
    auto v = it->get<int64_t>();
    if (v < 100 || v > 599) return malformed(where + ": \"status\" is not an HTTP status");
    p.status = static_cast<int>(v);
  }
  if (auto it = o.find("subproblems"); it != o.end()) {
    if (!it->is_array()) return malformed(where + ": \"subproblems\" is not an array");
    if (it->size() > kMaxArray) return malformed(where + ": too many subproblems");
    for (const auto& s : *it) {
      if (!s.is_object()) return malformed(where + ": a subproblem is not an object");
      Problem::Sub sub;
      HERALD_TRY(auto st, opt_string(s, "type", where + " subproblem", 1024));
      sub.type = st ? clean(*st, 200) : "about:blank";
      HERALD_TRY(auto sd, opt_string(s, "detail", where + " subproblem", 16 * 1024));
      if (sd) sub.detail = clean(*sd);
      if (auto id = s.find("identifier"); id != s.end()) {
        HERALD_TRY(sub.identifier, identifier_of(*id, where + " subproblem"));
      }
      p.subproblems.push_back(std::move(sub));
    }
  }
  return p;
}

Result<std::optional<Problem>> opt_problem(const json& o, const std::string& where) {
  auto it = o.find("error");
  if (it == o.end() || it->is_null()) return std::nullopt;
  HERALD_TRY(auto p, problem_of(*it, where + " error"));
  return p;
}

bool is_b64url(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

Result<Challenge> challenge_of(const json& o, const std::string& where) {
  if (!o.is_object()) return malformed(where + " is not an object");
  Challenge c;
  HERALD_TRY(c.type, req_string(o, "type", where, 64));
  c.type = clean(c.type, 64);
  HERALD_TRY(c.url, req_url(o, "url", where));
  HERALD_TRY(c.status, status_of(o, where,
                                 {AcmeStatus::kPending, AcmeStatus::kProcessing, AcmeStatus::kValid,
                                  AcmeStatus::kInvalid}));
  HERALD_TRY(auto token, opt_string(o, "token", where, kMaxTokenSize));
  if (token) {
    // §8.1: base64url, at least 128 bits of entropy (22 characters).
    if (token->size() < 22 || !is_b64url(*token))
      return malformed(where + ": \"token\" is not a base64url string of at least 22 characters");
    c.token = *token;
  } else if (c.type == "http-01" || c.type == "dns-01" || c.type == "tls-alpn-01") {
    return malformed(where + ": a " + c.type + " challenge without a token");
  }
  HERALD_TRY(c.error, opt_problem(o, where));
  return c;
}

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

}  // namespace

std::string_view status_name(AcmeStatus s) {
  switch (s) {
    case AcmeStatus::kPending:
      return "pending";
    case AcmeStatus::kReady:
      return "ready";
    case AcmeStatus::kProcessing:
      return "processing";
    case AcmeStatus::kValid:
      return "valid";
    case AcmeStatus::kInvalid:
      return "invalid";
    case AcmeStatus::kDeactivated:
      return "deactivated";
    case AcmeStatus::kExpired:
      return "expired";
    case AcmeStatus::kRevoked:
      return "revoked";
  }
  return "?";
}

std::string Identifier::describe() const { return type + ":" + value; }

std::string Problem::acme_type() const {
  constexpr std::string_view kPrefix = "urn:ietf:params:acme:error:";
  return type.starts_with(kPrefix) ? type.substr(kPrefix.size()) : "";
}

std::string Problem::describe() const {
  std::string out = type;
  if (!detail.empty()) out += ": " + detail;
  if (!subproblems.empty()) {
    out += " [";
    for (size_t i = 0; i < subproblems.size() && i < 10; ++i) {
      const auto& s = subproblems[i];
      if (i) out += "; ";
      if (s.identifier) out += s.identifier->describe() + ": ";
      out += s.type;
      if (!s.detail.empty()) out += ": " + s.detail;
    }
    if (subproblems.size() > 10) out += "; ...";
    out += "]";
  }
  return out;
}

std::string clean(std::string_view s, size_t max) {
  std::string out;
  out.reserve(std::min(s.size(), max + 3));
  for (char c : s) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return out;
}

Status check_url(std::string_view url, std::string_view what) {
  if (url.size() > kMaxUrlSize) return malformed(std::string(what) + " URL is too long");
  if (!url.starts_with("https://") || url.size() <= 8)
    return malformed(std::string(what) + " is not an https:// URL: " + clean(url, 200));
  for (char c : url) {
    if (c <= 0x20 || c >= 0x7f)
      return malformed(std::string(what) + " URL has a space or a non-ASCII character");
  }
  auto host_end = url.find_first_of("/?#", 8);
  std::string_view authority =
      url.substr(8, host_end == std::string_view::npos ? url.npos : host_end - 8);
  if (authority.empty() || authority.find('@') != std::string_view::npos)
    return malformed(std::string(what) + " URL has no usable host: " + clean(url, 200));
  return {};
}

bool valid_nonce(std::string_view nonce) {
  return !nonce.empty() && nonce.size() <= 256 && is_b64url(nonce);
}

Result<Directory> parse_directory(std::string_view body) {
  HERALD_TRY(auto j, parse_json(body, "the directory"));
  Directory d;
  const std::string w = "the directory";
  HERALD_TRY(d.new_nonce, req_url(j, "newNonce", w));
  HERALD_TRY(d.new_account, req_url(j, "newAccount", w));
  HERALD_TRY(d.new_order, req_url(j, "newOrder", w));
  HERALD_TRY(d.revoke_cert, opt_url(j, "revokeCert", w));
  HERALD_TRY(d.key_change, opt_url(j, "keyChange", w));
  HERALD_TRY(d.renewal_info, opt_url(j, "renewalInfo", w));
  if (auto m = j.find("meta"); m != j.end()) {
    if (!m->is_object()) return malformed("the directory's \"meta\" is not an object");
    // termsOfService is a URL the operator reads, not one the client follows: any scheme.
    HERALD_TRY(auto tos, opt_string(*m, "termsOfService", w + " meta", kMaxUrlSize));
    if (tos) d.terms_of_service = clean(*tos, kMaxUrlSize);
    if (auto e = m->find("externalAccountRequired"); e != m->end()) {
      if (!e->is_boolean())
        return malformed("the directory's externalAccountRequired is not a boolean");
      d.external_account_required = e->get<bool>();
    }
  }
  return d;
}

Result<Order> parse_order(std::string_view body) {
  HERALD_TRY(auto j, parse_json(body, "the order"));
  const std::string w = "the order";
  Order o;
  HERALD_TRY(o.status, status_of(j, w,
                                 {AcmeStatus::kPending, AcmeStatus::kReady, AcmeStatus::kProcessing,
                                  AcmeStatus::kValid, AcmeStatus::kInvalid}));
  auto ids = j.find("identifiers");
  if (ids == j.end() || !ids->is_array() || ids->empty())
    return malformed(w + ": \"identifiers\" is not a non-empty array");
  if (ids->size() > kMaxArray) return malformed(w + ": too many identifiers");
  for (const auto& i : *ids) {
    HERALD_TRY(auto id, identifier_of(i, w));
    o.identifiers.push_back(std::move(id));
  }
  auto authz = j.find("authorizations");
  if (authz == j.end() || !authz->is_array())
    return malformed(w + ": \"authorizations\" is not an array");
  if (authz->size() > kMaxArray) return malformed(w + ": too many authorizations");
  for (const auto& a : *authz) {
    if (!a.is_string()) return malformed(w + ": an authorization URL is not a string");
    const auto& url = a.get_ref<const std::string&>();
    HERALD_TRY_VOID(check_url(url, w + " authorization"));
    o.authorizations.push_back(url);
  }
  HERALD_TRY(o.finalize, req_url(j, "finalize", w));
  HERALD_TRY(o.certificate, opt_url(j, "certificate", w));
  HERALD_TRY(o.error, opt_problem(j, w));
  if (o.status == AcmeStatus::kValid && !o.certificate)
    return malformed(w + " is valid but has no \"certificate\" URL");
  return o;
}

Result<Authorization> parse_authorization(std::string_view body) {
  HERALD_TRY(auto j, parse_json(body, "the authorization"));
  const std::string w = "the authorization";
  Authorization a;
  auto id = j.find("identifier");
  if (id == j.end()) return malformed(w + ": no \"identifier\"");
  HERALD_TRY(a.identifier, identifier_of(*id, w));
  HERALD_TRY(a.status,
             status_of(j, w,
                       {AcmeStatus::kPending, AcmeStatus::kValid, AcmeStatus::kInvalid,
                        AcmeStatus::kDeactivated, AcmeStatus::kExpired, AcmeStatus::kRevoked}));
  auto ch = j.find("challenges");
  if (ch == j.end() || !ch->is_array()) return malformed(w + ": \"challenges\" is not an array");
  if (ch->size() > kMaxChallenges) return malformed(w + ": too many challenges");
  for (const auto& c : *ch) {
    HERALD_TRY(auto parsed, challenge_of(c, w + " challenge"));
    a.challenges.push_back(std::move(parsed));
  }
  if (auto wc = j.find("wildcard"); wc != j.end()) {
    if (!wc->is_boolean()) return malformed(w + ": \"wildcard\" is not a boolean");
    a.wildcard = wc->get<bool>();
  }
  return a;
}

Result<Challenge> parse_challenge(std::string_view body) {
  HERALD_TRY(auto j, parse_json(body, "the challenge"));
  return challenge_of(j, "the challenge");
}

Result<Problem> parse_problem(std::string_view body) {
  HERALD_TRY(auto j, parse_json(body, "the problem document"));
  return problem_of(j, "the problem document");
}

Result<AcmeStatus> parse_account_status(std::string_view body) {
  HERALD_TRY(auto j, parse_json(body, "the account"));
  return status_of(j, "the account",
                   {AcmeStatus::kValid, AcmeStatus::kDeactivated, AcmeStatus::kRevoked});
}

Result<RenewalInfo> parse_renewal_info(std::string_view body) {
  HERALD_TRY(auto j, parse_json(body, "the renewal information"));
  const std::string w = "the renewal information";
  auto win = j.find("suggestedWindow");
  if (win == j.end() || !win->is_object()) return malformed(w + ": no \"suggestedWindow\" object");
  HERALD_TRY(auto start, req_string(*win, "start", w, 64));
  HERALD_TRY(auto end, req_string(*win, "end", w, 64));
  RenewalInfo r;
  HERALD_TRY(r.start, parse_rfc3339(start));
  HERALD_TRY(r.end, parse_rfc3339(end));
  if (r.end <= r.start) return malformed(w + ": the window ends before it starts");
  // explanationURL is for a human to read: any absolute URL, shown, never followed.
  HERALD_TRY(auto ex, opt_string(j, "explanationURL", w, kMaxUrlSize));
  if (ex) r.explanation_url = clean(*ex, kMaxUrlSize);
  return r;
}

Result<TimePoint> parse_rfc3339(std::string_view s) {
  auto bad = [&] { return malformed("'" + clean(s, 64) + "' is not an RFC 3339 date-time"); };
  int y, mo, d, h, mi, se;
  if (s.size() < 20 || !digits(s, 0, 4, y) || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't') || !digits(s, 11, 2, h) ||
      s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, se)) {
    return bad();
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return bad();
  size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    if (pos == start || pos - start > 12) return bad();
  }
  int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, om) || oh > 23 || om > 59) {
      return bad();
    }
    offset = (s[pos] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    pos += 6;
  } else {
    return bad();
  }
  if (pos != s.size()) return bad();
  const int64_t secs =
      days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 + h * 3600 +
      mi * 60 + std::min(se, 59) - offset;
  return TimePoint(std::chrono::seconds(secs));
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view v, TimePoint now) {
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  if (std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (v.size() > 9) return std::chrono::seconds(999999999);
    int64_t n = 0;
    for (char c : v) n = n * 10 + (c - '0');
    return std::chrono::seconds(n);
  }
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
  static constexpr std::string_view kMonths = "JanFebMarAprMayJunJulAugSepOctNovDec";
  int d, y, h, mi, se;
  if (v.size() != 29 || v[3] != ',' || v[4] != ' ' || !digits(v, 5, 2, d) || v[7] != ' ' ||
      v[11] != ' ' || !digits(v, 12, 4, y) || v[16] != ' ' || !digits(v, 17, 2, h) ||
      v[19] != ':' || !digits(v, 20, 2, mi) || v[22] != ':' || !digits(v, 23, 2, se) ||
      v.substr(25) != " GMT") {
    return std::nullopt;
  }
  auto m = kMonths.find(v.substr(8, 3));
  if (m == std::string_view::npos || m % 3 != 0 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
    return std::nullopt;
  const int64_t t =
      days_from_civil(y, static_cast<unsigned>(m / 3 + 1), static_cast<unsigned>(d)) * 86400 +
      h * 3600 + mi * 60 + std::min(se, 59);
  const int64_t delta = t - now.time_since_epoch().count();
  return std::chrono::seconds(delta > 0 ? delta : 0);
}

std::string key_authorization(std::string_view token, std::string_view thumbprint) {
  return std::string(token) + "." + std::string(thumbprint);
}

Result<std::string> dns01_txt_value(std::string_view key_authorization) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(key_authorization.data(), key_authorization.size(), md, &len, EVP_sha256(),
                 nullptr) != 1)
    return ossl::error(ErrorCode::kCrypto, "SHA-256 failed");
  return base64url_encode(std::span<const uint8_t>(md, len));
}

std::string ari_cert_id(std::span<const uint8_t> key_identifier,
                        std::span<const uint8_t> serial_content) {
  return base64url_encode(key_identifier) + "." + base64url_encode(serial_content);
}

Result<std::string> ari_cert_id_of(std::span<const uint8_t> cert_der) {
  const unsigned char* p = cert_der.data();
  ossl::X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(cert_der.size())));
  if (!cert) return ossl::error(ErrorCode::kMalformedInput, "not a DER certificate");
  const ASN1_OCTET_STRING* kid = X509_get0_authority_key_id(cert.get());
  if (!kid || ASN1_STRING_length(kid) <= 0) {
    ossl::clear_errors();
    return malformed("the certificate has no authority key identifier (keyIdentifier)");
  }
  // The serial's DER INTEGER without tag and length: its content octets,
  // with the leading 0x00 a positive serial with the top bit set carries.
  unsigned char* der = nullptr;
  int n = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert.get()), &der);
  if (n <= 2) {
    OPENSSL_free(der);
    return ossl::error(ErrorCode::kCrypto, "cannot encode the serial number");
  }
  size_t hdr = 2;
  if (der[1] & 0x80) hdr = 2 + (der[1] & 0x7f);
  Bytes content(der + std::min<size_t>(hdr, static_cast<size_t>(n)), der + n);
  OPENSSL_free(der);
  return ari_cert_id(std::span<const uint8_t>(ASN1_STRING_get0_data(kid),
                                              static_cast<size_t>(ASN1_STRING_length(kid))),
                     content);
}

}  // namespace herald::acme_client
