#include "net/proxy.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "net/client.h"
#include "obs/metrics.h"
#include "ossl/ossl.h"

namespace herald::net {
namespace {

using namespace std::chrono_literals;

// ---------------------------------------------------------------- certificates

struct Pem {
  std::string cert, key;
  Bytes der;
};

Pem make_cert(const std::string& cn, const Pem* issuer = nullptr, bool ca = false) {
  ossl::EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  ossl::X509Ptr cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  static std::atomic<long> serial{1};
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  ossl::X509Ptr issuer_cert;
  ossl::EvpPkeyPtr issuer_key;
  if (issuer) {
    auto cb = ossl::mem_bio(issuer->cert);
    issuer_cert.reset(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
    auto kb = ossl::mem_bio(issuer->key);
    issuer_key.reset(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
  }
  X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer ? issuer_cert.get() : cert.get()));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key.get());
  if (ca) {
    X509_EXTENSION* ext =
        X509V3_EXT_conf_nid(nullptr, nullptr, NID_basic_constraints, "critical,CA:TRUE");
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(cert.get(), issuer ? issuer_key.get() : key.get(), EVP_sha256());
  ossl::BioPtr cb(BIO_new(BIO_s_mem())), kb(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(cb.get(), cert.get());
  PEM_write_bio_PrivateKey(kb.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  Pem out{ossl::bio_to_string(*cb), ossl::bio_to_string(*kb), {}};
  unsigned char* p = nullptr;
  int len = i2d_X509(cert.get(), &p);
  out.der.assign(p, p + len);
  OPENSSL_free(p);
  return out;
}

const Pem& server_a() {
  static const Pem p = make_cert("proxy-a");
  return p;
}
const Pem& server_b() {
  static const Pem p = make_cert("proxy-b");
  return p;
}
const Pem& client_ca() {
  static const Pem p = make_cert("client-ca", nullptr, true);
  return p;
}
const Pem& alice() {
  static const Pem p = make_cert("alice", &client_ca());
  return p;
}

// ---------------------------------------------------------------- a backend

uint64_t pattern_sum(uint64_t n) {
  uint64_t s = 0;
  for (uint64_t i = 0; i < n; ++i) s += i % 251;
  return s;
}

std::string header_of(const std::string& head, std::string name) {
  std::string lower = head;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto pos = lower.find("\r\n" + name + ":");
  if (pos == std::string::npos) return "";
  pos += name.size() + 3;
  auto end = lower.find("\r\n", pos);
  std::string v = head.substr(pos, end - pos);
  while (!v.empty() && v.front() == ' ') v.erase(0, 1);
  return v;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// A blocking HTTP/1.1 backend (one thread per connection) that counts its
// accepts and requests. Paths: /echo (the request head as the body), /upload
// (the body's length and byte sum), /download?n= and /chunked?n= (n pattern
// bytes, Content-Length or chunked), /slow?n= (paced), /drop (answers, then
// closes the kept-alive connection). kEcho: reads to EOF, sends it all back.
class Backend {
 public:
  enum class Kind { kHttp, kEcho };
  explicit Backend(Kind kind = Kind::kHttp) : kind_(kind) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 64);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~Backend() {
    stopped_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
    {
      std::lock_guard lock(mu_);
      for (int c : conns_) ::shutdown(c, SHUT_RDWR);
    }
    for (auto& t : workers_) t.join();
    for (int c : conns_) ::close(c);
  }
  std::vector<std::string> heads() {
    std::lock_guard lock(mu_);
    return heads_;
  }

  uint16_t port = 0;
  std::atomic<int> accepts{0};
  std::atomic<int> requests{0};
  std::atomic<uint64_t> sent{0};  // /download and /slow body bytes handed to the kernel

 private:
  void loop() {
    for (;;) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) {
        if (stopped_) return;
        continue;
      }
      ++accepts;
      timeval tv{5, 0};
      ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      std::lock_guard lock(mu_);
      conns_.push_back(c);
      workers_.emplace_back([this, c] { kind_ == Kind::kEcho ? echo(c) : serve(c); });
    }
  }

  void echo(int c) {
    std::string all;
    char buf[16384];
    ssize_t n;
    while ((n = ::recv(c, buf, sizeof buf, 0)) > 0) all.append(buf, static_cast<size_t>(n));
    send_all(c, "echo:" + all);
    ::shutdown(c, SHUT_WR);
  }

  void serve(int c) {
    std::string buf;
    char tmp[65536];
    auto fill = [&]() {
      ssize_t n = ::recv(c, tmp, sizeof tmp, 0);
      if (n <= 0) return false;
      buf.append(tmp, static_cast<size_t>(n));
      return true;
    };
    bool drop_next = false;  // after /arm: close instead of answering the next request
    for (;;) {
      size_t he;
      while ((he = buf.find("\r\n\r\n")) == std::string::npos) {
        if (!fill()) return;
      }
      std::string head = buf.substr(0, he + 4);
      buf.erase(0, he + 4);
      ++requests;
      {
        std::lock_guard lock(mu_);
        heads_.push_back(head);
      }
      uint64_t n = 0, sum = 0;
      auto consume = [&](size_t want) {
        while (want > 0) {
          if (buf.empty() && !fill()) return false;
          size_t take = std::min(want, buf.size());
          for (size_t i = 0; i < take; ++i) sum += static_cast<unsigned char>(buf[i]);
          n += take;
          buf.erase(0, take);
          want -= take;
        }
        return true;
      };
      auto line = [&](std::string& out) {
        size_t e;
        while ((e = buf.find("\r\n")) == std::string::npos) {
          if (!fill()) return false;
        }
        out = buf.substr(0, e);
        buf.erase(0, e + 2);
        return true;
      };
      if (header_of(head, "transfer-encoding").find("chunked") != std::string::npos) {
        for (;;) {
          std::string l;
          if (!line(l)) return;
          size_t size = std::stoul(l, nullptr, 16);
          if (size == 0) {
            if (!line(l)) return;  // no trailers
            break;
          }
          if (!consume(size) || !line(l)) return;
        }
      } else if (auto cl = header_of(head, "content-length"); !cl.empty()) {
        if (!consume(std::stoul(cl))) return;
      }
      const std::string target =
          head.substr(head.find(' ') + 1, head.find(' ', head.find(' ') + 1) - head.find(' ') - 1);
      const std::string path = target.substr(0, target.find('?'));
      const auto q = target.find("n=");
      const uint64_t count = q == std::string::npos ? 0 : std::stoull(target.substr(q + 2));
      auto pattern = [](uint64_t from, size_t len) {
        std::string s(len, '\0');
        for (size_t i = 0; i < len; ++i) s[i] = static_cast<char>((from + i) % 251);
        return s;
      };
      if (drop_next) {
        ::shutdown(c, SHUT_RDWR);
        return;
      }
      if (path == "/arm") {
        drop_next = true;
        if (!send_all(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\narm")) return;
      } else if (path == "/echo") {
        if (!send_all(c, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(head.size()) +
                             "\r\nConnection: keep-alive, X-Hop-Resp\r\nX-Hop-Resp: 1\r\n"
                             "Keep-Alive: timeout=5\r\n\r\n" +
                             head))
          return;
      } else if (path == "/upload") {
        std::string body = "n=" + std::to_string(n) + " sum=" + std::to_string(sum);
        if (!send_all(c, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                             "\r\n\r\n" + body))
          return;
      } else if (path == "/download" || path == "/slow") {
        if (!send_all(c,
                      "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(count) + "\r\n\r\n"))
          return;
        for (uint64_t off = 0; off < count && head.rfind("HEAD ", 0) != 0; off += 65536) {
          if (path == "/slow") std::this_thread::sleep_for(5ms);
          const size_t len = std::min<uint64_t>(65536, count - off);
          if (!send_all(c, pattern(off, len))) return;
          sent += len;
        }
      } else if (path == "/chunked") {
        if (!send_all(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")) return;
        for (uint64_t off = 0; off < count; off += 65536) {
          const size_t len = std::min<uint64_t>(65536, count - off);
          char size[32];
          std::snprintf(size, sizeof size, "%zx\r\n", len);
          if (!send_all(c, size + pattern(off, len) + "\r\n")) return;
        }
        if (!send_all(c, "0\r\n\r\n")) return;
      } else if (path == "/drop") {
        send_all(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndrop");
        ::shutdown(c, SHUT_RDWR);
        return;
      } else {
        if (!send_all(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")) return;
      }
    }
  }

  Kind kind_;
  int fd_ = -1;
  std::atomic<bool> stopped_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<int> conns_;
  std::vector<std::thread> workers_;
  std::vector<std::string> heads_;
};

// A port nothing listens on.
uint16_t dead_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// ---------------------------------------------------------------- a TLS client

struct ClientOpts {
  const Pem* cert = nullptr;
  bool chain = false;  // send client_ca() after the leaf
  SSL_SESSION* session = nullptr;
  int max_version = 0;
  bool ocsp = false;
};

struct Reply {
  int status = 0;
  std::string head;
  std::string body;
  uint64_t body_size = 0;
  uint64_t body_sum = 0;
};

class Client {
 public:
  ~Client() {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }
  bool connect(uint16_t port, const ClientOpts& o) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (o.max_version) SSL_CTX_set_max_proto_version(ctx_, o.max_version);
    SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_CLIENT);
    if (o.cert) {
      auto cb = ossl::mem_bio(o.cert->cert);
      ossl::X509Ptr c(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
      auto kb = ossl::mem_bio(o.cert->key);
      ossl::EvpPkeyPtr k(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
      SSL_CTX_use_certificate(ctx_, c.get());
      SSL_CTX_use_PrivateKey(ctx_, k.get());
      if (o.chain) {
        auto ab = ossl::mem_bio(client_ca().cert);
        X509* ca = PEM_read_bio_X509(ab.get(), nullptr, nullptr, nullptr);
        SSL_CTX_add0_chain_cert(ctx_, ca);
      }
    }
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return false;
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, "proxy.test");
    static const unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_set_alpn_protos(ssl_, kAlpn, sizeof kAlpn);
    if (o.session) SSL_set_session(ssl_, o.session);
    if (o.ocsp) SSL_set_tlsext_status_type(ssl_, TLSEXT_STATUSTYPE_ocsp);
    return SSL_connect(ssl_) == 1;
  }
  SSL* ssl() { return ssl_; }
  std::string peer_cn() {
    X509* c = SSL_get0_peer_certificate(ssl_);
    char buf[64] = {};
    if (c) X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_commonName, buf, sizeof buf);
    return buf;
  }
  bool write(std::string_view data) {
    while (!data.empty()) {
      int n =
          SSL_write(ssl_, data.data(), static_cast<int>(std::min<size_t>(data.size(), 1 << 20)));
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  bool fill() {
    char buf[65536];
    int n = SSL_read(ssl_, buf, sizeof buf);
    if (n <= 0) return false;
    pending_.append(buf, static_cast<size_t>(n));
    return true;
  }
  // One response; bodies are summed, and kept if under 1 MiB.
  std::optional<Reply> read(bool head_request = false) {
    Reply r;
    size_t he;
    while ((he = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) return std::nullopt;
    }
    r.head = pending_.substr(0, he + 4);
    pending_.erase(0, he + 4);
    r.status = std::stoi(r.head.substr(9, 3));
    auto take = [&](size_t want) {
      while (want > 0) {
        if (pending_.empty() && !fill()) return false;
        size_t t = std::min(want, pending_.size());
        for (size_t i = 0; i < t; ++i) r.body_sum += static_cast<unsigned char>(pending_[i]);
        if (r.body.size() < (1u << 20)) r.body.append(pending_, 0, t);
        r.body_size += t;
        pending_.erase(0, t);
        want -= t;
      }
      return true;
    };
    auto line = [&](std::string& out) {
      size_t e;
      while ((e = pending_.find("\r\n")) == std::string::npos) {
        if (!fill()) return false;
      }
      out = pending_.substr(0, e);
      pending_.erase(0, e + 2);
      return true;
    };
    if (head_request || r.status / 100 == 1 || r.status == 204 || r.status == 304) return r;
    if (header_of(r.head, "transfer-encoding") == "chunked") {
      for (;;) {
        std::string l;
        if (!line(l)) return std::nullopt;
        size_t size = std::stoul(l, nullptr, 16);
        if (size == 0) {
          if (!line(l)) return std::nullopt;
          break;
        }
        if (!take(size) || !line(l)) return std::nullopt;
      }
    } else if (auto cl = header_of(r.head, "content-length"); !cl.empty()) {
      if (!take(std::stoul(cl))) return std::nullopt;
    } else {
      while (fill()) {
      }
      take(pending_.size());
    }
    return r;
  }
  std::optional<Reply> get(const std::string& target, const std::string& extra = "") {
    if (!write("GET " + target + " HTTP/1.1\r\nHost: svc\r\n" + extra + "\r\n"))
      return std::nullopt;
    return read();
  }
  // True once the peer closed (close_notify or EOF).
  bool closed_by_peer() {
    char b;
    return SSL_read(ssl_, &b, 1) <= 0;
  }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  std::string pending_;
};

std::unique_ptr<Client> dial(uint16_t port, ClientOpts o = {}) {
  auto c = std::make_unique<Client>();
  if (!c->connect(port, o)) return nullptr;
  return c;
}

// ---------------------------------------------------------------- the fixture

Admission allow_alice(const PeerInfo& p) {
  Admission a;
  if (p.chain.empty()) {
    a.http_status = 401;
    a.reason = "no_certificate";
    a.detail = "A client certificate is required.";
    return a;
  }
  a.verdict = Admission::Verdict::kAllow;
  a.headers = {{"X-Client-Cert-Subject", "CN=alice"}, {"X-Client-Cert-Serial", "01"}};
  a.identity = "cn=alice";
  return a;
}

class ProxyTest : public ::testing::Test {
 protected:
  void start(ProxyMode mode = ProxyMode::kHttp, uint16_t backend_port = 0, int threads = 1) {
    auto tls = TlsContextHolder::create({server_a().cert, server_a().key, ""});
    ASSERT_TRUE(tls) << tls.error().describe();
    tls_ = *tls;
    ProxyListener l;
    l.name = "web";
    l.host = "127.0.0.1";
    l.tls = tls_;
    l.mode = mode;
    l.backend_host = "127.0.0.1";
    l.backend_port = backend_port ? backend_port : backend_->port;
    l.health_path = "/healthz";
    l.health = [] { return HealthAnswer{200, "{\"status\":\"ok\"}"}; };
    l.admit = [this](const PeerInfo& p) {
      std::lock_guard lock(mu_);
      peers_.push_back(p);
      return admit_(p);
    };
    l.on_request = [this](const AccessRecord& r) {
      std::lock_guard lock(mu_);
      records_.push_back(r);
    };
    l.ocsp_staple = [this] { return staple_; };
    l.limits.read_timeout = 5s;
    l.limits.idle_timeout = 5s;
    l.limits.max_connections = max_connections_;
    proxy_ = std::make_unique<ProxyServer>(threads);
    proxy_->attach_metrics(registry_);
    auto port = proxy_->listen(std::move(l));
    ASSERT_TRUE(port) << port.error().describe();
    port_ = *port;
    thread_ = std::thread([this] { proxy_->run(); });
  }
  void TearDown() override {
    if (proxy_) {
      proxy_->stop();
      thread_.join();
    }
  }
  std::vector<PeerInfo> peers() {
    std::lock_guard lock(mu_);
    return peers_;
  }
  // The access records, once `n` are in (they are written after the response).
  std::vector<AccessRecord> records(size_t n) {
    for (int i = 0; i < 200; ++i) {
      {
        std::lock_guard lock(mu_);
        if (records_.size() >= n) return records_;
      }
      std::this_thread::sleep_for(5ms);
    }
    std::lock_guard lock(mu_);
    return records_;
  }

  std::unique_ptr<Backend> backend_ = std::make_unique<Backend>();
  std::shared_ptr<TlsContextHolder> tls_;
  std::function<Admission(const PeerInfo&)> admit_ = allow_alice;
  std::shared_ptr<const Bytes> staple_;
  size_t max_connections_ = 4096;
  obs::Registry registry_;
  std::unique_ptr<ProxyServer> proxy_;
  std::thread thread_;
  uint16_t port_ = 0;
  std::mutex mu_;
  std::vector<PeerInfo> peers_;
  std::vector<AccessRecord> records_;
};

const ClientOpts kAlice{&alice(), true};

// ---------------------------------------------------------------- tests

TEST_F(ProxyTest, AdmitsAndForwardsWithIdentityHeaders) {
  start();
  auto c = dial(port_, kAlice);
  ASSERT_TRUE(c);
  const unsigned char* alpn = nullptr;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(c->ssl(), &alpn, &alpn_len);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(alpn), alpn_len), "http/1.1");
  auto r = c->get("/echo",
                  "X-Client-Cert-Subject: CN=mallory\r\n"
                  "x-client-cert-SERIAL: 99\r\n"
                  "X-Client-Cert-Extra: forged\r\n"
                  "Connection: keep-alive, X-Hop\r\n"
                  "X-Hop: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: h2c\r\n"
                  "Proxy-Connection: keep-alive\r\nTrailer: X-T\r\n"
                  "X-Forwarded-For: 192.0.2.7\r\nX-Kept: yes\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  const std::string& seen = r->body;  // the request head the backend received
  EXPECT_EQ(header_of(seen, "x-client-cert-subject"), "CN=alice") << seen;
  EXPECT_EQ(header_of(seen, "x-client-cert-serial"), "01") << seen;
  EXPECT_EQ(seen.find("mallory"), std::string::npos) << seen;
  EXPECT_EQ(seen.find("99"), std::string::npos) << seen;
  EXPECT_EQ(header_of(seen, "x-client-cert-extra"), "") << seen;
  for (const char* hop : {"x-hop", "keep-alive", "te", "upgrade", "proxy-connection", "trailer",
                          "connection", "transfer-encoding"})
    EXPECT_EQ(header_of(seen, hop), "") << hop << "\n" << seen;
  EXPECT_EQ(header_of(seen, "x-forwarded-for"), "192.0.2.7, 127.0.0.1") << seen;
  EXPECT_EQ(header_of(seen, "x-forwarded-proto"), "https") << seen;
  EXPECT_EQ(header_of(seen, "x-kept"), "yes") << seen;
  EXPECT_EQ(header_of(seen, "host"), "svc") << seen;
  // The backend's hop-by-hop response headers do not reach the client.
  EXPECT_EQ(header_of(r->head, "x-hop-resp"), "") << r->head;
  EXPECT_EQ(header_of(r->head, "keep-alive"), "") << r->head;

  auto p = peers();
  ASSERT_EQ(p.size(), 1u);
  ASSERT_EQ(p[0].chain.size(), 2u);  // leaf first, as presented
  EXPECT_EQ(p[0].chain[0], alice().der);
  EXPECT_EQ(p[0].chain[1], client_ca().der);
  EXPECT_FALSE(p[0].resumed);
  EXPECT_EQ(p[0].sni, "proxy.test");
  EXPECT_EQ(p[0].tls_version, "TLSv1.3");
  EXPECT_EQ(p[0].remote_address, "127.0.0.1");
  auto recs = records(1);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].verdict, "allow");
  EXPECT_EQ(recs[0].identity, "cn=alice");
  EXPECT_EQ(recs[0].method, "GET");
  EXPECT_EQ(recs[0].target, "/echo");
  EXPECT_EQ(recs[0].status, 200);
  EXPECT_FALSE(recs[0].upstream_error);
  const std::string metrics = registry_.render();
  EXPECT_NE(metrics.find("herald_proxy_handshakes_total{route=\"web\",result=\"allow\"} 1"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("herald_proxy_connections_open{route=\"web\"} 1"), std::string::npos)
      << metrics;
}

TEST_F(ProxyTest, RefusalNeverDialsTheBackend) {
  admit_ = [](const PeerInfo&) {
    Admission a;
    a.http_status = 403;
    a.reason = "revoked";
    a.detail = "The client certificate \"alice\" is revoked.";
    a.identity = "cn=alice";
    return a;
  };
  start();
  auto c = dial(port_, kAlice);
  ASSERT_TRUE(c);
  auto r = c->get("/echo");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(header_of(r->head, "content-type"), "application/problem+json");
  EXPECT_EQ(header_of(r->head, "connection"), "close");
  EXPECT_EQ(
      r->body,
      "{\"type\":\"urn:herald:problem:access-denied\",\"title\":\"Forbidden\",\"status\":403,"
      "\"detail\":\"The client certificate \\\"alice\\\" is revoked.\",\"reason\":\"revoked\"}");
  EXPECT_TRUE(c->closed_by_peer());
  // No certificate at all: the policy answers 401 (allow_alice does).
  admit_ = allow_alice;
  auto anon = dial(port_);
  ASSERT_TRUE(anon);
  auto r2 = anon->get("/echo");
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 401);
  EXPECT_NE(r2->body.find("no_certificate"), std::string::npos);
  EXPECT_EQ(backend_->accepts, 0);
  auto p = peers();
  ASSERT_EQ(p.size(), 2u);
  EXPECT_TRUE(p[1].chain.empty());
  auto recs = records(2);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].verdict, "refuse");
  EXPECT_EQ(recs[0].reason, "revoked");
  EXPECT_EQ(recs[0].status, 403);
  const std::string metrics = registry_.render();
  EXPECT_NE(metrics.find("herald_proxy_handshakes_total{route=\"web\",result=\"refuse\"} 2"),
            std::string::npos)
      << metrics;
}

TEST_F(ProxyTest, HealthPathWithoutCertificate) {
  start();
  auto c = dial(port_);
  ASSERT_TRUE(c);
  auto r = c->get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "{\"status\":\"ok\"}");
  EXPECT_EQ(header_of(r->head, "content-type"), "application/json");
  // Kept alive: a second health check on the same connection.
  auto r2 = c->get("/healthz?probe=1");
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 200);
  EXPECT_EQ(backend_->accepts, 0);
  auto recs = records(2);
  ASSERT_GE(recs.size(), 1u);
  EXPECT_EQ(recs[0].verdict, "health");
}

TEST_F(ProxyTest, StreamsLargeBodiesBothWays) {
  start();
  auto c = dial(port_, kAlice);
  ASSERT_TRUE(c);
  constexpr uint64_t kSize = 4 * 1024 * 1024 + 7;  // far larger than any buffer of the proxy
  std::string body(kSize, '\0');
  for (uint64_t i = 0; i < kSize; ++i) body[i] = static_cast<char>(i % 251);
  const std::string expect =
      "n=" + std::to_string(kSize) + " sum=" + std::to_string(pattern_sum(kSize));
  // Content-Length upload.
  ASSERT_TRUE(c->write("POST /upload HTTP/1.1\r\nHost: svc\r\nContent-Length: " +
                       std::to_string(kSize) + "\r\n\r\n"));
  ASSERT_TRUE(c->write(body));
  auto r = c->read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, expect);
  // Chunked upload, odd chunk sizes.
  ASSERT_TRUE(c->write("POST /upload HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n"));
  for (uint64_t off = 0; off < kSize; off += 100003) {
    const uint64_t len = std::min<uint64_t>(100003, kSize - off);
    char size[32];
    std::snprintf(size, sizeof size, "%llx\r\n", static_cast<unsigned long long>(len));
    ASSERT_TRUE(c->write(size + body.substr(off, len) + "\r\n"));
  }
  ASSERT_TRUE(c->write("0\r\n\r\n"));
  r = c->read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, expect);
  // Downloads, Content-Length and chunked.
  for (const char* path : {"/download", "/chunked"}) {
    r = c->get(std::string(path) + "?n=" + std::to_string(kSize));
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body_size, kSize) << path;
    EXPECT_EQ(r->body_sum, pattern_sum(kSize)) << path;
  }
  // All of it over one backend connection.
  EXPECT_EQ(backend_->accepts, 1);
  auto recs = records(4);
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_EQ(recs[0].bytes_in, kSize);
  EXPECT_EQ(recs[2].bytes_out, kSize);
}

// Small answers take the proxy's one-send path when their body arrived with
// the head, the streaming path when it did not: both must give the same
// bytes, framing and accounting.
TEST_F(ProxyTest, SmallResponsesWholeOrSplit) {
  start();
  auto c = dial(port_, kAlice);
  ASSERT_TRUE(c);
  struct Case {
    std::string path;
    uint64_t size;
  };
  const std::vector<Case> cases = {
      {"/download?n=0", 0},  // no body: Content-Length: 0
      {"/download?n=5", 5},  // head, then the body in a second send
      {"/chunked?n=5", 5},   // chunked: relayed chunked
      {"/slow?n=70000", 70000},  // the body 5 ms after the head, in two parts
      {"/download?n=17", 17},
  };
  for (const auto& k : cases) {
    auto r = c->get(k.path);
    ASSERT_TRUE(r) << k.path;
    EXPECT_EQ(r->status, 200) << k.path;
    EXPECT_EQ(r->body_size, k.size) << k.path;
    EXPECT_EQ(r->body_sum, pattern_sum(k.size)) << k.path;
  }
  auto r = c->get("/echo");  // the connection is still in step
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(backend_->accepts, 1);
  auto recs = records(cases.size() + 1);
  ASSERT_EQ(recs.size(), cases.size() + 1);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(recs[i].bytes_out, cases[i].size) << cases[i].path;
    EXPECT_EQ(recs[i].status, 200);
  }
}

