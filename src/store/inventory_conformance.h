#pragma once
// The behaviour every Inventory adapter must show. An adapter's test file
// includes this header and instantiates the suite with its factory:
//   INSTANTIATE_TEST_SUITE_P(Sqlite, InventoryConformance, ::testing::Values(factory));

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "store/inventory.h"
#include "store/overview.h"

namespace herald::store::testing {

using InventoryFactory = std::function<std::unique_ptr<Inventory>()>;

inline CertRecord record(std::string serial_hex, std::string issuer_hex, int64_t not_after) {
  CertRecord r;
  r.serial = *Serial::parse(serial_hex);
  r.issuer_serial = *Serial::parse(issuer_hex);
  r.subject = "CN=" + serial_hex + ".internal";
  r.common_name = serial_hex + ".internal";
  r.sans = {*x509::parse_san("dns:" + serial_hex + ".internal"), *x509::parse_san("ip:10.0.0.1")};
  r.issuer = "CN=Issuing";
  r.not_before = TimePoint{std::chrono::seconds(1000)};
  r.not_after = TimePoint{std::chrono::seconds(not_after)};
  r.key_algorithm = "ec-p256";
  r.key_bits = 256;
  r.signature_algorithm = "ecdsa-with-SHA256";
  r.ext_key_usage = {"serverAuth"};
  r.profile = "server";
  r.fingerprint_sha256 = "FP-" + serial_hex;
  r.owner = {{"team", "payments"}, {"env", "prod"}};
  r.issued_at = TimePoint{std::chrono::seconds(1000)};
  r.der = {0x30, 0x00};
  return r;
}

class InventoryConformance : public ::testing::TestWithParam<InventoryFactory> {
 protected:
  void SetUp() override { inv_ = GetParam()(); }
  std::unique_ptr<Inventory> inv_;
};

TEST_P(InventoryConformance, InsertFindRoundTrip) {
  auto r = record("0A", "01", 5000);
  ASSERT_TRUE(inv_->insert(r));
  auto found = inv_->find(*Serial::parse("0a"));
  ASSERT_TRUE(found);
  ASSERT_TRUE(found->has_value());
  const CertRecord& f = **found;
  EXPECT_EQ(f.serial, r.serial);
  EXPECT_EQ(f.issuer_serial, r.issuer_serial);
  EXPECT_EQ(f.sans, r.sans);
  EXPECT_EQ(f.owner, r.owner);
  EXPECT_EQ(f.ext_key_usage, r.ext_key_usage);
  EXPECT_EQ(f.not_after, r.not_after);
  EXPECT_EQ(f.der, r.der);
  EXPECT_EQ(f.status, CertStatus::kValid);
  EXPECT_FALSE(inv_->find(*Serial::parse("0B"))->has_value());
  EXPECT_EQ(*inv_->status(*Serial::parse("0A")), CertStatus::kValid);
  EXPECT_FALSE(inv_->status(*Serial::parse("0B"))->has_value());
  auto st = **inv_->revocation_state(*Serial::parse("0A"));
  EXPECT_EQ(st.issuer_serial, r.issuer_serial);
  EXPECT_EQ(st.status, CertStatus::kValid);
  EXPECT_FALSE(st.revoked_at.has_value());
  EXPECT_FALSE(st.reason.has_value());
}

TEST_P(InventoryConformance, DuplicateSerialIsRefusedAndCountUnchanged) {
  ASSERT_TRUE(inv_->insert(record("0A", "01", 5000)));
  auto dup = record("0A", "01", 5000);
  dup.fingerprint_sha256 = "other";
  auto s = inv_->insert(dup);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(*inv_->count(), 1);
}

TEST_P(InventoryConformance, RevokeHoldReleaseAndConflicts) {
  using x509::RevocationReason;
  ASSERT_TRUE(inv_->insert(record("0A", "01", 5000)));
  TimePoint t{std::chrono::seconds(2000)};
  auto unknown = inv_->revoke(*Serial::parse("FF"), RevocationReason::kKeyCompromise, t);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);

