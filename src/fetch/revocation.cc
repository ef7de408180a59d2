#include "fetch/revocation.h"

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <set>

#include "net/client.h"
#include "ossl/ossl.h"
#include "x509/certificate.h"

namespace herald::fetch {

bool is_http(const std::string& url) {
  if (url.size() < 8) return false;
  std::string scheme = url.substr(0, 7);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return scheme == "http://";
}

namespace {

std::string uri_of(const GENERAL_NAME* g) {
  if (!g || g->type != GEN_URI) return "";
  const ASN1_IA5STRING* s = g->d.uniformResourceIdentifier;
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

// Printable for a message: URLs come from a certificate, anyone's.
std::string printable(const std::string& s) {
  std::string out;
  for (char c : s.substr(0, 200)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return s.size() > 200 ? out + "..." : out;
}

std::vector<std::string> crl_urls(X509* x) {
  std::vector<std::string> out;
  std::unique_ptr<CRL_DIST_POINTS, ossl::Deleter<CRL_DIST_POINTS_free>> cdps(
      static_cast<CRL_DIST_POINTS*>(
          X509_get_ext_d2i(x, NID_crl_distribution_points, nullptr, nullptr)));
  ERR_clear_error();
  for (int i = 0; cdps && i < sk_DIST_POINT_num(cdps.get()); ++i) {
    const DIST_POINT* dp = sk_DIST_POINT_value(cdps.get(), i);
    if (!dp->distpoint || dp->distpoint->type != 0) continue;
    for (int j = 0; j < sk_GENERAL_NAME_num(dp->distpoint->name.fullname); ++j) {
      std::string u = uri_of(sk_GENERAL_NAME_value(dp->distpoint->name.fullname, j));
      if (!u.empty()) out.push_back(std::move(u));
    }
  }
  return out;
}

std::vector<std::string> ocsp_urls(X509* x) {
  std::vector<std::string> out;
  std::unique_ptr<AUTHORITY_INFO_ACCESS, ossl::Deleter<AUTHORITY_INFO_ACCESS_free>> aia(
      static_cast<AUTHORITY_INFO_ACCESS*>(X509_get_ext_d2i(x, NID_info_access, nullptr, nullptr)));
  ERR_clear_error();
  for (int i = 0; aia && i < sk_ACCESS_DESCRIPTION_num(aia.get()); ++i) {
    const ACCESS_DESCRIPTION* ad = sk_ACCESS_DESCRIPTION_value(aia.get(), i);
    if (OBJ_obj2nid(ad->method) != NID_ad_OCSP) continue;
    std::string u = uri_of(ad->location);
    if (!u.empty()) out.push_back(std::move(u));
  }
  return out;
}

struct Cert {
  ossl::X509Ptr x509;
  std::string subject;
  std::string serial;
};

Cert parse(const Bytes& der) {
  Cert c;
  const unsigned char* p = der.data();
  c.x509.reset(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  ERR_clear_error();
  if (auto cert = x509::Certificate::from_der(der)) {
    c.subject = cert->subject();
    c.serial = cert->serial().hex();
  }
  return c;
}

class Fetcher {
 public:
  explicit Fetcher(Fetched& out) : out_(out) {}

  void problem(int depth, const Cert& c, std::string expected, std::string found,
               std::string hint) {
    verify::Finding f;
    f.code = "revocation_fetch_failed";
    f.severity = verify::Severity::kWarning;
    f.depth = depth;
    f.subject = c.subject;
    f.serial = c.serial;
    f.expected = std::move(expected);
    f.found = std::move(found);
    f.hint = std::move(hint);
    out_.problems.push_back(std::move(f));
  }

  // The certificate's CRL from the first of its http:// CDP URLs that gives one.
  void crl(int depth, const Cert& c) {
    const auto urls = crl_urls(c.x509.get());
    if (urls.empty()) {
      problem(depth, c, "a CRL distribution point", "the certificate names none",
              "give the CRL with --crl, or ask OCSP with --ocsp");
      return;
    }
    size_t tried = 0;
    for (const auto& url : urls) {
      if (tried == kMaxUrlsPerCertificate) break;
      if (!is_http(url)) {
        problem(depth, c, "an http:// CRL URL", "skipped " + printable(url),
                "only http:// CRL URLs are fetched");
        continue;
      }
      ++tried;
      if (fetched_crl_urls_.count(url)) return;  // the same CRL serves several certificates
      auto res = net::http_request("GET", url, {{"Accept", "application/pkix-crl"}}, "",
                                   kFetchTimeout, kMaxCrlBytes);
      const std::string u = printable(url);
      if (!res) {
        problem(
            depth, c, "a CRL from " + u, res.error().message,
            "check that the CA's CRL service is reachable from here (herald serve publishes it)");
        continue;
      }
      if (res->status != 200) {
        problem(depth, c, "a CRL from " + u, "HTTP " + std::to_string(res->status),
                "the CA does not publish this CRL (offline CAs: herald crl --ca NAME)");
        continue;
      }
      std::vector<Bytes> crls;
      std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(res->body.data()),
                                     res->body.size());
      if (ossl::looks_like_pem(bytes)) {
        if (auto blocks = ossl::pem_blocks(res->body, "X509 CRL")) crls = std::move(*blocks);
      } else if (!bytes.empty()) {
        crls.emplace_back(bytes.begin(), bytes.end());
      }
      if (crls.empty()) {
        problem(depth, c, "a CRL (PEM or DER) from " + u,
                std::to_string(res->body.size()) + " bytes that are not one",
                "check the URL: it does not serve a CRL");
        continue;
      }
      fetched_crl_urls_.insert(url);
      out_.log.push_back("CRL " + u + " (" + std::to_string(res->body.size()) + " bytes)");
      for (auto& b : crls) out_.crls.push_back(std::move(b));
      return;
    }
  }

  // An OCSP response about `c` (issued by `issuer`); false if the
  // certificate names no http:// responder.
  bool ocsp(int depth, const Cert& c, X509* issuer) {
    const auto urls = ocsp_urls(c.x509.get());
    bool any_http = false;
    size_t tried = 0;
    for (const auto& url : urls) {
      if (!is_http(url)) continue;
      any_http = true;
      if (tried++ == kMaxUrlsPerCertificate) break;
      const std::string u = printable(url);
      auto request = build_request(c.x509.get(), issuer);
      if (request.empty()) {
        problem(depth, c, "an OCSP request", "OpenSSL could not build one", "report this as a bug");
        return true;
      }
      auto res = net::http_request(
          "POST", url,
          {{"Content-Type", "application/ocsp-request"}, {"Accept", "application/ocsp-response"}},
          std::string(request.begin(), request.end()), kFetchTimeout, kMaxOcspBytes);
      if (!res) {
        problem(depth, c, "an OCSP response from " + u, res.error().message,
                "check that the CA's OCSP responder is reachable from here (herald serve answers "
                "OCSP)");
        continue;
      }
      if (res->status != 200) {
        problem(depth, c, "an OCSP response from " + u, "HTTP " + std::to_string(res->status),
                "check the responder URL in the certificate's AIA");
        continue;
      }
      const unsigned char* p = reinterpret_cast<const unsigned char*>(res->body.data());
      ossl::OcspResponsePtr parsed(
          d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(res->body.size())));
      ERR_clear_error();
      if (!parsed) {
        problem(depth, c, "a DER OCSP response from " + u,
                std::to_string(res->body.size()) + " bytes that are not one",
                "check the responder URL");
        continue;
      }
      out_.log.push_back("OCSP " + u + " (" + std::to_string(res->body.size()) + " bytes)");
      out_.ocsp_responses.emplace_back(res->body.begin(), res->body.end());
      return true;
    }
    return any_http;
  }

 private:
  Bytes build_request(X509* cert, X509* issuer) {
    ossl::OcspRequestPtr req(OCSP_REQUEST_new());
    OCSP_CERTID* id = OCSP_cert_to_id(EVP_sha1(), cert, issuer);
    if (!req || !id || !OCSP_request_add0_id(req.get(), id)) {
      OCSP_CERTID_free(id);
      ERR_clear_error();
      return {};
    }
    if (out_.nonce && OCSP_request_add1_nonce(req.get(), out_.nonce->data(),
                                              static_cast<int>(out_.nonce->size())) != 1) {
      ERR_clear_error();
      return {};
    }
    unsigned char* der = nullptr;
    const int n = i2d_OCSP_REQUEST(req.get(), &der);
    if (n <= 0) {
      ERR_clear_error();
      return {};
    }
    Bytes out(der, der + n);
    OPENSSL_free(der);
    return out;
  }

  Fetched& out_;
  std::set<std::string> fetched_crl_urls_;
};

}  // namespace

Fetched fetch_revocation(const std::vector<Bytes>& chain, FetchWhat what) {
  Fetched out;
  if (what.ocsp) {
    Bytes nonce(kOcspNonceBytes);
    if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) == 1) out.nonce = std::move(nonce);
    ERR_clear_error();
  }
  std::vector<Cert> certs;
  for (const auto& der : chain) certs.push_back(parse(der));
  Fetcher f(out);
  for (size_t i = 0; i + 1 < certs.size(); ++i) {
    if (!certs[i].x509 || !certs[i + 1].x509) continue;
    const int depth = static_cast<int>(i);
    bool asked = false;
    if (what.ocsp) asked = f.ocsp(depth, certs[i], certs[i + 1].x509.get());
    if (what.crls || (what.ocsp && !asked)) f.crl(depth, certs[i]);
  }
  return out;
}

