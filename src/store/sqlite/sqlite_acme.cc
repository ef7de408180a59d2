// ACME state in the SQLite inventory (see store/acme_store.h).
#include <sqlite3.h>

#include <algorithm>

#include "store/acme_limits.h"
#include "store/sqlite/sqlite_inventory.h"

namespace herald::store {

namespace {

using sqlite::Connection;
using sqlite::Stmt;

int64_t unix_seconds(TimePoint t) { return t.time_since_epoch().count(); }

bool is_unique_violation(sqlite3* db) {
  int e = sqlite3_extended_errcode(db);
  return e == SQLITE_CONSTRAINT_UNIQUE || e == SQLITE_CONSTRAINT_PRIMARYKEY;
}

// One document by id, for the readers and inside write transactions alike.
constexpr const char* kSelectOrder = "SELECT id, data FROM acme_orders WHERE id = ?";
constexpr const char* kSelectAuthz = "SELECT id, data FROM acme_authzs WHERE id = ?";

Result<std::optional<AcmeRow>> one_row(Stmt& s, Connection& c) {
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<AcmeRow>{};
  if (rc != SQLITE_ROW) return c.error("ACME lookup failed");
  return std::optional<AcmeRow>(AcmeRow{s.text(0), s.text(1)});
}

Status insert_account_row(Connection& c, const std::string& id, const std::string& provisioner,
                          const std::string& thumbprint, const std::string& data, TimePoint now) {
  Stmt s(c,
         "INSERT INTO acme_accounts (id, provisioner, thumbprint, data, created_at) VALUES (?, ?, "
         "?, ?, ?)");
  if (!s.ok()) return c.error("cannot prepare account insert");
  s.bind(1, id);
  s.bind(2, provisioner);
  s.bind(3, thumbprint);
  s.bind(4, data);
  s.bind(5, unix_seconds(now));
  if (s.step() != SQLITE_DONE) {
    if (is_unique_violation(c.db()))
      return make_error(ErrorCode::kAlreadyExists, "an account already exists for this key");
    return c.error("cannot insert ACME account");
  }
  return {};
}

}  // namespace

Status SqliteInventory::acme_insert_account(const std::string& id, const std::string& provisioner,
                                            const std::string& thumbprint,
                                            const std::string& data, TimePoint now) {
  return write(
      [&](Connection& c) { return insert_account_row(c, id, provisioner, thumbprint, data, now); });
}

Status SqliteInventory::acme_insert_eab(const AcmeEabKey& key) {
  return write([&](Connection& c) -> Status {
  Stmt s(c,
         "INSERT INTO acme_eab_keys (kid, provisioner, hmac_key, created_at) VALUES (?, ?, ?, ?)");
  if (!s.ok()) return c.error("cannot prepare EAB key insert");
  s.bind(1, key.kid);
  s.bind(2, key.provisioner);
  s.bind(3, key.hmac_key);
  s.bind(4, unix_seconds(key.created_at));
  if (s.step() != SQLITE_DONE) {
    if (is_unique_violation(c.db()))
      return make_error(ErrorCode::kAlreadyExists, "EAB key id " + key.kid + " exists");
    return c.error("cannot insert EAB key");
  }
  return {};
  });
}

namespace {
AcmeEabKey read_eab(Stmt& s) {
  return AcmeEabKey{s.text(0), s.text(1), s.text(2),
                    TimePoint{std::chrono::seconds(s.integer(3))}, s.text(4)};
}
}  // namespace

Result<std::optional<AcmeEabKey>> SqliteInventory::acme_eab(const std::string& kid) {
  auto lease = reader();
  Stmt s(lease.conn,
         "SELECT kid, provisioner, hmac_key, created_at, coalesce(account_id, '') FROM "
         "acme_eab_keys WHERE kid = ?");
  if (!s.ok()) return lease.conn.error("cannot prepare EAB key lookup");
  s.bind(1, kid);
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<AcmeEabKey>{};
  if (rc != SQLITE_ROW) return lease.conn.error("EAB key lookup failed");
  return std::optional<AcmeEabKey>(read_eab(s));
}

Result<std::vector<AcmeEabKey>> SqliteInventory::acme_eab_list() {
  auto lease = reader();
  Stmt s(lease.conn,
         "SELECT kid, provisioner, hmac_key, created_at, coalesce(account_id, '') FROM "
         "acme_eab_keys ORDER BY created_at, kid");
  if (!s.ok()) return lease.conn.error("cannot prepare EAB key list");
  std::vector<AcmeEabKey> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(read_eab(s));
  if (rc != SQLITE_DONE) return lease.conn.error("EAB key list failed");
  return out;
}

Status SqliteInventory::acme_insert_account_with_eab(const std::string& id,
                                                     const std::string& provisioner,
                                                     const std::string& thumbprint,
                                                     const std::string& data, TimePoint now,
                                                     const std::string& eab_kid) {
  return write([&](Connection& c) -> Status {
    Stmt b(c, "UPDATE acme_eab_keys SET account_id = ? WHERE kid = ? AND account_id IS NULL");
    if (!b.ok()) return c.error("cannot prepare EAB binding");
    b.bind(1, id);
    b.bind(2, eab_kid);
    if (b.step() != SQLITE_DONE) return c.error("cannot bind EAB key");
    if (sqlite3_changes(c.db()) != 1)
      return make_error(ErrorCode::kConflict, "the EAB key is already bound to an account");
    return insert_account_row(c, id, provisioner, thumbprint, data, now);
  });
}

Result<std::optional<AcmeRow>> SqliteInventory::acme_account(const std::string& id) {
  auto lease = reader();
  Stmt s(lease.conn, "SELECT id, data FROM acme_accounts WHERE id = ?");
  if (!s.ok()) return lease.conn.error("cannot prepare account lookup");
  s.bind(1, id);
  return one_row(s, lease.conn);
}

Result<std::optional<AcmeRow>> SqliteInventory::acme_account_by_key(const std::string& provisioner,
                                                                    const std::string& thumbprint) {
  auto lease = reader();
  Stmt s(lease.conn,
         "SELECT id, data FROM acme_accounts WHERE provisioner = ? AND thumbprint = ?");
  if (!s.ok()) return lease.conn.error("cannot prepare account lookup");
  s.bind(1, provisioner);
  s.bind(2, thumbprint);
  return one_row(s, lease.conn);
}

Status SqliteInventory::acme_update_account(const std::string& id, const std::string& thumbprint,
                                            const std::string& data) {
  return write([&](Connection& c) -> Status {
  Stmt s(c, "UPDATE acme_accounts SET thumbprint = ?, data = ? WHERE id = ?");
  if (!s.ok()) return c.error("cannot prepare account update");
  s.bind(1, thumbprint);
  s.bind(2, data);
  s.bind(3, id);
  if (s.step() != SQLITE_DONE) {
    if (is_unique_violation(c.db()))
      return make_error(ErrorCode::kAlreadyExists, "another account already uses this key");
    return c.error("cannot update ACME account");
  }
  if (sqlite3_changes(c.db()) != 1) return make_error(ErrorCode::kNotFound, "no such account");
  return {};
  });
}

namespace {

// The creation times `sql` selects (binding ?1 = key, ?2 = since, ?3 = how
// many at most, oldest first), read no further than the limit: kRateLimited,
// with how long until the oldest leaves the window, if `limit` are found.
Status check_limit(Connection& c, const char* sql, const std::string& key, TimePoint now,
                   const AcmeOrderLimits& limits, int64_t limit, const std::string& what) {
  if (limit <= 0) return {};
  Stmt s(c, sql);
  if (!s.ok()) return c.error("cannot prepare rate-limit count");
  s.bind(1, key);
  s.bind(2, unix_seconds(now - limits.window));
  s.bind(3, limit);
  int64_t n = 0, oldest = 0;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    if (n++ == 0) oldest = s.integer(0);
  }
  if (rc != SQLITE_DONE) return c.error("cannot count orders for the rate limit");
  return window_limit(n, oldest, now, limits, limit, what);
}

// The account's orders still pending or ready (not expired): at most
// limits.pending_per_account, else kRateLimited with the seconds until the
// first of them expires. The partial index acme_orders_open (migration 9)
// holds only open orders, by account and expiry, so this reads no more than
// the limit's worth of rows (its expressions must match this query's).
Status check_pending(Connection& c, const std::string& account_id, TimePoint now,
                     const AcmeOrderLimits& limits) {
  if (limits.pending_per_account <= 0) return {};
  Stmt s(c,
         "SELECT json_extract(data, '$.expires_unix') FROM acme_orders WHERE account_id = ? AND "
         "json_valid(data) AND json_extract(data, '$.status') IN ('pending', 'ready') AND "
         "json_extract(data, '$.expires_unix') > ? ORDER BY json_extract(data, '$.expires_unix') "
         "LIMIT ?");
  if (!s.ok()) return c.error("cannot prepare pending-order count");
  s.bind(1, account_id);
  s.bind(2, unix_seconds(now));
  s.bind(3, limits.pending_per_account);
  int64_t n = 0, first_expiry = 0;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    if (n++ == 0) first_expiry = s.integer(0);
  }
  if (rc != SQLITE_DONE) return c.error("cannot count pending orders");
  return pending_limit(n, first_expiry, now, limits);
}

}  // namespace

