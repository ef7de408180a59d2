// The ACME service end to end on a real (SQLite) store, with requests built
// and signed here and a scripted challenge validator: what the nonces cost,
// how challenge outcomes move authorizations and orders, and how refused
// identifiers and unknown stored statuses are answered.
#include "acme/service.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "acme/jws.h"
#include "keys/private_key.h"
#include "store/sqlite/sqlite_inventory.h"

namespace herald::acme {
namespace {

using nlohmann::json;

constexpr const char* kHost = "ca.test";
constexpr const char* kBase = "https://ca.test/acme/acme";

// The used-nonce table, counting writes (the adapters' own behaviour is the
// store conformance suite's).
class UsedIds final : public store::TokenStore {
 public:
  Result<int64_t> add_token(const store::TokenRecord&) override { return 0; }
  Result<std::optional<store::TokenRecord>> find_token(std::string_view) override {
    return std::nullopt;
  }
  Result<std::vector<store::TokenRecord>> list_tokens() override { return {}; }
  Status revoke_token(int64_t) override { return {}; }
  Status use_token_id(std::string_view jti, TimePoint, TimePoint) override {
    std::lock_guard lock(mu);
    ++writes;
    if (!used.insert(std::string(jti)).second) return make_error(ErrorCode::kConflict, "used");
    return {};
  }
  std::mutex mu;
  int writes = 0;
  std::set<std::string> used;
};

// Answers each challenge as told (by identifier value); valid by default.
class ScriptedValidator final : public ChallengeValidator {
 public:
  validation::Outcome validate(std::string_view type, std::string_view, std::string_view value,
                               std::string_view token,
                               std::string_view key_authorization) const override {
    std::lock_guard lock(mu);
    calls.push_back(std::string(type) + " " + std::string(value));
    EXPECT_TRUE(key_authorization.starts_with(std::string(token) + "."));
    auto it = failing.find(std::string(value));
    if (it == failing.end()) return {true, "", "", {}};
    return {false, "incorrectResponse", it->second, {}};
  }
  mutable std::mutex mu;
  mutable std::vector<std::string> calls;
  std::map<std::string, std::string> failing;  // identifier value -> detail
};

std::filesystem::path temp_db() {
  static int n = 0;
  auto dir = std::filesystem::temp_directory_path() /
             ("herald-acme-service-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir / "herald.db";
}

std::string header(const net::Response& res, std::string_view name) {
  for (const auto& [k, v] : res.headers)
    if (k == name) return v;
  return "";
}

class AcmeService : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = temp_db();
    auto opened = store::SqliteInventory::open(db_, store::OpenMode::kCreate, clock_);
    ASSERT_TRUE(opened) << opened.error().describe();
    store_ = std::move(*opened);
    Backend backend;
    backend.authorize = [this](const std::string& provisioner, policy::Profile,
                               const std::vector<x509::San>& sans) -> Status {
      EXPECT_EQ(provisioner, "acme");
      authorized_.push_back(sans.size());
      for (const auto& s : sans)
        if (s.value.ends_with(".refused.test"))
          return make_error(ErrorCode::kForbidden,
                            "provisioner 'acme' may not request DNS name '" + s.value + "'");
      return {};
    };
    service_ = std::make_unique<Service>(clock_, *store_, *store_, std::move(backend), 2);
    service_->use_nonces(std::make_unique<SharedNonces>(Bytes(32, 7), used_, clock_));
    Settings settings;
    settings.validator = validator_;
    settings.new_accounts_per_address_per_hour = 0;
    service_->configure({Provisioner{"acme", policy::Profile::kServer, std::nullopt, false}},
                        std::move(settings));
    auto key = keys::generate_key(keys::KeyType::kEcP256);
    ASSERT_TRUE(key);
    key_ = std::move(*key);
  }

  void TearDown() override {
    service_.reset();  // its validation threads first
    store_.reset();
    std::filesystem::remove_all(db_.parent_path());
  }

  net::Response send(const std::string& method, const std::string& path, std::string body = "") {
    net::Request req;
    req.method = method;
    req.path = path;
    req.target = path;
    req.body = std::move(body);
    req.remote_address = "192.0.2.1";
    req.headers = {{"host", kHost}, {"content-type", "application/jose+json"}};
    net::Response res;
    EXPECT_TRUE(service_->handle(req, res));
    return res;
  }

  std::string nonce() { return header(send("HEAD", "/acme/acme/new-nonce"), "Replay-Nonce"); }

  // A JWS body for `url`: signed by `signer` (default: the account key),
  // with "kid" once the account exists, else the account key's "jwk".
  std::string jws(const std::string& url, const std::string& payload, const std::string& n,
                  EVP_PKEY* signer = nullptr) {
    json h{{"nonce", n}, {"url", url}};
    if (kid_.empty())
      h["jwk"] = *key_to_jwk(*key_);
    else
      h["kid"] = kid_;
    auto body = sign_jws_request(h, payload, signer ? *signer : *key_);
    EXPECT_TRUE(body) << body.error().describe();
    return *body;
  }