TEST_F(ProxyTest, ConcurrentClientsOnSeveralThreads) {
  start(ProxyMode::kHttp, 0, 4);
  constexpr uint64_t kSize = 256 * 1024 + 3;
  std::string body(kSize, '\0');
  for (uint64_t i = 0; i < kSize; ++i) body[i] = static_cast<char>(i % 251);
  const std::string expect =
      "n=" + std::to_string(kSize) + " sum=" + std::to_string(pattern_sum(kSize));
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&] {
      auto c = dial(port_, kAlice);
      if (!c) return;
      for (int round = 0; round < 2; ++round) {
        if (!c->write("POST /upload HTTP/1.1\r\nHost: svc\r\nContent-Length: " +
                      std::to_string(kSize) + "\r\n\r\n") ||
            !c->write(body))
          return;
        auto up = c->read();
        if (!up || up->body != expect) return;
        auto down = c->get("/chunked?n=" + std::to_string(kSize));
        if (!down || down->body_sum != pattern_sum(kSize)) return;
      }
      ++ok;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok, 8);
  EXPECT_EQ(backend_->requests, 32);
  EXPECT_LE(backend_->accepts, 8);  // each client's requests reuse one backend connection
  EXPECT_EQ(records(32).size(), 32u);
}

// The proxy holds a bounded amount of a response its client does not read:
// the backend is held back by TCP flow control through the proxy. What it
// can send is the kernel's socket buffers on the way (a few MiB each on
// loopback), far below the body.
TEST_F(ProxyTest, BackpressureBoundsWhatTheProxyHolds) {
  start();
  auto c = dial(port_, kAlice);
  ASSERT_TRUE(c);
  constexpr uint64_t kSize = 96ull * 1024 * 1024;
  ASSERT_TRUE(
      c->write("GET /download?n=" + std::to_string(kSize) + " HTTP/1.1\r\nHost: svc\r\n\r\n"));
  ASSERT_TRUE(c->fill());
  uint64_t before = 0;
  for (int i = 0; i < 50; ++i) {  // until the backend stalls
    std::this_thread::sleep_for(20ms);
    const uint64_t now = backend_->sent;
    if (now == before && now > 0) break;
    before = now;
  }
  RecordProperty("backend_sent_bytes", std::to_string(backend_->sent.load()));
  EXPECT_LT(backend_->sent, 48ull * 1024 * 1024);
}