  ASSERT_TRUE(inv_->revoke(*Serial::parse("0A"), RevocationReason::kCertificateHold, t));
  EXPECT_EQ(inv_->revoke(*Serial::parse("0A"), RevocationReason::kCertificateHold, t).error().code,
            ErrorCode::kConflict);
  ASSERT_TRUE(inv_->release_hold(*Serial::parse("0A")));
  EXPECT_EQ(inv_->release_hold(*Serial::parse("0A")).error().code, ErrorCode::kConflict);

  ASSERT_TRUE(inv_->revoke(*Serial::parse("0A"), RevocationReason::kCertificateHold, t));
  ASSERT_TRUE(inv_->revoke(*Serial::parse("0A"), RevocationReason::kKeyCompromise,
                           t));  // hold made permanent
  auto again = inv_->revoke(*Serial::parse("0A"), RevocationReason::kSuperseded, t);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  EXPECT_EQ(*inv_->status(*Serial::parse("0A")), CertStatus::kRevoked);
  auto rec = **inv_->find(*Serial::parse("0A"));
  EXPECT_EQ(rec.status, CertStatus::kRevoked);
  EXPECT_EQ(rec.revocation_reason, RevocationReason::kKeyCompromise);
  EXPECT_EQ(rec.revoked_at, t);
  auto st = **inv_->revocation_state(*Serial::parse("0A"));
  EXPECT_EQ(st.issuer_serial, *Serial::parse("01"));
  EXPECT_EQ(st.status, CertStatus::kRevoked);
  EXPECT_EQ(st.reason, RevocationReason::kKeyCompromise);
  EXPECT_EQ(st.revoked_at, t);
  EXPECT_FALSE(inv_->revocation_state(*Serial::parse("FF"))->has_value());
}

TEST_P(InventoryConformance, RevokedByIssuerSkipsExpiredAndOthers) {
  using x509::RevocationReason;
  ASSERT_TRUE(inv_->insert(record("0A", "01", 5000)));
  ASSERT_TRUE(inv_->insert(record("0B", "01", 1500)));  // expires before `now`
  ASSERT_TRUE(inv_->insert(record("0C", "02", 5000)));  // other issuer
  ASSERT_TRUE(inv_->insert(record("0D", "01", 5000)));  // not revoked
  TimePoint t{std::chrono::seconds(1200)};
  for (auto s : {"0A", "0B", "0C"})
    ASSERT_TRUE(inv_->revoke(*Serial::parse(s), RevocationReason::kSuperseded, t));
  auto entries = inv_->revoked_by(*Serial::parse("01"), TimePoint{std::chrono::seconds(2000)});
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].serial.hex(), "0A");
  EXPECT_EQ((*entries)[0].reason, RevocationReason::kSuperseded);
}

TEST_P(InventoryConformance, CountExpiringSkipsRevokedExpiredAndTheServersOwn) {
  ASSERT_TRUE(inv_->insert(record("01", "AA", 5000)));
  ASSERT_TRUE(inv_->insert(record("02", "AA", 9000)));
  ASSERT_TRUE(inv_->insert(record("03", "AA", 5000)));
  auto own = record("04", "AA", 5000);
  own.owner = {{"service", "herald-serve"}};
  ASSERT_TRUE(inv_->insert(own));
  auto signer = record("05", "AA", 5000);
  signer.profile = "ocsp-signer";
  ASSERT_TRUE(inv_->insert(signer));
  ASSERT_TRUE(inv_->insert(record("06", "AA", 1500)));  // expired at t=2000
  ASSERT_TRUE(inv_->revoke(*Serial::parse("03"), x509::RevocationReason::kKeyCompromise,
                           TimePoint{std::chrono::seconds(1500)}));
  const TimePoint now{std::chrono::seconds(2000)};
  EXPECT_EQ(*inv_->count_expiring(now, TimePoint{std::chrono::seconds(6000)}), 1);
  EXPECT_EQ(*inv_->count_expiring(now, TimePoint{std::chrono::seconds(10000)}), 2);
}