  net::Response post(const std::string& url, const std::string& payload) {
    const std::string path = url.substr(std::string("https://").size() + std::strlen(kHost));
    return send("POST", path, jws(url, payload, nonce()));
  }

  void new_account() {
    auto res = post(std::string(kBase) + "/new-account", R"({"termsOfServiceAgreed":true})");
    ASSERT_EQ(res.status, 201) << res.body;
    kid_ = header(res, "Location");
  }

  // Waits (up to 10 s) for the authorization at `url` to leave "pending".
  json settled_authz(const std::string& url) {
    for (int i = 0; i < 1000; ++i) {
      json a = json::parse(post(url, "").body);
      if (a["status"] != "pending") return a;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "authorization " << url << " still pending";
    return {};
  }

  std::filesystem::path db_;
  FakeClock clock_{TimePoint{std::chrono::seconds(1'700'000'000)}};
  std::unique_ptr<store::SqliteInventory> store_;
  UsedIds used_;
  std::shared_ptr<ScriptedValidator> validator_ = std::make_shared<ScriptedValidator>();
  std::vector<size_t> authorized_;
  std::unique_ptr<Service> service_;
  ossl::EvpPkeyPtr key_;
  std::string kid_;
};

TEST_F(AcmeService, BadSignatureWithAValidNonceWritesNothingAndLeavesTheNonceUsable) {
  const std::string url = std::string(kBase) + "/new-account";
  const std::string payload = R"({"termsOfServiceAgreed":true})";
  const std::string n = nonce();
  // Signed by another key than the JWK it carries: the signature fails.
  auto other = keys::generate_key(keys::KeyType::kEcP256);
  ASSERT_TRUE(other);
  for (int i = 0; i < 5; ++i) {
    auto res = send("POST", "/acme/acme/new-account", jws(url, payload, n, other->get()));
    EXPECT_EQ(res.status, 403) << res.body;
    EXPECT_NE(res.body.find("urn:ietf:params:acme:error:unauthorized"), std::string::npos);
  }
  EXPECT_EQ(used_.writes, 0);  // no row for the flood
  auto thumb = jwk_thumbprint(*key_to_jwk(*key_));
  ASSERT_TRUE(thumb);
  auto none = store_->acme_account_by_key("acme", *thumb);
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  // The client holding the key still uses its nonce, once.
  const std::string good = jws(url, payload, n);
  auto res = send("POST", "/acme/acme/new-account", good);
  EXPECT_EQ(res.status, 201) << res.body;
  EXPECT_EQ(used_.writes, 1);
  res = send("POST", "/acme/acme/new-account", good);  // a replay
  EXPECT_EQ(res.status, 400);
  EXPECT_NE(res.body.find("badNonce"), std::string::npos) << res.body;
}

TEST_F(AcmeService, AForgedNonceIsRefusedBeforeAnythingElse) {
  const std::string url = std::string(kBase) + "/new-account";
  auto res = send("POST", "/acme/acme/new-account",
                  jws(url, "{}", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
  EXPECT_EQ(res.status, 400);
  EXPECT_NE(res.body.find("badNonce"), std::string::npos) << res.body;
  EXPECT_EQ(used_.writes, 0);
}

TEST_F(AcmeService, ChallengeOutcomesMoveAuthorizationsAndTheOrder) {
  new_account();
  auto res = post(std::string(kBase) + "/new-order",
                  R"({"identifiers":[{"type":"dns","value":"a.example.test"},)"
                  R"({"type":"dns","value":"b.example.test"}]})");
  ASSERT_EQ(res.status, 201) << res.body;
  ASSERT_EQ(authorized_, std::vector<size_t>{2});  // once, with both names
  const std::string order_url = header(res, "Location");
  json order = json::parse(res.body);
  EXPECT_EQ(order["status"], "pending");
  ASSERT_EQ(order["authorizations"].size(), 2u);
  // Authorizations in identifier order: a., then b.
  const std::string a = order["authorizations"][0], b = order["authorizations"][1];
  json authz = json::parse(post(a, "").body);
  EXPECT_EQ(authz["status"], "pending");
  const std::string chall = authz["challenges"][0]["url"];

  res = post(chall, "{}");
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(json::parse(res.body)["status"], "processing");
  EXPECT_EQ(settled_authz(a)["status"], "valid");
  EXPECT_EQ(json::parse(post(order_url, "").body)["status"], "pending");  // b still pending
  // Started again: nothing happens, the challenge shows its result.
  res = post(chall, "{}");
  EXPECT_EQ(json::parse(res.body)["status"], "valid") << res.body;

  validator_->failing["b.example.test"] = "the body was 12 bytes, not the key authorization";
  json bz = json::parse(post(b, "").body);
  res = post(bz["challenges"][0]["url"].get<std::string>(), "{}");
  ASSERT_EQ(res.status, 200) << res.body;
  bz = settled_authz(b);
  EXPECT_EQ(bz["status"], "invalid");
  EXPECT_EQ(bz["challenges"][0]["status"], "invalid");
  EXPECT_EQ(bz["challenges"][0]["error"]["type"], "urn:ietf:params:acme:error:incorrectResponse");
  order = json::parse(post(order_url, "").body);
  EXPECT_EQ(order["status"], "invalid");
  EXPECT_EQ(order["error"]["type"], "urn:ietf:params:acme:error:incorrectResponse");
  // Finalizing an invalid order: orderNotReady.
  res = post(order_url + "/finalize", R"({"csr":"AAAA"})");
  EXPECT_EQ(res.status, 403);
  EXPECT_NE(res.body.find("orderNotReady"), std::string::npos) << res.body;
  EXPECT_NE(res.body.find("the order is invalid"), std::string::npos) << res.body;
}

TEST_F(AcmeService, EveryAuthorizationValidMakesTheOrderReady) {
  new_account();
  auto res = post(std::string(kBase) + "/new-order",
                  R"({"identifiers":[{"type":"dns","value":"c.example.test"}]})");
  ASSERT_EQ(res.status, 201) << res.body;
  const std::string order_url = header(res, "Location");
  const std::string a = json::parse(res.body)["authorizations"][0];
  json authz = json::parse(post(a, "").body);
  ASSERT_EQ(post(authz["challenges"][0]["url"].get<std::string>(), "{}").status, 200);
  EXPECT_EQ(settled_authz(a)["status"], "valid");
  EXPECT_EQ(json::parse(post(order_url, "").body)["status"], "ready");
  // Deactivating a valid authorization invalidates its ready order.
  res = post(a, R"({"status":"deactivated"})");
  EXPECT_EQ(json::parse(res.body)["status"], "deactivated") << res.body;
  EXPECT_EQ(json::parse(post(order_url, "").body)["status"], "invalid");
  res = post(a, R"({"status":"deactivated"})");  // not again
  EXPECT_EQ(res.status, 400);
}

TEST_F(AcmeService, ARefusedIdentifierIsNamedAndNoOrderIsStored) {
  new_account();
  auto res = post(std::string(kBase) + "/new-order",
                  R"({"identifiers":[{"type":"dns","value":"fine.example.test"},)"
                  R"({"type":"dns","value":"x.refused.test"}]})");
  EXPECT_EQ(res.status, 400);
  json p = json::parse(res.body);
  EXPECT_EQ(p["type"], "urn:ietf:params:acme:error:rejectedIdentifier");
  EXPECT_NE(p["detail"].get<std::string>().find(
                "provisioner 'acme' does not issue for dns identifier 'x.refused.test'"),
            std::string::npos)
      << p;
  auto orders = store_->acme_orders_of(kid_.substr(kid_.rfind('/') + 1), 10);
  ASSERT_TRUE(orders);
  EXPECT_TRUE(orders->empty());
}

TEST_F(AcmeService, AnUnknownStoredStatusIsAServerErrorNotACrash) {
  new_account();
  auto res = post(std::string(kBase) + "/new-order",
                  R"({"identifiers":[{"type":"dns","value":"d.example.test"}]})");
  ASSERT_EQ(res.status, 201) << res.body;
  const std::string order_url = header(res, "Location");
  const std::string order_id = order_url.substr(order_url.rfind('/') + 1);
  auto s = store_->acme_transact([&](store::AcmeTxn& t) -> Status {
    HERALD_TRY(auto row, t.order(order_id));
    json doc = json::parse(row->data);
    doc["status"] = "sideways";
    return t.put_order({order_id, doc.dump()});
  });
  ASSERT_TRUE(s) << s.error().describe();
  res = post(order_url, "");
  EXPECT_EQ(res.status, 500);
  EXPECT_NE(res.body.find("serverInternal"), std::string::npos) << res.body;
  res = post(order_url + "/finalize", R"({"csr":"AAAA"})");
  EXPECT_EQ(res.status, 500) << res.body;
}

TEST_F(AcmeService, AnAlwaysValidValidatorDecidesInTheRequest) {
  Settings settings;
  settings.validator = std::make_shared<AlwaysValid>();
  settings.new_accounts_per_address_per_hour = 0;
  service_->configure({Provisioner{"acme", policy::Profile::kServer, std::nullopt, false}},
                      std::move(settings));
  new_account();
  auto res = post(std::string(kBase) + "/new-order",
                  R"({"identifiers":[{"type":"ip","value":"192.0.2.7"}]})");
  ASSERT_EQ(res.status, 201) << res.body;
  const std::string order_url = header(res, "Location");
  json authz = json::parse(post(json::parse(res.body)["authorizations"][0], "").body);
  res = post(authz["challenges"][0]["url"].get<std::string>(), "{}");
  EXPECT_EQ(json::parse(res.body)["status"], "valid") << res.body;  // at once
  EXPECT_EQ(json::parse(post(order_url, "").body)["status"], "ready");
  EXPECT_TRUE(validator_->calls.empty());
}

}  // namespace
}  // namespace herald::acme
