#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>

#include "acme/validation/test_servers.h"
#include "acme/validation/validator.h"

namespace herald::acme::validation {
namespace {

using namespace std::chrono_literals;
using testing::CertSpec;
using testing::TlsServer;

constexpr char kKeyAuth[] =
    "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";
constexpr char kDomain[] = "alpn.example.test";

#define EXPECT_OUTCOME(outcome, type, text)                                        \
  do {                                                                             \
    const Outcome& o_ = (outcome);                                                 \
    EXPECT_FALSE(o_.valid);                                                        \
    EXPECT_EQ(o_.error_type, type) << o_.detail;                                   \
    EXPECT_NE(o_.detail.find(text), std::string::npos) << "detail: " << o_.detail; \
  } while (0)

class ValidationTlsAlpn01 : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(dns_.ok());
    dns_.add_a(kDomain, "127.0.0.1");
    settings_.timeout = 2s;
    settings_.dns_resolver = std::pair{std::string("127.0.0.1"), dns_.port()};
  }
  // Starts a TLS server and validates the domain (or 127.0.0.1) against it.
  Outcome run(const CertSpec& spec, TlsServer::Alpn alpn = TlsServer::Alpn::kAcme,
              bool ip = false) {
    server_ = std::make_unique<TlsServer>(spec, alpn);
    EXPECT_TRUE(server_->ok());
    settings_.tlsalpn01_port = server_->port();
    return ip ? validate_tlsalpn01(settings_, "ip", "127.0.0.1", kKeyAuth)
              : validate_tlsalpn01(settings_, "dns", kDomain, kKeyAuth);
  }
  static CertSpec good() {
    return {.dns_names = {kDomain}, .acme_identifier = testing::acme_identifier_value(kKeyAuth)};
  }
  testing::DnsStub dns_;
  Settings settings_;
  std::unique_ptr<TlsServer> server_;
};

TEST_F(ValidationTlsAlpn01, DeniedAddressesAreNeverDialled) {
  server_ = std::make_unique<TlsServer>(good(), TlsServer::Alpn::kAcme);
  ASSERT_TRUE(server_->ok());
  settings_.tlsalpn01_port = server_->port();
  ASSERT_TRUE(denied_range(settings_, "169.254.169.254").has_value());
  EXPECT_OUTCOME(validate_tlsalpn01(settings_, "ip", "169.254.169.254", kKeyAuth),
                 "rejectedIdentifier", "169.254.169.254 is in the denied range 169.254.0.0/16");
  dns_.add_a("meta.example.test", "169.254.169.254");
  EXPECT_OUTCOME(validate_tlsalpn01(settings_, "dns", "meta.example.test", kKeyAuth),
                 "rejectedIdentifier", "validation_denied_ranges");
  settings_.denied_ranges = {*parse_cidr("127.0.0.1/32")};
  EXPECT_OUTCOME(validate_tlsalpn01(settings_, "dns", kDomain, kKeyAuth), "rejectedIdentifier",
                 "127.0.0.1 is in the denied range 127.0.0.1/32");
  EXPECT_EQ(server_->handshakes(), 0);
}

TEST_F(ValidationTlsAlpn01, ValidForADomain) {
  auto o = run(good());
  EXPECT_TRUE(o.valid) << o.error_type << ": " << o.detail;
  EXPECT_EQ(server_->last_sni(), kDomain);
  ASSERT_EQ(o.records.size(), 1u);
  EXPECT_EQ(o.records[0].address_used, "127.0.0.1");
}

TEST_F(ValidationTlsAlpn01, SanComparisonIgnoresCase) {
  CertSpec spec = good();
  spec.dns_names = {"ALPN.Example.TEST"};
  auto o = run(spec);
  EXPECT_TRUE(o.valid) << o.detail;
}

TEST_F(ValidationTlsAlpn01, ValidForAnIpAddressWithReverseNameSni) {
  CertSpec spec{.ip_addresses = {"127.0.0.1"},
                .acme_identifier = testing::acme_identifier_value(kKeyAuth)};
  auto o = run(spec, TlsServer::Alpn::kAcme, /*ip=*/true);
  EXPECT_TRUE(o.valid) << o.detail;
  EXPECT_EQ(server_->last_sni(), "1.0.0.127.in-addr.arpa");
}

TEST_F(ValidationTlsAlpn01, WrongDigest) {
  CertSpec spec = good();
  spec.acme_identifier =
      testing::acme_identifier_value("other-token.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI");
  EXPECT_OUTCOME(run(spec), "incorrectResponse", "acmeIdentifier extension holds 0420");
}

