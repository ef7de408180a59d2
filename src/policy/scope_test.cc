// The caller's name limits, as a hostile scoped caller would probe them: every
// name type, the CN of every profile, and text that relying parties misread.
#include "policy/scope.h"

#include <gtest/gtest.h>

#include "policy/rules.h"

namespace herald::policy {
namespace {

IssueRequest req(Profile profile, std::string cn, std::vector<std::string> sans) {
  IssueRequest r;
  r.profile = profile;
  r.common_name = std::move(cn);
  for (auto& s : sans) r.sans.push_back(*x509::parse_san(s));
  r.key = keys::key_info_of(keys::KeyType::kEcP256);
  return r;
}

// "ok", or the error code's name and message.
std::string check(const IssueRequest& r, const NameScope* scope = nullptr,
                  const std::vector<std::string>* named = nullptr) {
  Policy p = default_policy();
  IssueRequest q = r;
  q.caller = Caller{scope, named};
  auto sans = effective_sans(q);
  if (!sans) return "policy: " + sans.error().message;
  auto ttl = check_request(p, q, *sans);
  if (ttl) return "ok";
  return std::string(ttl.error().code == ErrorCode::kForbidden ? "forbidden: " : "policy: ") +
         ttl.error().message;
}

NameScope web_scope() {
  return NameScope::of("provisioner 'web'", {"*.web.internal"}, {}, {}, {});
}

bool refused(const std::string& verdict) { return verdict != "ok"; }

TEST(Scope, UnsetListsMeanTheProfilePolicyAlone) {
  NameScope none = NameScope::of("provisioner 'admin'", {}, {}, {}, {});
  EXPECT_FALSE(none.restricted);
  EXPECT_EQ(check(req(Profile::kServer, "10.1.2.3", {}), &none), "ok");
  EXPECT_EQ(check(req(Profile::kClient, "alice", {}), &none), "ok");
}

TEST(Scope, DnsScopeRefusesEveryOtherNameType) {
  NameScope s = web_scope();
  EXPECT_EQ(check(req(Profile::kServer, "a.web.internal", {}), &s), "ok");
  // The CN of a server certificate is a name like any other.
  EXPECT_EQ(check(req(Profile::kServer, "10.1.2.3", {"dns:a.web.internal"}), &s),
            "forbidden: provisioner 'web' may not request IP address 10.1.2.3");
  EXPECT_EQ(check(req(Profile::kServer, "a.web.internal", {"ip:192.168.1.1"}), &s),
            "forbidden: provisioner 'web' may not request IP address 192.168.1.1");
  EXPECT_EQ(check(req(Profile::kServer, "a.web.internal", {"ip:::1"}), &s),
            "forbidden: provisioner 'web' may not request IP address ::1");
  EXPECT_TRUE(refused(check(req(Profile::kServer, "www.google.com", {}), &s)));
  EXPECT_TRUE(refused(check(req(Profile::kClient, "", {"email:a@web.internal"}), &s)));
  EXPECT_TRUE(refused(check(req(Profile::kClient, "", {"uri:https://x.web.internal/"}), &s)));
}

TEST(Scope, IpRangesAreHonoured) {
  NameScope s = NameScope::of("provisioner 'edge'", {}, {*parse_ip_range("10.20.0.0/16")}, {}, {});
  EXPECT_EQ(check(req(Profile::kServer, "10.20.3.4", {}), &s), "ok");
  EXPECT_TRUE(refused(check(req(Profile::kServer, "10.21.3.4", {}), &s)));
  EXPECT_TRUE(refused(check(req(Profile::kServer, "10.20.3.4", {"dns:a.internal"}), &s)));
}

TEST(Scope, SpiffeCnCannotCarryAHostName) {
  // The attack: a spiffe certificate (serverAuth) whose CN a TLS client
  // would match as www.google.com. Refused with or without a scope.
  NameScope s = NameScope::of("provisioner 'mesh'", {"*.web.internal"}, {}, {"spiffe://herald.internal/ns/web/*"}, {});
  auto spiffe = [](std::string cn) {
    return req(Profile::kSpiffe, std::move(cn), {"uri:spiffe://herald.internal/ns/web/sa/api"});
  };
  EXPECT_TRUE(refused(check(spiffe("www.google.com"))));
  EXPECT_TRUE(refused(check(spiffe("www.google.com"), &s)));
  EXPECT_TRUE(refused(check(spiffe("a.web.internal"), &s)));
  EXPECT_EQ(check(spiffe(""), &s), "ok");
  EXPECT_EQ(check(spiffe("spiffe://herald.internal/ns/web/sa/api"), &s), "ok");
  // The URI itself is scoped too.
  EXPECT_TRUE(refused(check(req(Profile::kSpiffe, "", {"uri:spiffe://herald.internal/ns/db/x"}), &s)));
}

TEST(Scope, ClientCnIsASanOrMatchesAllowedCn) {
  NameScope s = NameScope::of("provisioner 'team'", {"*.web.internal"}, {}, {}, {"svc-*"});
  EXPECT_EQ(check(req(Profile::kClient, "svc-payments", {}), &s), "ok");
  EXPECT_EQ(check(req(Profile::kClient, "a.web.internal", {"dns:a.web.internal"}), &s), "ok");
  EXPECT_EQ(check(req(Profile::kClient, "admin", {}), &s),
            "forbidden: provisioner 'team' may not request common name 'admin'");
  // Without allowed_cn a scoped caller's client CN must repeat one of its SANs.
  NameScope dns_only = web_scope();
  EXPECT_TRUE(refused(check(req(Profile::kClient, "admin", {"dns:a.web.internal"}), &dns_only)));
}

TEST(CommonName, TextThatRelyingPartiesMisreadIsRefusedForEveryone) {
  for (std::string cn : {std::string("admin\0.evil", 11), std::string("alice,O=system:masters"),
                         std::string("a\x7f"), std::string("\xe2\x80\xae" "nimda"),
                         std::string("line\nbreak"), std::string("x+y"), std::string("#hex"),
                         std::string(" pad"), std::string("pad "), std::string(65, 'a'),
                         std::string("a\"b"), std::string("a\\b"), std::string("a<b>"),
                         std::string("a;b")}) {
    EXPECT_TRUE(refused(check(req(Profile::kClient, cn, {})))) << cn;
  }
  EXPECT_EQ(check(req(Profile::kClient, "Alice Example (ops)", {})), "ok");
  // An error message prints control bytes escaped, never raw.
  auto v = check(req(Profile::kClient, std::string("admin\0.evil", 11), {}));
  EXPECT_NE(v.find("admin\\x00.evil"), std::string::npos) << v;
}

TEST(CnPattern, OneStar) {
  EXPECT_TRUE(cn_pattern_matches("svc-*", "svc-a"));
  EXPECT_TRUE(cn_pattern_matches("*@payments", "bob@payments"));
  EXPECT_TRUE(cn_pattern_matches("exact", "exact"));
  EXPECT_FALSE(cn_pattern_matches("exact", "exact2"));
  EXPECT_FALSE(cn_pattern_matches("svc-*", "svc"));
  EXPECT_FALSE(cn_pattern_matches("a*a", "a"));
}

TEST(Named, OneTimeTokenNamesEverything) {
  std::vector<std::string> names{"a.web.internal"};
  EXPECT_EQ(check(req(Profile::kServer, "a.web.internal", {}), nullptr, &names), "ok");
  EXPECT_EQ(check(req(Profile::kServer, "a.web.internal", {"dns:b.web.internal"}), nullptr, &names),
            "forbidden: the token does not name 'b.web.internal'");
  EXPECT_TRUE(refused(check(req(Profile::kClient, "admin", {"dns:a.web.internal"}), nullptr, &names)));
}

}  // namespace
}  // namespace herald::policy
