// `herald probe HOST:PORT`: connect with TLS, show what the server presents
// (protocol, cipher, the chain as sent, a stapled OCSP response) and run the
// verifier on it for the name asked: the `openssl s_client` diagnostics of
// the runbooks in one report. The verdict comes from src/verify; this file
// only talks to the network.
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <optional>
#include <nlohmann/json.hpp>

#include "base/fs.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "ossl/ossl.h"
#include "server/config.h"
#include "verify/verify.h"
#include "x509/certificate.h"
#include "x509/san.h"

namespace herald::cli {

namespace {

struct ProbeFlags {
  std::string target;
  std::string servername;
  std::string cert, key;
  std::vector<std::string> trust;
  int timeout_s = 10;
  bool json = false;
};

using SslCtxPtr = std::unique_ptr<SSL_CTX, ossl::Deleter<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, ossl::Deleter<SSL_free>>;

// A TCP connection within `timeout_s` (each address in turn); -1 and `err` on failure.
int dial(const std::string& host, uint16_t port, int timeout_s, std::string& err) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res); rc != 0) {
    err = "cannot resolve " + host + ": " + gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (addrinfo* a = res; a && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int soerr = 0;
      socklen_t len = sizeof soerr;
      if (::poll(&p, 1, timeout_s * 1000) != 1 ||
          ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0) {
        err = "cannot connect to " + host + ":" + std::to_string(port) + ": " +
              (soerr ? std::strerror(soerr) : "timed out");
        ::close(fd);
        fd = -1;
        continue;
      }
    }
  }
  freeaddrinfo(res);
  if (fd >= 0) {
    // Back to blocking, with send/receive timeouts for the handshake.
    ::fcntl(fd, F_SETFL, 0);
    timeval tv{timeout_s, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  } else if (err.empty()) {
    err = "cannot connect to " + host + ":" + std::to_string(port);
  }
  return fd;
}

Bytes der_of(X509* x) {
  unsigned char* buf = nullptr;
  int n = i2d_X509(x, &buf);
  Bytes out(buf, buf + std::max(n, 0));
  OPENSSL_free(buf);
  return out;
}