TEST_F(ValidationTlsAlpn01, DigestNotWrappedInAnOctetString) {
  CertSpec spec = good();
  Bytes raw = testing::acme_identifier_value(kKeyAuth);
  raw.erase(raw.begin(), raw.begin() + 2);
  spec.acme_identifier = raw;
  EXPECT_OUTCOME(run(spec), "incorrectResponse", "not the DER OCTET STRING");
}

TEST_F(ValidationTlsAlpn01, ExtensionNotCritical) {
  CertSpec spec = good();
  spec.critical = false;
  EXPECT_OUTCOME(run(spec), "incorrectResponse", "not marked critical");
}

TEST_F(ValidationTlsAlpn01, ExtensionMissingOrRepeated) {
  CertSpec spec = good();
  spec.acme_identifier.reset();
  EXPECT_OUTCOME(run(spec), "incorrectResponse", "no acmeIdentifier extension");
  spec = good();
  spec.acme_identifier_copies = 2;
  auto o = run(spec);
  EXPECT_FALSE(o.valid);
  // OpenSSL may already refuse a certificate with a repeated extension.
  EXPECT_TRUE(o.error_type == "incorrectResponse" || o.error_type == "tls") << o.detail;
}

TEST_F(ValidationTlsAlpn01, SanMustBeExactlyTheIdentifier) {
  CertSpec spec = good();
  spec.dns_names = {kDomain, "other.example.test"};
  EXPECT_OUTCOME(run(spec), "incorrectResponse", "exactly DNS:\"alpn.example.test\"");
  spec.dns_names = {"other.example.test"};
  EXPECT_OUTCOME(run(spec), "incorrectResponse", "DNS:\"other.example.test\", not");
  spec.dns_names = {};
  EXPECT_OUTCOME(run(spec), "incorrectResponse", "no subjectAltName");
  spec.ip_addresses = {"127.0.0.1"};
  EXPECT_OUTCOME(run(spec), "incorrectResponse", "IP:127.0.0.1, not");
  // An IP identifier needs an iPAddress, not a dNSName spelling it.
  CertSpec by_name{.dns_names = {"127.0.0.1"},
                   .acme_identifier = testing::acme_identifier_value(kKeyAuth)};
  EXPECT_OUTCOME(run(by_name, TlsServer::Alpn::kAcme, true), "incorrectResponse",
                 "not IP:127.0.0.1");
}

TEST_F(ValidationTlsAlpn01, ServerWithoutAcmeTls) {
  EXPECT_OUTCOME(run(good(), TlsServer::Alpn::kNone), "unauthorized", "no ALPN protocol");
  EXPECT_OUTCOME(run(good(), TlsServer::Alpn::kRefuse), "unauthorized", "no_application_protocol");
}

TEST_F(ValidationTlsAlpn01, NotTlsAtAll) {
  // A plain-text server: reads whatever comes, answers in HTTP and closes.
  testing::TcpServer plain([](int fd, const std::atomic<bool>&) {
    char buf[512];
    (void)::recv(fd, buf, sizeof buf, 0);
    std::string reply = testing::http_response(400, "this is not TLS");
    (void)::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
  });
  ASSERT_TRUE(plain.ok());
  settings_.tlsalpn01_port = plain.port();
  EXPECT_OUTCOME(validate_tlsalpn01(settings_, "dns", kDomain, kKeyAuth), "tls",
                 "TLS handshake with 127.0.0.1:" + std::to_string(plain.port()) +
                     " (SNI alpn.example.test) for tls-alpn-01 of alpn.example.test: ");
}

TEST_F(ValidationTlsAlpn01, HandshakeTimesOut) {
  testing::TcpServer silent([](int, const std::atomic<bool>& stopping) {
    while (!stopping) std::this_thread::sleep_for(5ms);
  });
  ASSERT_TRUE(silent.ok());
  settings_.tlsalpn01_port = silent.port();
  settings_.timeout = 300ms;
  auto start = std::chrono::steady_clock::now();
  auto o = validate_tlsalpn01(settings_, "dns", kDomain, kKeyAuth);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_OUTCOME(o, "connection", "timed out after 300 ms");
}

TEST_F(ValidationTlsAlpn01, ConnectionRefusedAndDns) {
  settings_.tlsalpn01_port = testing::unused_tcp_port();
  EXPECT_OUTCOME(
      validate_tlsalpn01(settings_, "ip", "127.0.0.1", kKeyAuth), "connection",
      "connecting to 127.0.0.1:" + std::to_string(settings_.tlsalpn01_port) + " for tls-alpn-01");
  EXPECT_OUTCOME(validate_tlsalpn01(settings_, "dns", "nowhere.example.test", kKeyAuth), "dns",
                 "NXDOMAIN");
  EXPECT_OUTCOME(validate_tlsalpn01(settings_, "dns", "a_b.example.test", kKeyAuth), "malformed",
                 "not a host name");
}

}  // namespace
}  // namespace herald::acme::validation
