// ACME state in the PostgreSQL store (see store/acme_store.h). Order
// inserts (with their limits), acme_transact, finalization and the purge
// run under one transaction-scoped advisory lock (kAcmeLock), so no two of
// them interleave on any node: a limit cannot be passed by concurrent
// orders, and a read-modify-write cannot lose another.
#include <algorithm>

#include "store/acme_limits.h"
#include "store/postgres/postgres_store_impl.h"

namespace herald::store {

namespace {

using postgres::Conn;
using postgres::Param;
using postgres::Rows;

int64_t unix_seconds(TimePoint t) { return t.time_since_epoch().count(); }

bool is_unique_violation(const Error& e) {
  return postgres::sqlstate(e) == postgres::kUniqueViolation;
}

constexpr const char* kSelectOrder = "SELECT id, data FROM acme_orders WHERE id = $1";
constexpr const char* kSelectAuthz = "SELECT id, data FROM acme_authzs WHERE id = $1";

Result<std::optional<AcmeRow>> one_row(Conn& c, const char* sql, const std::vector<Param>& p) {
  HERALD_TRY(auto r, c.exec(sql, p));
  if (r.size() == 0) return std::optional<AcmeRow>{};
  return std::optional<AcmeRow>(AcmeRow{r.text(0, 0), r.text(0, 1)});
}

Status lock_acme(Conn& c) {
  HERALD_TRY_VOID(c.exec("SELECT pg_advisory_xact_lock($1)", {Param(PostgresStore::kAcmeLock)}));
  return {};
}

Status insert_account_row(Conn& c, const std::string& id, const std::string& provisioner,
                          const std::string& thumbprint, const std::string& data, TimePoint now) {
  auto r = c.exec(
      "INSERT INTO acme_accounts (id, provisioner, thumbprint, data, created_at) VALUES ($1, $2, "
      "$3, $4, $5)",
      {Param(id), Param(provisioner), Param(thumbprint), Param(data), Param(unix_seconds(now))});
  if (!r) {
    if (is_unique_violation(r.error()))
      return make_error(ErrorCode::kAlreadyExists, "an account already exists for this key");
    return tl::unexpected(r.error());
  }
  return {};
}

AcmeEabKey read_eab(const Rows& r, int i) {
  return AcmeEabKey{r.text(i, 0), r.text(i, 1), r.text(i, 2),
                    TimePoint{std::chrono::seconds(r.integer(i, 3))}, r.text(i, 4)};
}

constexpr const char* kEabColumns =
    "kid, provisioner, hmac_key, created_at, coalesce(account_id, '')";

}  // namespace

Status PostgresStore::acme_insert_account(const std::string& id, const std::string& provisioner,
                                          const std::string& thumbprint, const std::string& data,
                                          TimePoint now) {
  HERALD_TRY(auto c, pool_.get());
  return insert_account_row(*c, id, provisioner, thumbprint, data, now);
}

Status PostgresStore::acme_insert_eab(const AcmeEabKey& key) {
  HERALD_TRY(auto c, pool_.get());
  auto r = c->exec(
      "INSERT INTO acme_eab_keys (kid, provisioner, hmac_key, created_at) VALUES ($1, $2, $3, $4)",
      {Param(key.kid), Param(key.provisioner), Param(key.hmac_key),
       Param(unix_seconds(key.created_at))});
  if (!r) {
    if (is_unique_violation(r.error()))
      return make_error(ErrorCode::kAlreadyExists, "EAB key id " + key.kid + " exists");
    return tl::unexpected(r.error());
  }
  return {};
}

Result<std::optional<AcmeEabKey>> PostgresStore::acme_eab(const std::string& kid) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r,
             c->exec(std::string("SELECT ") + kEabColumns + " FROM acme_eab_keys WHERE kid = $1",
                     {Param(kid)}));
  if (r.size() == 0) return std::optional<AcmeEabKey>{};
  return std::optional<AcmeEabKey>(read_eab(r, 0));
}

Result<std::vector<AcmeEabKey>> PostgresStore::acme_eab_list() {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec(std::string("SELECT ") + kEabColumns +
                             " FROM acme_eab_keys ORDER BY created_at, kid"));
  std::vector<AcmeEabKey> out;
  for (int i = 0; i < r.size(); ++i) out.push_back(read_eab(r, i));
  return out;
}

Status PostgresStore::acme_insert_account_with_eab(const std::string& id,
                                                   const std::string& provisioner,
                                                   const std::string& thumbprint,
                                                   const std::string& data, TimePoint now,
                                                   const std::string& eab_kid) {
  return write([&](Conn& c) -> Status {
    HERALD_TRY(auto b, c.exec("UPDATE acme_eab_keys SET account_id = $1 WHERE kid = $2 AND "
                              "account_id IS NULL",
                              {Param(id), Param(eab_kid)}));
    if (b.affected() != 1)
      return make_error(ErrorCode::kConflict, "the EAB key is already bound to an account");
    return insert_account_row(c, id, provisioner, thumbprint, data, now);
  });
}