namespace {
ossl::X509Ptr x509_of(const Bytes& der) {
  const unsigned char* p = der.data();
  ossl::X509Ptr x(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  ERR_clear_error();
  return x;
}
}  // namespace

std::vector<std::string> crl_urls(const Bytes& cert_der) {
  auto x = x509_of(cert_der);
  return x ? crl_urls(x.get()) : std::vector<std::string>{};
}

std::vector<std::string> ocsp_urls(const Bytes& cert_der) {
  auto x = x509_of(cert_der);
  return x ? ocsp_urls(x.get()) : std::vector<std::string>{};
}

Result<Bytes> fetch_crl(const std::string& url) {
  const std::string u = printable(url);
  if (!is_http(url)) return make_error(ErrorCode::kInvalidArgument, "not an http:// CRL URL: " + u);
  auto res = net::http_request("GET", url, {{"Accept", "application/pkix-crl"}}, "", kFetchTimeout,
                               kMaxCrlBytes);
  if (!res) return make_error(ErrorCode::kIo, "CRL " + u + ": " + res.error().message);
  if (res->status != 200) {
    return make_error(ErrorCode::kIo, "CRL " + u + ": HTTP " + std::to_string(res->status));
  }
  std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(res->body.data()),
                                 res->body.size());
  if (ossl::looks_like_pem(bytes)) {
    if (auto blocks = ossl::pem_blocks(res->body, "X509 CRL"); blocks && !blocks->empty()) {
      return std::move(blocks->front());
    }
  } else {
    const unsigned char* p = bytes.data();
    ossl::X509CrlPtr crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(bytes.size())));
    ERR_clear_error();
    if (crl) return Bytes(bytes.begin(), bytes.end());
  }
  return make_error(ErrorCode::kMalformedInput,
                    "CRL " + u + ": " + std::to_string(res->body.size()) + " bytes that are not a CRL");
}

