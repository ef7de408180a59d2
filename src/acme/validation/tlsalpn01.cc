// tls-alpn-01 (RFC 8737), with IP identifiers (RFC 8738 §6).

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <cstring>
#include <span>

#include "acme/validation/common.h"
#include "acme/validation/connect.h"
#include "acme/validation/validator.h"
#include "ossl/ossl.h"

namespace herald::acme::validation {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = boost::asio::ssl;
using detail::failure;
using detail::printable;

constexpr std::string_view kChallenge = "tls-alpn-01";
constexpr std::string_view kAlpn = "acme-tls/1";
constexpr char kAcmeIdentifierOid[] = "1.3.6.1.5.5.7.1.31";

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto la = static_cast<char>(std::tolower(static_cast<unsigned char>(a[i])));
    auto lb = static_cast<char>(std::tolower(static_cast<unsigned char>(b[i])));
    if (la != lb) return false;
  }
  return true;
}

std::string describe_name(const GENERAL_NAME* gn) {
  int type = 0;
  const void* value = GENERAL_NAME_get0_value(gn, &type);
  if (type == GEN_DNS) {
    const auto* s = static_cast<const ASN1_IA5STRING*>(value);
    return "DNS:" +
           printable(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                      static_cast<size_t>(ASN1_STRING_length(s))),
                     64);
  }
  if (type == GEN_IPADD) {
    const auto* s = static_cast<const ASN1_OCTET_STRING*>(value);
    const int len = ASN1_STRING_length(s);
    char buf[INET6_ADDRSTRLEN] = {};
    if ((len == 4 || len == 16) &&
        ::inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s), buf, sizeof buf))
      return std::string("IP:") + buf;
    return "IP:(" + std::to_string(len) + " bytes)";
  }
  return "(a name of GeneralName type " + std::to_string(type) + ")";
}

// Why the certificate does not prove control of `target` (empty if it does).
std::string check_certificate(X509* cert, const detail::Target& target,
                              std::span<const uint8_t> expected_digest) {
  // subjectAltName: exactly one name, the identifier.
  int crit = 0;
  ossl::GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, nullptr)));
  ossl::clear_errors();
  if (!names) {
    if (crit == -1) return "the certificate has no subjectAltName extension";
    if (crit == -2) return "the certificate has more than one subjectAltName extension";
    return "the certificate's subjectAltName extension cannot be decoded";
  }
  const int count = sk_GENERAL_NAME_num(names.get());
  std::string found;
  for (int i = 0; i < count && i < 8; ++i)
    found += (i ? ", " : "") + describe_name(sk_GENERAL_NAME_value(names.get(), i));
  if (count > 8) found += ", ...";
  const std::string wanted = target.is_ip ? "IP:" + target.host : "DNS:\"" + target.host + "\"";
  if (count != 1)
    return "the certificate's subjectAltName must hold exactly " + wanted + "; it holds " +
           std::to_string(count) + " names: " + found;
  int type = 0;
  const auto* value = static_cast<const ASN1_STRING*>(
      GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(names.get(), 0), &type));
  const std::string_view bytes(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                               static_cast<size_t>(ASN1_STRING_length(value)));
  bool match = false;
  if (target.is_ip) {
    match = type == GEN_IPADD && bytes.size() == target.ip->size &&
            std::memcmp(bytes.data(), target.ip->bytes.data(), bytes.size()) == 0;
  } else {
    match = type == GEN_DNS && iequals(bytes, target.host);
  }
  if (!match) return "the certificate's subjectAltName holds " + found + ", not " + wanted;

  // id-pe-acmeIdentifier: present once, critical, OCTET STRING of the digest.
  ossl::Asn1ObjectPtr oid(OBJ_txt2obj(kAcmeIdentifierOid, 1));
  if (!oid) return "internal error: cannot build the acmeIdentifier OID";
  const int at = X509_get_ext_by_OBJ(cert, oid.get(), -1);
  if (at < 0) return "the certificate has no acmeIdentifier extension (1.3.6.1.5.5.7.1.31)";
  if (X509_get_ext_by_OBJ(cert, oid.get(), at) >= 0)
    return "the certificate has more than one acmeIdentifier extension";
  X509_EXTENSION* ext = X509_get_ext(cert, at);
  if (X509_EXTENSION_get_critical(ext) != 1)
    return "the certificate's acmeIdentifier extension is not marked critical";
  const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(ext);
  std::span<const uint8_t> got(ASN1_STRING_get0_data(data),
                               static_cast<size_t>(ASN1_STRING_length(data)));
  Bytes want{0x04, static_cast<uint8_t>(expected_digest.size())};
  want.insert(want.end(), expected_digest.begin(), expected_digest.end());
  if (!std::equal(got.begin(), got.end(), want.begin(), want.end())) {
    std::string shown = to_hex(got.first(std::min<size_t>(got.size(), 40)), false);
    if (got.size() > 40) shown += "...";
    return "the certificate's acmeIdentifier extension holds " + shown +
           ", not the DER OCTET STRING of SHA-256(key authorization) " + to_hex(want, false);
  }
  return {};
}

}  // namespace

