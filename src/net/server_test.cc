#include "net/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "obs/log.h"
#include "obs/metrics.h"

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

int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads one response (headers and a Content-Length body) within `timeout`;
// "" if none arrives.
std::string read_response(int fd, std::chrono::milliseconds timeout) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    auto head_end = out.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      auto cl = out.find("Content-Length: ");
      size_t len = cl == std::string::npos ? 0 : std::stoul(out.substr(cl + 16));
      if (out.size() >= head_end + 4 + len) return out;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return "";
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return "";
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return "";
    out.append(buf, static_cast<size_t>(n));
  }
}

// Waits until the peer closes `fd` (EOF or reset); returns how long that took,
// or `timeout` if it stayed open.
std::chrono::milliseconds time_to_close(int fd, std::chrono::milliseconds timeout) {
  const auto t0 = std::chrono::steady_clock::now();
  char buf[256];
  for (;;) {
    auto spent =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    if (spent >= timeout) return timeout;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>((timeout - spent).count())) <= 0) continue;
    if (::recv(fd, buf, sizeof buf, 0) <= 0)
      return std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - t0);
  }
}

double process_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

const std::string kGet = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";

// The X-Request-Id header of a response, "" if none.
std::string request_id_of(const std::string& response) {
  std::smatch m;
  static const std::regex re("\r\nX-Request-Id: ([^\r]*)\r\n", std::regex::icase);
  return std::regex_search(response, m, re) ? m[1].str() : "";
}
bool fresh_id(const std::string& id) { return std::regex_match(id, std::regex("[0-9a-f]{16}")); }