Result<std::optional<AcmeRow>> PostgresStore::acme_account(const std::string& id) {
  HERALD_TRY(auto c, pool_.get());
  return one_row(*c, "SELECT id, data FROM acme_accounts WHERE id = $1", {Param(id)});
}

Result<std::optional<AcmeRow>> PostgresStore::acme_account_by_key(const std::string& provisioner,
                                                                  const std::string& thumbprint) {
  HERALD_TRY(auto c, pool_.get());
  return one_row(*c,
                 "SELECT id, data FROM acme_accounts WHERE provisioner = $1 AND thumbprint = $2",
                 {Param(provisioner), Param(thumbprint)});
}

Status PostgresStore::acme_update_account(const std::string& id, const std::string& thumbprint,
                                          const std::string& data) {
  HERALD_TRY(auto c, pool_.get());
  auto r = c->exec("UPDATE acme_accounts SET thumbprint = $1, data = $2 WHERE id = $3",
                   {Param(thumbprint), Param(data), Param(id)});
  if (!r) {
    if (is_unique_violation(r.error()))
      return make_error(ErrorCode::kAlreadyExists, "another account already uses this key");
    return tl::unexpected(r.error());
  }
  if (r->affected() != 1) return make_error(ErrorCode::kNotFound, "no such account");
  return {};
}

namespace {

// The creation times `sql` selects ($1 = key, $2 = since, $3 = how many at
// most, oldest first): kRateLimited, with how long until the oldest leaves
// the window, if `limit` are found.
Status check_limit(Conn& c, const char* sql, const std::string& key, TimePoint now,
                   const AcmeOrderLimits& limits, int64_t limit, const std::string& what) {
  if (limit <= 0) return {};
  HERALD_TRY(auto r,
             c.exec(sql, {Param(key), Param(unix_seconds(now - limits.window)), Param(limit)}));
  const int64_t n = r.size();
  return window_limit(n, n > 0 ? r.integer(0, 0) : 0, now, limits, limit, what);
}

// The account's open orders (pending or ready, not expired): at most
// limits.pending_per_account, else kRateLimited with the seconds until the
// first of them expires. The expressions match the acme_orders_open index.
Status check_pending(Conn& c, const std::string& account_id, TimePoint now,
                     const AcmeOrderLimits& limits) {
  if (limits.pending_per_account <= 0) return {};
  HERALD_TRY(
      auto r,
      c.exec("SELECT herald_order_expires(data) FROM acme_orders WHERE account_id = $1 "
             "AND herald_order_status(data) IN ('pending', 'ready') AND "
             "herald_order_expires(data) > $2 ORDER BY herald_order_expires(data) LIMIT $3",
             {Param(account_id), Param(unix_seconds(now)), Param(limits.pending_per_account)}));
  const int64_t n = r.size();
  return pending_limit(n, n > 0 ? r.integer(0, 0) : 0, now, limits);
}

}  // namespace

Status PostgresStore::acme_insert_order(const AcmeNewOrder& order, const AcmeOrderLimits& limits) {
  return write([&](Conn& c) -> Status {
    HERALD_TRY_VOID(lock_acme(c));
    HERALD_TRY_VOID(check_limit(c,
                                "SELECT created_at FROM acme_orders WHERE account_id = $1 AND "
                                "created_at >= $2 ORDER BY created_at LIMIT $3",
                                order.account_id, order.created_at, limits, limits.per_account,
                                "this account created"));
    HERALD_TRY_VOID(check_pending(c, order.account_id, order.created_at, limits));
    for (const auto& ident : order.identifiers) {
      HERALD_TRY_VOID(check_limit(c,
                                  "SELECT created_at FROM acme_order_identifiers WHERE "
                                  "identifier = $1 AND created_at >= $2 ORDER BY created_at "
                                  "LIMIT $3",
                                  ident, order.created_at, limits, limits.per_identifier,
                                  "'" + ident + "' was named in"));
    }
    HERALD_TRY_VOID(
        c.exec("INSERT INTO acme_orders (id, account_id, data, created_at) VALUES ($1, $2, $3, $4)",
               {Param(order.id), Param(order.account_id), Param(order.data),
                Param(unix_seconds(order.created_at))}));
    for (const auto& a : order.authzs) {
      HERALD_TRY_VOID(c.exec("INSERT INTO acme_authzs (id, order_id, data) VALUES ($1, $2, $3)",
                             {Param(a.id), Param(order.id), Param(a.data)}));
    }
    for (const auto& ident : order.identifiers) {
      HERALD_TRY_VOID(
          c.exec("INSERT INTO acme_order_identifiers (identifier, order_id, "
                 "created_at) VALUES ($1, $2, $3)",
                 {Param(ident), Param(order.id), Param(unix_seconds(order.created_at))}));
    }
    return {};
  });
}

