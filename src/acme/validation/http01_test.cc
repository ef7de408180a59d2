#include <gtest/gtest.h>

#include <chrono>

#include "acme/validation/common.h"
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
  EXPECT_OUTCOME(o, "incorrectResponse", "did not match the key authorization (7 bytes");
  EXPECT_EQ(o.detail.find("not it"), std::string::npos) << o.detail;
  EXPECT_NE(o.detail.find(kKeyAuth), std::string::npos) << o.detail;
  EXPECT_NE(o.detail.find("127.0.0.1:" + std::to_string(server_.port())), std::string::npos)
      << o.detail;
}

TEST_F(ValidationHttp01, LeadingWhitespaceIsNotTrimmed) {
  server_.route(kPath, http_response(200, std::string(" ") + kKeyAuth));
  EXPECT_OUTCOME(validate(), "incorrectResponse", "did not match the key authorization");
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
  EXPECT_EQ(o.detail.find("no such challenge"), std::string::npos) << o.detail;  // not echoed
  EXPECT_NE(o.detail.find("-byte body, not shown"), std::string::npos) << o.detail;
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

// Issue 9 item 3: http-01 as an SSRF reflector. The client's responder (the
// identifier, 127.0.0.1) redirects the validator to an internal service on
// another address (127.0.0.2, standing for 10.x, 169.254.169.254...); the
// validator must not dial it, and no response body may reach the error.
constexpr char kSecret[] = "INTERNAL-SECRET aws_secret_access_key=wJalrXUtnFEMI";

TEST_F(ValidationHttp01, RedirectToAnotherInternalAddressIsNotFollowed) {
  testing::HttpServer internal(false, "127.0.0.2", server_.port());
  ASSERT_TRUE(internal.ok());
  internal.route("/latest/meta-data/iam", http_response(200, kSecret));
  server_.route(kPath, http_response(302, "", {{"Location", "http://127.0.0.2:" +
                                                                 std::to_string(server_.port()) +
                                                                 "/latest/meta-data/iam"}}));
  auto o = validate();
  EXPECT_OUTCOME(o, "connection", "127.0.0.2 is not a public address");
  EXPECT_EQ(o.detail.find("INTERNAL-SECRET"), std::string::npos) << o.detail;
  EXPECT_TRUE(internal.requests().empty()) << "the validator dialled 127.0.0.2";
  EXPECT_EQ(internal.accepted(), 0);
}

TEST_F(ValidationHttp01, RedirectByNameToAnInternalAddressIsNotFollowed) {
  testing::HttpServer internal(false, "127.0.0.2", server_.port());
  ASSERT_TRUE(internal.ok());
  internal.route("/admin", http_response(200, kSecret));
  dns_.add_a("www.example.test", "127.0.0.1");
  dns_.add_a("admin.corp.test", "127.0.0.2");
  server_.route(kPath, http_response(301, "", {{"Location", "http://admin.corp.test/admin"}}));
  auto o = validate("dns", "www.example.test");
  EXPECT_OUTCOME(o, "connection", "refusing to follow a redirect to http://admin.corp.test");
  EXPECT_EQ(o.detail.find("INTERNAL-SECRET"), std::string::npos) << o.detail;
  EXPECT_EQ(internal.accepted(), 0);
  // A redirect to a name that resolves to the identifier's own address is fine.
  dns_.add_a("same.example.test", "127.0.0.1");
  server_.route(kPath, http_response(302, "", {{"Location", "http://same.example.test/ok"}}));
  server_.route("/ok", http_response(200, kKeyAuth));
  o = validate("dns", "www.example.test");
  EXPECT_TRUE(o.valid) << o.detail;
}

TEST_F(ValidationHttp01, ResponseBodiesAreNeverEchoed) {
  server_.route(kPath, http_response(200, kSecret));
  auto o = validate();
  EXPECT_OUTCOME(o, "incorrectResponse", "the response body did not match the key authorization");
  EXPECT_NE(o.detail.find(std::to_string(std::string_view(kSecret).size()) + " bytes"),
            std::string::npos)
      << o.detail;
  EXPECT_EQ(o.detail.find("INTERNAL-SECRET"), std::string::npos) << o.detail;
  for (int status : {403, 404, 500}) {
    server_.route(kPath, http_response(status, kSecret));
    o = validate();
    EXPECT_OUTCOME(o, "unauthorized", "HTTP status " + std::to_string(status));
    EXPECT_EQ(o.detail.find("INTERNAL-SECRET"), std::string::npos) << o.detail;
  }
}

TEST_F(ValidationHttp01, DeniedAddressesAreNeverDialled) {
  // Checked before any dial (the test network is loopback only).
  ASSERT_TRUE(denied_range(settings_, "169.254.169.254").has_value());
  ASSERT_TRUE(denied_range(settings_, "::ffff:169.254.169.254").has_value());
  for (const char* ip : {"169.254.169.254", "::ffff:169.254.169.254", "fe80::1", "0.0.0.0"}) {
    auto o = validate("ip", ip);
    EXPECT_OUTCOME(o, "rejectedIdentifier", "the validator does not connect to");
    EXPECT_NE(o.detail.find("validation_denied_ranges"), std::string::npos) << o.detail;
    ASSERT_EQ(o.records.size(), 1u);
    EXPECT_TRUE(o.records[0].address_used.empty());
  }
  // A name resolving to a metadata address, and a redirect to one.
  dns_.add_a("meta.example.test", "169.254.169.254");
  EXPECT_OUTCOME(validate("dns", "meta.example.test"), "rejectedIdentifier",
                 "169.254.169.254 is in the denied range 169.254.0.0/16");
  server_.route(kPath, http_response(302, "", {{"Location", "http://169.254.169.254/latest"}}));
  EXPECT_OUTCOME(validate(), "connection", "169.254.169.254 is in the denied range");
  server_.route(kPath, http_response(302, "", {{"Location", "http://meta.example.test/latest"}}));
  EXPECT_OUTCOME(validate(), "connection", "169.254.169.254 is in the denied range");
  EXPECT_EQ(server_.requests().size(), 2u);  // only the identifier's responder was asked
}

TEST_F(ValidationHttp01, DeniedRangesAreConfigurable) {
  server_.route(kPath, http_response(200, kKeyAuth));
  settings_.denied_ranges = {*parse_cidr("127.0.0.0/8")};
  EXPECT_OUTCOME(validate(), "rejectedIdentifier", "127.0.0.1 is in the denied range 127.0.0.0/8");
  EXPECT_OUTCOME(validate("ip", "::ffff:127.0.0.1"), "rejectedIdentifier", "127.0.0.0/8");
  EXPECT_TRUE(server_.requests().empty());
  settings_.denied_ranges.clear();
  EXPECT_TRUE(validate().valid);
}

TEST(ValidationAddressPolicy, Cidrs) {
  auto c = parse_cidr("10.1.2.3/8");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->text, "10.0.0.0/8");
  EXPECT_EQ(parse_cidr("fe80::1/10")->text, "fe80::/10");
  EXPECT_EQ(parse_cidr("192.0.2.1")->text, "192.0.2.1/32");
  EXPECT_EQ(parse_cidr("::1")->text, "::1/128");
  EXPECT_EQ(parse_cidr("10.0.0.0/0")->text, "0.0.0.0/0");
  for (const char* bad : {"", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "example.com/8",
                          "10.0.0/8", "10.0.0.0/-1", "10.0.0.0/08a"})
    EXPECT_FALSE(parse_cidr(bad)) << bad;
  Settings s;
  for (const char* denied : {"169.254.169.254", "169.254.0.1", "fe80::1", "fd00:ec2::254",
                             "100.100.100.200", "168.63.129.16", "0.0.0.0", "::",
                             "::ffff:169.254.169.254", "224.0.0.1", "255.255.255.255"})
    EXPECT_TRUE(denied_range(s, denied)) << denied;
  for (const char* fine : {"127.0.0.1", "::1", "10.0.0.1", "192.168.1.1", "8.8.8.8", "2001:db8::1"})
    EXPECT_FALSE(denied_range(s, fine)) << fine;
}

