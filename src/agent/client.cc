#include "agent/client.h"

#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <strings.h>

#include <nlohmann/json.hpp>

#include "ca/trust.h"
#include "net/client.h"
#include "ossl/ossl.h"
#include "x509/certificate.h"
#include "x509/csr.h"

namespace herald::agent {

using nlohmann::json;

namespace {

constexpr auto kTimeout = std::chrono::seconds(20);

std::string header_of(const net::Response& r, const char* name) {
  for (const auto& [k, v] : r.headers) {
    if (::strcasecmp(k.c_str(), name) == 0) return v;
  }
  return "";
}

CallError unreachable(Error e) { return CallError{std::move(e), false}; }

// A non-201 answer: the problem's detail, kept to one line.
CallError refused_by(const std::string& what, const net::Response& r) {
  auto body = json::parse(r.body, nullptr, false);
  std::string detail = body.is_object() && body.contains("detail") && body["detail"].is_string()
                           ? body["detail"].get<std::string>()
                           : r.body.substr(0, 200);
  ErrorCode code = r.status == 401   ? ErrorCode::kUnauthenticated
                   : r.status == 403 ? ErrorCode::kForbidden
                   : r.status == 429 ? ErrorCode::kRateLimited
                   : r.status >= 500 ? ErrorCode::kIo
                                     : ErrorCode::kPolicyViolation;
  if (body.is_object() && body.contains("type") && body["type"].is_string()) {
    std::string type = body["type"].get<std::string>();
    if (type.ends_with(":policy-violation") || type.ends_with(":lint-failed")) {
      code = ErrorCode::kPolicyViolation;
    } else if (type.ends_with(":invalid-argument") || type.ends_with(":malformed-input")) {
      code = ErrorCode::kInvalidArgument;
    }
  }
  Error e{code, what + " refused (HTTP " + std::to_string(r.status) + "): " + detail, {}};
  return CallError{std::move(e), r.status >= 400 && r.status < 500 && r.status != 429};
}

CallResult<Issued> parse_issued(const std::string& what, const net::Response& r) {
  if (r.status != 201) return tl::unexpected(refused_by(what, r));
  auto body = json::parse(r.body, nullptr, false);
  if (!body.is_object() || !body.contains("certificate") || !body["certificate"].is_string() ||
      !body.contains("chain") || !body["chain"].is_string()) {
    return tl::unexpected(unreachable(
        Error{ErrorCode::kMalformedInput, what + ": the answer is not an issued certificate", {}}));
  }
  Issued out;
  out.cert_pem = body["certificate"].get<std::string>();
  std::string chain = body["chain"].get<std::string>();
  out.chain_pem = chain.starts_with(out.cert_pem) ? chain.substr(out.cert_pem.size()) : chain;
  if (body.contains("serial") && body["serial"].is_string()) out.serial = body["serial"];
  if (body.contains("not_after") && body["not_after"].is_string())
    out.not_after = body["not_after"];
  auto certs = x509::Certificate::from_pem(out.cert_pem);
  if (!certs) return tl::unexpected(unreachable(certs.error()));
  return out;
}

}  // namespace

Result<Bytes> make_csr(EVP_PKEY& key, const Identity& id) { return x509::make_csr(key, id.cn, id.sans); }

CallResult<Issued> sign_with_token(const ServerRef& s, const std::string& token, const Identity& id,
                                   const Bytes& csr_der) {
  // PEM so that the JSON body stays text.
  std::string csr_pem = "-----BEGIN CERTIFICATE REQUEST-----\n";
  {
    std::string b64 = base64_encode(csr_der);
    for (size_t i = 0; i < b64.size(); i += 64) csr_pem += b64.substr(i, 64) + "\n";
  }
  csr_pem += "-----END CERTIFICATE REQUEST-----\n";
  json body = {{"csr", csr_pem}, {"profile", id.profile}};
  if (id.ttl) body["ttl"] = *id.ttl;
  if (!id.owner.empty()) {
    body["owner"] = json::object();
    for (const auto& [k, v] : id.owner) body["owner"][k] = v;
  }
  net::ClientTls tls{s.trust_pem, "", ""};
  auto r = net::https_request(
      "POST", s.url + "/v1/sign",
      {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token}}, body.dump(),
      tls, kTimeout);
  if (!r) return tl::unexpected(unreachable(r.error()));
  return parse_issued("POST /v1/sign", *r);
}