TEST_F(ProxyTest, HeadAndHttp10) {
  start();
  auto c = dial(port_, kAlice);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->write("HEAD /download?n=100 HTTP/1.1\r\nHost: svc\r\n\r\n"));
  auto r = c->read(true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(header_of(r->head, "content-length"), "100");
  r = c->get("/download?n=10");  // the connection is in step: no body was expected
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body_size, 10u);
  // HTTP/1.0: a chunked backend answer is sent unframed, ended by the close.
  auto old = dial(port_, kAlice);
  ASSERT_TRUE(old);
  ASSERT_TRUE(old->write("GET /chunked?n=200000 HTTP/1.0\r\nHost: svc\r\n\r\n"));
  r = old->read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->head.substr(0, 8), "HTTP/1.0");
  EXPECT_EQ(header_of(r->head, "transfer-encoding"), "");
  EXPECT_EQ(r->body_size, 200000u);
  EXPECT_EQ(r->body_sum, pattern_sum(200000));
  // No tunnels.
  auto t = dial(port_, kAlice);
  ASSERT_TRUE(t);
  ASSERT_TRUE(t->write("CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n"));
  r = t->read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(backend_->requests, 3);
}

TEST_F(ProxyTest, ReusesBackendConnections) {
  start();
  auto c = dial(port_, kAlice);
  ASSERT_TRUE(c);
  for (int i = 0; i < 3; ++i) {
    auto r = c->get("/echo");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  auto c2 = dial(port_, kAlice);
  ASSERT_TRUE(c2);
  auto r = c2->get("/echo");
  ASSERT_TRUE(r);
  EXPECT_EQ(backend_->requests, 4);
  EXPECT_EQ(backend_->accepts, 1);
  // The backend closes its kept-alive connection: the next request gets a new one.
  r = c2->get("/drop");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "drop");
  std::this_thread::sleep_for(20ms);
  r = c2->get("/echo");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(backend_->accepts, 2);
}