TEST_P(InventoryConformance, ListFilters) {
  ASSERT_TRUE(inv_->insert(record("0A", "01", 5000)));
  auto b = record("0B", "01", 100000);
  b.profile = "client";
  b.owner = {{"team", "search"}};
  ASSERT_TRUE(inv_->insert(b));
  ASSERT_TRUE(inv_->insert(record("0C", "01", 1500)));
  ASSERT_TRUE(inv_->revoke(*Serial::parse("0C"), x509::RevocationReason::kUnspecified,
                           TimePoint{std::chrono::seconds(1100)}));
  TimePoint now{std::chrono::seconds(2000)};
  auto serials = [&](ListFilter f) {
    f.now = now;
    std::vector<std::string> out;
    auto records = inv_->list(f);
    EXPECT_TRUE(records);
    for (auto& r : *records) out.push_back(r.serial.hex());
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(serials({}), (V{"0C", "0A", "0B"}));
  EXPECT_EQ(serials({.profile = "client"}), V{"0B"});
  EXPECT_EQ(serials({.status = "revoked"}), V{"0C"});
  EXPECT_EQ(serials({.status = "valid"}), (V{"0A", "0B"}));
  EXPECT_EQ(serials({.expiring_before = now + std::chrono::seconds(5000)}), V{"0A"});
  EXPECT_EQ(serials({.owner = {{"team", "search"}}}), V{"0B"});
  EXPECT_EQ(serials({.owner = {{"team", "payments"}, {"env", "prod"}}}), (V{"0C", "0A"}));
  EXPECT_EQ(serials({.owner = {{"team", "nobody"}}}), V{});
  auto expired = record("0E", "01", 1800);
  ASSERT_TRUE(inv_->insert(expired));
  EXPECT_EQ(serials({.status = "expired"}), V{"0E"});
}

TEST_P(InventoryConformance, RevocationFeedOrdersChanges) {
  using x509::RevocationReason;
  EXPECT_EQ(*inv_->last_revocation_id(), 0);
  ASSERT_TRUE(inv_->insert(record("0A", "01", 5000)));
  ASSERT_TRUE(inv_->insert(record("0B", "01", 5000)));
  TimePoint t{std::chrono::seconds(1500)};
  ASSERT_TRUE(inv_->revoke(*Serial::parse("0B"), RevocationReason::kCertificateHold, t));
  ASSERT_TRUE(inv_->revoke(*Serial::parse("0A"), RevocationReason::kSuperseded, t));
  ASSERT_TRUE(inv_->release_hold(*Serial::parse("0B")));
  auto all = inv_->revocations_since(0, 100);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].serial.hex(), "0B");
  EXPECT_EQ((*all)[1].serial.hex(), "0A");
  EXPECT_EQ((*all)[2].serial.hex(), "0B");
  EXPECT_LT((*all)[0].id, (*all)[1].id);
  EXPECT_EQ(*inv_->last_revocation_id(), (*all)[2].id);
  EXPECT_EQ(inv_->revocations_since((*all)[1].id, 100)->size(), 1u);
  EXPECT_EQ(inv_->revocations_since(0, 1)->size(), 1u);
}

TEST_P(InventoryConformance, ListBySanAndPages) {
  for (auto s : {"0A", "0B", "0C"}) ASSERT_TRUE(inv_->insert(record(s, "01", 5000)));
  ListFilter f;
  f.now = TimePoint{std::chrono::seconds(2000)};
  f.san_label_prefix = "0b.internal";
  auto r = inv_->list(f);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].serial.hex(), "0B");
  ListFilter page;
  page.now = f.now;
  page.limit = 2;
  page.offset = 2;
  auto p = inv_->list(page);
  ASSERT_TRUE(p);
  ASSERT_EQ(p->size(), 1u);
  EXPECT_EQ((*p)[0].serial.hex(), "0C");
}

