#pragma once
// ACME state (RFC 8555): accounts, orders, and authorizations with their
// challenges. The store keeps each object as a JSON document (the acme
// module owns the format) plus the few columns it is looked up by, so a
// restart loses nothing and several nodes can share the state.

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "store/inventory.h"

namespace herald::store {

struct AcmeRow {
  std::string id;
  std::string data;  // the object's JSON document
};

struct AcmeAuthzRow {
  std::string id;
  std::string data;
};

// A new order: its document, its authorizations, and the identifiers it
// names ("dns:example.com", "ip:192.0.2.1"), counted by the rate limits.
struct AcmeNewOrder {
  std::string id;
  std::string account_id;
  std::string data;
  std::vector<AcmeAuthzRow> authzs;
  std::vector<std::string> identifiers;
  TimePoint created_at;
};

// Orders allowed within `window` before the new one; 0: no limit.
struct AcmeOrderLimits {
  std::chrono::seconds window{3600};
  int64_t per_account = 0;
  int64_t per_identifier = 0;
  // The account's orders still pending or ready (the document's "status")
  // and not expired ("expires_unix" after the new order's created_at)
  // before the new one; 0: no limit.
  int64_t pending_per_account = 0;
};

// What one acme_purge_expired call deleted.
struct AcmePurged {
  int64_t orders = 0;
  int64_t authzs = 0;
};

// An External Account Binding key (RFC 8555 §7.3.4), made by an operator
// for one ACME provisioner; usable to create one account.
struct AcmeEabKey {
  std::string kid;
  std::string provisioner;
  std::string hmac_key;  // base64url; a secret
  TimePoint created_at;
  std::string account_id;  // "" until used
};

// ACME documents read and written inside one write transaction (see
// AcmeStore::acme_transact).
class AcmeTxn {
 public:
  virtual ~AcmeTxn() = default;
  [[nodiscard]] virtual Result<std::optional<AcmeRow>> order(const std::string& id) = 0;
  [[nodiscard]] virtual Result<std::optional<AcmeRow>> authz(const std::string& id) = 0;
  // Replace an existing document; kNotFound if there is none.
  [[nodiscard]] virtual Status put_order(const AcmeRow& row) = 0;
  [[nodiscard]] virtual Status put_authz(const AcmeRow& row) = 0;
};

class AcmeStore {
 public:
  virtual ~AcmeStore() = default;
  // kAlreadyExists if the kid is taken.
  [[nodiscard]] virtual Status acme_insert_eab(const AcmeEabKey& key) = 0;
  [[nodiscard]] virtual Result<std::optional<AcmeEabKey>> acme_eab(const std::string& kid) = 0;
  [[nodiscard]] virtual Result<std::vector<AcmeEabKey>> acme_eab_list() = 0;
  // Creates the account and binds the key to it in one transaction;
  // kConflict if the key was bound meanwhile, kAlreadyExists as for
  // acme_insert_account.
  [[nodiscard]] virtual Status acme_insert_account_with_eab(
      const std::string& id, const std::string& provisioner, const std::string& thumbprint,
      const std::string& data, TimePoint now, const std::string& eab_kid) = 0;
  // kAlreadyExists if the provisioner already has an account for this key.
  [[nodiscard]] virtual Status acme_insert_account(const std::string& id,
                                                   const std::string& provisioner,
                                                   const std::string& thumbprint,
                                                   const std::string& data, TimePoint now) = 0;
  [[nodiscard]] virtual Result<std::optional<AcmeRow>> acme_account(const std::string& id) = 0;
  [[nodiscard]] virtual Result<std::optional<AcmeRow>> acme_account_by_key(
      const std::string& provisioner, const std::string& thumbprint) = 0;
  // Replaces the document and key thumbprint; kAlreadyExists if another
  // account of the provisioner has that key (keyChange), kNotFound if unknown.
  [[nodiscard]] virtual Status acme_update_account(const std::string& id,
                                                   const std::string& thumbprint,
                                                   const std::string& data) = 0;
  // An order and its authorizations, in one transaction, unless that breaks
  // `limits`: then kRateLimited, nothing written, with context "retry_after"
  // (seconds until the oldest order counted against the limit leaves the
  // window). The limits are checked inside the write transaction, so
  // concurrent orders (on any node sharing the store) cannot pass together.
  [[nodiscard]] virtual Status acme_insert_order(const AcmeNewOrder& order,
                                                 const AcmeOrderLimits& limits) = 0;
  [[nodiscard]] virtual Result<std::optional<AcmeRow>> acme_order(const std::string& id) = 0;
  [[nodiscard]] virtual Result<std::optional<AcmeRow>> acme_authz(const std::string& id) = 0;
  // Runs `body`'s reads and writes in one write transaction: its reads see
  // every commit (of any process on the store) and nothing else writes until
  // it commits, so a read-modify-write (a challenge result deciding whether
  // its order is ready) cannot lose a concurrent one. An error from `body`
  // undoes its writes and is returned.
  [[nodiscard]] virtual Status acme_transact(const std::function<Status(AcmeTxn&)>& body) = 0;
  // Records a certificate issued for an order and the order's new document
  // (valid, naming it) in one transaction, provided the order's stored
  // document is still `ready_data` (else kConflict: finalized meanwhile,
  // perhaps by another node). An order is valid exactly when its certificate
  // is in the inventory. Errors as for Inventory::insert; kNotFound for an
  // unknown order.
  [[nodiscard]] virtual Status acme_finalize_order(const CertRecord& certificate,
                                                   const AcmeRow& order,
                                                   const std::string& ready_data) = 0;
  // Deletes, in one write transaction, at most `batch` orders created before
  // `created_before` whose expiry (the document's "expires_unix") is before
  // `now`, oldest first, with their authorizations and the identifiers the
  // rate limits count. Callers keep created_before at or before now minus
  // the rate-limit window, so nothing a limit still counts is deleted.
  [[nodiscard]] virtual Result<AcmePurged> acme_purge_expired(TimePoint now,
                                                              TimePoint created_before,
                                                              size_t batch) = 0;
  // Order ids of an account, newest first, at most `limit`.
  [[nodiscard]] virtual Result<std::vector<std::string>> acme_orders_of(
      const std::string& account_id, size_t limit) = 0;
};

}  // namespace herald::store