TEST_F(ProxyTest, RetriesOnceOnADeadPooledConnection) {
  start();
  auto c = dial(port_, kAlice);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->get("/arm"));  // the backend will close this connection on the next request
  auto r = c->get("/echo");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);  // retried on a new connection
  EXPECT_EQ(backend_->accepts, 2);
  EXPECT_EQ(backend_->requests, 3);
  // A request whose body was streamed is not retried.
  ASSERT_TRUE(c->get("/arm"));
  ASSERT_TRUE(c->write("POST /upload HTTP/1.1\r\nHost: svc\r\nContent-Length: 5\r\n\r\nhello"));
  r = c->read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 502);
  EXPECT_EQ(backend_->accepts, 2);
  auto recs = records(4);
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_FALSE(recs[1].upstream_error);
  EXPECT_TRUE(recs[3].upstream_error);
}

TEST_F(ProxyTest, AnswersExpectContinueItself) {
  start();
  auto c = dial(port_, kAlice);
  ASSERT_TRUE(c);
  ASSERT_TRUE(
      c->write("POST /upload HTTP/1.1\r\nHost: svc\r\nContent-Length: 5\r\n"
               "Expect: 100-continue\r\n\r\n"));
  auto interim = c->read();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(c->write("hello"));
  auto r = c->read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "n=5 sum=532");
  auto heads = backend_->heads();
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_EQ(header_of(heads[0], "expect"), "");
}

