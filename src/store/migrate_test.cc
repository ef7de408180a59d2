#include "store/migrate.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "store/inventory_conformance.h"
#include "store/open.h"

namespace herald::store {
namespace testing {
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(InventoryConformance);  // only record() is used here
}  // namespace testing
namespace {

const FakeClock& clock() {
  static FakeClock c{TimePoint{std::chrono::seconds(100000)}};
  return c;
}

std::unique_ptr<Store> temp_store(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("herald-migrate-test-" + std::to_string(::getpid()) + "-" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  StoreSpec spec;
  spec.sqlite_path = dir / "herald.db";
  return std::move(*open(spec, OpenMode::kCreate, clock()));
}

TEST(Migrate, MovesEverythingButOrdersAndChecksTheCounts) {
  auto from = temp_store("from");
  auto to = temp_store("to");
  for (const char* s : {"0A", "0B", "0C", "0D"}) ASSERT_TRUE(from->insert(testing::record(s, "01", 90000)));
  const TimePoint t{std::chrono::seconds(50000)};
  ASSERT_TRUE(from->revoke(*Serial::parse("0B"), x509::RevocationReason::kKeyCompromise, t));
  ASSERT_TRUE(from->revoke(*Serial::parse("0C"), x509::RevocationReason::kCertificateHold, t));
  ASSERT_TRUE(from->add_token({0, "admin", "laptop", "aa11", t, false}));
  auto gone = from->add_token({0, "admin", "old", "bb22", t, false});
  ASSERT_TRUE(gone && from->revoke_token(*gone));
  ASSERT_TRUE(from->acme_insert_eab({"kid-free", "acme", "c2VjcmV0", t, ""}));
  ASSERT_TRUE(from->acme_insert_eab({"kid-used", "acme", "c2VjcmV0", t, ""}));
  ASSERT_TRUE(from->acme_insert_account_with_eab("acct", "acme", "thumb", R"({"provisioner":"acme"})",
                                                 t, "kid-used"));
  ASSERT_TRUE(from->acme_insert_account("acct2", "acme", "thumb2", R"({"n":2})", t));
  ASSERT_TRUE(from->acme_insert_order({"o1", "acct2", "{}", {{"z1", "{}"}}, {"dns:a.internal"}, t}, {}));
  ASSERT_TRUE(from->record_audit("trust_import", R"({"name":"partner"})"));
  // One-time tokens: one used and unexpired at the move, one expired by then.
  ASSERT_TRUE(from->use_token_id("jti-live", clock().now() + std::chrono::seconds(300), t));
  ASSERT_TRUE(from->use_token_id("jti-old", clock().now() - std::chrono::seconds(1), t));
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(from->next_crl_number("issuing"));
  // herald scan's sightings: 0A deployed (seen twice), a foreign leaf.
  auto sight = [&](std::string endpoint, std::string fingerprint, std::string serial, int64_t at) {
    Sighting s;
    s.endpoint = std::move(endpoint);
    s.leaf.fingerprint_sha256 = std::move(fingerprint);
    s.leaf.serial_hex = std::move(serial);
    s.leaf.subject = "CN=x";
    s.leaf.not_after = TimePoint{std::chrono::seconds(90000)};
    s.leaf.der = {0x30, 0x00};
    s.leaf.key_algorithm = "rsa-2048";
    s.chain_der = {s.leaf.der};
    s.problems = {{"expired", "it expired"}};
    s.at = TimePoint{std::chrono::seconds(at)};
    return from->record_sighting(s);
  };
  ASSERT_TRUE(sight("10.0.0.1:443", "FP-0A", "0A", 1000));
  ASSERT_TRUE(sight("10.0.0.1:443", "FP-0A", "0A", 3000));
  ASSERT_TRUE(sight("10.0.0.2:443", "FP-OTHER", "99", 2000));
  auto source_audit = *from->audit_records(0, 100);

  auto report = migrate(*from, *to, clock().now());
  ASSERT_TRUE(report) << report.error().describe();
  EXPECT_EQ(report->certificates, 4);
  EXPECT_EQ(report->revoked, 2);
  EXPECT_EQ(report->tokens, 2);
  EXPECT_EQ(report->eab_keys, 1);
  EXPECT_EQ(report->eab_keys_bound, 1);
  EXPECT_EQ(report->accounts, 2);
  EXPECT_EQ(report->audit_entries, static_cast<int64_t>(source_audit.size()));
  EXPECT_EQ(report->used_token_ids, 1);
  EXPECT_EQ(report->crl_numbers["issuing"], 7u);
  EXPECT_EQ(report->deployments, 2);
  EXPECT_EQ(report->discovered, 1);
  auto seen = *to->deployments_of_serial(*Serial::parse("0A"));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].first_seen, TimePoint{std::chrono::seconds(1000)});
  EXPECT_EQ(seen[0].last_seen, TimePoint{std::chrono::seconds(3000)});
  EXPECT_FALSE(seen[0].foreign);
  EXPECT_EQ(seen[0].problems, (std::vector<ChainProblem>{{"expired", "it expired"}}));
  auto found = *to->discovered_certificates(0, 0);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].fingerprint_sha256, "FP-OTHER");
  EXPECT_EQ(found[0].key_algorithm, "rsa-2048");

  auto b = to->find(*Serial::parse("0B"));
  ASSERT_TRUE(b && *b);
  EXPECT_EQ((*b)->status, CertStatus::kRevoked);
  EXPECT_EQ((*b)->revocation_reason, x509::RevocationReason::kKeyCompromise);
  EXPECT_EQ((*b)->revoked_at, t);
  EXPECT_EQ((*to->find(*Serial::parse("0C")))->revocation_reason,
            x509::RevocationReason::kCertificateHold);
  EXPECT_EQ((*to->find(*Serial::parse("0A")))->der, testing::record("0A", "01", 90000).der);
  EXPECT_FALSE((*to->find_token("aa11"))->revoked);
  EXPECT_TRUE((*to->find_token("bb22"))->revoked);
  // EAB keys: the free one still free, the used one bound to its account.
  EXPECT_EQ((*to->acme_eab("kid-free"))->account_id, "");
  EXPECT_EQ((*to->acme_eab("kid-used"))->account_id, "acct");
  EXPECT_EQ(to->acme_insert_account_with_eab("x", "acme", "thumb-x", "{}", t, "kid-used")
                .error()
                .code,
            ErrorCode::kConflict);
  // Accounts under the same ids (an ACME client's kid resolves), with their
  // keys and documents; orders are not moved.
  EXPECT_EQ((*to->acme_account("acct"))->data, R"({"provisioner":"acme"})");
  EXPECT_EQ((*to->acme_account_by_key("acme", "thumb2"))->id, "acct2");
  EXPECT_FALSE(*to->acme_order("o1"));
  // The audit log as it was: same rows, same order, same times (the
  // certificates' 'issue' entries are not written twice).
  auto dest_audit = *to->audit_records(0, 100);
  ASSERT_EQ(dest_audit.size(), source_audit.size());
  for (size_t i = 0; i < dest_audit.size(); ++i) {
    EXPECT_EQ(dest_audit[i].at, source_audit[i].at);
    EXPECT_EQ(dest_audit[i].action, source_audit[i].action);
    EXPECT_EQ(dest_audit[i].serial, source_audit[i].serial);
    EXPECT_EQ(dest_audit[i].detail, source_audit[i].detail);
  }
  EXPECT_EQ(to->revocations_since(0, 10)->size(), 2u);  // 0B revoked, 0C on hold
  // A one-time token used before the move is refused after it.
  auto replay = to->use_token_id("jti-live", clock().now() + std::chrono::seconds(300),
                                 clock().now());
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().code, ErrorCode::kConflict);
  // The destination's next CRL number is above every one the source's CRLs used.
  EXPECT_EQ(*to->next_crl_number("issuing"), 8u);
  EXPECT_EQ(*to->next_crl_number("root"), 1u);  // never used: starts over
}

