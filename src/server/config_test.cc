#include "server/config.h"

#include <gtest/gtest.h>

#include "datadir/init.h"
#include "policy/config.h"

namespace herald::server {
namespace {

TEST(ServerConfig, DefaultTextParsesAndIsAcceptedByThePolicyLoader) {
  std::string text = datadir::default_config_file({"Acme", ""});
  auto cfg = parse_server_config(text, "herald.toml");
  ASSERT_TRUE(cfg) << cfg.error().describe();
  EXPECT_EQ(cfg->listen.to_string(), "127.0.0.1:8443");
  EXPECT_EQ(cfg->http_listen.port, 8080);
  ASSERT_EQ(cfg->provisioners.size(), 2u);
  EXPECT_EQ(cfg->provisioners[0].name, "admin");
  EXPECT_TRUE(cfg->provisioners[0].can(Permission::kRevoke));
  EXPECT_EQ(cfg->provisioners[1].name, "acme");
  EXPECT_EQ(cfg->provisioners[1].type, "acme");
  EXPECT_TRUE(cfg->provisioners[1].allow_ip);
  EXPECT_EQ(cfg->acme.http01_port, 80);
  EXPECT_FALSE(cfg->acme.insecure_skip_validation);
  EXPECT_TRUE(policy::parse_config(text, "herald.toml"));
}

TEST(ServerConfig, ErrorsNameTheLine) {
  struct Case {
    const char* text;
    const char* expect;
  };
  for (auto c : {Case{"[server]\nlisten = \"nowhere\"\n", "herald.toml:2: server.listen"},
                 Case{"[server]\nthreads = -1\n", "herald.toml:2: server.threads"},
                 Case{"[server]\ncolour = 1\n", "herald.toml:2: unknown key 'server.colour'"},
                 Case{"[[provisioners]]\nname = \"a\"\npermissions = [\"root\"]\n",
                      "herald.toml:3: provisioners.permissions"},
                 Case{"[[provisioners]]\nname = \"a\"\nprofiles = [\"ocsp\"]\n",
                      "herald.toml:3: provisioners.profiles"},
                 Case{"[[provisioners]]\nname = \"a\"\n[[provisioners]]\nname = \"a\"\n",
                      "duplicate provisioner"},
                 Case{"[[provisioners]]\nname = \"a b\"\n", "herald.toml:2: provisioner name"},
                 Case{"[[provisioners]]\nname = \"a\"\nallow_ip = false\n",
                      "herald.toml:3: provisioners.allow_ip is for acme provisioners"},
                 Case{"[acme]\nhttp01_port = 0\n", "herald.toml:2: acme.http01_port"},
                 Case{"[acme]\ndns_resolver = \"nowhere\"\n", "herald.toml:2: acme.dns_resolver"},
                 Case{"[acme]\nvalidation_timeout = \"soon\"\n",
                      "herald.toml:2: acme.validation_timeout"}}) {
    auto cfg = parse_server_config(c.text, "herald.toml");
    ASSERT_FALSE(cfg) << c.text;
    EXPECT_NE(cfg.error().message.find(c.expect), std::string::npos) << cfg.error().message;
  }
}

// Issue 9: the [acme] abuse limits, their defaults and their checks.
TEST(ServerConfig, OcspCacheEntries) {
  auto defaults = parse_server_config("", "herald.toml");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->ocsp_cache_entries, 50000u);
  auto cfg = parse_server_config("[server]\nocsp_cache_entries = 0\n", "herald.toml");
  ASSERT_TRUE(cfg) << cfg.error().describe();
  EXPECT_EQ(cfg->ocsp_cache_entries, 0u);
  for (const char* bad : {"[server]\nocsp_cache_entries = -1\n",
                          "[server]\nocsp_cache_entries = 10000001\n",
                          "[server]\nocsp_cache_entries = \"big\"\n"}) {
    auto r = parse_server_config(bad, "herald.toml");
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("ocsp_cache_entries"), std::string::npos) << r.error().message;
  }
}