TEST_F(ProxyTest, OversizedHeaderIs431) {
  start();
  auto c = dial(port_, kAlice);
  ASSERT_TRUE(c);
  auto r = c->get("/echo", "X-Big: " + std::string(10000, 'a') + "\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_TRUE(c->closed_by_peer());
  EXPECT_EQ(backend_->accepts, 0);
}

TEST_F(ProxyTest, DeadBackendIs502) {
  start(ProxyMode::kHttp, dead_port());
  auto c = dial(port_, kAlice);
  ASSERT_TRUE(c);
  auto r = c->get("/echo");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 502);
  EXPECT_EQ(header_of(r->head, "content-type"), "application/problem+json");
  EXPECT_NE(r->body.find("bad-gateway"), std::string::npos) << r->body;
  // The client connection survives (the request was read whole).
  r = c->get("/echo");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 502);
  auto recs = records(2);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_TRUE(recs[0].upstream_error);
  EXPECT_EQ(recs[0].status, 502);
  const std::string metrics = registry_.render();
  EXPECT_NE(metrics.find("herald_proxy_upstream_errors_total{route=\"web\"} 2"), std::string::npos)
      << metrics;
}

TEST_F(ProxyTest, TcpModeRelaysWithHalfClose) {
  backend_ = std::make_unique<Backend>(Backend::Kind::kEcho);
  start(ProxyMode::kTcp);
  auto c = dial(port_, kAlice);
  ASSERT_TRUE(c);
  std::string payload(300000, 'x');
  ASSERT_TRUE(c->write("hello " + payload));
  // close_notify: the backend sees EOF, then answers; we still read.
  EXPECT_EQ(SSL_shutdown(c->ssl()), 0);
  std::string got;
  char buf[16384];
  int n;
  while ((n = SSL_read(c->ssl(), buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  EXPECT_EQ(SSL_get_error(c->ssl(), n), SSL_ERROR_ZERO_RETURN);  // the proxy's close_notify
  EXPECT_EQ(got, "echo:hello " + payload);
  auto recs = records(1);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].verdict, "allow");
  EXPECT_EQ(recs[0].bytes_in, 6 + payload.size());
  EXPECT_EQ(recs[0].bytes_out, 11 + payload.size());
  // Refused: closed without a dial.
  EXPECT_EQ(backend_->accepts, 1);
  auto anon = dial(port_);
  if (anon) {
    EXPECT_TRUE(anon->closed_by_peer());
  }
  records(2);
  EXPECT_EQ(backend_->accepts, 1);
}

TEST_F(ProxyTest, SessionResumptionGivesTheLeaf) {
  start();
  for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    ClientOpts o = kAlice;
    o.max_version = version;
    auto c = dial(port_, o);
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->get("/echo"));  // TLS 1.3 tickets arrive after the handshake
    SSL_SESSION* session = SSL_get1_session(c->ssl());
    ASSERT_NE(session, nullptr);
    o.session = session;
    auto c2 = dial(port_, o);
    ASSERT_TRUE(c2);
    EXPECT_TRUE(SSL_session_reused(c2->ssl())) << version;
    auto r = c2->get("/echo");
    ASSERT_TRUE(r);
    EXPECT_EQ(header_of(r->body, "x-client-cert-subject"), "CN=alice");
    SSL_SESSION_free(session);
    auto p = peers();
    ASSERT_GE(p.size(), 2u);
    EXPECT_FALSE(p[p.size() - 2].resumed);
    EXPECT_TRUE(p.back().resumed) << version;
    ASSERT_EQ(p.back().chain.size(), 1u);
    EXPECT_EQ(p.back().chain[0], alice().der);
    EXPECT_EQ(p.back().tls_version, version == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2");
  }
}

