#pragma once
// The state of one CA, whichever database holds it: the inventory, API
// tokens and one-time-token ids, ACME state, and the audit log. `herald
// serve` and the CLI get a Store from store::open (store/open.h) and see
// only these interfaces; the adapters (sqlite/, postgres/) are chosen there
// and nowhere else.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "store/acme_store.h"
#include "store/alerts.h"
#include "store/deployments.h"
#include "store/inventory.h"
#include "store/ocsp_answers.h"
#include "store/overview.h"
#include "store/retention.h"

namespace herald::store {

// Operator actions that concern no certificate of the inventory (e.g.
// "trust_import"). Issuance and revocation are audited by the inventory
// itself, in the same transaction as the change.
class AuditLog {
 public:
  virtual ~AuditLog() = default;
  // `detail` is a JSON object.
  [[nodiscard]] virtual Status record_audit(std::string_view action,
                                            const std::string& detail) = 0;
  // The entries for `action`, oldest first, as (at, detail).
  [[nodiscard]] virtual Result<std::vector<std::pair<TimePoint, std::string>>> audit_entries(
      std::string_view action) = 0;
};

// A signed CRL as the node holding the signing lease published it, for the
// other nodes to serve the same one.
struct StoredCrl {
  std::string ca;  // "issuing"
  uint64_t number = 0;
  Bytes der;
  TimePoint this_update;
  TimePoint next_update;
};

// Rows as stored, for `herald store migrate` (store/migrate.h), which copies
// them from one store into another unchanged.
struct AuditRecord {
  int64_t id = 0;  // the source's; the destination numbers its own, in order
  TimePoint at;
  std::string action;                 // "issue", "revoke", "trust_import", ...
  std::optional<std::string> serial;  // the certificate concerned, if any
  std::string detail;                 // a JSON object
};
struct AcmeAccountRecord {
  std::string id;  // the last part of the account URL (its "kid")
  std::string provisioner;
  std::string thumbprint;  // of the account key (RFC 7638)
  std::string data;        // the account's JSON document
  TimePoint created_at;
};
struct UsedTokenId {
  std::string jti;
  TimePoint expires_at;
};

class Store : public Inventory,
              public TokenStore,
              public AcmeStore,
              public AuditLog,
              public OverviewStore,
              public DeploymentStore,
              public AlertStore,
              public OcspAnswerStore,
              public RetentionStore {
 public:
  // The schema version the database is at (each adapter counts its own).
  [[nodiscard]] virtual Result<int> schema_version() = 0;
  // Where the state lives, for logs and errors: "sqlite:/path/inventory.db",
  // "postgresql://user@host:5432/db" (never a password).
  [[nodiscard]] virtual std::string describe() const = 0;

  // Several `herald serve` nodes on one store.
  // True if processes on several machines may share this store: state that
  // one process may otherwise keep in memory (ACME nonces) must then live in
  // the store.
  [[nodiscard]] virtual bool shared_by_nodes() const = 0;
  // A random 32-byte secret named `name`: made by the first caller, the same
  // for every process on the store from then on (the key that makes an ACME
  // nonce issued by one node valid on every other).
  [[nodiscard]] virtual Result<Bytes> shared_secret(std::string_view name) = 0;
  // Takes, keeps or renews the lease `name` for `holder` until now + ttl.
  // True if `holder` holds it on return (it was free, expired, or already
  // its own); false while another holder's lease runs. Work that one node
  // at a time must do (CRL signing, purges) runs while its lease is held; a
  // node that dies loses it after ttl. Clocks of the nodes should agree to
  // well within ttl.
  [[nodiscard]] virtual Result<bool> acquire_lease(std::string_view name,
                                                   std::string_view holder, TimePoint now,
                                                   std::chrono::seconds ttl) = 0;
  // Publishes a CRL for the other nodes; kept only if its number is above the
  // stored one's (a late writer never replaces a newer CRL).
  [[nodiscard]] virtual Status put_crl(const StoredCrl& crl) = 0;
  // The newest published CRL of `ca` if its number is above `newer_than`
  // (a node polling every second reads the DER only when it changed).
  [[nodiscard]] virtual Result<std::optional<StoredCrl>> latest_crl(std::string_view ca,
                                                                    uint64_t newer_than = 0) = 0;

  // What `herald store migrate` reads and writes beyond the interfaces above
  // (rows as stored; see store/migrate.h).
  // The audit log's rows with an id above `after`, oldest first, at most `limit`.
  [[nodiscard]] virtual Result<std::vector<AuditRecord>> audit_records(int64_t after,
                                                                       size_t limit) = 0;
  // Appends `rows` in their order, in one transaction, each with its own
  // time, action, serial and detail (ids are this store's next ones).
  [[nodiscard]] virtual Status append_audit_records(const std::vector<AuditRecord>& rows) = 0;
  // A certificate record alone: insert() without the 'issue' audit entry
  // (migrate copies the source's entries instead). Errors as for insert().
  [[nodiscard]] virtual Status insert_record_only(const CertRecord& record) = 0;
  // Many of them in one transaction, all or nothing (a page of a migration).
  [[nodiscard]] virtual Status insert_records_only(std::span<const CertRecord> records) = 0;
  // Every ACME account, oldest first.
  [[nodiscard]] virtual Result<std::vector<AcmeAccountRecord>> acme_accounts() = 0;
  // The one-time-token ids still refused at `now` (not expired), by jti.
  [[nodiscard]] virtual Result<std::vector<UsedTokenId>> used_token_ids(TimePoint now) = 0;
};

enum class OpenMode { kCreate, kExisting };

}  // namespace herald::store
