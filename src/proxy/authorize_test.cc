#include "proxy/authorize.h"

#include <gtest/gtest.h>

#include "proxy/identity.h"

namespace herald::proxy {
namespace {

Identity spiffe(const std::string& id) {
  Identity i;
  i.spiffe_id = id;
  i.uris = {id};
  i.serial = "0A";
  return i;
}

TEST(ProxyAuthorize, NoListAllowsAnyVerifiedClient) {
  auto d = authorize(spiffe("spiffe://td/a"), {}, Rules{});
  EXPECT_TRUE(d.allow);
  EXPECT_EQ(d.matched, "any");
}

TEST(ProxyAuthorize, SpiffePatterns) {
  EXPECT_TRUE(spiffe_matches("spiffe://td/ns/*", "spiffe://td/ns/a"));
  EXPECT_TRUE(spiffe_matches("spiffe://td/ns/*", "spiffe://td/ns/a/b"));
  EXPECT_FALSE(spiffe_matches("spiffe://td/ns/*", "spiffe://td/ns"));
  EXPECT_FALSE(spiffe_matches("spiffe://td/ns/*", "spiffe://td/ns/"));
  EXPECT_FALSE(spiffe_matches("spiffe://td/ns/*", "spiffe://td/nsx/a"));
  EXPECT_FALSE(spiffe_matches("spiffe://td/ns/*", "spiffe://other/ns/a"));
  EXPECT_TRUE(spiffe_matches("spiffe://td/ns/a", "spiffe://td/ns/a"));
  EXPECT_FALSE(spiffe_matches("spiffe://td/ns/a", "spiffe://td/ns/ab"));
  Rules r;
  r.allow_spiffe = {"spiffe://td/payments/*"};
  EXPECT_TRUE(authorize(spiffe("spiffe://td/payments/api"), {}, r).allow);
  auto no = authorize(spiffe("spiffe://td/billing/api"), {}, r);
  EXPECT_FALSE(no.allow);
  EXPECT_EQ(no.reason, "not_allowed");
  EXPECT_NE(no.detail.find("spiffe://td/billing/api"), std::string::npos) << no.detail;
}

TEST(ProxyAuthorize, TwoSpiffeIdsNameNoOne) {
  Identity i;
  i.uris = {"spiffe://td/a", "spiffe://td/b"};  // identity_of leaves spiffe_id empty then
  Rules r;
  r.allow_spiffe = {"spiffe://td/*"};
  EXPECT_FALSE(authorize(i, {}, r).allow);
}

TEST(ProxyAuthorize, DnsAndUriSans) {
  EXPECT_TRUE(dns_matches("*.web.internal", "a.web.internal"));
  EXPECT_FALSE(dns_matches("*.web.internal", "a.b.web.internal"));
  EXPECT_FALSE(dns_matches("*.web.internal", "web.internal"));
  EXPECT_TRUE(dns_matches("Billing.Internal", "billing.internal"));
  Identity i;
  i.dns = {"billing.internal"};
  i.uris = {"https://partner.example/svc/x"};
  Rules r;
  r.allow_dns = {"other.internal"};
  EXPECT_FALSE(authorize(i, {}, r).allow);
  r.allow_uri = {"https://partner.example/svc/*"};
  EXPECT_TRUE(authorize(i, {}, r).allow);
  r.allow_uri = {"https://partner.example/svc"};
  EXPECT_FALSE(authorize(i, {}, r).allow);
}

TEST(ProxyAuthorize, CommonNameIsNeverAnIdentity) {
  Identity i;
  i.subject = "CN=billing.internal";  // no SAN at all
  Rules r;
  r.allow_dns = {"billing.internal"};
  EXPECT_FALSE(authorize(i, {}, r).allow);
}

TEST(ProxyAuthorize, OrganizationAndUnitExactly) {
  Identity i;
  i.organizations = {"Partner Inc"};
  i.units = {"payments"};
  Rules r;
  r.allow_ou = {"Payments"};
  EXPECT_FALSE(authorize(i, {}, r).allow);
  r.allow_ou = {"payments"};
  EXPECT_TRUE(authorize(i, {}, r).allow);
}

TEST(ProxyAuthorize, IssuerIsAnAdditionalCondition) {
  const std::string fp(64, 'a');
  Rules r;
  r.allow_issuer = {"SHA256:" + std::string(64, 'A')};
  auto id = spiffe("spiffe://td/a");
  EXPECT_TRUE(authorize(id, {{"CN=Issuing", fp}}, r).allow);
  auto other = authorize(id, {{"CN=Other", std::string(64, 'b')}}, r);
  EXPECT_FALSE(other.allow);
  EXPECT_EQ(other.reason, "issuer_not_allowed");
  r.allow_issuer = {"CN=Issuing"};
  r.allow_spiffe = {"spiffe://td/b"};
  EXPECT_FALSE(authorize(id, {{"CN=Issuing", fp}}, r).allow);  // issuer fine, name not
}

TEST(ProxyAuthorize, BadPatternsAreRefused) {
  auto bad = [](Rules r) { return !check_rules(r); };
  EXPECT_TRUE(bad(Rules{.allow_spiffe = {"td/a"}}));
  EXPECT_TRUE(bad(Rules{.allow_spiffe = {"spiffe://*"}}));
  EXPECT_TRUE(bad(Rules{.allow_spiffe = {"spiffe://td/a*"}}));
  EXPECT_TRUE(bad(Rules{.allow_spiffe = {"spiffe://td/*/x"}}));
  EXPECT_TRUE(bad(Rules{.allow_dns = {"a.*.internal"}}));
  EXPECT_TRUE(bad(Rules{.allow_dns = {"*"}}));
  EXPECT_TRUE(bad(Rules{.allow_uri = {"*"}}));
  EXPECT_TRUE(bad(Rules{.allow_issuer = {"not a fingerprint"}}));
  EXPECT_FALSE(bad(Rules{.allow_spiffe = {"spiffe://td/ns/*"},
                         .allow_uri = {"https://x/*"},
                         .allow_dns = {"*.a.b"},
                         .allow_issuer = {std::string(64, 'f')}}));
}

TEST(ProxyIdentity, HeadersCannotCarryLineBreaks) {
  EXPECT_EQ(header_safe("a\r\nX-Evil: 1"), "a%0D%0AX-Evil: 1");
  EXPECT_EQ(header_safe("100%"), "100%25");
  EXPECT_EQ(header_safe("caf\xc3\xa9"), "caf%C3%A9");
  Identity i = spiffe("spiffe://td/a\nb");
  i.subject = "CN=x\r\n";
  for (const auto& [k, v] : identity_headers(i)) {
    EXPECT_EQ(v.find_first_of("\r\n"), std::string::npos) << k;
  }
}

}  // namespace
}  // namespace herald::proxy