Status SqliteInventory::acme_insert_order(const AcmeNewOrder& order,
                                          const AcmeOrderLimits& limits) {
  return write([&](Connection& c) -> Status {
    HERALD_TRY_VOID(check_limit(
        c,
        "SELECT created_at FROM acme_orders WHERE account_id = ? AND created_at >= ? "
        "ORDER BY created_at LIMIT ?",
        order.account_id, order.created_at, limits, limits.per_account, "this account created"));
    HERALD_TRY_VOID(check_pending(c, order.account_id, order.created_at, limits));
    for (const auto& ident : order.identifiers) {
      HERALD_TRY_VOID(check_limit(c,
                                  "SELECT created_at FROM acme_order_identifiers WHERE "
                                  "identifier = ? AND created_at >= ? ORDER BY created_at LIMIT ?",
                                  ident, order.created_at, limits, limits.per_identifier,
                                  "'" + ident + "' was named in"));
    }
    Stmt o(c, "INSERT INTO acme_orders (id, account_id, data, created_at) VALUES (?, ?, ?, ?)");
    if (!o.ok()) return c.error("cannot prepare order insert");
    o.bind(1, order.id);
    o.bind(2, order.account_id);
    o.bind(3, order.data);
    o.bind(4, unix_seconds(order.created_at));
    if (o.step() != SQLITE_DONE) return c.error("cannot insert ACME order");
    for (const auto& a : order.authzs) {
      Stmt s(c, "INSERT INTO acme_authzs (id, order_id, data) VALUES (?, ?, ?)");
      if (!s.ok()) return c.error("cannot prepare authorization insert");
      s.bind(1, a.id);
      s.bind(2, order.id);
      s.bind(3, a.data);
      if (s.step() != SQLITE_DONE) return c.error("cannot insert ACME authorization");
    }
    for (const auto& ident : order.identifiers) {
      Stmt s(c,
             "INSERT INTO acme_order_identifiers (identifier, order_id, created_at) VALUES (?, ?, "
             "?)");
      if (!s.ok()) return c.error("cannot prepare order identifier insert");
      s.bind(1, ident);
      s.bind(2, order.id);
      s.bind(3, unix_seconds(order.created_at));
      if (s.step() != SQLITE_DONE) return c.error("cannot insert ACME order identifier");
    }
    return {};
  });
}

