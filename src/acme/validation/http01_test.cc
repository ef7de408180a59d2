#include <gtest/gtest.h>

#include <chrono>

#include "acme/validation/test_servers.h"
#include "acme/validation/validator.h"

namespace herald::acme::validation {
namespace {

using namespace std::chrono_literals;
using testing::http_response;

constexpr char kToken[] = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
constexpr char kKeyAuth[] =
    "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";
const std::string kPath = std::string("/.well-known/acme-challenge/") + kToken;

class ValidationHttp01 : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.ok());
    ASSERT_TRUE(dns_.ok());
    settings_.http01_port = server_.port();
    settings_.timeout = 2s;
    settings_.dns_resolver = std::pair{std::string("127.0.0.1"), dns_.port()};
  }
  Outcome validate(std::string_view type = "ip", std::string_view id = "127.0.0.1") {
    return validate_http01(settings_, type, id, kToken, kKeyAuth);
  }
  testing::HttpServer server_;
  testing::DnsStub dns_;
  Settings settings_;
};

#define EXPECT_OUTCOME(outcome, type, text)                                        \
  do {                                                                             \
    const Outcome& o_ = (outcome);                                                 \
    EXPECT_FALSE(o_.valid);                                                        \
    EXPECT_EQ(o_.error_type, type) << o_.detail;                                   \
    EXPECT_NE(o_.detail.find(text), std::string::npos) << "detail: " << o_.detail; \
  } while (0)

TEST_F(ValidationHttp01, ValidOnAnIpIdentifier) {
  server_.route(kPath, http_response(200, kKeyAuth));
  auto o = validate();
  EXPECT_TRUE(o.valid) << o.error_type << ": " << o.detail;
  EXPECT_TRUE(o.error_type.empty());
  auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].rfind("GET " + kPath + " HTTP/1.1\r\n", 0), 0u) << reqs[0];
  EXPECT_EQ(testing::request_header(reqs[0], "host"), "127.0.0.1");
  ASSERT_EQ(o.records.size(), 1u);
  EXPECT_EQ(o.records[0].address_used, "127.0.0.1");
  EXPECT_EQ(o.records[0].port, server_.port());
}

TEST_F(ValidationHttp01, ValidOnADnsIdentifierThroughTheResolver) {
  dns_.add_a("www.example.test", "127.0.0.1");
  server_.route(kPath, http_response(200, std::string(kKeyAuth) + " \r\n\t\n"));
  auto o = validate("dns", "WWW.example.test");
  EXPECT_TRUE(o.valid) << o.error_type << ": " << o.detail;
  auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(testing::request_header(reqs[0], "host"), "www.example.test");
  auto qs = dns_.questions();
  ASSERT_EQ(qs.size(), 2u);  // A, then AAAA
  EXPECT_EQ(qs[0].type, 1);
  EXPECT_EQ(qs[1].type, 28);
}

TEST_F(ValidationHttp01, ChunkedBodyIsRead) {
  std::string chunked =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
  std::string ka = kKeyAuth;
  chunked += "10\r\n" + ka.substr(0, 16) + "\r\n";
  char len[16];
  std::snprintf(len, sizeof len, "%zx", ka.size() - 16);
  chunked += std::string(len) + "\r\n" + ka.substr(16) + "\r\n0\r\n\r\n";
  server_.route(kPath, chunked);
  auto o = validate();
  EXPECT_TRUE(o.valid) << o.detail;
}

TEST_F(ValidationHttp01, TriesTheNextAddressWhenOneRefuses) {
  dns_.add_a("two.example.test", "127.0.0.2");  // nothing listens there
  dns_.add_a("two.example.test", "127.0.0.1");
  server_.route(kPath, http_response(200, kKeyAuth));
  auto o = validate("dns", "two.example.test");
  EXPECT_TRUE(o.valid) << o.detail;
  ASSERT_EQ(o.records.size(), 1u);
  EXPECT_EQ(o.records[0].addresses_resolved, (std::vector<std::string>{"127.0.0.2", "127.0.0.1"}));
  EXPECT_EQ(o.records[0].address_used, "127.0.0.1");
}

