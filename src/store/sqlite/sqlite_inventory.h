#pragma once
// SQLite inventory (WAL, synchronous=FULL: a committed record survives a
// crash or power loss). One writer connection; concurrent writes (certificate
// inserts and ACME state changes alike) are group-committed: one transaction
// and one fsync for all writes waiting at that moment, a savepoint each. Reads go through a small pool of reader connections so they
// never wait for a commit. Schema migrations are versioned in
// schema_migrations and applied in order, each in its own transaction.

#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "store/sqlite/connection.h"
#include "store/store.h"

namespace herald::store {

class SqliteInventory final : public Store {
 public:
  [[nodiscard]] static Result<std::unique_ptr<SqliteInventory>> open(
      const std::filesystem::path& path, OpenMode mode, const Clock& clock);
  ~SqliteInventory() override;

  [[nodiscard]] Status insert(const CertRecord& record) override;
  [[nodiscard]] Status insert_batch(std::span<const CertRecord> records) override;
  [[nodiscard]] Result<std::optional<CertRecord>> find(const Serial& serial) override;
  [[nodiscard]] Result<std::optional<CertStatus>> status(const Serial& serial) override;
  [[nodiscard]] Result<std::optional<RevocationState>> revocation_state(
      const Serial& serial) override;
  [[nodiscard]] Result<std::vector<CertRecord>> list(const ListFilter& filter) override;
  [[nodiscard]] Status revoke(const Serial& serial, x509::RevocationReason reason,
                              TimePoint at) override;
  [[nodiscard]] Status release_hold(const Serial& serial) override;
  [[nodiscard]] Result<std::vector<x509::RevokedEntry>> revoked_by(const Serial& issuer,
                                                                   TimePoint now) override;
  [[nodiscard]] Result<uint64_t> next_crl_number(std::string_view ca) override;
  [[nodiscard]] Result<int64_t> count() override;
  [[nodiscard]] Result<int64_t> count_expiring(TimePoint now, TimePoint before) override;
  [[nodiscard]] Result<std::vector<RevocationEvent>> revocations_since(int64_t after,
                                                                       size_t limit) override;
  [[nodiscard]] Result<int64_t> last_revocation_id() override;

  [[nodiscard]] Result<int64_t> add_token(const TokenRecord& token) override;
  [[nodiscard]] Result<std::optional<TokenRecord>> find_token(std::string_view sha256_hex) override;
  [[nodiscard]] Result<std::vector<TokenRecord>> list_tokens() override;
  [[nodiscard]] Status revoke_token(int64_t id) override;
  [[nodiscard]] Status use_token_id(std::string_view jti, TimePoint expires_at,
                                    TimePoint now) override;

  [[nodiscard]] Status acme_insert_account(const std::string& id, const std::string& provisioner,
                                           const std::string& thumbprint, const std::string& data,
                                           TimePoint now) override;
  [[nodiscard]] Status acme_insert_eab(const AcmeEabKey& key) override;
  [[nodiscard]] Result<std::optional<AcmeEabKey>> acme_eab(const std::string& kid) override;
  [[nodiscard]] Result<std::vector<AcmeEabKey>> acme_eab_list() override;
  [[nodiscard]] Status acme_insert_account_with_eab(const std::string& id,
                                                    const std::string& provisioner,
                                                    const std::string& thumbprint,
                                                    const std::string& data, TimePoint now,
                                                    const std::string& eab_kid) override;
  [[nodiscard]] Result<std::optional<AcmeRow>> acme_account(const std::string& id) override;
  [[nodiscard]] Result<std::optional<AcmeRow>> acme_account_by_key(
      const std::string& provisioner, const std::string& thumbprint) override;
  [[nodiscard]] Status acme_update_account(const std::string& id, const std::string& thumbprint,
                                           const std::string& data) override;
  [[nodiscard]] Status acme_insert_order(const AcmeNewOrder& order,
                                         const AcmeOrderLimits& limits) override;
  [[nodiscard]] Result<std::optional<AcmeRow>> acme_order(const std::string& id) override;
  [[nodiscard]] Result<std::optional<AcmeRow>> acme_authz(const std::string& id) override;
  [[nodiscard]] Status acme_transact(const std::function<Status(AcmeTxn&)>& body) override;
  [[nodiscard]] Status acme_finalize_order(const CertRecord& certificate, const AcmeRow& order,
                                           const std::string& ready_data) override;
  [[nodiscard]] Result<std::vector<std::string>> acme_orders_of(const std::string& account_id,
                                                                size_t limit) override;
  [[nodiscard]] Result<AcmePurged> acme_purge_expired(TimePoint now, TimePoint created_before,
                                                      size_t batch) override;