Result<std::optional<AcmeRow>> PostgresStore::acme_order(const std::string& id) {
  HERALD_TRY(auto c, pool_.get());
  return one_row(*c, kSelectOrder, {Param(id)});
}

Result<std::optional<AcmeRow>> PostgresStore::acme_authz(const std::string& id) {
  HERALD_TRY(auto c, pool_.get());
  return one_row(*c, kSelectAuthz, {Param(id)});
}

namespace {

Status update_doc(Conn& c, const char* sql, const AcmeRow& row, const char* what) {
  HERALD_TRY(auto r, c.exec(sql, {Param(row.data), Param(row.id)}));
  if (r.affected() != 1) return make_error(ErrorCode::kNotFound, std::string("no such ") + what);
  return {};
}

class PostgresAcmeTxn final : public AcmeTxn {
 public:
  explicit PostgresAcmeTxn(Conn& c) : c_(c) {}
  Result<std::optional<AcmeRow>> order(const std::string& id) override {
    return one_row(c_, kSelectOrder, {Param(id)});
  }
  Result<std::optional<AcmeRow>> authz(const std::string& id) override {
    return one_row(c_, kSelectAuthz, {Param(id)});
  }
  Status put_order(const AcmeRow& row) override {
    return update_doc(c_, "UPDATE acme_orders SET data = $1 WHERE id = $2", row, "order");
  }
  Status put_authz(const AcmeRow& row) override {
    return update_doc(c_, "UPDATE acme_authzs SET data = $1 WHERE id = $2", row, "authorization");
  }

 private:
  Conn& c_;
};

}  // namespace

Status PostgresStore::acme_transact(const std::function<Status(AcmeTxn&)>& body) {
  return write([&](Conn& c) -> Status {
    HERALD_TRY_VOID(lock_acme(c));
    PostgresAcmeTxn txn(c);
    return body(txn);
  });
}

Status PostgresStore::acme_finalize_order(const CertRecord& certificate, const AcmeRow& order,
                                          const std::string& ready_data) {
  return write([&](Conn& c) -> Status {
    HERALD_TRY_VOID(lock_acme(c));
    HERALD_TRY(auto u, c.exec("UPDATE acme_orders SET data = $1 WHERE id = $2 AND data = $3",
                              {Param(order.data), Param(order.id), Param(ready_data)}));
    if (u.affected() != 1) {
      HERALD_TRY(auto e, c.exec("SELECT 1 FROM acme_orders WHERE id = $1", {Param(order.id)}));
      if (e.size() > 0)
        return make_error(ErrorCode::kConflict, "the order changed meanwhile (finalized already?)");
      return make_error(ErrorCode::kNotFound, "no such order");
    }
    return insert_one(c, certificate);
  });
}

Result<AcmePurged> PostgresStore::acme_purge_expired(TimePoint now, TimePoint created_before,
                                                     size_t batch) {
  AcmePurged purged;
  HERALD_TRY_VOID(write([&](Conn& c) -> Status {
    purged = {};
    HERALD_TRY_VOID(lock_acme(c));
    HERALD_TRY(auto pick, c.exec("SELECT id FROM acme_orders WHERE created_at < $1 AND "
                                 "herald_order_expires(data) < $2 ORDER BY created_at LIMIT $3",
                                 {Param(unix_seconds(created_before)), Param(unix_seconds(now)),
                                  Param(static_cast<int64_t>(batch))}));
    for (int i = 0; i < pick.size(); ++i) {
      const std::string id = pick.text(i, 0);
      // Children first (foreign keys).
      HERALD_TRY_VOID(
          c.exec("DELETE FROM acme_order_identifiers WHERE order_id = $1", {Param(id)}));
      HERALD_TRY(auto a, c.exec("DELETE FROM acme_authzs WHERE order_id = $1", {Param(id)}));
      purged.authzs += a.affected();
      HERALD_TRY(auto o, c.exec("DELETE FROM acme_orders WHERE id = $1", {Param(id)}));
      purged.orders += o.affected();
    }
    return {};
  }));
  return purged;
}

Result<std::vector<std::string>> PostgresStore::acme_orders_of(const std::string& account_id,
                                                               size_t limit) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec("SELECT id FROM acme_orders WHERE account_id = $1 ORDER BY "
                             "created_at DESC, id LIMIT $2",
                             {Param(account_id), Param(static_cast<int64_t>(limit))}));
  std::vector<std::string> out;
  for (int i = 0; i < r.size(); ++i) out.push_back(r.text(i, 0));
  return out;
}

}  // namespace herald::store