// The SAN search (issue #14): some SAN has a part starting at a label
// boundary ('.', '@', '/', ':') that begins with the term, lower-cased; not
// a substring. The count (OverviewStore::count_matching) agrees with the
// listing, limited or not.
TEST_P(InventoryConformance, SanSearchByLabelBoundaryPrefix) {
  auto a = record("0A", "01", 5000);
  a.sans = {*x509::parse_san("dns:api.eu.example.com")};
  auto b = record("0B", "01", 5100);
  b.sans = {*x509::parse_san("dns:x.api.example.com"), *x509::parse_san("dns:www.example.com")};
  b.owner = {{"team", "payments"}, {"env", "dev"}};
  auto c = record("0C", "01", 5200);
  c.sans = {*x509::parse_san("dns:apix.other.net"), *x509::parse_san("ip:192.168.7.3"),
            *x509::parse_san("uri:spiffe://prod.example.org/ns/web/sa/api")};
  c.owner = {{"team", "search"}, {"env", "prod"}};
  auto d = record("0D", "01", 5300);
  d.sans = {*x509::parse_san("email:Alice@Mail.Example.net")};
  for (const auto& r : {a, b, c, d}) ASSERT_TRUE(inv_->insert(r));
  auto* overview = dynamic_cast<OverviewStore*>(inv_.get());
  ASSERT_NE(overview, nullptr);
  auto found = [&](std::string term, Labels owner = {}) {
    ListFilter f;
    f.now = TimePoint{std::chrono::seconds(2000)};
    f.san_label_prefix = term;
    f.owner = owner;
    std::string serials;
    auto all = inv_->list(f);
    EXPECT_TRUE(all) << term;
    if (!all) return serials;
    for (const auto& r : *all) serials += (serials.empty() ? "" : " ") + r.serial.hex();
    EXPECT_EQ(*overview->count_matching(f), static_cast<int64_t>(all->size())) << term;
    f.limit = 2;
    auto page = inv_->list(f);
    EXPECT_TRUE(page) << term;
    if (page) {
      EXPECT_EQ(page->size(), std::min<size_t>(all->size(), 2)) << term;
    }
    return serials;
  };
  // Everything under a domain (its suffix), once per certificate.
  EXPECT_EQ(found("example.com"), "0A 0B");
  EXPECT_EQ(found("com"), "0A 0B");
  // A prefix at any label boundary; the name itself.
  EXPECT_EQ(found("api."), "0A 0B");
  EXPECT_EQ(found("api"), "0A 0B 0C");  // apix.other.net, and the URI's .../sa/api
  EXPECT_EQ(found("eu.exam"), "0A");
  EXPECT_EQ(found("api.eu.example.com"), "0A");
  EXPECT_EQ(found("dns:api.eu.example.com"), "0A");
  EXPECT_EQ(found("API.EU.Example.COM"), "0A");
  // Not from the middle of a label, not past the name.
  EXPECT_EQ(found("xample.com"), "");
  EXPECT_EQ(found("pi.eu"), "");
  EXPECT_EQ(found("api.eu.example.com.x"), "");
  EXPECT_EQ(found("\xFF"), "");
  // IP addresses, URIs and e-mail addresses by their parts.
  EXPECT_EQ(found("192.168"), "0C");
  EXPECT_EQ(found("7.3"), "0C");
  EXPECT_EQ(found("ip:192.168.7.3"), "0C");
  EXPECT_EQ(found("prod.example.org"), "0C");
  EXPECT_EQ(found("ns/web"), "0C");
  EXPECT_EQ(found("spiffe://prod."), "0C");
  EXPECT_EQ(found("alice@mail.example.net"), "0D");
  EXPECT_EQ(found("alice@"), "0D");
  EXPECT_EQ(found("mail.example.net"), "0D");
  EXPECT_EQ(found("example"), "0A 0B 0C 0D");  // .com, .org, .net
  // With owner labels: every label must match.
  EXPECT_EQ(found("example", {{"env", "prod"}}), "0A 0C 0D");
  EXPECT_EQ(found("example.com", {{"team", "payments"}, {"env", "prod"}}), "0A");
  EXPECT_EQ(found("example.com", {{"team", "payments"}}), "0A 0B");
}

