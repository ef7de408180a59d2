#include "policy/rules.h"

#include <gtest/gtest.h>

namespace herald::policy {
namespace {

using std::chrono::hours;

IssueRequest server_req(std::string cn, std::vector<std::string> sans = {}) {
  IssueRequest r;
  r.profile = Profile::kServer;
  r.common_name = std::move(cn);
  for (auto& s : sans) r.sans.push_back(*x509::parse_san(s));
  r.key = keys::key_info_of(keys::KeyType::kEcP256);
  return r;
}

std::string rule_of(const Result<std::chrono::seconds>& r) {
  if (r) return "ok";
  EXPECT_EQ(r.error().code, ErrorCode::kPolicyViolation);
  for (auto& [k, v] : r.error().context) {
    if (k == "rule") return v;
  }
  return "?";
}

Result<std::chrono::seconds> check(const Policy& p, const IssueRequest& r) {
  auto sans = effective_sans(r);
  if (!sans) return tl::unexpected(sans.error());
  return check_request(p, r, *sans);
}

TEST(DnsPatterns, ExactWildcardSuffix) {
  EXPECT_TRUE(dns_allowed("a.internal", {".internal"}));
  EXPECT_TRUE(dns_allowed("a.b.internal", {".internal"}));
  EXPECT_FALSE(dns_allowed("internal", {".internal"}));
  EXPECT_TRUE(dns_allowed("a.corp.test", {"*.corp.test"}));
  EXPECT_FALSE(dns_allowed("a.b.corp.test", {"*.corp.test"}));
  EXPECT_FALSE(dns_allowed("corp.test", {"*.corp.test"}));
  EXPECT_TRUE(dns_allowed("exact.test", {"exact.test"}));
  EXPECT_FALSE(dns_allowed("xexact.test", {"exact.test"}));
  EXPECT_TRUE(dns_allowed("anything.example", {"*"}));
  EXPECT_FALSE(dns_allowed("evil-internal", {".internal"}));
}

TEST(Rules, DefaultPolicyAcceptsInternalServer) {
  auto p = default_policy();
  auto ttl = check(p, server_req("web.internal", {"ip:10.0.0.5"}));
  ASSERT_TRUE(ttl) << ttl.error().describe();
  EXPECT_EQ(*ttl, hours(24 * 90));
  EXPECT_EQ(effective_sans(server_req("web.internal"))->front().to_string(), "dns:web.internal");
  EXPECT_EQ(effective_sans(server_req("127.0.0.1"))->front().to_string(), "ip:127.0.0.1");
}

TEST(Rules, EachRuleNamesItself) {
  auto p = default_policy();
  EXPECT_EQ(rule_of(check(p, server_req("www.google.com"))), "policy.server.allowed_dns");
  EXPECT_EQ(rule_of(check(p, server_req("web.internal", {"ip:8.8.8.8"}))),
            "policy.server.allowed_ips");
  EXPECT_EQ(rule_of(check(p, server_req("web.internal", {"uri:https://x.internal"}))),
            "policy.server.allowed_uri_prefixes");
  EXPECT_EQ(rule_of(check(p, server_req("web.internal", {"email:a@b.internal"}))),
            "profile.server.san_types");
  EXPECT_EQ(rule_of(check(p, server_req(""))), "profile.server.requires_dns_or_ip_san");
  EXPECT_EQ(rule_of(check(p, server_req("not a name"))), "profile.server.cn");

  auto ttl = server_req("web.internal");
  ttl.ttl = hours(24 * 398);
  EXPECT_EQ(rule_of(check(p, ttl)), "policy.server.max_ttl");

  auto rsa = server_req("web.internal");
  rsa.key = {keys::KeyAlgorithm::kRsa, 1024, ""};
  EXPECT_EQ(rule_of(check(p, rsa)), "policy.min_rsa_bits");
  auto p192 = server_req("web.internal");
  p192.key = {keys::KeyAlgorithm::kEc, 192, "P-192"};
  EXPECT_EQ(rule_of(check(p, p192)), "policy.allowed_key_types");
  auto dsa = server_req("web.internal");
  dsa.key = {keys::KeyAlgorithm::kDsa, 2048, ""};
  EXPECT_EQ(rule_of(check(p, dsa)), "policy.allowed_key_types");

  auto sha1 = server_req("web.internal");
  sha1.csr_hash = x509::SignatureHash::kSha1;
  EXPECT_EQ(rule_of(check(p, sha1)), "policy.csr_signature");
  auto ca = server_req("web.internal");
  ca.requests_ca = true;
  EXPECT_EQ(rule_of(check(p, ca)), "policy.no_ca_requests");

  auto many = server_req("web.internal");
  for (int i = 0; i < 101; ++i)
    many.sans.push_back(*x509::parse_san("dns:h" + std::to_string(i) + ".internal"));
  EXPECT_EQ(rule_of(check(p, many)), "policy.max_sans");
}

TEST(Rules, ClientNoWildcard) {
  auto p = default_policy();
  IssueRequest r;
  r.profile = Profile::kClient;
  r.common_name = "alice";
  r.key = keys::key_info_of(keys::KeyType::kEd25519);
  EXPECT_EQ(rule_of(check(p, r)), "ok");
  r.sans = {*x509::parse_san("dns:*.svc.internal")};
  EXPECT_EQ(rule_of(check(p, r)), "policy.client.no_wildcard");
  auto server = server_req("*.svc.internal");
  EXPECT_EQ(rule_of(check(p, server)), "ok");
}

TEST(Rules, SpiffeTrustDomainAndShape) {
  auto p = default_policy();
  IssueRequest r;
  r.profile = Profile::kSpiffe;
  r.key = keys::key_info_of(keys::KeyType::kEcP256);
  r.sans = {*x509::parse_san("uri:spiffe://herald.internal/ns/prod/sa/web")};
  auto ttl = check(p, r);
  ASSERT_TRUE(ttl);
  EXPECT_EQ(*ttl, hours(1));
  r.sans = {*x509::parse_san("uri:spiffe://other.org/ns/web")};
  EXPECT_EQ(rule_of(check(p, r)), "policy.spiffe_trust_domain");
  r.sans = {*x509::parse_san("uri:spiffe://herald.internal/a/../b")};
  EXPECT_EQ(rule_of(check(p, r)), "profile.spiffe.id");
  r.sans = {*x509::parse_san("uri:spiffe://herald.internal/a"), *x509::parse_san("dns:a.internal")};
  EXPECT_EQ(rule_of(check(p, r)), "profile.spiffe.one_uri_san");
}

TEST(Rules, OcspSignerIsNeverRequestable) {
  EXPECT_EQ(profile_name(Profile::kOcspSigner), "ocsp-signer");
  auto parsed = parse_profile("ocsp-signer");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
  auto r = server_req("");
  r.profile = Profile::kOcspSigner;
  EXPECT_EQ(rule_of(check(default_policy(), r)), "profile.ocsp_signer.not_requestable");
}

TEST(IpRange, ContainsAndRejectsHostBits) {
  auto r = parse_ip_range("10.0.0.0/8");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->contains(x509::ip_octets("10.200.1.1")));
  EXPECT_FALSE(r->contains(x509::ip_octets("11.0.0.1")));
  EXPECT_FALSE(r->contains(x509::ip_octets("::1")));
  EXPECT_FALSE(parse_ip_range("10.0.0.1/8"));
  EXPECT_FALSE(parse_ip_range("10.0.0.0/33"));
  EXPECT_TRUE(parse_ip_range("fc00::/7")->contains(x509::ip_octets("fd00::1")));
}

}  // namespace
}  // namespace herald::policy
