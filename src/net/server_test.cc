#include "net/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

namespace herald::net {
namespace {

// A raw HTTP client: sends bytes, reads until the peer closes or `max` bytes.
std::string roundtrip(uint16_t port, const std::string& bytes, size_t max = 1 << 20) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return "connect failed";
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  ssize_t n;
  while (out.size() < max && (n = ::recv(fd, buf, sizeof buf, 0)) > 0)
    out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

class ServerTest : public ::testing::Test {
 protected:
  void start(Limits limits = {}, std::shared_ptr<TlsContextHolder> tls = nullptr) {
    server_ = std::make_unique<Server>(2);
    auto port = server_->listen(
        "127.0.0.1", 0, tls,
        [this](const Request& req, Response& res) {
          ++handled_;
          res.set_header("Content-Type", "text/plain");
          res.body = req.method + " " + req.path + " q=" + req.query_param("q") +
                     " len=" + std::to_string(req.body.size()) + " tls=" + (req.tls ? "1" : "0");
        },
        limits);
    ASSERT_TRUE(port) << port.error().describe();
    port_ = *port;
    thread_ = std::thread([this] { server_->run(); });
  }
  void TearDown() override {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }
  std::unique_ptr<Server> server_;
  std::thread thread_;
  uint16_t port_ = 0;
  std::atomic<int> handled_{0};
};

TEST_F(ServerTest, ServesAndKeepsAlive) {
  start();
  std::string two =
      "GET /a?q=x%20y HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\nConnection: "
      "close\r\n\r\n";
  auto out = roundtrip(port_, two);
  EXPECT_NE(out.find("GET /a q=x y len=0 tls=0"), std::string::npos) << out;
  EXPECT_NE(out.find("GET /b q= len=0"), std::string::npos) << out;
  EXPECT_EQ(handled_, 2);
}

TEST_F(ServerTest, Http10KeepAliveGetsAnExplicitKeepAlive) {
  start();
  auto out =
      roundtrip(port_, "GET /a HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.0 200", 0), 0u) << out;
  EXPECT_NE(out.find("Connection: keep-alive"), std::string::npos) << out;
  EXPECT_NE(out.find("GET /b"), std::string::npos) << out;  // second request on the same connection
  EXPECT_EQ(handled_, 2);
}

TEST_F(ServerTest, HeadHasHeadersButNoBody) {
  start();
  auto out = roundtrip(port_, "HEAD /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_NE(out.find("Content-Length: 22"), std::string::npos) << out;  // "HEAD /x q= len=0 tls=0"
  EXPECT_EQ(out.find("HEAD /x"), std::string::npos) << out;
}

TEST_F(ServerTest, OversizedBodyIs413AndNotHandled) {
  Limits l;
  l.max_body_bytes = 100;
  start(l);
  std::string body(1000, 'x');
  auto out = roundtrip(port_, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n" + body);
  EXPECT_EQ(out.rfind("HTTP/1.1 413", 0), 0u) << out;
  EXPECT_NE(out.find("application/problem+json"), std::string::npos);
  EXPECT_EQ(handled_, 0);
}

TEST_F(ServerTest, OversizedHeaderIs431AndGarbageIs400) {
  Limits l;
  l.max_header_bytes = 256;
  start(l);
  auto big = roundtrip(
      port_, "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(1000, 'a') + "\r\n\r\n");
  EXPECT_EQ(big.rfind("HTTP/1.1 431", 0), 0u) << big;
  auto garbage = roundtrip(port_, "\x01\x02 not http\r\n\r\n");
  EXPECT_EQ(garbage.rfind("HTTP/1.1 400", 0), 0u) << garbage;
  EXPECT_EQ(handled_, 0);
}

TEST_F(ServerTest, SlowClientIsCutOff) {
  Limits l;
  l.read_timeout = std::chrono::seconds(1);
  start(l);
  auto t0 = std::chrono::steady_clock::now();
  auto out = roundtrip(port_, "GET / HTTP/1.1\r\nHost: h\r\n");  // never finishes the header
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(4));
  EXPECT_EQ(handled_, 0);
}

TEST_F(ServerTest, StopReturnsWithIdleKeepAliveConnectionsOpen) {
  start();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port_);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string req = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  char buf[512];
  ASSERT_GT(::recv(fd, buf, sizeof buf, 0), 0);
  auto t0 = std::chrono::steady_clock::now();
  server_->stop();
  thread_.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  ::close(fd);
}

TEST_F(ServerTest, Tls) {
  ossl::EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  ossl::X509Ptr cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_sign(cert.get(), key.get(), EVP_sha256());
  ossl::BioPtr cb(BIO_new(BIO_s_mem())), kb(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(cb.get(), cert.get());
  PEM_write_bio_PrivateKey(kb.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  TlsConfig cfg{ossl::bio_to_string(*cb), ossl::bio_to_string(*kb), ""};
  auto holder = TlsContextHolder::create(cfg);
  ASSERT_TRUE(holder) << holder.error().describe();
  start({}, *holder);
  std::string cmd = "curl -sk --max-time 5 https://127.0.0.1:" + std::to_string(port_) + "/t?q=1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[256] = {};
  size_t n = fread(buf, 1, sizeof buf - 1, p);
  ::pclose(p);
  EXPECT_EQ(std::string(buf, n), "GET /t q=1 len=0 tls=1");
  // A key that does not match is refused.
  TlsConfig bad = cfg;
  ossl::EvpPkeyPtr other(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  ossl::BioPtr ob(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(ob.get(), other.get(), nullptr, nullptr, 0, nullptr, nullptr);
  bad.key_pem = ossl::bio_to_string(*ob);
  EXPECT_FALSE((*holder)->reload(bad));
}

}  // namespace
}  // namespace herald::net
