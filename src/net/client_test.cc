// net::http_request: only http:// URLs, the body cap, the timeout, and no
// redirect followed, against raw sockets that answer what each test needs.
#include "net/client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

namespace herald::net {
namespace {

using namespace std::chrono_literals;

// A listener on 127.0.0.1 that answers each connection with `reply` (after
// reading the request head), or with nothing at all when `silent`.
class RawServer {
 public:
  RawServer(std::string reply, bool silent = false) : reply_(std::move(reply)), silent_(silent) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    EXPECT_EQ(::listen(fd_, 8), 0);
    thread_ = std::thread([this] {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        head.append(buf, static_cast<size_t>(n));
      }
      requests_ = head;
      if (!silent_) {
        for (size_t off = 0; off < reply_.size();) {
          ssize_t n = ::write(c, reply_.data() + off, reply_.size() - off);
          if (n <= 0) break;
          off += static_cast<size_t>(n);
        }
      } else {
        while (!stop_) std::this_thread::sleep_for(10ms);
      }
      ::close(c);
    });
  }
  ~RawServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::string requests_;

 private:
  std::string reply_;
  bool silent_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string reply(int status, const std::string& body, const std::string& extra = "") {
  return "HTTP/1.1 " + std::to_string(status) +
         " X\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body;
}

TEST(HttpRequest, OnlyPlainHttpUrls) {
  for (const char* url : {"https://127.0.0.1/x", "ldap://ca/crl", "file:///etc/passwd",
                          "http://user@127.0.0.1/x", "http:///x", "http://127.0.0.1:port/x", "x"}) {
    auto r = http_request("GET", url, {}, "", 1s, 1024);
    ASSERT_FALSE(r) << url;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << url;
  }
}

TEST(HttpRequest, GetsABodyAndSendsThePath) {
  RawServer s(reply(200, "crl bytes"));
  auto r = http_request("GET", s.url("/crl/issuing.crl"), {}, "", 5s, 1024);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "crl bytes");
  EXPECT_EQ(s.requests_.rfind("GET /crl/issuing.crl HTTP/1.1\r\n", 0), 0u) << s.requests_;
}

TEST(HttpRequest, BodyOverTheCapIsAnError) {
  RawServer s(reply(200, std::string(5000, 'x')));
  auto r = http_request("GET", s.url("/big"), {}, "", 5s, 4096);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("larger than 4096 bytes"), std::string::npos)
      << r.error().message;
}

TEST(HttpRequest, RedirectIsReturnedNotFollowed) {
  RawServer s(reply(302, "", "Location: http://127.0.0.1:1/elsewhere\r\n"));
  auto r = http_request("GET", s.url("/crl"), {}, "", 5s, 1024);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->status, 302);
}

TEST(HttpRequest, SilentServerTimesOut) {
  RawServer s("", true);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = http_request("POST", s.url("/ocsp"), {{"Content-Type", "application/ocsp-request"}},
                        "req", 1s, 1024);
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("timed out after 1 s"), std::string::npos) << r.error().message;
  EXPECT_LT(took, 4s);
}

TEST(HttpRequest, ClosedPortIsAConnectError) {
  int port = 0;
  {
    RawServer s(reply(200, ""));
    port = std::stoi(s.url("").substr(17));
    (void)http_request("GET", s.url("/"), {}, "", 5s, 1024);
  }
  auto r = http_request("GET", "http://127.0.0.1:" + std::to_string(port) + "/", {}, "", 2s, 1024);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("cannot connect"), std::string::npos) << r.error().message;
}

// An empty CA list is refused before connecting, unless the caller asks for
// the system's default anchors (ClientTls::EmptyCa::kSystemDefault): then the
// connection is made and the TLS handshake decides (here it fails, the peer
// speaking plain HTTP).
TEST(HttpsRequest, EmptyCaRefusedUnlessSystemDefault) {
  RawServer s(reply(200, "x"));
  const std::string url = "https" + s.url("/").substr(4);
  auto refused = https_request("GET", url, {}, "", ClientTls{}, 5s);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("no CA certificate"), std::string::npos) << refused.error().message;
  ClientTls system;
  system.empty_ca = ClientTls::EmptyCa::kSystemDefault;
  auto r = https_request("GET", url, {}, "", system, 1s);  // the raw server never answers the hello
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("TLS handshake"), std::string::npos) << r.error().message;
}

// A request waiting on a silent server (the TLS handshake never answered)
// ends at once when another thread cancels it, long before its timeout; a
// token cancelled beforehand stops the next request before it connects.
TEST(HttpsRequest, CancelAbortsARequestInFlight) {
  RawServer s("", true);
  const std::string url = "https" + s.url("/v1/revocations").substr(4);
  ClientTls tls;
  tls.empty_ca = ClientTls::EmptyCa::kSystemDefault;
  CancelToken cancel;
  std::thread canceller([&] {
    std::this_thread::sleep_for(300ms);
    cancel.cancel();
  });
  const auto t0 = std::chrono::steady_clock::now();
  auto r = https_request("GET", url, {}, "", tls, 60s, &cancel);
  const auto took = std::chrono::steady_clock::now() - t0;
  canceller.join();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "cancelled");
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 10s);
  EXPECT_TRUE(cancel.cancelled());
  auto again = https_request("GET", url, {}, "", tls, 60s, &cancel);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().message, "cancelled");
}

}  // namespace
}  // namespace herald::net
