// The scanner against local sockets: a listener that never speaks (the
// deadline covers the handshake), a closed port, and the probe list.
#include "scan/scanner.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

namespace herald::scan {
namespace {

// A TCP listener on 127.0.0.1 that accepts (in the kernel's backlog) and
// never answers.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 64), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  [[nodiscard]] uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

uint16_t closed_port() {
  SilentListener l;  // bound then closed: nobody listens there afterwards
  return l.port();
}

TEST(Scanner, ProbesAreTargetsTimesSniNames) {
  std::vector<Target> t{{"a.internal", 443, false}, {"10.0.0.1", 8443, true}};
  auto plain = make_probes(t, {});
  ASSERT_EQ(plain.size(), 2u);
  EXPECT_EQ(plain[0].sni, "a.internal");  // a name is sent as SNI
  EXPECT_EQ(plain[1].sni, "");            // an address: none
  auto p = make_probes(t, {"x.internal", "y.internal"});
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[1].target.host, "a.internal");
  EXPECT_EQ(p[1].sni, "y.internal");
  EXPECT_EQ(p[2].target.host, "10.0.0.1");
}

TEST(Scanner, DeadlineCoversTheHandshakeAndProbesRunConcurrently) {
  SilentListener silent;
  const uint16_t closed = closed_port();
  std::vector<Target> targets;
  for (int i = 0; i < 4; ++i) targets.push_back({"127.0.0.1", silent.port(), true});
  targets.push_back({"127.0.0.1", closed, true});
  ScanOptions o;
  o.concurrency = 8;
  o.timeout = std::chrono::milliseconds(300);
  verify::Verifier verifier(std::vector<Bytes>{});
  SystemClock clock;
  std::vector<ProbeOutcome> outcomes;
  const auto start = std::chrono::steady_clock::now();
  auto sum = run_scan(make_probes(targets, {}), o, verifier, nullptr, clock,
                      [&](const ProbeOutcome& out, size_t) { outcomes.push_back(out); });
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(sum.probes, 5u);
  EXPECT_EQ(sum.targets, 2u);  // the same silent listener four times
  EXPECT_EQ(sum.reachable, 4u);
  EXPECT_EQ(sum.tls, 0u);
  ASSERT_EQ(outcomes.size(), 5u);
  size_t timed_out = 0, refused = 0;
  for (const auto& out : outcomes) {
    if (out.reachable) {
      EXPECT_EQ(out.error, "timed out in the TLS handshake");
      ++timed_out;
    } else {
      EXPECT_NE(out.error.find("cannot connect"), std::string::npos) << out.error;
      ++refused;
    }
  }
  EXPECT_EQ(timed_out, 4u);
  EXPECT_EQ(refused, 1u);
  // Four 300 ms deadlines side by side, not one after another (a loose bound:
  // the point is the deadline ends the probe, not the speed).
  EXPECT_LT(took, std::chrono::milliseconds(1150));
}

}  // namespace
}  // namespace herald::scan
