#include "policy/config.h"

#include <gtest/gtest.h>

namespace herald::policy {
namespace {

TEST(Config, DefaultTextParsesToDefaults) {
  auto cfg = parse_config(default_config_text({"Acme", "http://127.0.0.1:8080/"}), "herald.toml");
  ASSERT_TRUE(cfg) << cfg.error().describe();
  EXPECT_EQ(cfg->ca.organization, "Acme");
  EXPECT_EQ(cfg->ca.base_url, "http://127.0.0.1:8080");
  auto def = default_policy();
  EXPECT_EQ(cfg->policy.server.max_ttl, def.server.max_ttl);
  EXPECT_EQ(cfg->policy.server.allowed_dns, def.server.allowed_dns);
  EXPECT_EQ(cfg->policy.client.allowed_ips.size(), def.client.allowed_ips.size());
  EXPECT_EQ(cfg->policy.spiffe.default_ttl, std::chrono::hours(1));
}

TEST(Config, ErrorsNameTheLine) {
  struct Case {
    const char* text;
    const char* expect;
  };
  for (auto c :
       {Case{"[ca]\nbase_url = \"ftp://x\"\n", "herald.toml:2: ca.base_url"},
        Case{"[ca]\ncolour = 1\n", "herald.toml:2: unknown key 'ca.colour'"},
        Case{"[policy.server]\nmax_ttl = \"10q\"\n", "herald.toml:2: policy.server.max_ttl"},
        Case{"[policy.server]\nallowed_ips = [\"10.0.0.1/8\"]\n",
             "herald.toml:2: policy.server.allowed_ips"},
        Case{"[policy]\nmin_rsa_bits = 1024\n", "herald.toml:2: policy.min_rsa_bits"},
        Case{"[policy]\nallowed_key_types = [\"dsa\"]\n",
             "herald.toml:2: policy.allowed_key_types"},
        Case{"[policy.server]\ndefault_ttl = \"500d\"\n", "policy.server.default_ttl is longer"},
        Case{"[ca\n", "herald.toml:1:"}}) {
    auto cfg = parse_config(c.text, "herald.toml");
    ASSERT_FALSE(cfg) << c.text;
    EXPECT_EQ(cfg.error().code, ErrorCode::kMalformedInput);
    EXPECT_NE(cfg.error().message.find(c.expect), std::string::npos) << cfg.error().message;
  }
}

TEST(Config, OverridesApply) {
  auto cfg = parse_config(
      "[policy.server]\nallowed_dns = [\"*.corp.test\"]\nmax_ttl = \"30d\"\ndefault_ttl = \"7d\"\n",
      "x");
  ASSERT_TRUE(cfg);
  EXPECT_EQ(cfg->policy.server.allowed_dns, std::vector<std::string>{"*.corp.test"});
  EXPECT_EQ(cfg->policy.server.max_ttl, std::chrono::hours(24 * 30));
  EXPECT_EQ(cfg->policy.client.allowed_dns, default_policy().client.allowed_dns);
}

}  // namespace
}  // namespace herald::policy