Outcome validate_tlsalpn01(const Settings& s, std::string_view identifier_type,
                           std::string_view identifier, std::string_view key_authorization) {
  auto target = detail::check_identifier(identifier_type, identifier, kChallenge);
  if (!target) return target.error();
  if (!detail::is_key_authorization(key_authorization))
    return failure("malformed", "tls-alpn-01: the key authorization " +
                                    printable(key_authorization) + " is not <token>.<thumbprint>");
  auto digest = ossl::sha256(std::span(reinterpret_cast<const uint8_t*>(key_authorization.data()),
                                       key_authorization.size()));
  if (!digest) return failure("malformed", "tls-alpn-01: " + digest.error().describe());

  const std::string sni = target->is_ip ? reverse_dns_name(target->host) : target->host;
  const std::string purpose = std::string(kChallenge) + " of " + target->host;
  std::vector<ValidationRecord> records{{"", target->host, s.tlsalpn01_port, {}, {}}};
  auto addresses = detail::resolve(s, target->host, purpose);
  if (!addresses) {
    Outcome o = std::move(addresses.error());
    o.records = std::move(records);
    return o;
  }
  records.back().addresses_resolved = *addresses;
  std::string refused;
  const auto allowed = detail::dialable(s, *addresses, nullptr, refused);
  if (allowed.empty())
    return failure("rejectedIdentifier",
                   purpose + ": the validator does not connect to " + target->host + ": " + refused,
                   std::move(records));

  asio::io_context ioc;
  auto tcp =
      detail::connect_first(ioc, allowed, s.tlsalpn01_port, s.timeout, purpose, records.back());
  if (!tcp) {
    Outcome o = std::move(tcp.error());
    o.records = std::move(records);
    return o;
  }
  const std::string where =
      detail::address_with_port(records.back().address_used, s.tlsalpn01_port) + " (SNI " + sni +
      ") for " + purpose;

  ssl::context ctx(ssl::context::tls_client);
  SSL_CTX* c = ctx.native_handle();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
  std::string protos = static_cast<char>(kAlpn.size()) + std::string(kAlpn);
  if (SSL_CTX_set_alpn_protos(c, reinterpret_cast<const unsigned char*>(protos.data()),
                              static_cast<unsigned>(protos.size())) != 0) {
    ossl::clear_errors();
    return failure("tls", "tls-alpn-01: cannot offer ALPN acme-tls/1", std::move(records));
  }
  beast::ssl_stream<beast::tcp_stream> stream(std::move(*tcp), ctx);
  SSL* ssl_conn = stream.native_handle();
  if (SSL_set_tlsext_host_name(ssl_conn, sni.c_str()) != 1) {
    ossl::clear_errors();
    return failure("malformed", "tls-alpn-01: cannot send SNI " + sni, std::move(records));
  }
  auto ec = detail::run_one(ioc, [&](auto&& h) {
    stream.async_handshake(ssl::stream_base::client, std::forward<decltype(h)>(h));
  });
  if (ec) {
    ossl::clear_errors();
    if (detail::is_timeout(ec))
      return failure("connection",
                     "TLS handshake with " + where + ": " + detail::error_text(ec, s.timeout),
                     std::move(records));
    if (ec.category() == asio::error::get_ssl_category() &&
        ERR_GET_REASON(static_cast<unsigned long>(ec.value())) ==
            SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL)
      return failure("unauthorized",
                     "TLS handshake with " + where +
                         ": the server refused the ALPN protocol acme-tls/1 "
                         "(no_application_protocol alert); it is not answering tls-alpn-01",
                     std::move(records));
    return failure("tls", "TLS handshake with " + where + ": " + detail::error_text(ec, s.timeout),
                   std::move(records));
  }
  const unsigned char* alpn = nullptr;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(ssl_conn, &alpn, &alpn_len);
  std::string_view negotiated(reinterpret_cast<const char*>(alpn), alpn ? alpn_len : 0);
  if (negotiated != kAlpn)
    return failure("unauthorized",
                   "TLS handshake with " + where + ": the server did not negotiate ALPN " +
                       "acme-tls/1 (" +
                       (negotiated.empty() ? std::string("no ALPN protocol")
                                           : "it chose " + printable(negotiated, 32)) +
                       "); it is not answering tls-alpn-01",
                   std::move(records));
  ossl::X509Ptr cert(SSL_get1_peer_certificate(ssl_conn));
  if (!cert)
    return failure("tls", "TLS handshake with " + where + ": no certificate was presented",
                   std::move(records));
  if (std::string why = check_certificate(cert.get(), *target, *digest); !why.empty())
    return failure("incorrectResponse", "TLS handshake with " + where + ": " + why,
                   std::move(records));
  Outcome ok;
  ok.valid = true;
  ok.records = std::move(records);
  return ok;
}

}  // namespace herald::acme::validation