TEST_F(ValidationHttp01, WrongBodyIsAnIncorrectResponse) {
  server_.route(kPath, http_response(200, "not it\x01"));
  auto o = validate();
  EXPECT_OUTCOME(o, "incorrectResponse", "\"not it\\x01\"");
  EXPECT_NE(o.detail.find(kKeyAuth), std::string::npos) << o.detail;
  EXPECT_NE(o.detail.find("127.0.0.1:" + std::to_string(server_.port())), std::string::npos)
      << o.detail;
}

TEST_F(ValidationHttp01, LeadingWhitespaceIsNotTrimmed) {
  server_.route(kPath, http_response(200, std::string(" ") + kKeyAuth));
  EXPECT_OUTCOME(validate(), "incorrectResponse", "is not the key authorization");
}

TEST_F(ValidationHttp01, OversizedBodyIsRefused) {
  settings_.max_body_bytes = 64;
  server_.route(kPath, http_response(200, std::string(kKeyAuth) + std::string(500, ' ')));
  EXPECT_OUTCOME(validate(), "incorrectResponse", "over the 64-byte limit");
  // Without a Content-Length, the cap applies while reading.
  server_.route(kPath, "HTTP/1.0 200 OK\r\n\r\n" + std::string(10000, 'x'));
  EXPECT_OUTCOME(validate(), "incorrectResponse", "over the 64-byte limit");
}

TEST_F(ValidationHttp01, NotFoundIsUnauthorized) {
  auto o = validate();  // no route: 404
  EXPECT_OUTCOME(o, "unauthorized", "HTTP status 404");
  EXPECT_NE(o.detail.find("no such challenge"), std::string::npos) << o.detail;
}

TEST_F(ValidationHttp01, FollowsRedirects) {
  server_.route(kPath, http_response(302, "", {{"Location", "/elsewhere?x=1"}}));
  server_.route("/elsewhere?x=1",
                http_response(301, "",
                              {{"Location",
                                "http://127.0.0.1:" + std::to_string(server_.port()) + "/final"}}));
  server_.route("/final", http_response(200, kKeyAuth));
  auto o = validate();
  EXPECT_TRUE(o.valid) << o.detail;
  ASSERT_EQ(o.records.size(), 3u);
  EXPECT_EQ(o.records[2].url, "http://127.0.0.1:" + std::to_string(server_.port()) + "/final");
}

TEST_F(ValidationHttp01, RedirectLoopStopsAtTheLimit) {
  settings_.max_redirects = 3;
  server_.route(kPath, http_response(302, "", {{"Location", kPath}}));
  auto o = validate();
  EXPECT_OUTCOME(o, "connection", "too many redirects");
  EXPECT_EQ(server_.requests().size(), 4u);  // the original and 3 redirects
}

TEST_F(ValidationHttp01, RefusesOtherSchemesAndPorts) {
  server_.route(kPath, http_response(302, "", {{"Location", "ftp://127.0.0.1/x"}}));
  EXPECT_OUTCOME(validate(), "connection", "not to http or https");
  server_.route(kPath, http_response(302, "", {{"Location", "http://127.0.0.1:1/x"}}));
  EXPECT_OUTCOME(validate(), "connection", "names port 1");
  server_.route(kPath, http_response(307, "", {{"Location", "http://user@127.0.0.1/x"}}));
  EXPECT_OUTCOME(validate(), "connection", "user information");
  server_.route(kPath, http_response(308, "", {{"Location", "http://exa_mple.test/x"}}));
  EXPECT_OUTCOME(validate(), "connection", "valid host");
  server_.route(kPath, http_response(302, ""));
  EXPECT_OUTCOME(validate(), "unauthorized", "302 without a Location");
}

TEST_F(ValidationHttp01, FollowsAnHttpsRedirectWithoutVerifying) {
  testing::HttpResponder https_routes;
  https_routes.route("/secure", http_response(200, kKeyAuth));
  testing::TlsServer tls({.dns_names = {"whatever.invalid"}}, testing::TlsServer::Alpn::kNone,
                         &https_routes);
  ASSERT_TRUE(tls.ok());
  settings_.https_port = tls.port();
  dns_.add_a("secure.example.test", "127.0.0.1");
  server_.route(kPath,
                http_response(302, "", {{"Location", "https://secure.example.test/secure"}}));
  auto o = validate();
  EXPECT_TRUE(o.valid) << o.detail;
  EXPECT_EQ(tls.last_sni(), "secure.example.test");
  auto reqs = https_routes.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(testing::request_header(reqs[0], "host"), "secure.example.test");
}