TEST_P(InventoryConformance, OwnerAndProfileFiltersCountAsTheyList) {
  for (auto s : {"0A", "0B", "0C", "0D", "0E"}) ASSERT_TRUE(inv_->insert(record(s, "01", 5000)));
  auto other = record("0F", "01", 4000);
  other.owner = {{"team", "payments"}, {"env", "dev"}};
  other.profile = "client";
  ASSERT_TRUE(inv_->insert(other));
  auto* overview = dynamic_cast<OverviewStore*>(inv_.get());
  ASSERT_NE(overview, nullptr);
  auto check = [&](ListFilter f, int64_t want) {
    f.now = TimePoint{std::chrono::seconds(2000)};
    auto all = inv_->list(f);
    ASSERT_TRUE(all);
    EXPECT_EQ(static_cast<int64_t>(all->size()), want);
    EXPECT_EQ(*overview->count_matching(f), want);
    for (const auto& r : *all) {
      for (const auto& [k, v] : f.owner) EXPECT_EQ(r.owner.at(k), v);
      if (f.profile) {
        EXPECT_EQ(r.profile, *f.profile);
      }
    }
    f.limit = 2;
    auto page = inv_->list(f);
    ASSERT_TRUE(page);
    EXPECT_EQ(static_cast<int64_t>(page->size()), std::min<int64_t>(want, 2));
    // Ordered by notAfter, then serial.
    if (page->size() == 2) {
      EXPECT_TRUE((*page)[0].not_after < (*page)[1].not_after ||
                  ((*page)[0].not_after == (*page)[1].not_after &&
                   (*page)[0].serial.hex() < (*page)[1].serial.hex()));
    }
  };
  ListFilter f;
  f.owner = {{"team", "payments"}};
  check(f, 6);
  f.owner = {{"team", "payments"}, {"env", "prod"}};
  check(f, 5);
  f.owner = {{"team", "payments"}, {"env", "dev"}};
  check(f, 1);
  f.owner = {{"team", "payments"}, {"env", "test"}};
  check(f, 0);
  f.owner = {{"env", "prod"}, {"team", "nobody"}};
  check(f, 0);
  f.owner = {};
  f.profile = "server";
  check(f, 5);
  f.profile = "client";
  check(f, 1);
  f.owner = {{"env", "prod"}};
  check(f, 0);
}

// By issuer, and keyset paging: each page starts after the last record of
// the one before, in (not_after, serial) order, ties included.
TEST_P(InventoryConformance, ListByIssuerAndKeysetPages) {
  for (auto s : {"0A", "0B", "0C", "0D"}) ASSERT_TRUE(inv_->insert(record(s, "01", 5000)));
  ASSERT_TRUE(inv_->insert(record("0E", "01", 4000)));
  ASSERT_TRUE(inv_->insert(record("0F", "02", 4500)));
  ListFilter f;
  f.now = TimePoint{std::chrono::seconds(2000)};
  f.issuer = *Serial::parse("01");
  f.limit = 2;
  std::vector<std::string> seen;
  for (int page = 0; page < 10; ++page) {
    auto r = inv_->list(f);
    ASSERT_TRUE(r);
    if (r->empty()) break;
    for (const auto& rec : *r) seen.push_back(rec.serial.hex());
    f.after = std::make_pair(r->back().not_after, r->back().serial);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"0E", "0A", "0B", "0C", "0D"}));
}

TEST_P(InventoryConformance, ConcurrentInsertsAllLandAndDuplicatesFailAlone) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0}, dup{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        // Every thread also tries serial 0F: exactly one of those may succeed.
        char hex[16];
        std::snprintf(hex, sizeof hex, "%02X%02X", t + 1, i + 1);
        auto r = record(i == 20 ? std::string("0F") : std::string(hex), "01", 5000);
        if (i == 20) r.fingerprint_sha256 = "FP-0F-" + std::to_string(t);
        auto s = inv_->insert(r);
        if (s) {
          ++ok;
        } else {
          EXPECT_EQ(s.error().code, ErrorCode::kAlreadyExists);
          ++dup;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok, 8 * 39 + 1);
  EXPECT_EQ(dup, 7);
  EXPECT_EQ(*inv_->count(), 8 * 39 + 1);
}

