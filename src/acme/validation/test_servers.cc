#include "acme/validation/test_servers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstring>

namespace herald::acme::validation::testing {

namespace {

int bind_loopback(int type, bool ipv6, uint16_t* port, const std::string& ipv4 = "127.0.0.1",
                  uint16_t wanted_port = 0) {
  int fd = ::socket(ipv6 ? AF_INET6 : AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (ipv6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    a->sin6_port = htons(wanted_port);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    if (::inet_pton(AF_INET, ipv4.c_str(), &a->sin_addr) != 1) {
      ::close(fd);
      return -1;
    }
    a->sin_port = htons(wanted_port);
    len = sizeof *a;
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    ::close(fd);
    return -1;
  }
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    ::close(fd);
    return -1;
  }
  *port = ntohs(ipv6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                     : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return fd;
}

void set_receive_timeout(int fd, int seconds) {
  timeval tv{seconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

void send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

void wait_until_stopped(const std::atomic<bool>& stopping) {
  while (!stopping) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

}  // namespace

uint16_t unused_tcp_port() {
  uint16_t port = 0;
  int fd = bind_loopback(SOCK_STREAM, false, &port);
  if (fd >= 0) ::close(fd);  // bound, never listened: connections are refused
  return port;
}

uint16_t unused_udp_port() {
  uint16_t port = 0;
  int fd = bind_loopback(SOCK_DGRAM, false, &port);
  if (fd >= 0) ::close(fd);
  return port;
}

bool ipv6_loopback_available() {
  uint16_t port = 0;
  int fd = bind_loopback(SOCK_STREAM, true, &port);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

// ------------------------------------------------------------------ TCP

TcpServer::TcpServer(Handler handler, bool ipv6, const std::string& ipv4, uint16_t port)
    : handler_(std::move(handler)) {
  std::signal(SIGPIPE, SIG_IGN);  // OpenSSL writes with write(2)
  fd_ = bind_loopback(SOCK_STREAM, ipv6, &port_, ipv4, port);
  if (fd_ < 0) return;
  if (::listen(fd_, 16) != 0) {
    ::close(fd_);
    fd_ = -1;
    return;
  }
  thread_ = std::thread([this] {
    while (!stopping_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      ++accepted_;
      set_receive_timeout(c, 3);
      handler_(c, stopping_);
      ::close(c);
    }
  });
}

TcpServer::~TcpServer() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
}

// ------------------------------------------------------------------ HTTP

std::string http_response(int status, std::string_view body,
                          const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " Whatever\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n";
  for (const auto& [k, v] : headers) out += k + ": " + v + "\r\n";
  out += "\r\n";
  out += body;
  return out;
}

std::string read_request_head(const std::function<long(char*, size_t)>& read) {
  std::string head;
  char buf[1024];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 16384) {
    long n = read(buf, sizeof buf);
    if (n <= 0) break;
    head.append(buf, static_cast<size_t>(n));
  }
  return head;
}

std::string request_path(std::string_view head) {
  auto sp1 = head.find(' ');
  if (sp1 == std::string_view::npos) return {};
  auto sp2 = head.find(' ', sp1 + 1);
  return std::string(head.substr(sp1 + 1, sp2 - sp1 - 1));
}

std::string request_header(std::string_view head, std::string_view name) {
  size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos) {
    size_t end = head.find("\r\n", pos + 2);
    std::string_view line =
        head.substr(pos + 2, end == std::string_view::npos ? end : end - pos - 2);
    auto colon = line.find(':');
    if (colon != std::string_view::npos && colon == name.size() &&
        std::equal(name.begin(), name.end(), line.begin(),
                   [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
      std::string_view v = line.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      return std::string(v);
    }
    pos = end;
  }
  return {};
}

void HttpResponder::route(const std::string& path, std::string raw_response) {
  std::lock_guard lock(mu_);
  routes_[path] = std::move(raw_response);
}

void HttpResponder::hang(const std::string& path) {
  std::lock_guard lock(mu_);
  routes_[path] = std::nullopt;
}

std::optional<std::string> HttpResponder::respond(const std::string& head) {
  std::lock_guard lock(mu_);
  requests_.push_back(head);
  auto it = routes_.find(request_path(head));
  if (it == routes_.end()) return http_response(404, "no such challenge");
  return it->second;
}

std::vector<std::string> HttpResponder::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

HttpServer::HttpServer(bool ipv6, const std::string& ipv4, uint16_t port)
    : tcp_(
          [this](int fd, const std::atomic<bool>& stopping) {
            std::string head = read_request_head(
                [fd](char* b, size_t n) { return static_cast<long>(::recv(fd, b, n, 0)); });
            if (head.empty()) return;
            auto response = respond(head);
            if (!response) return wait_until_stopped(stopping);
            send_all(fd, *response);
            ::shutdown(fd, SHUT_WR);
          },
          ipv6, ipv4, port) {}

// ------------------------------------------------------------------ certificates

Bytes acme_identifier_value(std::string_view key_authorization) {
  auto digest = ossl::sha256(std::span(reinterpret_cast<const uint8_t*>(key_authorization.data()),
                                       key_authorization.size()));
  Bytes out{0x04, 0x20};
  out.insert(out.end(), digest->begin(), digest->end());
  return out;
}

KeyAndCert make_cert(const CertSpec& spec) {
  KeyAndCert kc;
  kc.key.reset(EVP_EC_gen("P-256"));
  kc.cert.reset(X509_new());
  X509* x = kc.cert.get();
  X509_set_version(x, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 7 * 24 * 3600);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("ACME challenge"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_set_pubkey(x, kc.key.get());
  if (!spec.dns_names.empty() || !spec.ip_addresses.empty()) {
    ossl::GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
    for (const auto& d : spec.dns_names) {
      GENERAL_NAME* gn = GENERAL_NAME_new();
      ASN1_IA5STRING* s = ASN1_IA5STRING_new();
      ASN1_STRING_set(s, d.data(), static_cast<int>(d.size()));
      GENERAL_NAME_set0_value(gn, GEN_DNS, s);
      sk_GENERAL_NAME_push(names.get(), gn);
    }
    for (const auto& ip : spec.ip_addresses) {
      GENERAL_NAME* gn = GENERAL_NAME_new();
      GENERAL_NAME_set0_value(gn, GEN_IPADD, a2i_IPADDRESS(ip.c_str()));
      sk_GENERAL_NAME_push(names.get(), gn);
    }
    X509_add1_ext_i2d(x, NID_subject_alt_name, names.get(), 0, X509V3_ADD_APPEND);
  }
  if (spec.acme_identifier) {
    ossl::Asn1ObjectPtr oid(OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1));
    ossl::Asn1OctetStringPtr value(ASN1_OCTET_STRING_new());
    ASN1_OCTET_STRING_set(value.get(), spec.acme_identifier->data(),
                          static_cast<int>(spec.acme_identifier->size()));
    for (int i = 0; i < spec.acme_identifier_copies; ++i) {
      ossl::X509ExtPtr ext(
          X509_EXTENSION_create_by_OBJ(nullptr, oid.get(), spec.critical ? 1 : 0, value.get()));
      X509_add_ext(x, ext.get(), -1);
    }
  }
  X509_sign(x, kc.key.get(), EVP_sha256());
  ERR_clear_error();
  return kc;
}

// ------------------------------------------------------------------ TLS

namespace {

int select_acme(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
  static const unsigned char kAcme[] =
      "\x0a"
      "acme-tls/1";
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kAcme, sizeof kAcme - 1, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// Records the SNI while the ClientHello is processed, before the server
// answers: the validator cannot return before this has run.
int record_sni(SSL* ssl, int*, void* arg) {
  const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  static_cast<TlsServer*>(arg)->note_sni(sni ? sni : "");
  return SSL_TLSEXT_ERR_OK;
}

int refuse_all(SSL*, const unsigned char**, unsigned char*, const unsigned char*, unsigned int,
               void*) {
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

}  // namespace

TlsServer::TlsServer(const CertSpec& spec, Alpn alpn, HttpResponder* http)
    : kc_(make_cert(spec)), alpn_(alpn), http_(http) {
  ctx_ = SSL_CTX_new(TLS_server_method());
  SSL_CTX_use_certificate(ctx_, kc_.cert.get());
  SSL_CTX_use_PrivateKey(ctx_, kc_.key.get());
  SSL_CTX_set_tlsext_servername_callback(ctx_, record_sni);
  SSL_CTX_set_tlsext_servername_arg(ctx_, this);
  if (alpn_ == Alpn::kAcme) SSL_CTX_set_alpn_select_cb(ctx_, select_acme, nullptr);
  if (alpn_ == Alpn::kRefuse) SSL_CTX_set_alpn_select_cb(ctx_, refuse_all, nullptr);
  tcp_ = std::make_unique<TcpServer>(
      [this](int fd, const std::atomic<bool>& stopping) { serve(fd, stopping); });
}

TlsServer::~TlsServer() {
  tcp_.reset();  // joins the thread before the context goes
  SSL_CTX_free(ctx_);
}

void TlsServer::note_sni(std::string sni) {
  std::lock_guard lock(mu_);
  last_sni_ = std::move(sni);
}

std::string TlsServer::last_sni() const {
  std::lock_guard lock(mu_);
  return last_sni_;
}

void TlsServer::serve(int fd, const std::atomic<bool>&) {
  SSL* ssl = SSL_new(ctx_);
  SSL_set_fd(ssl, fd);
  if (SSL_accept(ssl) == 1) {
    ++handshakes_;
    if (http_) {
      std::string head = read_request_head([ssl](char* b, size_t n) {
        return static_cast<long>(SSL_read(ssl, b, static_cast<int>(n)));
      });
      auto response = http_->respond(head);
      if (response) SSL_write(ssl, response->data(), static_cast<int>(response->size()));
      SSL_shutdown(ssl);
    } else {
      char buf[256];
      while (SSL_read(ssl, buf, sizeof buf) > 0) {
      }  // until the validator closes (or 3 s pass)
    }
  }
  SSL_free(ssl);
  ERR_clear_error();
}

// ------------------------------------------------------------------ DNS

DnsStub::DnsStub() {
  fd_ = bind_loopback(SOCK_DGRAM, false, &port_);
  if (fd_ < 0) return;
  thread_ = std::thread([this] {
    std::vector<uint8_t> buf(65536);
    while (!stopping_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      sockaddr_storage from{};
      socklen_t from_len = sizeof from;
      ssize_t n =
          ::recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n <= 0) continue;
      auto query = dns::parse_message(std::span(buf.data(), static_cast<size_t>(n)));
      if (!query || query->questions.size() != 1) continue;
      {
        std::lock_guard lock(mu_);
        questions_.push_back(query->questions[0]);
      }
      const Mode mode = mode_;
      if (mode == Mode::kSilent) continue;
      auto send = [&](const Bytes& b) {
        ::sendto(fd_, b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&from), from_len);
      };
      if (mode == Mode::kGarbageThenAnswer) send(Bytes{0xde, 0xad, 0xbe, 0xef});
      send(answer(*query));
    }
  });
}

DnsStub::~DnsStub() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
}

void DnsStub::add(dns::ResourceRecord rr) {
  std::lock_guard lock(mu_);
  records_.push_back(std::move(rr));
}

void DnsStub::add_a(const std::string& name, const std::string& ipv4) {
  dns::ResourceRecord rr{name, dns::type::kA, dns::kClassIn, 60, Bytes(4), {}, {}};
  ::inet_pton(AF_INET, ipv4.c_str(), rr.data.data());
  add(std::move(rr));
}

void DnsStub::add_aaaa(const std::string& name, const std::string& ipv6) {
  dns::ResourceRecord rr{name, dns::type::kAaaa, dns::kClassIn, 60, Bytes(16), {}, {}};
  ::inet_pton(AF_INET6, ipv6.c_str(), rr.data.data());
  add(std::move(rr));
}

void DnsStub::add_txt(const std::string& name, std::vector<std::string> strings) {
  add({name, dns::type::kTxt, dns::kClassIn, 60, {}, {}, std::move(strings)});
}

void DnsStub::add_cname(const std::string& name, const std::string& target) {
  add({name, dns::type::kCname, dns::kClassIn, 60, {}, target, {}});
}

std::vector<dns::Question> DnsStub::questions() const {
  std::lock_guard lock(mu_);
  return questions_;
}

Bytes DnsStub::answer(const dns::Message& query) {
  dns::Message res;
  res.id = query.id;
  res.flags = dns::flag::kQr | dns::flag::kRd | dns::flag::kRa;
  res.questions = query.questions;
  const Mode mode = mode_;
  if (mode == Mode::kWrongId) res.id = static_cast<uint16_t>(query.id ^ 0x5555);
  if (mode == Mode::kServFail) {
    res.flags |= dns::rcode::kServFail;
    return *dns::encode_message(res);
  }
  std::lock_guard lock(mu_);
  const auto& q = query.questions[0];
  std::string name = q.name;
  bool known = false;
  for (int hops = 0; hops < 8; ++hops) {
    const dns::ResourceRecord* cname = nullptr;
    bool any = false, matched = false;
    for (const auto& rr : records_) {
      if (!dns::names_equal(rr.name, name)) continue;
      any = true;
      if (rr.type == q.type) {
        res.answers.push_back(rr);
        matched = true;
      }
      if (rr.type == dns::type::kCname) cname = &rr;
    }
    if (hops == 0) known = any;
    if (matched || !cname || q.type == dns::type::kCname) break;
    res.answers.push_back(*cname);  // a recursive resolver chases the chain
    name = cname->cname;
  }
  if (!known) res.flags |= dns::rcode::kNxDomain;
  if (mode == Mode::kTruncated) {
    res.flags |= dns::flag::kTc;
    res.answers.clear();
  }
  return *dns::encode_message(res);
}

}  // namespace herald::acme::validation::testing