TEST_F(ValidationHttp01, ServerThatNeverAnswersTimesOut) {
  settings_.timeout = 300ms;
  server_.hang(kPath);
  auto start = std::chrono::steady_clock::now();
  auto o = validate();
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_OUTCOME(o, "connection", "timed out after 300 ms");
  EXPECT_LT(took, 2s);
  EXPECT_GE(took, 250ms);
}

TEST_F(ValidationHttp01, ConnectionRefused) {
  settings_.http01_port = testing::unused_tcp_port();
  auto o = validate();
  EXPECT_OUTCOME(
      o, "connection",
      "connecting to 127.0.0.1:" + std::to_string(settings_.http01_port) + " for http-01");
  EXPECT_NE(o.detail.find("refused"), std::string::npos) << o.detail;
}

TEST_F(ValidationHttp01, EveryAddressFailing) {
  settings_.http01_port = testing::unused_tcp_port();
  dns_.add_a("down.example.test", "127.0.0.2");
  dns_.add_a("down.example.test", "127.0.0.3");
  auto o = validate("dns", "down.example.test");
  EXPECT_OUTCOME(o, "connection", "127.0.0.2:");
  EXPECT_NE(o.detail.find("; then 127.0.0.3:"), std::string::npos) << o.detail;
}

TEST_F(ValidationHttp01, DnsProblems) {
  EXPECT_OUTCOME(validate("dns", "missing.example.test"), "dns", "NXDOMAIN");
  dns_.add_aaaa("v6only.example.test", "::1");
  dns_.add_txt("text-only.example.test", {"x"});
  EXPECT_OUTCOME(validate("dns", "text-only.example.test"), "dns", "no A or AAAA records");
  dns_.set_mode(testing::DnsStub::Mode::kServFail);
  EXPECT_OUTCOME(validate("dns", "v6only.example.test"), "dns", "SERVFAIL");
}

TEST_F(ValidationHttp01, MalformedArguments) {
  EXPECT_OUTCOME(validate_http01(settings_, "email", "a@b", kToken, kKeyAuth), "malformed",
                 "identifier type");
  EXPECT_OUTCOME(validate_http01(settings_, "dns", "*.example.com", kToken, kKeyAuth), "malformed",
                 "not a host name");
  EXPECT_OUTCOME(validate_http01(settings_, "dns", "example.com.", kToken, kKeyAuth), "malformed",
                 "not a host name");
  EXPECT_OUTCOME(validate_http01(settings_, "ip", "127.0.0.256", kToken, kKeyAuth), "malformed",
                 "not an IPv4 or IPv6");
  EXPECT_OUTCOME(validate_http01(settings_, "ip", "127.0.0.1", "../../etc/passwd", kKeyAuth),
                 "malformed", "token");
  EXPECT_OUTCOME(validate_http01(settings_, "ip", "127.0.0.1", kToken, "no dot"), "malformed",
                 "key authorization");
  EXPECT_TRUE(server_.requests().empty());
}

TEST(ValidationHttp01Ipv6, BracketsTheHostHeader) {
  if (!testing::ipv6_loopback_available()) GTEST_SKIP() << "no IPv6 loopback here";
  testing::HttpServer server(/*ipv6=*/true);
  ASSERT_TRUE(server.ok());
  server.route(kPath, http_response(200, kKeyAuth));
  Settings s;
  s.http01_port = server.port();
  s.timeout = 2s;
  auto o = validate_http01(s, "ip", "0:0::1", kToken, kKeyAuth);
  EXPECT_TRUE(o.valid) << o.detail;
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(testing::request_header(reqs[0], "host"), "[::1]");
}

TEST(ValidationHttp01SystemResolver, LocalhostThroughGetaddrinfo) {
  testing::HttpServer server;
  ASSERT_TRUE(server.ok());
  server.route(kPath, http_response(200, kKeyAuth));
  Settings s;
  s.http01_port = server.port();
  s.timeout = 2s;
  auto o = validate_http01(s, "dns", "localhost", kToken, kKeyAuth);
  if (!o.valid && o.error_type == "dns") GTEST_SKIP() << "localhost does not resolve: " << o.detail;
  EXPECT_TRUE(o.valid) << o.detail;
  ASSERT_EQ(o.records.size(), 1u);
  EXPECT_EQ(o.records[0].address_used, "127.0.0.1");  // IPv4 first
}

}  // namespace
}  // namespace herald::acme::validation
