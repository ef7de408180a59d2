#pragma once
// The agent's calls to `herald serve`: first issuance with a bearer token
// (POST /v1/sign), renewal over mutual TLS with the current certificate
// (POST /v1/renew), and the trust bundle (GET /v1/trust/bundle with ETag,
// else the root from GET /ca/root.crt).

#include <openssl/evp.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "keys/key_type.h"
#include "x509/san.h"

namespace herald::agent {

struct Identity {
  std::string profile;
  std::string cn;
  std::vector<x509::San> sans;
  std::optional<std::string> ttl;  // "2m", as the API takes it
  // Owner labels sent at first issuance (team=web, ...); the CA checks them
  // and a renewal keeps them.
  std::vector<std::pair<std::string, std::string>> owner;
};

struct ServerRef {
  std::string url;        // https://HOST:PORT, no trailing slash
  std::string trust_pem;  // anchors for the server's TLS certificate
};

struct Issued {
  std::string cert_pem;   // leaf
  std::string chain_pem;  // issuing + intermediate
  std::string serial;
  std::string not_after;  // as the server wrote it
};

// A failed call: `refused` when the server answered with a 4xx (the
// credential or the request is not acceptable; another credential may do),
// otherwise the server could not be reached or failed (5xx).
struct CallError {
  Error error;
  bool refused = false;
};
template <typename T>
using CallResult = tl::expected<T, CallError>;

// DER PKCS#10 for `key` with the identity's CN and SANs (extensionRequest).
[[nodiscard]] Result<Bytes> make_csr(EVP_PKEY& key, const Identity& id);

[[nodiscard]] CallResult<Issued> sign_with_token(const ServerRef& s, const std::string& token,
                                                 const Identity& id, const Bytes& csr_der);

[[nodiscard]] CallResult<Issued> renew_with_cert(const ServerRef& s, const std::string& cert_pem,
                                                 const std::string& key_pem, const Bytes& csr_der);

// GET /v1/ca/chain: issuing + intermediate (PEM), for OCSP requests.
[[nodiscard]] Result<std::string> fetch_ca_chain(const ServerRef& s);

struct Bundle {
  bool not_modified = false;
  std::string pem;
  std::string etag;
  std::string source;  // the URL path it came from
};
// GET /v1/trust/bundle (If-None-Match: etag); on a 404 (an older server),
// the root certificate from GET /ca/root.crt as PEM.
[[nodiscard]] Result<Bundle> fetch_trust_bundle(const ServerRef& s, const std::string& etag);

// GET a SPIFFE trust bundle endpoint of another trust domain (`url`, its
// TLS certificate checked against `trust_pem`), If-None-Match `etag`; the
// body is checked with ca::parse_spiffe_bundle and turned into PEM.
struct SpiffeFetch {
  bool not_modified = false;
  std::string pem;  // the x509-svid authorities
  size_t authorities = 0;
  std::string etag;
  std::optional<std::chrono::seconds> refresh_hint;
};
[[nodiscard]] Result<SpiffeFetch> fetch_spiffe_bundle(const std::string& url,
                                                      const std::string& trust_pem,
                                                      const std::string& etag);

}  // namespace herald::agent
