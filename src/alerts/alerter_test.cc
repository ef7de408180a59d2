#include "alerts/alerter.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "store/open.h"

namespace herald::alerts {
namespace {

using std::chrono::hours;
using std::chrono::seconds;
constexpr int64_t kDay = 86400;
const TimePoint kNow{seconds(1'800'000'000)};

struct Call {
  std::string url, body, signature, attempt, timestamp, ca_pem;
};

store::CertRecord cert(const std::string& serial_hex, TimePoint not_after, store::Labels owner) {
  store::CertRecord r;
  r.serial = *Serial::parse(serial_hex);
  r.issuer_serial = *Serial::parse("01");
  r.subject = "CN=" + serial_hex + ".internal";
  r.common_name = serial_hex + ".internal";
  r.issuer = "CN=Issuing";
  r.not_before = not_after - hours(24 * 90);
  r.not_after = not_after;
  r.key_algorithm = "ec-p256";
  r.key_bits = 256;
  r.signature_algorithm = "ecdsa-with-SHA256";
  r.profile = "server";
  r.fingerprint_sha256 = "FP-" + serial_hex;
  r.owner = std::move(owner);
  r.issued_at = r.not_before;
  r.der = {0x30, 0x00};
  return r;
}

class AlerterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("herald-alerter-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "ops.secret") << "s3cret-ops\n";
    std::ofstream(dir_ / "acme.secret") << "s3cret-partner";
    store_ = open_store();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<store::Store> open_store() {
    store::StoreSpec spec;
    spec.sqlite_path = dir_ / "herald.db";
    auto s = store::open(spec, store::OpenMode::kCreate, clock_);
    EXPECT_TRUE(s) << s.error().describe();
    return std::move(*s);
  }
  AlertsConfig config() {
    AlertsConfig cfg;
    cfg.enabled = true;
    cfg.log = false;
    cfg.max_attempts = 3;
    cfg.retry_initial = std::chrono::milliseconds(1);
    cfg.webhooks = {{"ops", "http://127.0.0.1:1/hook", "ops.secret", ""},
                    {"acme-corp", "http://127.0.0.1:1/partner", "acme.secret", "acme"}};
    return cfg;
  }
  std::unique_ptr<Alerter> alerter(store::Store& s, AlertsConfig cfg, size_t page = 500) {
    Alerter::Wiring w{clock_, s, nullptr,
                      [this](const std::string& url, const std::string& ca_pem,
                             const Headers& headers, const std::string& body,
                             seconds) -> Result<int> {
                        Call c{url, body, "", "", "", ca_pem};
                        for (const auto& [k, v] : headers) {
                          if (k == "X-Herald-Signature") c.signature = v;
                          if (k == "X-Herald-Attempt") c.attempt = v;
                          if (k == "X-Herald-Timestamp") c.timestamp = v;
                        }
                        calls_.push_back(c);
                        if (failures_ > 0) {
                          --failures_;
                          return 503;
                        }
                        return 204;
                      },
                      page};
    auto a = Alerter::create(std::move(cfg), dir_, std::move(w));
    EXPECT_TRUE(a) << a.error().describe();
    return std::move(*a);
  }
  void drain(Alerter& a) {
    for (int i = 0; i < 10 && a.pending() > 0; ++i)
      a.deliver_due(std::chrono::steady_clock::now() + hours(1));
  }

  std::filesystem::path dir_;
  FakeClock clock_{kNow};
  std::unique_ptr<store::Store> store_;
  std::vector<Call> calls_;
  int failures_ = 0;
};

TEST_F(AlerterTest, EachThresholdOnceAcrossRestartsAndSilencesHonoured) {
  ASSERT_TRUE(store_->insert(cert("0A", kNow + seconds(5 * kDay), {{"team", "web"}})));
  ASSERT_TRUE(store_->insert(cert("0B", kNow + seconds(5 * kDay), {{"team", "quiet"}})));
  ASSERT_TRUE(store_->insert(cert("0C", kNow + seconds(100 * kDay), {{"team", "web"}})));
  ASSERT_TRUE(
      store_->add_silence({0, "team", "quiet", "", kNow + hours(24), "maintenance", "test", kNow}));
  auto a = alerter(*store_, config());
  ASSERT_TRUE(a->evaluate(kNow));
  drain(*a);
  ASSERT_EQ(calls_.size(), 1u);  // 0A only: one alert for its tightest threshold (7d)
  auto body = nlohmann::json::parse(calls_[0].body);
  EXPECT_EQ(body["serial"], "0A");
  EXPECT_EQ(body["threshold"], "7d");
  EXPECT_EQ(body["kind"], "expiry");
  EXPECT_EQ(calls_[0].url, "http://127.0.0.1:1/hook");
  // Signed over the timestamp header and the body; a receiver's check passes.
  EXPECT_EQ(calls_[0].timestamp, "1800000000");
  EXPECT_EQ(calls_[0].signature,
            signature_header("s3cret-ops", calls_[0].timestamp, calls_[0].body));
  EXPECT_TRUE(
      verify_signature("s3cret-ops", calls_[0].timestamp, calls_[0].body, calls_[0].signature, kNow));
  EXPECT_FALSE(verify_signature("s3cret-ops", "1800000060", calls_[0].body, calls_[0].signature,
                                kNow + seconds(60)));
  EXPECT_EQ(calls_[0].ca_pem, "");  // no ca_file: the system store

  ASSERT_TRUE(a->evaluate(kNow + seconds(60)));
  drain(*a);
  EXPECT_EQ(calls_.size(), 1u);  // nothing new
  a.reset();
  auto again = alerter(*store_, config());  // a restart: the claims are in the store
  ASSERT_TRUE(again->evaluate(kNow + seconds(120)));
  drain(*again);
  EXPECT_EQ(calls_.size(), 1u);

  // The next threshold (1d) is a new alert; the silence has ended by then,
  // so 0B's alert goes out too.
  clock_.set(kNow + seconds(4 * kDay + 60));
  ASSERT_TRUE(again->evaluate(clock_.now()));
  drain(*again);
  ASSERT_EQ(calls_.size(), 3u);
  std::set<std::string> keys;
  for (size_t i = 1; i < 3; ++i) keys.insert(nlohmann::json::parse(calls_[i].body)["key"]);
  EXPECT_EQ(keys, (std::set<std::string>{"expiry:0A:1d", "expiry:0B:1d"}));
  auto recorded = store_->recent_alerts(10);
  ASSERT_TRUE(recorded);
  EXPECT_EQ(recorded->size(), 3u);
}

TEST_F(AlerterTest, RetriesThenDeadLetter) {
  ASSERT_TRUE(store_->insert(cert("0A", kNow + seconds(2 * kDay), {})));
  failures_ = 2;
  auto a = alerter(*store_, config());
  ASSERT_TRUE(a->evaluate(kNow));
  drain(*a);
  ASSERT_EQ(calls_.size(), 3u);  // failed twice, delivered on the third attempt
  EXPECT_EQ(calls_[2].attempt, "3");
  EXPECT_EQ(calls_[0].body, calls_[2].body);
  EXPECT_TRUE(store_->dead_letters(10)->empty());

  ASSERT_TRUE(store_->insert(cert("0B", kNow + seconds(2 * kDay), {})));
  failures_ = 100;
  ASSERT_TRUE(a->evaluate(kNow));
  drain(*a);
  EXPECT_EQ(calls_.size(), 6u);  // max_attempts = 3
  auto dead = store_->dead_letters(10);
  ASSERT_TRUE(dead);
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].target, "ops");
  EXPECT_EQ((*dead)[0].attempts, 3);
  EXPECT_EQ((*dead)[0].last_error, "HTTP 503");
  EXPECT_EQ(a->pending(), 0u);
}

TEST_F(AlerterTest, PartnerGetsItsRevocationsOnly) {
  ASSERT_TRUE(store_->insert(cert("0A", kNow + seconds(200 * kDay), {{"partner", "acme"}})));
  ASSERT_TRUE(store_->insert(cert("0B", kNow + seconds(200 * kDay), {{"partner", "other"}})));
  ASSERT_TRUE(store_->revoke(*Serial::parse("0A"), x509::RevocationReason::kKeyCompromise, kNow));
  ASSERT_TRUE(store_->revoke(*Serial::parse("0B"), x509::RevocationReason::kKeyCompromise, kNow));
  auto a = alerter(*store_, config());
  a->handle_revoked(*Serial::parse("0A"), kNow);
  a->handle_revoked(*Serial::parse("0B"), kNow);
  a->handle_revoked(*Serial::parse("0A"), kNow);  // seen again (another node): once
  drain(*a);
  ASSERT_EQ(calls_.size(), 1u);
  EXPECT_EQ(calls_[0].url, "http://127.0.0.1:1/partner");
  EXPECT_EQ(calls_[0].signature,
            signature_header("s3cret-partner", calls_[0].timestamp, calls_[0].body));
  auto body = nlohmann::json::parse(calls_[0].body);
  EXPECT_EQ(body["kind"], "revocation");
  EXPECT_EQ(body["partner"], "acme");
  EXPECT_EQ(body["serial"], "0A");
}

TEST_F(AlerterTest, PartnersHearOfEachCaCertificateOnce) {
  auto cfg = config();
  Alerter::Wiring w{clock_,
                    *store_,
                    nullptr,
                    [this](const std::string& url, const std::string&, const Headers&,
                           const std::string& body, seconds) -> Result<int> {
                      calls_.push_back({url, body, "", "", "", ""});
                      return 204;
                    },
                    500,
                    {{"issuing", "1F", "CN=Issuing", "AB:CD", kNow + hours(24 * 365), "PEM1"}}};
  auto a = Alerter::create(cfg, dir_, w);
  ASSERT_TRUE(a);
  ASSERT_TRUE((*a)->evaluate(kNow));
  ASSERT_TRUE((*a)->evaluate(kNow));
  drain(**a);
  ASSERT_EQ(calls_.size(), 1u);
  EXPECT_EQ(calls_[0].url, "http://127.0.0.1:1/partner");
  auto body = nlohmann::json::parse(calls_[0].body);
  EXPECT_EQ(body["kind"], "ca_certificate");
  EXPECT_EQ(body["pem"], "PEM1");
  // A rotation: the new issuing CA is announced, the old one not again.
  w.cas.push_back({"issuing", "2F", "CN=Issuing 2", "EF:01", kNow + hours(24 * 730), "PEM2"});
  auto b = Alerter::create(cfg, dir_, w);
  ASSERT_TRUE(b);
  ASSERT_TRUE((*b)->evaluate(kNow));
  drain(**b);
  ASSERT_EQ(calls_.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(calls_[1].body)["serial"], "2F");
}

TEST_F(AlerterTest, QueueIsBoundedAndSecretsAreRequired) {
  auto cfg = config();
  cfg.max_pending = 1;
  for (const char* s : {"0A", "0B", "0C"})
    ASSERT_TRUE(store_->insert(cert(s, kNow + seconds(2 * kDay), {})));
  auto a = alerter(*store_, cfg);
  ASSERT_TRUE(a->evaluate(kNow));
  EXPECT_EQ(a->pending(), 1u);
  EXPECT_EQ(a->dropped(), 2u);

  auto bad = config();
  bad.webhooks[0].secret_file = "missing.secret";
  auto r = Alerter::create(bad, dir_, Alerter::Wiring{clock_, *store_, nullptr, nullptr, 500});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("missing.secret"), std::string::npos);
}

TEST_F(AlerterTest, EvaluatesPageByPageWithoutMissingOrRepeating) {
  // Seven certificates, two sharing a notAfter, read two at a time.
  const char* serials[] = {"0A", "0B", "0C", "0D", "0E", "0F", "1A"};
  for (int i = 0; i < 7; ++i)
    ASSERT_TRUE(store_->insert(cert(serials[i], kNow + seconds((2 + i / 2) * kDay), {})));
  // Own certificates of herald serve never alert.
  auto own = cert("2A", kNow + seconds(2 * kDay), {{"service", "herald-serve"}});
  ASSERT_TRUE(store_->insert(own));
  auto cfg = config();
  cfg.webhooks.pop_back();
  auto a = alerter(*store_, cfg, 2);
  ASSERT_TRUE(a->evaluate(kNow));
  drain(*a);
  std::set<std::string> seen;
  for (const auto& c : calls_) seen.insert(nlohmann::json::parse(c.body)["serial"]);
  EXPECT_EQ(calls_.size(), 7u);
  EXPECT_EQ(seen, (std::set<std::string>{"0A", "0B", "0C", "0D", "0E", "0F", "1A"}));
}

TEST_F(AlerterTest, CaFileIsReadAndPassedToTheTransport) {
  std::ofstream(dir_ / "internal-ca.pem")
      << "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  std::ofstream(dir_ / "not-a-ca.pem") << "hello\n";
  ASSERT_TRUE(store_->insert(cert("0A", kNow + seconds(5 * kDay), {})));
  auto cfg = config();
  cfg.webhooks.pop_back();
  cfg.webhooks[0].url = "https://127.0.0.1:1/hook";
  cfg.webhooks[0].ca_file = "internal-ca.pem";  // relative to the data dir
  auto a = alerter(*store_, cfg);
  ASSERT_TRUE(a->evaluate(kNow));
  drain(*a);
  ASSERT_EQ(calls_.size(), 1u);
  EXPECT_NE(calls_[0].ca_pem.find("BEGIN CERTIFICATE"), std::string::npos);

  for (const char* bad : {"missing.pem", "not-a-ca.pem"}) {
    cfg.webhooks[0].ca_file = bad;
    auto r = Alerter::create(cfg, dir_, Alerter::Wiring{clock_, *store_, nullptr, nullptr, 500});
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find(bad), std::string::npos) << r.error().message;
  }
}