TEST_F(ProxyTest, ReloadSwapsTheCertificateAndKeepsTickets) {
  start();
  auto c = dial(port_, kAlice);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->peer_cn(), "proxy-a");
  ASSERT_TRUE(c->get("/echo"));
  SSL_SESSION* session = SSL_get1_session(c->ssl());
  ASSERT_TRUE(tls_->reload({server_b().cert, server_b().key, ""}));
  auto c2 = dial(port_, kAlice);
  ASSERT_TRUE(c2);
  EXPECT_EQ(c2->peer_cn(), "proxy-b");
  // The open connection keeps working on its context.
  auto r = c->get("/echo");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  // A ticket sealed before the reload still resumes after it.
  ClientOpts o = kAlice;
  o.session = session;
  auto c3 = dial(port_, o);
  ASSERT_TRUE(c3);
  EXPECT_TRUE(SSL_session_reused(c3->ssl()));
  SSL_SESSION_free(session);
}

TEST_F(ProxyTest, StaplesOcsp) {
  staple_ = std::make_shared<const Bytes>(Bytes{0x30, 0x03, 0x0a, 0x01, 0x00});
  start();
  ClientOpts o = kAlice;
  o.ocsp = true;
  auto c = dial(port_, o);
  ASSERT_TRUE(c);
  const unsigned char* resp = nullptr;
  long len = SSL_get_tlsext_status_ocsp_resp(c->ssl(), &resp);
  ASSERT_EQ(len, 5);
  EXPECT_EQ(Bytes(resp, resp + len), *staple_);
}