  [[nodiscard]] Status record_audit(std::string_view action, const std::string& detail) override;
  [[nodiscard]] Result<std::vector<std::pair<TimePoint, std::string>>> audit_entries(
      std::string_view action) override;

  [[nodiscard]] Result<int> schema_version() override;
  [[nodiscard]] std::string describe() const override;
  // A SQLite file belongs to one machine: never shared by nodes.
  [[nodiscard]] bool shared_by_nodes() const override { return false; }
  [[nodiscard]] Result<Bytes> shared_secret(std::string_view name) override;
  [[nodiscard]] Result<bool> acquire_lease(std::string_view name, std::string_view holder,
                                           TimePoint now, std::chrono::seconds ttl) override;
  [[nodiscard]] Status put_crl(const StoredCrl& crl) override;
  [[nodiscard]] Result<std::optional<StoredCrl>> latest_crl(std::string_view ca,
                                                            uint64_t newer_than = 0) override;

  // store migrate (store.h)
  [[nodiscard]] Result<std::vector<AuditRecord>> audit_records(int64_t after,
                                                               size_t limit) override;
  [[nodiscard]] Status append_audit_records(const std::vector<AuditRecord>& rows) override;
  [[nodiscard]] Status insert_record_only(const CertRecord& record) override;
  [[nodiscard]] Status insert_records_only(std::span<const CertRecord> records) override;
  [[nodiscard]] Result<std::vector<AcmeAccountRecord>> acme_accounts() override;
  [[nodiscard]] Result<std::vector<UsedTokenId>> used_token_ids(TimePoint now) override;

  // Expiry alerts and webhooks (store/alerts.h; sqlite_alerts.cc / postgres_alerts.cc).
  [[nodiscard]] Result<bool> claim_alert(std::string_view key, TimePoint at) override;
  [[nodiscard]] Status record_alert(const AlertRecord& alert) override;
  [[nodiscard]] Result<std::vector<AlertRecord>> recent_alerts(size_t limit) override;
  [[nodiscard]] Result<int64_t> add_silence(const Silence& silence) override;
  [[nodiscard]] Result<std::vector<Silence>> active_silences(TimePoint now) override;
  [[nodiscard]] Status remove_silence(int64_t id) override;
  [[nodiscard]] Status add_dead_letter(const DeadLetter& letter) override;
  [[nodiscard]] Result<std::vector<DeadLetter>> dead_letters(size_t limit) override;
  // deployments (store/deployments.h)
  [[nodiscard]] Result<SightingResult> record_sighting(const Sighting& sighting) override;
  [[nodiscard]] Result<std::vector<DeploymentRecord>> deployments_of_serial(
      const Serial& serial) override;
  [[nodiscard]] Result<std::vector<DeploymentRecord>> deployments_of_fingerprint(
      std::string_view fingerprint_sha256) override;
  [[nodiscard]] Result<std::vector<DeploymentRecord>> deployments(
      const DeploymentFilter& filter) override;
  [[nodiscard]] Result<std::vector<DiscoveredCertificate>> discovered_certificates(
      size_t limit, size_t offset) override;
  [[nodiscard]] Result<DeploymentCounts> deployment_counts() override;

