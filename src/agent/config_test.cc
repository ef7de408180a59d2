#include "agent/config.h"

#include <gtest/gtest.h>

#include <csignal>

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
  const SystemClock clock;
  EXPECT_FALSE(make_agent_config(a, {}, clock));
  a.server = "https://ca:8443";
  auto missing = make_agent_config(a, {}, clock);
  ASSERT_FALSE(missing);  // the trust file cannot be read
}

TEST(AgentConfig, OneWayToObtain) {
  const SystemClock clock;
  AgentSpec a;
  a.server = "https://ca:8443";
  a.trust = "/nonexistent";
  a.token_file = "/nonexistent.token";
  a.provisioner = "ci";
  a.ott_key = "/nonexistent.key";
  auto both = make_agent_config(a, {}, clock);
  ASSERT_FALSE(both);
  EXPECT_NE(both.error().message.find("not several"), std::string::npos) << both.error().message;
  a.token_file.reset();
  a.acme = AcmeSpec{};
  EXPECT_FALSE(make_agent_config(a, {}, clock));
  a.acme.reset();
  a.ott_key.reset();  // a provisioner without its key
  a.trust.clear();
  auto half = make_agent_config(a, {}, clock);
  ASSERT_FALSE(half);
}

TEST(AgentConfig, AcmeNeedsNoServerButAValidChallenge) {
  const SystemClock clock;
  AgentSpec a;
  a.acme = AcmeSpec{};
  a.acme->directory = "http://acme.example/directory";  // not https
  EXPECT_FALSE(make_agent_config(a, {}, clock));
  a.acme->directory = "https://acme.example/directory";
  a.acme->challenge = "tls-alpn-01";
  auto bad = make_agent_config(a, {}, clock);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("http-01, webroot or dns-01"), std::string::npos);
  a.acme->challenge = "dns-01";  // without a hook
  EXPECT_FALSE(make_agent_config(a, {}, clock));
  a.acme->challenge = "webroot";  // without a directory
  EXPECT_FALSE(make_agent_config(a, {}, clock));
  a.acme->challenge = "http-01";
  a.trust_bundle = "/tmp/bundle.pem";  // needs herald serve
  auto tb = make_agent_config(a, {}, clock);
  ASSERT_FALSE(tb);
  EXPECT_NE(tb.error().message.find("--server"), std::string::npos) << tb.error().message;
}

TEST(AgentConfig, FileOptions) {
  CertSpec s;
  s.profile = "server";
  s.cn = "web.internal";
  s.cert = "/tmp/c.pem";
  s.key = "/tmp/k.pem";
  s.key_mode = "0644";  // readable by others
  EXPECT_FALSE(make_cert_config(s));
  s.key_mode = "0640";
  auto ok = make_cert_config(s);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->paths.key_mode, std::filesystem::perms::owner_read |
                                    std::filesystem::perms::owner_write |
                                    std::filesystem::perms::group_read);
  s.pkcs12 = "/tmp/c.p12";  // without a password
  EXPECT_FALSE(make_cert_config(s));
  s.pkcs12.reset();
  s.reload_signal = "HUP";  // without a PID file
  EXPECT_FALSE(make_cert_config(s));
  s.reload_pid_file = "/run/nginx.pid";
  auto sig = make_cert_config(s);
  ASSERT_TRUE(sig) << sig.error().message;
  EXPECT_EQ(sig->reload_signal, SIGHUP);
  s.reload = "nginx -s reload";  // and a command: one or the other
  EXPECT_FALSE(make_cert_config(s));
  s.reload.reset();
  s.reload_signal = "KILL";
  EXPECT_FALSE(make_cert_config(s));
  s.reload_signal = "HUP";
  s.file_owner = "no-such-user-herald";
  EXPECT_FALSE(make_cert_config(s));
  s.file_owner = "0";
  auto owned = make_cert_config(s);
  ASSERT_TRUE(owned);
  EXPECT_EQ(owned->paths.owner.uid, 0u);
  s.owner = "team=web,service";
  EXPECT_FALSE(make_cert_config(s));
  s.owner = "team=web,service=api";
  auto labelled = make_cert_config(s);
  ASSERT_TRUE(labelled);
  ASSERT_EQ(labelled->id.owner.size(), 2u);
  EXPECT_EQ(labelled->id.owner[1].second, "api");
}

TEST(AgentConfig, ParsesTheNewKeys) {
  auto parsed = parse_config(R"(
provisioner = "ci"
ott_key = "/etc/herald/ci.key.pem"
[acme]
directory = "https://ca:8443/acme/acme/directory"
challenge = "dns-01"
dns_hook = "/usr/local/bin/dns-hook"
[[certificate]]
profile = "server"
cn = "web.internal"
cert = "/tmp/c.pem"
key = "/tmp/k.pem"
pkcs12 = "/tmp/c.p12"
pkcs12_password_file = "/tmp/p12.pass"
reload_signal = "HUP"
reload_pid_file = "/run/nginx.pid"
file_owner = "root"
file_group = "root"
owner = "team=web"
key_mode = "0640"
)",
                             "agent.toml");
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_TRUE(parsed->agent.acme);
  EXPECT_EQ(parsed->agent.acme->dns_hook, "/usr/local/bin/dns-hook");
  EXPECT_EQ(parsed->agent.provisioner, "ci");
  EXPECT_EQ(parsed->certs.at(0).reload_pid_file, "/run/nginx.pid");
  auto unknown = parse_config("[acme]\ndirectory = \"https://x/d\"\nport = 80\n", "a.toml");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("acme.port"), std::string::npos);
}

}  // namespace
}  // namespace herald::agent