Result<std::optional<AcmeRow>> SqliteInventory::acme_order(const std::string& id) {
  auto lease = reader();
  Stmt s(lease.conn, kSelectOrder);
  if (!s.ok()) return lease.conn.error("cannot prepare order lookup");
  s.bind(1, id);
  return one_row(s, lease.conn);
}

Result<std::optional<AcmeRow>> SqliteInventory::acme_authz(const std::string& id) {
  auto lease = reader();
  Stmt s(lease.conn, kSelectAuthz);
  if (!s.ok()) return lease.conn.error("cannot prepare authorization lookup");
  s.bind(1, id);
  return one_row(s, lease.conn);
}

namespace {
// Replaces one document by id; kNotFound if there is none.
Status update_doc(Connection& c, const char* sql, const AcmeRow& row, const char* what) {
  Stmt s(c, sql);
  if (!s.ok()) return c.error(std::string("cannot prepare ") + what + " update");
  s.bind(1, row.data);
  s.bind(2, row.id);
  if (s.step() != SQLITE_DONE) return c.error(std::string("cannot update ") + what);
  if (sqlite3_changes(c.db()) != 1)
    return make_error(ErrorCode::kNotFound, std::string("no such ") + what);
  return {};
}
constexpr const char* kUpdateAuthz = "UPDATE acme_authzs SET data = ? WHERE id = ?";
constexpr const char* kUpdateOrder = "UPDATE acme_orders SET data = ? WHERE id = ?";
}  // namespace