// Sends the process's log to a file for a test's lifetime, back to stderr after.
class LogToFile {
 public:
  LogToFile()
      : path_(std::filesystem::temp_directory_path() /
              ("herald-server-test-" + std::to_string(::getpid()) + ".log")) {
    std::filesystem::remove(path_);
    EXPECT_TRUE(
        obs::configure_logging({obs::LogFormat::kJson, obs::LogLevel::kInfo, path_.string()}));
  }
  ~LogToFile() {
    EXPECT_TRUE(obs::configure_logging({std::nullopt, obs::LogLevel::kInfo, ""}));
    std::filesystem::remove(path_);
  }
  std::string text() const {
    std::ifstream in(path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  // The line holding `needle`, "" if none.
  std::string line_with(const std::string& needle) const {
    std::istringstream in(text());
    for (std::string l; std::getline(in, l);)
      if (l.find(needle) != std::string::npos) return l;
    return "";
  }

 private:
  std::filesystem::path path_;
};

class ServerTest : public ::testing::Test {
 protected:
  void start(Limits limits = {}, std::shared_ptr<TlsContextHolder> tls = nullptr) {
    server_ = std::make_unique<Server>(2);
    server_->attach_metrics(registry_);
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
  double metric(const std::string& sample) const {
    std::string text = registry_.render();
    auto at = text.find("\n" + sample + " ");
    return at == std::string::npos ? -1 : std::stod(text.substr(at + sample.size() + 2));
  }
  obs::Registry registry_;
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

TEST_F(ServerTest, RefusedBodyIsDrainedSoTheClientReadsThe413) {
  // The client sends far more than the limit before it reads. Closing on
  // unread data would reset the connection and could destroy the 413 before
  // the client reads it; the server drains (bounded) and then closes.
  Limits l;
  l.max_body_bytes = 100;
  start(l);
  for (int round = 0; round < 5; ++round) {
    int fd = connect_to(port_);
    ASSERT_GE(fd, 0);
    int sndbuf = 16 * 1024;  // more than the kernel buffers hold: sends wait for the server
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    const std::string body(900 * 1024, 'x');
    const std::string req = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body;
    size_t sent = 0;
    while (sent < req.size()) {
      ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << "send failed after " << sent << " bytes: " << std::strerror(errno);
      sent += static_cast<size_t>(n);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto out = read_response(fd, std::chrono::milliseconds(3000));
    EXPECT_EQ(out.rfind("HTTP/1.1 413", 0), 0u) << "round " << round << ": '" << out << "'";
    ::close(fd);
  }
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

TEST_F(ServerTest, EveryAnswerCarriesARequestId) {
  start();
  auto fresh = roundtrip(port_, "GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(fresh_id(request_id_of(fresh))) << fresh;
  auto own = roundtrip(port_,
                       "GET /a HTTP/1.1\r\nHost: h\r\nX-Request-Id: client-1.x_Y\r\n"
                       "Connection: close\r\n\r\n");
  EXPECT_EQ(request_id_of(own), "client-1.x_Y") << own;
  auto invalid = roundtrip(port_,
                           "GET /a HTTP/1.1\r\nHost: h\r\nX-Request-Id: no spaces\r\n"
                           "Connection: close\r\n\r\n");
  EXPECT_TRUE(fresh_id(request_id_of(invalid))) << invalid;
}

TEST(ServerRequestId, TheHandlerSeesTheIdAndMayAnswerWithItsOwn) {
  Server server(1);
  std::string seen;
  auto port = server.listen("127.0.0.1", 0, nullptr,
                            [&seen](const Request& req, Response& res) {
                              seen = req.request_id;
                              if (req.path == "/own")
                                res.set_header("X-Request-Id", "from-handler");
                            },
                            {});
  ASSERT_TRUE(port);
  std::thread t([&server] { server.run(); });
  auto out = roundtrip(*port,
                       "GET /a HTTP/1.1\r\nHost: h\r\nX-Request-Id: abc\r\n"
                       "Connection: close\r\n\r\n");
  EXPECT_EQ(seen, "abc");
  EXPECT_EQ(request_id_of(out), "abc") << out;
  out = roundtrip(*port, "GET /own HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(fresh_id(seen)) << seen;
  EXPECT_EQ(request_id_of(out), "from-handler") << out;
  server.stop();
  t.join();
}

TEST_F(ServerTest, RefusalsCarryARequestIdAndAreLogged) {
  LogToFile log;
  Limits l;
  l.max_body_bytes = 100;
  l.max_header_bytes = 256;
  start(l);
  // 413: the header was read, so the client's own id comes back.
  auto big_body = roundtrip(port_,
                            "POST /up?secret=1 HTTP/1.1\r\nHost: h\r\nX-Request-Id: r-413\r\n"
                            "Authorization: Bearer hrld_sekrit\r\nContent-Length: 1000\r\n\r\n" +
                                std::string(1000, 'x'));
  EXPECT_EQ(big_body.rfind("HTTP/1.1 413", 0), 0u) << big_body;
  EXPECT_EQ(request_id_of(big_body), "r-413") << big_body;
  // 431 and 400: no header to take an id from, a fresh one.
  auto big_header = roundtrip(port_, "GET / HTTP/1.1\r\nHost: h\r\nX-Request-Id: r-431\r\nX-Big: " +
                                         std::string(1000, 'a') + "\r\n\r\n");
  EXPECT_EQ(big_header.rfind("HTTP/1.1 431", 0), 0u) << big_header;
  const std::string id431 = request_id_of(big_header);
  EXPECT_TRUE(fresh_id(id431)) << big_header;
  auto garbage = roundtrip(port_, "\x01\x02 not http\r\n\r\n");
  EXPECT_EQ(garbage.rfind("HTTP/1.1 400", 0), 0u) << garbage;
  const std::string id400 = request_id_of(garbage);
  EXPECT_TRUE(fresh_id(id400)) << garbage;
  EXPECT_EQ(handled_, 0);

  const std::string l413 = log.line_with("\"request_id\":\"r-413\"");
  EXPECT_NE(l413.find("\"msg\":\"request refused\""), std::string::npos) << l413;
  EXPECT_NE(l413.find("\"status\":413"), std::string::npos) << l413;
  EXPECT_NE(l413.find("\"error\":\"request-too-large\""), std::string::npos) << l413;
  EXPECT_NE(l413.find("\"method\":\"POST\""), std::string::npos) << l413;
  EXPECT_NE(l413.find("\"path\":\"/up\""), std::string::npos) << l413;  // no query
  EXPECT_NE(l413.find("\"remote\":\"127.0.0.1\""), std::string::npos) << l413;
  const std::string l431 = log.line_with(id431);
  EXPECT_NE(l431.find("\"status\":431"), std::string::npos) << l431;
  EXPECT_EQ(l431.find("\"path\""), std::string::npos) << l431;  // the header was not read
  EXPECT_NE(log.line_with(id400).find("\"status\":400"), std::string::npos) << log.text();
  // Never a header value but the id, never a body.
  const std::string all = log.text();
  EXPECT_EQ(all.find("sekrit"), std::string::npos) << all;
  EXPECT_EQ(all.find("xxxx"), std::string::npos) << all;
  EXPECT_EQ(all.find("aaaa"), std::string::npos) << all;
  EXPECT_EQ(all.find("secret"), std::string::npos) << all;
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

// Between requests a keep-alive connection may idle for idle_timeout; once the
// first byte of the next request has arrived, the rest of it gets
// read_timeout, like a first request.
TEST_F(ServerTest, KeepAliveNextRequestGetsReadTimeoutFromItsFirstByte) {
  Limits l;
  l.read_timeout = std::chrono::seconds(1);
  l.idle_timeout = std::chrono::seconds(4);
  start(l);
  int slow = connect_to(port_);
  int idle = connect_to(port_);
  ASSERT_GE(slow, 0);
  ASSERT_GE(idle, 0);
  for (int fd : {slow, idle}) {
    ASSERT_EQ(::send(fd, kGet.data(), kGet.size(), MSG_NOSIGNAL), static_cast<ssize_t>(kGet.size()));
    ASSERT_NE(read_response(fd, std::chrono::seconds(5)), "");
  }
  // The attack: one byte of the next request, then nothing.
  ASSERT_EQ(::send(slow, "G", 1, MSG_NOSIGNAL), 1);
  auto closed_after = time_to_close(slow, std::chrono::seconds(6));
  EXPECT_GE(closed_after, std::chrono::milliseconds(800));
  EXPECT_LT(closed_after, std::chrono::milliseconds(2500)) << "got the idle timeout, not the read timeout";
  ::close(slow);
  // The idle connection (no byte sent) is still open past read_timeout and
  // serves a request...
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_EQ(::send(idle, kGet.data(), kGet.size(), MSG_NOSIGNAL), static_cast<ssize_t>(kGet.size()));
  ASSERT_NE(read_response(idle, std::chrono::seconds(2)), "") << "closed before idle_timeout";
  // ...and is closed once it has idled for idle_timeout.
  auto t0 = std::chrono::steady_clock::now();
  auto idle_closed = time_to_close(idle, std::chrono::seconds(8));
  EXPECT_GE(idle_closed, std::chrono::milliseconds(3500));
  EXPECT_LT(idle_closed, std::chrono::milliseconds(5500));
  (void)t0;
  ::close(idle);
  EXPECT_NE(roundtrip(port_, "GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").find("GET /x"),
            std::string::npos);
}

// A client that sends its request header byte by byte, each within the idle
// timeout, must still finish within read_timeout.
TEST_F(ServerTest, KeepAliveTrickleIsCutAtReadTimeout) {
  Limits l;
  l.read_timeout = std::chrono::seconds(1);
  l.idle_timeout = std::chrono::seconds(4);
  start(l);
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::send(fd, kGet.data(), kGet.size(), MSG_NOSIGNAL), static_cast<ssize_t>(kGet.size()));
  ASSERT_NE(read_response(fd, std::chrono::seconds(5)), "");
  const auto t0 = std::chrono::steady_clock::now();
  const std::string next = "GET /slow HTTP/1.1\r\nHost: h\r\nX-Pad: aaaaaaaaaaaaaaaa\r\n\r\n";
  bool closed = false;
  for (char c : next) {
    if (::send(fd, &c, 1, MSG_NOSIGNAL) != 1) {
      closed = true;
      break;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 300) > 0) {
      char b[512];
      if (::recv(fd, b, sizeof b, 0) <= 0) {
        closed = true;
        break;
      }
    }
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(2500));
  EXPECT_EQ(handled_, 1);
  ::close(fd);
}

// With the process out of file descriptors, pending connections cannot be
// accepted: the listener must back off instead of spinning on EMFILE, and
// serve them once descriptors are free again.
TEST_F(ServerTest, AcceptBacksOffWhenOutOfFileDescriptors) {
  start();
  ASSERT_NE(roundtrip(port_, "GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"), "");
  // Its session must be gone before descriptors run out: UBSan's vptr check
  // (first destruction of a session type) needs a pipe, and reports a false
  // "invalid vptr" without one.
  for (int i = 0; i < 100 && metric("herald_connections_open{listener=\"http\"}") != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::vector<int> clients;
  for (int i = 0; i < 8; ++i) clients.push_back(::socket(AF_INET, SOCK_STREAM, 0));
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  int probe = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(probe, 0);
  rlimit low = saved;
  low.rlim_cur = static_cast<rlim_t>(probe) + 32;
  if (saved.rlim_max != RLIM_INFINITY && low.rlim_cur > saved.rlim_max) low.rlim_cur = saved.rlim_max;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> fillers{probe};
  for (;;) {
    int fd = ::dup(probe);
    if (fd < 0) break;
    fillers.push_back(fd);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port_);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int fd : clients) {
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::send(fd, kGet.data(), kGet.size(), MSG_NOSIGNAL), static_cast<ssize_t>(kGet.size()));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const double cpu0 = process_cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const double cpu = process_cpu_seconds() - cpu0;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (int fd : fillers) ::close(fd);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  std::fprintf(stderr, "process CPU while out of descriptors: %.0f%% of a core\n", 100 * cpu / wall);
  EXPECT_LT(cpu / wall, 0.2) << "the accept loop spins while out of descriptors";
  // Descriptors are back: the waiting clients are served.
  for (int fd : clients) {
    EXPECT_NE(read_response(fd, std::chrono::seconds(4)), "");
    ::close(fd);
  }
  EXPECT_NE(roundtrip(port_, "GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").find("GET /b"),
            std::string::npos);
  EXPECT_GE(metric("herald_accept_errors_total{listener=\"http\",reason=\"emfile\"}"), 1);
  // 10 ms doubling to 1 s: about 7 attempts in the 1.3 s exhausted, not thousands.
  EXPECT_LT(metric("herald_accept_errors_total{listener=\"http\",reason=\"emfile\"}"), 20);
}

// At max_connections a listener stops accepting; the next client waits in the
// backlog until a connection closes, then is served.
TEST_F(ServerTest, MaxConnectionsHoldsTheNextClientUntilOneCloses) {
  Limits l;
  l.max_connections = 2;
  start(l);
  int a = connect_to(port_), b = connect_to(port_);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  for (int fd : {a, b}) {
    ASSERT_EQ(::send(fd, kGet.data(), kGet.size(), MSG_NOSIGNAL), static_cast<ssize_t>(kGet.size()));
    ASSERT_NE(read_response(fd, std::chrono::seconds(3)), "");
  }
  int c = connect_to(port_);  // the kernel completes the handshake; Herald does not accept it
  ASSERT_GE(c, 0);
  ASSERT_EQ(::send(c, kGet.data(), kGet.size(), MSG_NOSIGNAL), static_cast<ssize_t>(kGet.size()));
  EXPECT_EQ(read_response(c, std::chrono::milliseconds(800)), "") << "served beyond max_connections";
  EXPECT_EQ(handled_, 2);
  ::close(a);
  EXPECT_NE(read_response(c, std::chrono::seconds(3)), "");
  EXPECT_EQ(handled_, 3);
  EXPECT_GE(metric("herald_connection_limit_reached_total{listener=\"http\"}"), 1);
  EXPECT_EQ(metric("herald_connections_open{listener=\"http\"}"), 2);
  ::close(b);
  ::close(c);
  EXPECT_NE(roundtrip(port_, "GET /z HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").find("GET /z"),
            std::string::npos);
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

// ---------------------------------------------------------------- deferred answers

// A server whose handler defers every request to /wait and hands the handle
// to the test; /now answers at once.
class DeferredTest : public ::testing::Test {
 protected:
  void start(Limits limits = {}, int workers = 0, std::shared_ptr<TlsContextHolder> tls = nullptr,
             bool complete_at_once = false) {
    server_ = std::make_unique<Server>(2, workers);
    auto port = server_->listen(
        "127.0.0.1", 0, std::move(tls),
        [this, complete_at_once](const Request& req, Response& res) {
          if (req.path != "/wait") {
            res.body = "now " + req.path;
            return;
          }
          auto d = res.defer();
          d->on_cancel([this] { ++cancelled_; });
          if (complete_at_once) {
            Response r;
            r.body = "early";
            EXPECT_TRUE(d->complete(std::move(r)));
            return;
          }
          std::lock_guard lock(mu_);
          waiting_.push_back(std::move(d));
        },
        limits, workers > 0 ? Dispatch::kWorkers : Dispatch::kInline);
    ASSERT_TRUE(port) << port.error().describe();
    port_ = *port;
    thread_ = std::thread([this] { server_->run(); });
  }
  void TearDown() override {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }
  // The first deferred request's handle, once its handler has run.
  std::shared_ptr<Deferred> next_waiting(
      std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard lock(mu_);
        if (!waiting_.empty()) {
          auto d = waiting_.front();
          waiting_.erase(waiting_.begin());
          return d;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return nullptr;
  }
  static Response text(std::string body) {
    Response r;
    r.set_header("Content-Type", "text/plain");
    r.body = std::move(body);
    return r;
  }
  std::unique_ptr<Server> server_;
  std::thread thread_;
  uint16_t port_ = 0;
  std::mutex mu_;
  std::vector<std::shared_ptr<Deferred>> waiting_;
  std::atomic<int> cancelled_{0};
};

const std::string kWait = "GET /wait HTTP/1.1\r\nHost: h\r\n\r\n";
const std::string kNow = "GET /now HTTP/1.1\r\nHost: h\r\n\r\n";

TEST_F(DeferredTest, CompletedFromAnotherThreadOutlivingTheReadAndIdleTimeouts) {
  Limits l;
  l.read_timeout = std::chrono::seconds(1);
  l.idle_timeout = std::chrono::seconds(1);
  start(l);
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  ::send(fd, kWait.data(), kWait.size(), MSG_NOSIGNAL);
  auto d = next_waiting();
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE(d->open());
  // Longer than both timeouts: a waiting request is not cut off.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_EQ(read_response(fd, std::chrono::milliseconds(10)), "");
  std::thread completer([d] { EXPECT_TRUE(d->complete(text("answered"))); });
  completer.join();
  auto out = read_response(fd, std::chrono::seconds(2));
  EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u) << out;
  EXPECT_NE(out.find("answered"), std::string::npos) << out;
  EXPECT_FALSE(d->open());
  EXPECT_FALSE(d->complete(text("twice")));
  // The connection stays alive for the next request, deferred or not.
  ::send(fd, kNow.data(), kNow.size(), MSG_NOSIGNAL);
  out = read_response(fd, std::chrono::seconds(2));
  EXPECT_NE(out.find("now /now"), std::string::npos) << out;
  ::send(fd, kWait.data(), kWait.size(), MSG_NOSIGNAL);
  auto d2 = next_waiting();
  ASSERT_NE(d2, nullptr);
  EXPECT_TRUE(d2->complete(text("second")));
  out = read_response(fd, std::chrono::seconds(2));
  EXPECT_NE(out.find("second"), std::string::npos) << out;
  // After an answered wait, an idle connection is closed after idle_timeout.
  auto closed_after = time_to_close(fd, std::chrono::seconds(5));
  EXPECT_LT(closed_after, std::chrono::seconds(3));
  EXPECT_GE(closed_after, std::chrono::milliseconds(700));
  ::close(fd);
  EXPECT_EQ(cancelled_, 0);
}

TEST_F(DeferredTest, TheAnswerCarriesTheIdGivenAtRequestTime) {
  start({}, 2);
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  const std::string wait = "GET /wait HTTP/1.1\r\nHost: h\r\nX-Request-Id: poll-7\r\n\r\n";
  ::send(fd, wait.data(), wait.size(), MSG_NOSIGNAL);
  auto d = next_waiting();
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE(d->complete(text("later")));  // a Response made later, with no id of its own
  auto out = read_response(fd, std::chrono::seconds(2));
  EXPECT_NE(out.find("later"), std::string::npos) << out;
  EXPECT_EQ(request_id_of(out), "poll-7") << out;
  // The next request on the connection has its own.
  ::send(fd, kWait.data(), kWait.size(), MSG_NOSIGNAL);
  auto d2 = next_waiting();
  ASSERT_NE(d2, nullptr);
  EXPECT_TRUE(d2->complete(text("second")));
  out = read_response(fd, std::chrono::seconds(2));
  EXPECT_TRUE(fresh_id(request_id_of(out))) << out;
  ::close(fd);
}

TEST_F(DeferredTest, PipelinedRequestWaitsForTheDeferredAnswer) {
  start();
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  const std::string two = kWait + kNow;
  ::send(fd, two.data(), two.size(), MSG_NOSIGNAL);
  auto d = next_waiting();
  ASSERT_NE(d, nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(d->complete(text("first")));
  auto out = read_response(fd, std::chrono::seconds(2));
  EXPECT_NE(out.find("first"), std::string::npos) << out;
  std::string rest = out.substr(out.find("first") + 5);
  if (rest.find("now /now") == std::string::npos)
    rest += read_response(fd, std::chrono::seconds(2));
  EXPECT_NE(rest.find("now /now"), std::string::npos) << rest;
  ::close(fd);
}

TEST_F(DeferredTest, PeerDisconnectCancelsAndCompletionBecomesANoOp) {
  start();
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  ::send(fd, kWait.data(), kWait.size(), MSG_NOSIGNAL);
  auto d = next_waiting();
  ASSERT_NE(d, nullptr);
  ::close(fd);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (cancelled_ == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(cancelled_, 1);
  EXPECT_FALSE(d->open());
  EXPECT_FALSE(d->complete(text("too late")));
  // A callback registered after the cancel runs at once.
  std::atomic<bool> ran{false};
  d->on_cancel([&ran] { ran = true; });
  EXPECT_TRUE(ran);
  // The server goes on serving.
  auto out = roundtrip(port_, "GET /now HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_NE(out.find("now /now"), std::string::npos) << out;
}

TEST_F(DeferredTest, StopAnswersWaitingRequests503AndReturns) {
  LogToFile log;
  start({}, 2);  // on the worker pool: the handler returns before anyone answers
  int fds[2];
  for (int i = 0; i < 2; ++i) {
    int& fd = fds[i];
    fd = connect_to(port_);
    ASSERT_GE(fd, 0);
    const std::string wait =
        "GET /wait HTTP/1.1\r\nHost: h\r\nX-Request-Id: stop-" + std::to_string(i) + "\r\n\r\n";
    ::send(fd, wait.data(), wait.size(), MSG_NOSIGNAL);
  }
  auto d1 = next_waiting();
  auto d2 = next_waiting();
  ASSERT_NE(d1, nullptr);
  ASSERT_NE(d2, nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  server_->stop();
  for (int i = 0; i < 2; ++i) {
    const int fd = fds[i];
    auto out = read_response(fd, std::chrono::seconds(3));
    EXPECT_EQ(out.rfind("HTTP/1.1 503", 0), 0u) << out;
    EXPECT_NE(out.find("Connection: close"), std::string::npos) << out;
    // The waiting request's own id, on the answer and on its log line.
    const std::string id = "stop-" + std::to_string(i);
    EXPECT_EQ(request_id_of(out), id) << out;
    const std::string line = log.line_with("\"request_id\":\"" + id + "\"");
    EXPECT_NE(line.find("\"status\":503"), std::string::npos) << line;
    EXPECT_LT(time_to_close(fd, std::chrono::seconds(3)), std::chrono::seconds(3));
    ::close(fd);
  }
  thread_.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_EQ(cancelled_, 2);
  EXPECT_FALSE(d1->complete(text("after stop")));
  EXPECT_FALSE(d2->open());
}

TEST_F(DeferredTest, CompletedBeforeTheHandlerReturns) {
  start({}, 2, nullptr, /*complete_at_once=*/true);
  auto out = roundtrip(port_, "GET /wait HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u) << out;
  EXPECT_NE(out.find("early"), std::string::npos) << out;
}

TEST_F(DeferredTest, OverTlsWithKeepAlive) {
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
  auto holder = TlsContextHolder::create({ossl::bio_to_string(*cb), ossl::bio_to_string(*kb), ""});
  ASSERT_TRUE(holder) << holder.error().describe();
  start({}, 2, *holder);
  std::thread answer([this] {
    auto d = next_waiting();
    ASSERT_NE(d, nullptr);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_TRUE(d->complete(text("tls-deferred ")));
  });
  // One curl, two requests on one connection: the deferred one, then one more.
  const std::string base = "https://127.0.0.1:" + std::to_string(port_);
  std::string cmd =
      "curl -sk --max-time 10 " + base + "/wait " + base + "/now -w ' %{num_connects}'";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[256] = {};
  size_t n = fread(buf, 1, sizeof buf - 1, p);
  ::pclose(p);
  answer.join();
  EXPECT_EQ(std::string(buf, n), "tls-deferred  1now /now 0");
}

}  // namespace
}  // namespace herald::net