Status run_probe(Context& ctx, const ProbeFlags& f) {
  HERALD_TRY(auto ep, server::parse_endpoint(f.target));
  const std::string name = f.servername.empty() ? ep.host : f.servername;
  const bool name_is_ip = !x509::ip_octets(name).empty();
  if (f.trust.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "give --trust FILE (the roots to verify against)");
  }
  std::vector<Bytes> anchors;
  for (const auto& path : f.trust) {
    HERALD_TRY(auto text, fs::read_file(path, 16 << 20));
    HERALD_TRY(auto certs, ossl::pem_blocks(text, "CERTIFICATE"));
    anchors.insert(anchors.end(), certs.begin(), certs.end());
  }
  SslCtxPtr sctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_min_proto_version(sctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(sctx.get(), SSL_VERIFY_NONE, nullptr);  // herald::verify decides, below
  if (!f.cert.empty()) {
    if (SSL_CTX_use_certificate_chain_file(sctx.get(), f.cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(sctx.get(), f.key.c_str(), SSL_FILETYPE_PEM) != 1) {
      ERR_clear_error();
      return make_error(ErrorCode::kInvalidArgument,
                        "cannot load the client certificate/key (--cert " + f.cert + ", --key " + f.key + ")");
    }
  }
  std::string err;
  int fd = dial(ep.host, ep.port, f.timeout_s, err);
  if (fd < 0) return make_error(ErrorCode::kIo, err);
  SslPtr ssl(SSL_new(sctx.get()));
  SSL_set_fd(ssl.get(), fd);
  if (!name_is_ip) SSL_set_tlsext_host_name(ssl.get(), name.c_str());
  SSL_set_tlsext_status_type(ssl.get(), TLSEXT_STATUSTYPE_ocsp);
  if (SSL_connect(ssl.get()) != 1) {
    std::string why = ossl::drain_errors();
    ::close(fd);
    return make_error(ErrorCode::kIo, "TLS handshake with " + f.target + " failed" +
                                          (why.empty() ? "" : ": " + why));
  }
  std::vector<Bytes> presented;
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl.get());
  for (int i = 0; chain && i < sk_X509_num(chain); ++i) presented.push_back(der_of(sk_X509_value(chain, i)));
  const std::string protocol = SSL_get_version(ssl.get());
  const std::string cipher = SSL_get_cipher_name(ssl.get());
  const unsigned char* ocsp = nullptr;
  long ocsp_len = SSL_get_tlsext_status_ocsp_resp(ssl.get(), &ocsp);
  std::string stapled = "none";
  std::optional<Bytes> stapled_der;
  if (ocsp && ocsp_len > 0) {
    stapled_der = Bytes(ocsp, ocsp + ocsp_len);
    const unsigned char* p = ocsp;
    OCSP_RESPONSE* r = d2i_OCSP_RESPONSE(nullptr, &p, ocsp_len);
    stapled = r ? std::string("present, ") + std::to_string(ocsp_len) + " bytes, response status " +
                      OCSP_response_status_str(OCSP_response_status(r))
                : "present but not a readable OCSP response";
    OCSP_RESPONSE_free(r);
  }
  SSL_shutdown(ssl.get());
  ::close(fd);
  if (presented.empty()) return make_error(ErrorCode::kMalformedInput, "the server sent no certificate");

  // The chain as sent: order, and a root sent needlessly.
  std::vector<std::string> notes;
  std::vector<x509::Certificate> certs;
  for (const auto& d : presented) {
    if (auto c = x509::Certificate::from_der(d)) certs.push_back(std::move(*c));
  }
  for (size_t i = 0; i + 1 < certs.size(); ++i) {
    if (X509_check_issued(&certs[i + 1].x509(), &certs[i].x509()) != X509_V_OK) {
      notes.push_back("certificate " + std::to_string(i + 1) + " did not issue certificate " +
                      std::to_string(i) + ": the chain is out of order or has extras");
    }
  }
  for (size_t i = 1; i < certs.size(); ++i) {
    if (X509_check_issued(&certs[i].x509(), &certs[i].x509()) == X509_V_OK) {
      notes.push_back("certificate " + std::to_string(i) +
                      " is a self-signed root: clients have it already, it need not be sent");
    }
  }
  verify::Options o;
  o.at = ctx.clock->now();
  o.purpose = verify::Purpose::kServer;
  if (name_is_ip) {
    o.ip = name;
  } else {
    o.dns_name = name;
  }
  // A stapled response is judged (soft: a revoked status is an error, an
  // unusable staple a warning). It can only speak for the leaf, so the CA
  // certificates' "no revocation source" warnings are left out.
  if (stapled_der) {
    o.ocsp_responses.push_back(*stapled_der);
    o.revocation = verify::RevocationPolicy::kSoft;
  }
  auto r = verify::verify(presented.front(), std::vector<Bytes>(presented.begin() + 1, presented.end()),
                          anchors, o);
  std::erase_if(r.findings, [](const verify::Finding& fd) {
    return fd.code == "revocation_unavailable" && fd.severity == verify::Severity::kWarning && fd.depth > 0;
  });
  if (f.json) {
    nlohmann::json j{{"target", f.target}, {"name", name}, {"protocol", protocol}, {"cipher", cipher},
                     {"stapled_ocsp", stapled}, {"valid", r.valid}, {"presented", nlohmann::json::array()},
                     {"notes", notes}, {"findings", nlohmann::json::array()}};
    for (size_t i = 0; i < certs.size(); ++i) {
      j["presented"].push_back({{"position", i},
                                {"subject", certs[i].subject()},
                                {"issuer", certs[i].issuer()},
                                {"not_after", format_time(certs[i].not_after())}});
    }
    for (const auto& fd2 : r.findings) j["findings"].push_back(finding_json(fd2));
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << f.target << " (" << name << "): " << protocol << ", " << cipher << "\n"
              << "stapled OCSP: " << stapled << "\npresented chain:\n";
    for (size_t i = 0; i < certs.size(); ++i) {
      std::cout << "  " << i << "  " << certs[i].subject() << "  (issuer " << certs[i].issuer()
                << ", until " << format_time(certs[i].not_after()) << ")\n";
    }
    for (const auto& n : notes) std::cout << "note: " << n << "\n";
    std::cout << (r.valid ? "valid" : "NOT VALID") << " for " << name << " (server)\n";
    for (const auto& fd2 : r.findings) std::cout << finding_text(fd2);
  }
  if (r.valid) return {};
  return make_error(ErrorCode::kNotValid, "the server's certificate is not valid for " + name + " (" +
                                              (r.findings.empty() ? "invalid" : r.findings.front().code) + ")");
}

}  // namespace

void add_probe_commands(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<ProbeFlags>();
  auto* cmd = app.add_subcommand(
      "probe",
      "Connect to a TLS server and explain what it presents: protocol, cipher, the chain as sent "
      "(order, a root sent needlessly), a stapled OCSP response, and the verifier's verdict for "
      "the name (herald verify's findings). Contacts only HOST:PORT. Exit 0 when valid, 81 when "
      "not.");
  cmd->add_option("HOST:PORT", f->target, "The server, e.g. web.internal:443 or [::1]:8443")->required();
  cmd->add_option("--servername", f->servername, "Name to ask for (SNI) and verify (default: HOST)");
  cmd->add_option("--trust", f->trust, "Trust anchors (PEM; repeatable)")->required();
  auto* cert = cmd->add_option("--cert", f->cert, "Client certificate (PEM, with its chain) for mTLS servers");
  cmd->add_option("--key", f->key, "Its private key (PEM)")->needs(cert);
  cmd->add_option("--timeout", f->timeout_s, "Seconds for the connection and the handshake")
      ->check(CLI::Range(1, 120));
  cmd->add_flag("--json", f->json, "Print the report as JSON");
  cmd->callback([&ctx, f] { ctx.result = run_probe(ctx, *f); });
}

}  // namespace herald::cli