Result<Bytes> fetch_ocsp(const Bytes& cert_der, const Bytes& issuer_der, const std::string& url) {
  const std::string u = printable(url);
  if (!is_http(url)) return make_error(ErrorCode::kInvalidArgument, "not an http:// OCSP URL: " + u);
  auto cert = x509_of(cert_der), issuer = x509_of(issuer_der);
  if (!cert || !issuer) return make_error(ErrorCode::kMalformedInput, "OCSP: unreadable certificate");
  ossl::OcspRequestPtr req(OCSP_REQUEST_new());
  OCSP_CERTID* id = OCSP_cert_to_id(EVP_sha1(), cert.get(), issuer.get());
  if (!req || !id || !OCSP_request_add0_id(req.get(), id)) {
    OCSP_CERTID_free(id);
    ERR_clear_error();
    return make_error(ErrorCode::kCrypto, "OCSP: cannot build a request");
  }
  unsigned char* der = nullptr;
  const int n = i2d_OCSP_REQUEST(req.get(), &der);
  if (n <= 0) {
    ERR_clear_error();
    return make_error(ErrorCode::kCrypto, "OCSP: cannot encode the request");
  }
  std::string body(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  auto res = net::http_request(
      "POST", url,
      {{"Content-Type", "application/ocsp-request"}, {"Accept", "application/ocsp-response"}},
      body, kFetchTimeout, kMaxOcspBytes);
  if (!res) return make_error(ErrorCode::kIo, "OCSP " + u + ": " + res.error().message);
  if (res->status != 200) {
    return make_error(ErrorCode::kIo, "OCSP " + u + ": HTTP " + std::to_string(res->status));
  }
  const unsigned char* p = reinterpret_cast<const unsigned char*>(res->body.data());
  ossl::OcspResponsePtr parsed(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(res->body.size())));
  ERR_clear_error();
  if (!parsed) return make_error(ErrorCode::kMalformedInput, "OCSP " + u + ": not a DER OCSP response");
  return Bytes(res->body.begin(), res->body.end());
}

}  // namespace herald::fetch