TEST_P(InventoryConformance, InsertBatchRoundTrips) {
  std::vector<CertRecord> batch = {record("0A", "01", 5000), record("0B", "01", 6000),
                                   record("0C", "01", 7000)};
  batch[1].status = CertStatus::kRevoked;
  batch[1].revoked_at = TimePoint{std::chrono::seconds(2000)};
  batch[1].revocation_reason = x509::RevocationReason::kKeyCompromise;
  batch[2].owner = {{"team", "search"}};
  ASSERT_TRUE(inv_->insert_batch(batch));
  EXPECT_EQ(*inv_->count(), 3);
  for (const auto& r : batch) {
    auto found = inv_->find(r.serial);
    ASSERT_TRUE(found && found->has_value()) << r.serial.hex();
    EXPECT_EQ((*found)->sans, r.sans);
    EXPECT_EQ((*found)->owner, r.owner);
    EXPECT_EQ((*found)->der, r.der);
    EXPECT_EQ((*found)->status, r.status);
  }
  auto st = **inv_->revocation_state(*Serial::parse("0B"));
  EXPECT_EQ(st.status, CertStatus::kRevoked);
  EXPECT_EQ(st.revoked_at, batch[1].revoked_at);
  EXPECT_EQ(st.reason, x509::RevocationReason::kKeyCompromise);
  auto revoked = *inv_->revoked_by(*Serial::parse("01"), TimePoint{std::chrono::seconds(3000)});
  ASSERT_EQ(revoked.size(), 1u);
  ListFilter f;
  f.now = TimePoint{std::chrono::seconds(3000)};
  f.owner = {{"team", "payments"}};
  EXPECT_EQ(inv_->list(f)->size(), 2u);
  // The batch path writes the SAN search keys as insert() does.
  f.owner = {};
  f.san_label_prefix = "0c.internal";
  auto by_name = inv_->list(f);
  ASSERT_TRUE(by_name);
  ASSERT_EQ(by_name->size(), 1u);
  EXPECT_EQ((*by_name)[0].serial.hex(), "0C");
  EXPECT_TRUE(inv_->insert_batch({}));
  EXPECT_EQ(*inv_->count(), 3);
}

TEST_P(InventoryConformance, InsertBatchWithATakenSerialWritesNothing) {
  ASSERT_TRUE(inv_->insert(record("0A", "01", 5000)));
  auto dup = record("0A", "01", 5000);
  dup.fingerprint_sha256 = "other";
  std::vector<CertRecord> batch = {record("0B", "01", 5000), dup, record("0C", "01", 5000)};
  auto s = inv_->insert_batch(batch);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(*inv_->count(), 1);
  EXPECT_FALSE(inv_->find(*Serial::parse("0B"))->has_value());
  // A serial twice in the same batch.
  auto twice = record("0D", "01", 5000);
  twice.fingerprint_sha256 = "FP-0D-2";
  batch = {record("0D", "01", 5000), twice};
  s = inv_->insert_batch(batch);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(*inv_->count(), 1);
  // The store takes the next batch as if nothing had happened.
  batch = {record("0B", "01", 5000), record("0C", "01", 5000)};
  ASSERT_TRUE(inv_->insert_batch(batch));
  EXPECT_EQ(*inv_->count(), 3);
}

TEST_P(InventoryConformance, CrlNumbersAreMonotonicPerCa) {
  EXPECT_EQ(*inv_->next_crl_number("issuing"), 1u);
  EXPECT_EQ(*inv_->next_crl_number("issuing"), 2u);
  EXPECT_EQ(*inv_->next_crl_number("root"), 1u);
  EXPECT_EQ(*inv_->next_crl_number("issuing"), 3u);
}

}  // namespace herald::store::testing
