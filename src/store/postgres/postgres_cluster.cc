// What several `herald serve` nodes share beyond the CA's records: secrets
// made once for all of them, and leases for the work one node at a time does.
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "store/postgres/postgres_store_impl.h"

namespace herald::store {

using postgres::Param;

namespace {
int64_t unix_seconds(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
}  // namespace

Result<Bytes> PostgresStore::shared_secret(std::string_view name) {
  Bytes fresh(32);
  if (RAND_bytes(fresh.data(), static_cast<int>(fresh.size())) != 1)
    return make_error(ErrorCode::kCrypto, "no randomness for a shared secret");
  HERALD_TRY(auto c, pool_.get());
  // The first writer's value stays (DO NOTHING); every node reads that one.
  auto put = c->exec("INSERT INTO shared_secrets (name, value) VALUES ($1, $2) "
                     "ON CONFLICT (name) DO NOTHING",
                     {Param(name), Param::bytes(fresh)});
  OPENSSL_cleanse(fresh.data(), fresh.size());
  if (!put) return tl::unexpected(put.error());
  HERALD_TRY(auto rows, c->exec("SELECT value FROM shared_secrets WHERE name = $1", {Param(name)}));
  if (rows.size() != 1) return make_error(ErrorCode::kStore, "the shared secret vanished");
  return rows.bytes(0, 0);
}

Result<bool> PostgresStore::acquire_lease(std::string_view name, std::string_view holder,
                                          TimePoint now, std::chrono::seconds ttl) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto r, c->exec("INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) "
                             "ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, "
                             "expires_at = EXCLUDED.expires_at "
                             "WHERE leases.holder = EXCLUDED.holder OR leases.expires_at <= $4",
                             {Param(name), Param(holder), Param(unix_seconds(now + ttl)),
                              Param(unix_seconds(now))}));
  return r.affected() == 1;
}

Status PostgresStore::put_crl(const StoredCrl& crl) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY_VOID(c->exec(
      "INSERT INTO published_crls (ca, number, der, this_update, next_update) "
      "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (ca) DO UPDATE SET number = EXCLUDED.number, "
      "der = EXCLUDED.der, this_update = EXCLUDED.this_update, "
      "next_update = EXCLUDED.next_update WHERE EXCLUDED.number > published_crls.number",
      {Param(crl.ca), Param(static_cast<int64_t>(crl.number)), Param::bytes(crl.der),
       Param(unix_seconds(crl.this_update)), Param(unix_seconds(crl.next_update))}));
  return {};
}

Result<std::optional<StoredCrl>> PostgresStore::latest_crl(std::string_view ca,
                                                           uint64_t newer_than) {
  HERALD_TRY(auto c, pool_.get());
  HERALD_TRY(auto rows, c->exec("SELECT number, der, this_update, next_update "
                                "FROM published_crls WHERE ca = $1 AND number > $2",
                                {Param(ca), Param(static_cast<int64_t>(newer_than))}));
  if (rows.size() == 0) return std::optional<StoredCrl>{};
  StoredCrl out;
  out.ca = std::string(ca);
  out.number = static_cast<uint64_t>(rows.integer(0, 0));
  out.der = rows.bytes(0, 1);
  out.this_update = TimePoint{std::chrono::seconds(rows.integer(0, 2))};
  out.next_update = TimePoint{std::chrono::seconds(rows.integer(0, 3))};
  return std::optional<StoredCrl>(std::move(out));
}

}  // namespace herald::store