TEST_F(AlerterTest, ReloadCarriesPendingRetriesOverAndDeadLettersOnlyRemovedWebhooks) {
  ASSERT_TRUE(store_->insert(cert("0A", kNow + seconds(5 * kDay), {})));
  auto cfg = config();
  cfg.max_attempts = 5;
  cfg.webhooks = {{"ops", "http://127.0.0.1:1/hook", "ops.secret", ""},
                  {"audit", "http://127.0.0.1:1/audit", "ops.secret", ""},
                  {"acme-corp", "http://127.0.0.1:1/partner", "acme.secret", "acme"}};
  auto old = alerter(*store_, cfg);
  failures_ = 2;  // both webhooks fail once: each delivery waits for its retry
  ASSERT_TRUE(old->evaluate(kNow));
  old->deliver_due(std::chrono::steady_clock::now());
  ASSERT_EQ(calls_.size(), 2u);
  ASSERT_EQ(old->pending(), 2u);

  // The new configuration drops "audit", keeps "ops" (with a new URL).
  auto next_cfg = cfg;
  next_cfg.webhooks = {{"ops", "http://127.0.0.1:1/hook-v2", "ops.secret", ""},
                       {"acme-corp", "http://127.0.0.1:1/partner", "acme.secret", "acme"}};
  auto next = alerter(*store_, next_cfg);
  EXPECT_EQ(old->hand_over(*next), 1u);
  EXPECT_EQ(next->pending(), 1u);
  EXPECT_EQ(old->pending(), 1u);
  old.reset();  // what was left: a dead letter, for "audit" only
  auto dead = store_->dead_letters(10);
  ASSERT_TRUE(dead) << dead.error().describe();
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].target, "audit");
  EXPECT_NE((*dead)[0].last_error.find("removed from the configuration"), std::string::npos);

  // The carried delivery keeps its attempt count and goes to the new URL.
  drain(*next);
  ASSERT_EQ(calls_.size(), 3u);
  EXPECT_EQ(calls_[2].url, "http://127.0.0.1:1/hook-v2");
  EXPECT_EQ(calls_[2].attempt, "2");
  EXPECT_EQ(nlohmann::json::parse(calls_[2].body)["serial"], "0A");
  EXPECT_EQ(next->pending(), 0u);
  next.reset();
  dead = store_->dead_letters(10);
  ASSERT_TRUE(dead);
  EXPECT_EQ(dead->size(), 1u);  // nothing more
}

TEST_F(AlerterTest, HandOverWakesTheRunningWorkerOfTheNewAlerter) {
  ASSERT_TRUE(store_->insert(cert("0A", kNow + seconds(5 * kDay), {})));
  auto cfg = config();
  cfg.webhooks.pop_back();
  cfg.interval = std::chrono::hours(1);  // no evaluation would wake it
  auto old = alerter(*store_, cfg);
  failures_ = 1;
  ASSERT_TRUE(old->evaluate(kNow));
  old->deliver_due(std::chrono::steady_clock::now());
  ASSERT_EQ(old->pending(), 1u);
  auto next = alerter(*store_, cfg);
  next->start();
  ASSERT_EQ(old->hand_over(*next), 1u);
  for (int i = 0; i < 500 && next->pending() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(next->pending(), 0u);
  next.reset();
  ASSERT_EQ(calls_.size(), 2u);
  EXPECT_EQ(calls_[1].attempt, "2");
}

}  // namespace
}  // namespace herald::alerts