CallResult<Issued> renew_with_cert(const ServerRef& s, const std::string& cert_pem,
                                   const std::string& key_pem, const Bytes& csr_der) {
  net::ClientTls tls{s.trust_pem, cert_pem, key_pem};
  auto r = net::https_request("POST", s.url + "/v1/renew", {{"Content-Type", "application/pkcs10"}},
                              std::string(csr_der.begin(), csr_der.end()), tls, kTimeout);
  if (!r) {
    // The server unreachable: no point in another credential. A failed TLS
    // handshake may be the server refusing our certificate: a refusal.
    const std::string& m = r.error().message;
    const bool network = m.starts_with("cannot connect") || m.starts_with("cannot resolve");
    return tl::unexpected(CallError{r.error(), !network});
  }
  return parse_issued("POST /v1/renew", *r);
}

Result<std::string> fetch_ca_chain(const ServerRef& s) {
  net::ClientTls tls{s.trust_pem, "", ""};
  HERALD_TRY(auto r, net::https_request("GET", s.url + "/v1/ca/chain", {}, "", tls, kTimeout));
  if (r.status != 200) {
    return make_error(ErrorCode::kIo, "GET /v1/ca/chain: HTTP " + std::to_string(r.status));
  }
  HERALD_TRY(auto certs, x509::Certificate::from_pem(r.body));
  (void)certs;
  return r.body;
}

Result<Bundle> fetch_trust_bundle(const ServerRef& s, const std::string& etag) {
  net::ClientTls tls{s.trust_pem, "", ""};
  std::vector<std::pair<std::string, std::string>> headers;
  if (!etag.empty()) headers.emplace_back("If-None-Match", etag);
  HERALD_TRY(auto r,
             net::https_request("GET", s.url + "/v1/trust/bundle", headers, "", tls, kTimeout));
  Bundle b;
  if (r.status == 304) {
    b.not_modified = true;
    b.etag = etag;
    b.source = "/v1/trust/bundle";
    return b;
  }
  if (r.status == 200) {
    HERALD_TRY(auto certs, x509::Certificate::from_pem(r.body));
    (void)certs;
    b.pem = r.body;
    b.etag = header_of(r, "ETag");
    b.source = "/v1/trust/bundle";
    return b;
  }
  if (r.status != 404) {
    return make_error(ErrorCode::kIo, "GET /v1/trust/bundle: HTTP " + std::to_string(r.status));
  }
  HERALD_TRY(auto root, net::https_request("GET", s.url + "/ca/root.crt", {}, "", tls, kTimeout));
  if (root.status != 200) {
    return make_error(ErrorCode::kIo, "GET /ca/root.crt: HTTP " + std::to_string(root.status));
  }
  HERALD_TRY(auto cert, x509::Certificate::from_der(std::span(
                            reinterpret_cast<const uint8_t*>(root.body.data()), root.body.size())));
  b.pem = cert.pem();
  b.source = "/ca/root.crt";
  return b;
}

Result<SpiffeFetch> fetch_spiffe_bundle(const std::string& url, const std::string& trust_pem,
                                        const std::string& etag) {
  net::ClientTls tls{trust_pem, "", ""};
  std::vector<std::pair<std::string, std::string>> headers;
  if (!etag.empty()) headers.emplace_back("If-None-Match", etag);
  HERALD_TRY(auto r, net::https_request("GET", url, headers, "", tls, kTimeout));
  SpiffeFetch f;
  if (r.status == 304) {
    f.not_modified = true;
    f.etag = etag;
    return f;
  }
  if (r.status != 200) {
    return make_error(ErrorCode::kIo, "GET " + url + ": HTTP " + std::to_string(r.status));
  }
  HERALD_TRY(auto parsed, ca::parse_spiffe_bundle(r.body));
  f.pem = ca::pem_bundle(parsed.authorities);
  f.authorities = parsed.authorities.size();
  f.refresh_hint = parsed.refresh_hint;
  f.etag = header_of(r, "ETag");
  return f;
}

}  // namespace herald::agent