  // The dashboard's counts (store/overview.h; sqlite_overview.cc / postgres_overview.cc).
  [[nodiscard]] Result<StatusCounts> count_by_status(TimePoint now) override;
  [[nodiscard]] Result<int64_t> count_issued_since(TimePoint since) override;
  [[nodiscard]] Result<int64_t> count_revoked_since(TimePoint since) override;
  [[nodiscard]] Result<std::vector<int64_t>> expiry_histogram(TimePoint from,
                                                              std::chrono::seconds bucket,
                                                              size_t buckets) override;
  [[nodiscard]] Result<int64_t> count_matching(const ListFilter& filter) override;
  [[nodiscard]] Result<std::vector<AuditEvent>> revocation_history(const Serial& serial,
                                                                   size_t limit) override;
  [[nodiscard]] Result<std::vector<CertRecord>> ca_certificates() override;
  // Pre-signed OCSP answers (store/ocsp_answers.h; sqlite_ocsp.cc).
  [[nodiscard]] Status put_ocsp_answers(const std::vector<OcspAnswer>& answers) override;
  [[nodiscard]] Result<std::optional<OcspAnswer>> ocsp_answer(const Serial& serial) override;
  [[nodiscard]] Result<std::vector<OcspAnswer>> ocsp_answers_due(TimePoint now,
                                                                 size_t limit) override;
  [[nodiscard]] Result<std::vector<OcspAnswer>> latest_ocsp_answers(size_t limit) override;
  [[nodiscard]] Status delete_ocsp_answers(const std::vector<Serial>& serials) override;
  [[nodiscard]] Result<OcspGapPage> certificates_without_ocsp_answer(
      const Serial& issuer, TimePoint now,
      const std::optional<std::pair<TimePoint, Serial>>& after, size_t limit) override;
  [[nodiscard]] Result<int64_t> count_ocsp_answers() override;
  static constexpr int kSchemaVersion = 19;
  // Retention (store/retention.h; sqlite_retention.cc).
  [[nodiscard]] Result<std::vector<Serial>> prunable(TimePoint expired_before, TimePoint now,
                                                     size_t limit) override;
  [[nodiscard]] Result<int64_t> count_prunable(TimePoint expired_before, TimePoint now) override;
  [[nodiscard]] Result<std::vector<Serial>> delete_prunable(const std::vector<Serial>& serials,
                                                            TimePoint expired_before,
                                                            TimePoint now) override;
  [[nodiscard]] Result<std::vector<Serial>> prune_expired(TimePoint expired_before, TimePoint now,
                                                          size_t batch) override;

 private:
  SqliteInventory(std::filesystem::path path, std::unique_ptr<sqlite::Connection> writer,
                  const Clock& clock);
  // One write, run inside the batch's transaction under its own savepoint
  // (so a failing write rolls back alone).
  using WriteOp = std::function<Status(sqlite::Connection&)>;
  struct Pending {
    const WriteOp* op;
    Status result;
    bool done;
  };
  struct ReadLease {
    std::unique_lock<std::mutex> lock;
    sqlite::Connection& conn;
  };
  static constexpr size_t kMaxReaders = 4;
  ReadLease reader();
  // Runs `op` in the next group commit; returns once that has committed.
  [[nodiscard]] Status write(const WriteOp& op);
  void commit_batch(const std::vector<Pending*>& batch);
  // Inside an open transaction; with the 'issue' audit entry unless `audit` is false.
  [[nodiscard]] Status insert_one(const CertRecord& record, bool audit = true);
  [[nodiscard]] Status migrate();
  std::filesystem::path path_;
  std::unique_ptr<sqlite::Connection> writer_;
  const Clock& clock_;
  std::mutex readers_mu_;
  std::vector<std::unique_ptr<sqlite::Connection>> readers_;
  size_t next_reader_ = 0;
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::vector<Pending*> queue_;
  bool committing_ = false;
};

}  // namespace herald::store