namespace {

class SqliteAcmeTxn final : public AcmeTxn {
 public:
  explicit SqliteAcmeTxn(Connection& c) : c_(c) {}
  Result<std::optional<AcmeRow>> order(const std::string& id) override {
    return get(kSelectOrder, id);
  }
  Result<std::optional<AcmeRow>> authz(const std::string& id) override {
    return get(kSelectAuthz, id);
  }
  Status put_order(const AcmeRow& row) override {
    return update_doc(c_, kUpdateOrder, row, "order");
  }
  Status put_authz(const AcmeRow& row) override {
    return update_doc(c_, kUpdateAuthz, row, "authorization");
  }

 private:
  Result<std::optional<AcmeRow>> get(const char* sql, const std::string& id) {
    Stmt s(c_, sql);
    if (!s.ok()) return c_.error("cannot prepare ACME lookup");
    s.bind(1, id);
    return one_row(s, c_);
  }
  Connection& c_;
};

}  // namespace

Status SqliteInventory::acme_transact(const std::function<Status(AcmeTxn&)>& body) {
  return write([&](Connection& c) -> Status {
    SqliteAcmeTxn txn(c);
    return body(txn);
  });
}

Status SqliteInventory::acme_finalize_order(const CertRecord& certificate, const AcmeRow& order,
                                            const std::string& ready_data) {
  return write([&](Connection& c) -> Status {
    Stmt s(c, "UPDATE acme_orders SET data = ? WHERE id = ? AND data = ?");
    if (!s.ok()) return c.error("cannot prepare order update");
    s.bind(1, order.data);
    s.bind(2, order.id);
    s.bind(3, ready_data);
    if (s.step() != SQLITE_DONE) return c.error("cannot update order");
    if (sqlite3_changes(c.db()) != 1) {
      Stmt e(c, "SELECT 1 FROM acme_orders WHERE id = ?");
      e.bind(1, order.id);
      if (e.ok() && e.step() == SQLITE_ROW)
        return make_error(ErrorCode::kConflict, "the order changed meanwhile (finalized already?)");
      return make_error(ErrorCode::kNotFound, "no such order");
    }
    return insert_one(certificate);
  });
}

Result<AcmePurged> SqliteInventory::acme_purge_expired(TimePoint now, TimePoint created_before,
                                                       size_t batch) {
  AcmePurged purged;
  auto s = write([&](Connection& c) -> Status {
    purged = {};
    // Oldest first along the created_at index; the expiry in the document
    // decides (an order created before `created_before` has nearly always
    // expired, so the walk rarely skips a row).
    Stmt pick(c,
              "SELECT id FROM acme_orders WHERE created_at < ? AND CASE WHEN json_valid(data) "
              "THEN json_extract(data, '$.expires_unix') END < ? ORDER BY created_at LIMIT ?");
    if (!pick.ok()) return c.error("cannot prepare the expired-order scan");
    pick.bind(1, unix_seconds(created_before));
    pick.bind(2, unix_seconds(now));
    pick.bind(3, static_cast<int64_t>(batch));
    std::vector<std::string> ids;
    int rc;
    while ((rc = pick.step()) == SQLITE_ROW) ids.push_back(pick.text(0));
    if (rc != SQLITE_DONE) return c.error("cannot scan for expired orders");
    for (const auto& id : ids) {
      // Children first (foreign keys).
      struct Delete {
        const char* sql;
        int64_t* count;
      };
      for (const Delete& del : {Delete{"DELETE FROM acme_order_identifiers WHERE order_id = ?", nullptr},
                                Delete{"DELETE FROM acme_authzs WHERE order_id = ?", &purged.authzs},
                                Delete{"DELETE FROM acme_orders WHERE id = ?", &purged.orders}}) {
        Stmt d(c, del.sql);
        if (!d.ok()) return c.error("cannot prepare the purge");
        d.bind(1, id);
        if (d.step() != SQLITE_DONE) return c.error("cannot purge an expired order");
        if (del.count) *del.count += sqlite3_changes(c.db());
      }
    }
    return {};
  });
  if (!s) return tl::unexpected(s.error());
  return purged;
}

Result<std::vector<std::string>> SqliteInventory::acme_orders_of(const std::string& account_id,
                                                                 size_t limit) {
  auto lease = reader();
  Stmt s(lease.conn,
         "SELECT id FROM acme_orders WHERE account_id = ? ORDER BY created_at DESC, id LIMIT ?");
  if (!s.ok()) return lease.conn.error("cannot prepare order list");
  s.bind(1, account_id);
  s.bind(2, static_cast<int64_t>(limit));
  std::vector<std::string> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(s.text(0));
  if (rc != SQLITE_DONE) return lease.conn.error("cannot list orders");
  return out;
}

}  // namespace herald::store