TEST_F(ProxyTest, StopLetsAStreamingResponseFinish) {
  start();
  auto c = dial(port_, kAlice);
  ASSERT_TRUE(c);
  auto idle = dial(port_, kAlice);  // kept alive, idle: closed at stop
  ASSERT_TRUE(idle);
  ASSERT_TRUE(idle->get("/echo"));
  constexpr uint64_t kSize = 2 * 1024 * 1024;
  ASSERT_TRUE(c->write("GET /slow?n=" + std::to_string(kSize) + " HTTP/1.1\r\nHost: svc\r\n\r\n"));
  ASSERT_TRUE(c->fill());  // the response has started
  const auto t0 = std::chrono::steady_clock::now();
  proxy_->stop();
  auto r = c->read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body_size, kSize);
  EXPECT_EQ(r->body_sum, pattern_sum(kSize));
  EXPECT_EQ(header_of(r->head, "connection"), "");  // sent before the stop
  EXPECT_TRUE(c->closed_by_peer());
  EXPECT_TRUE(idle->closed_by_peer());
  thread_.join();
  proxy_.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
}

TEST_F(ProxyTest, MaxConnectionsPausesAccepting) {
  max_connections_ = 1;
  start();
  auto gauge = [this] {
    const std::string m = registry_.render();
    const std::string key = "herald_proxy_connections_open{route=\"web\"} ";
    auto pos = m.find(key);
    return pos == std::string::npos ? std::string() : m.substr(pos + key.size(), 1);
  };
  auto c = dial(port_, kAlice);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->get("/echo"));
  // A second client waits in the backlog: not accepted while the first is open.
  std::unique_ptr<Client> second;
  std::thread t([&] { second = dial(port_, kAlice); });
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(gauge(), "1");
  c.reset();  // the first leaves: the second is accepted and served
  t.join();
  ASSERT_TRUE(second);
  auto r = second->get("/echo");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(ProxyTest, AdminListener) {
  proxy_ = std::make_unique<ProxyServer>(1);
  auto port = proxy_->listen_admin("127.0.0.1", 0, [](const Request& req, net::Response& res) {
    res.body = "admin " + req.path;
  });
  ASSERT_TRUE(port);
  thread_ = std::thread([this] { proxy_->run(); });
  auto r = http_request("GET", "http://127.0.0.1:" + std::to_string(*port) + "/metrics", {}, "",
                        std::chrono::seconds(2), 1024);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->body, "admin /metrics");
}

}  // namespace
}  // namespace herald::net