// More certificates than a page (1,000), several with the same notAfter
// across a page boundary: each moved once, none skipped.
TEST(Migrate, MovesCertificatesPageByPage) {
  auto from = temp_store("paged-from");
  auto to = temp_store("paged-to");
  std::vector<CertRecord> batch;
  for (int i = 0; i < 2503; ++i) {
    char serial[16];
    std::snprintf(serial, sizeof serial, "%06X", 0x100000 + i);
    // 40 certificates share each notAfter, so page ends fall inside a run.
    batch.push_back(testing::record(serial, "01", 200000 + i / 40));
    batch.back().fingerprint_sha256 = std::string("FP-") + serial;
  }
  ASSERT_TRUE(from->insert_batch(batch));
  ASSERT_TRUE(from->revoke(*Serial::parse("100007"), x509::RevocationReason::kKeyCompromise,
                           clock().now()));
  auto report = migrate(*from, *to, clock().now());
  ASSERT_TRUE(report) << report.error().describe();
  EXPECT_EQ(report->certificates, 2503);
  EXPECT_EQ(report->revoked, 1);
  EXPECT_EQ(*to->count(), 2503);
  for (const char* s : {"100000", "1003E7", "1003E8", "1007CF", "1007D0", "1009C6"}) {
    auto found = to->find(*Serial::parse(s));
    ASSERT_TRUE(found && *found) << s;
  }
  EXPECT_EQ(*to->status(*Serial::parse("100007")), CertStatus::kRevoked);
}

TEST(Migrate, RefusesADestinationThatHoldsCertificates) {
  auto from = temp_store("from2");
  auto to = temp_store("to2");
  ASSERT_TRUE(from->insert(testing::record("0A", "01", 90000)));
  ASSERT_TRUE(to->insert(testing::record("0F", "01", 90000)));
  auto r = migrate(*from, *to, clock().now());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kAlreadyExists);
  EXPECT_FALSE(*to->find(*Serial::parse("0A")));
}

}  // namespace
}  // namespace herald::store