TEST(ServerConfig, AcmeAbuseLimits) {
  auto defaults = parse_server_config("", "herald.toml");
  ASSERT_TRUE(defaults);
  EXPECT_FALSE(defaults->acme.validation_denied_ranges);  // the built-in list
  EXPECT_EQ(defaults->acme.max_identifiers_per_order, 100);
  EXPECT_EQ(defaults->acme.max_pending_orders_per_account, 100);
  EXPECT_EQ(defaults->acme.new_accounts_per_address_per_hour, 20);
  EXPECT_EQ(defaults->acme.validations_per_account, 2);
  EXPECT_EQ(defaults->acme.validations_per_order, 2);
  auto cfg = parse_server_config(
      "[acme]\nvalidation_denied_ranges = [\"169.254.0.0/16\", \"10.0.0.0/8\", \"::1\"]\n"
      "max_identifiers_per_order = 10\nmax_pending_orders_per_account = 0\n"
      "new_accounts_per_address_per_hour = 3\nvalidations_per_account = 1\n"
      "validations_per_order = 1\n",
      "herald.toml");
  ASSERT_TRUE(cfg) << cfg.error().describe();
  EXPECT_EQ(*cfg->acme.validation_denied_ranges,
            (std::vector<std::string>{"169.254.0.0/16", "10.0.0.0/8", "::1"}));
  EXPECT_EQ(cfg->acme.max_identifiers_per_order, 10);
  EXPECT_EQ(cfg->acme.max_pending_orders_per_account, 0);
  EXPECT_EQ(cfg->acme.new_accounts_per_address_per_hour, 3);
  EXPECT_EQ(cfg->acme.validations_per_account, 1);
  struct Case {
    const char* text;
    const char* expect;
  };
  for (auto c : {Case{"[acme]\nvalidation_denied_ranges = [\"10.0.0.0/33\"]\n",
                      "herald.toml:2: acme.validation_denied_ranges: '10.0.0.0/33'"},
                 Case{"[acme]\nvalidation_denied_ranges = \"10.0.0.0/8\"\n",
                      "herald.toml:2: acme.validation_denied_ranges"},
                 Case{"[acme]\nmax_identifiers_per_order = 0\n",
                      "herald.toml:2: acme.max_identifiers_per_order"},
                 Case{"[acme]\nnew_accounts_per_address_per_hour = -1\n",
                      "herald.toml:2: acme.new_accounts_per_address_per_hour"},
                 Case{"[acme]\nvalidations_per_order = \"2\"\n",
                      "herald.toml:2: acme.validations_per_order"}}) {
    auto bad = parse_server_config(c.text, "herald.toml");
    ASSERT_FALSE(bad) << c.text;
    EXPECT_NE(bad.error().message.find(c.expect), std::string::npos) << bad.error().message;
  }
}

// ---- [alerts] (alerts/config.h) ----
TEST(ServerConfig, Alerts) {
  auto none = parse_server_config("", "herald.toml");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->alerts.enabled);
  const char* text = R"(
[alerts]
days = [14, 3]
lifetime_percent = 12.5
interval = "30s"
retry_initial = "2s"
retry_max = "1m"
max_attempts = 4

[[alerts.webhooks]]
name = "ops"
url = "https://hooks.internal/herald"
secret_file = "secrets/ops.hook"
ca_file = "secrets/internal-ca.pem"

[[alerts.webhooks]]
name = "acme"
url = "http://127.0.0.1:9000/x"
secret_file = "/etc/herald/acme.hook"
partner = "acme"
)";
  auto cfg = parse_server_config(text, "herald.toml");
  ASSERT_TRUE(cfg) << cfg.error().describe();
  const auto& a = cfg->alerts;
  EXPECT_TRUE(a.enabled);
  EXPECT_EQ(a.days, (std::vector<int>{14, 3}));
  EXPECT_DOUBLE_EQ(a.lifetime_percent, 12.5);
  EXPECT_EQ(a.interval, std::chrono::seconds(30));
  EXPECT_EQ(a.retry_initial, std::chrono::milliseconds(2000));
  EXPECT_EQ(a.retry_max, std::chrono::milliseconds(60000));
  EXPECT_EQ(a.max_attempts, 4);
  ASSERT_EQ(a.webhooks.size(), 2u);
  EXPECT_EQ(a.webhooks[0].url, "https://hooks.internal/herald");
  EXPECT_EQ(a.webhooks[0].ca_file, "secrets/internal-ca.pem");
  EXPECT_EQ(a.webhooks[1].partner, "acme");
  EXPECT_EQ(a.webhooks[1].ca_file, "");
  EXPECT_TRUE(policy::parse_config(text, "herald.toml"));  // [alerts] is a known table

  for (const char* bad : {
           "[alerts]\nfrequency = \"1m\"\n",                                // unknown key
           "[alerts]\ndays = [0]\n",                                          // out of range
           "[alerts]\nlifetime_percent = 100\n",                              // out of range
           "[[alerts.webhooks]]\nname = \"a\"\nurl = \"ftp://x/\"\nsecret_file = \"s\"\n",
           "[[alerts.webhooks]]\nname = \"a\"\nurl = \"https://u:p@x/\"\nsecret_file = \"s\"\n",
           "[[alerts.webhooks]]\nname = \"a\"\nurl = \"https://x/\"\n",     // no secret_file
           "[[alerts.webhooks]]\nname = \"a\"\nurl = \"https://x/\"\nsecret_file = \"s\"\n"
           "secret = \"inline\"\n",                                          // no inline secret
           "[[alerts.webhooks]]\nname = \"a\"\nurl = \"https://x/\"\nsecret_file = \"s\"\n"
           "[[alerts.webhooks]]\nname = \"a\"\nurl = \"https://y/\"\nsecret_file = \"s\"\n",
           // a ca_file for plain http, or empty
           "[[alerts.webhooks]]\nname = \"a\"\nurl = \"http://x/\"\nsecret_file = \"s\"\n"
           "ca_file = \"ca.pem\"\n",
           "[[alerts.webhooks]]\nname = \"a\"\nurl = \"https://x/\"\nsecret_file = \"s\"\n"
           "ca_file = \"\"\n",
       }) {
    EXPECT_FALSE(parse_server_config(bad, "herald.toml")) << bad;
  }
}

