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

}  // namespace herald::store
