#pragma once
// ACME state (RFC 8555): accounts, orders, and authorizations with their
// challenges. The store keeps each object as a JSON document (the acme
// module owns the format) plus the few columns it is looked up by, so a
// restart loses nothing and several nodes can share the state.

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

// An External Account Binding key (RFC 8555 §7.3.4), made by an operator
// for one ACME provisioner; usable to create one account.
struct AcmeEabKey {
  std::string kid;
  std::string provisioner;
  std::string hmac_key;  // base64url; a secret
  TimePoint created_at;
  std::string account_id;  // "" until used
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
  // An order and its authorizations, in one transaction.
  [[nodiscard]] virtual Status acme_insert_order(const std::string& id,
                                                 const std::string& account_id,
                                                 const std::string& data,
                                                 const std::vector<AcmeAuthzRow>& authzs,
                                                 TimePoint now) = 0;
  [[nodiscard]] virtual Result<std::optional<AcmeRow>> acme_order(const std::string& id) = 0;
  [[nodiscard]] virtual Result<std::optional<AcmeRow>> acme_authz(const std::string& id) = 0;
  // Updates documents that exist (kNotFound otherwise), all in one
  // transaction: an authorization and its order change together.
  [[nodiscard]] virtual Status acme_update(const std::optional<AcmeRow>& order,
                                           const std::optional<AcmeRow>& authz) = 0;
  // Records a certificate issued for an order and the order's new document
  // (valid, naming it) in one transaction: an order is valid exactly when
  // its certificate is in the inventory. Errors as for Inventory::insert, or
  // kNotFound for an unknown order.
  [[nodiscard]] virtual Status acme_finalize_order(const CertRecord& certificate,
                                                   const AcmeRow& order) = 0;
  // Orders the account created at or after `since` (rate limits).
  [[nodiscard]] virtual Result<int64_t> acme_count_orders(const std::string& account_id,
                                                          TimePoint since) = 0;
  // Order ids of an account, newest first, at most `limit`.
  [[nodiscard]] virtual Result<std::vector<std::string>> acme_orders_of(
      const std::string& account_id, size_t limit) = 0;
};

}  // namespace herald::store