TEST(ServerConfig, DashboardAdminClientNames) {
  auto none = parse_server_config("", "herald.toml");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->dashboard.admin_client_names.empty());
  const char* text = R"(
[dashboard]
admin_client_names = ["URI:spiffe://corp/admin/alice", "dns:Ops-Admin.internal",
                      "email:sec@corp.example", "ip:10.0.0.7", "uri:spiffe://corp/admin/alice"]
)";
  auto cfg = parse_server_config(text, "herald.toml");
  ASSERT_TRUE(cfg) << cfg.error().describe();
  std::vector<std::string> got;
  for (const auto& n : cfg->dashboard.admin_client_names) got.push_back(n.to_string());
  EXPECT_EQ(got, (std::vector<std::string>{"uri:spiffe://corp/admin/alice", "dns:ops-admin.internal",
                                           "email:sec@corp.example", "ip:10.0.0.7"}));
  EXPECT_TRUE(policy::parse_config(text, "herald.toml"));  // [dashboard] is a known table
  for (const char* bad : {
           "[dashboard]\nadmins = [\"dns:a.internal\"]\n",              // unknown key
           "[dashboard]\nadmin_client_names = \"dns:a.internal\"\n",    // not an array
           "[dashboard]\nadmin_client_names = [\"alice\"]\n",           // no type: a CN is never enough
           "[dashboard]\nadmin_client_names = [\"cn:alice\"]\n",        // unknown type
           "[dashboard]\nadmin_client_names = [\"dns:*.corp.internal\"]\n",  // a wildcard
           "dashboard = 1\n",
       }) {
    auto r = parse_server_config(bad, "herald.toml");
    EXPECT_FALSE(r) << bad;
  }
}

// Issue 15: [server] retention, off by default, at least a minute.
TEST(ServerConfig, Retention) {
  auto defaults = parse_server_config("", "herald.toml");
  ASSERT_TRUE(defaults);
  EXPECT_FALSE(defaults->retention);
  auto year = parse_server_config("[server]\nretention = \"365d\"\n", "herald.toml");
  ASSERT_TRUE(year) << year.error().describe();
  ASSERT_TRUE(year->retention);
  EXPECT_EQ(*year->retention, std::chrono::hours(365 * 24));
  for (auto [text, expect] :
       {std::pair{"[server]\nretention = \"30s\"\n", "herald.toml:2: server.retention must be at least 1m"},
        std::pair{"[server]\nretention = \"forever\"\n", "herald.toml:2: server.retention"},
        std::pair{"[server]\nretention = 365\n", "herald.toml:2: server.retention"}}) {
    auto cfg = parse_server_config(text, "herald.toml");
    ASSERT_FALSE(cfg) << text;
    EXPECT_NE(cfg.error().message.find(expect), std::string::npos) << cfg.error().message;
  }
}

TEST(Endpoint, Parses) {
  EXPECT_EQ(parse_endpoint("[::1]:8443")->host, "::1");
  EXPECT_EQ(parse_endpoint("localhost:80")->host, "127.0.0.1");
  EXPECT_FALSE(parse_endpoint("127.0.0.1"));
  EXPECT_FALSE(parse_endpoint("127.0.0.1:70000"));
  EXPECT_FALSE(parse_endpoint("example.com:80"));
}

}  // namespace
}  // namespace herald::server
