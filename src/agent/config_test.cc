#include "agent/config.h"

#include <gtest/gtest.h>

namespace herald::agent {
namespace {

constexpr const char* kGood = R"(
server = "https://ca.internal:8443/"
trust = "/etc/herald/root.pem"
token_file = "/etc/herald/token"
retry_min = "2s"

[[certificate]]
profile = "server"
cn = "web.internal"
sans = ["ip:10.0.0.5", "dns:www.web.internal,dns:api.web.internal"]
ttl = "24h"
cert = "/tls/web.pem"
key = "/tls/web.key"
chain = "/tls/web.chain.pem"
reload = "systemctl reload nginx"
renew_at = 0.5

[[certificate]]
profile = "client"
cn = "billing"
cert = "/tls/billing.pem"
key = "/tls/billing.key"
)";

TEST(AgentConfig, ParsesSeveralCertificates) {
  auto p = parse_config(kGood, "agent.toml");
  ASSERT_TRUE(p) << p.error().describe();
  EXPECT_EQ(p->agent.server, "https://ca.internal:8443/");
  EXPECT_EQ(p->agent.retry_min, "2s");
  ASSERT_EQ(p->certs.size(), 2u);
  EXPECT_EQ(p->certs[0].sans.size(), 2u);
  EXPECT_DOUBLE_EQ(p->certs[0].renew_at, 0.5);
  EXPECT_EQ(p->certs[1].profile, "client");
  auto c = make_cert_config(p->certs[0]);
  ASSERT_TRUE(c) << c.error().describe();
  // The CN first, then the SANs given (a comma list split).
  ASSERT_EQ(c->id.sans.size(), 4u);
  EXPECT_EQ(c->id.sans[0].to_string(), "dns:web.internal");
  EXPECT_EQ(c->reload.value_or(""), "systemctl reload nginx");
  EXPECT_EQ(c->rule.renew_at, 0.5);
}

TEST(AgentConfig, RefusesWhatItDoesNotKnow) {
  auto unknown = parse_config("srever = \"x\"\n[[certificate]]\ncert=\"a\"\nkey=\"b\"\n", "a.toml");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("a.toml:1: unknown key 'srever'"), std::string::npos)
      << unknown.error().message;
  auto bad_cert =
      parse_config("[[certificate]]\ncert=\"a\"\nkey=\"b\"\nreload_timout=\"1s\"\n", "a");
  ASSERT_FALSE(bad_cert);
  EXPECT_NE(bad_cert.error().message.find("certificate.reload_timout"), std::string::npos);
  EXPECT_FALSE(parse_config("server = \"x\"\n", "a"));               // nothing to manage
  EXPECT_FALSE(parse_config("[[certificate]]\ncert=\"a\"\n", "a"));  // no key
  EXPECT_FALSE(parse_config("server = [\n", "a"));                   // TOML syntax
  EXPECT_FALSE(parse_config("[[certificate]]\ncert=\"a\"\nkey=\"b\"\nrenew_at=\"x\"\n", "a"));
}

TEST(AgentConfig, ChecksEachCertificate) {
  CertSpec s;
  s.profile = "server";
  s.cn = "web.internal";
  s.cert = "/a.pem";
  s.key = "/a.pem";
  EXPECT_FALSE(make_cert_config(s));  // same file twice
  s.key = "/a.key";
  EXPECT_TRUE(make_cert_config(s));
  s.renew_at = 1.0;
  EXPECT_FALSE(make_cert_config(s));
  s.renew_at = 0.66;
  s.key_type = "dsa";
  EXPECT_FALSE(make_cert_config(s));
  s.key_type = "ed25519";
  s.sans = {"dns:bad..name"};
  EXPECT_FALSE(make_cert_config(s));
  s.sans = {};
  s.cn = "";
  EXPECT_FALSE(make_cert_config(s));  // no name at all
  s.cn = "10.1.2.3";
  auto ip = make_cert_config(s);
  ASSERT_TRUE(ip);
  EXPECT_EQ(ip->id.sans.at(0).to_string(), "ip:10.1.2.3");
}

TEST(AgentConfig, AgentLevelChecks) {
  AgentSpec a;
  a.server = "http://ca:80";
  a.trust = "/nonexistent";
  EXPECT_FALSE(make_agent_config(a, {}));
  a.server = "https://ca:8443";
  auto missing = make_agent_config(a, {});
  ASSERT_FALSE(missing);  // the trust file cannot be read
}

}  // namespace
}  // namespace herald::agent