TEST(ValidationAddressPolicy, RedirectTargetsMustBePublicOrTheIdentifiersOwn) {
  Settings s;
  const std::vector<std::string> all{"8.8.8.8",     "127.0.0.1", "127.0.0.2",       "10.0.0.1",
                                     "192.168.1.1", "fc00::1",   "::ffff:10.0.0.1", "100.64.0.1",
                                     "::1",         "169.254.169.254"};
  std::string why;
  // The identifier itself: anything not denied.
  auto first = detail::dialable(s, all, nullptr, why);
  EXPECT_EQ(first.size(), all.size() - 1);
  EXPECT_NE(why.find("169.254.169.254 is in the denied range"), std::string::npos) << why;
  // A redirect: public addresses, and the identifier's own.
  const std::vector<std::string> own{"127.0.0.1"};
  why.clear();
  EXPECT_EQ(detail::dialable(s, all, &own, why), (std::vector<std::string>{"8.8.8.8", "127.0.0.1"}));
  EXPECT_NE(why.find("127.0.0.2 is not a public address"), std::string::npos) << why;
  EXPECT_NE(why.find("::ffff:10.0.0.1 is not a public address"), std::string::npos) << why;
  // The identifier's own address written as IPv4-mapped IPv6 is the same address.
  const std::vector<std::string> mapped_own{"::ffff:127.0.0.1"};
  why.clear();
  EXPECT_EQ(detail::dialable(s, {"127.0.0.1", "127.0.0.2"}, &mapped_own, why),
            (std::vector<std::string>{"127.0.0.1"}));
  const std::vector<std::string> public_own{"203.0.113.7"};
  why.clear();
  EXPECT_EQ(detail::dialable(s, all, &public_own, why), (std::vector<std::string>{"8.8.8.8"}));
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
