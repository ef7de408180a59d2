#pragma once
// PostgreSQL store: every interface of store::Store on one PostgreSQL
// database, shared by any number of `herald serve` nodes and CLI runs.
// libpq, a small pool of connections; versioned migrations kept as SQL
// files (migrations/NNNN_name.sql, compiled into the binary) and applied at
// open in order, each in its own transaction, under an advisory lock so two
// nodes starting together do not race; a database at a newer schema than
// this binary knows is refused.
//
// Consistency across nodes, where SQLite relied on its single writer:
// - a certificate record is committed (synchronous_commit on) before insert
//   returns;
// - revocation events get their ids in commit order (the writer holds a
//   transaction-scoped advisory lock), so a follower reading "id > last"
//   never skips one committed late;
// - CRL numbers come from one UPDATE ... RETURNING: unique and increasing
//   across nodes;
// - one-time-token ids: INSERT ... ON CONFLICT DO NOTHING, a replay on any
//   node is kConflict;
// - ACME order limits, acme_transact and acme_finalize_order run under a
//   transaction-scoped advisory lock (and row locks), so concurrent nodes
//   cannot pass a limit together nor lose a read-modify-write.

#include <cstddef>
#include <memory>
#include <string>

#include "store/store.h"

namespace herald::store {

struct PostgresOptions {
  // A libpq connection URI without a password:
  // postgresql://user@host:port/dbname[?sslmode=verify-full&sslrootcert=...]
  std::string url;
  // From a file or the environment, never the command line; "" = none
  // (libpq may still find one in ~/.pgpass).
  std::string password;
  std::size_t pool_size = 8;
};

// kCreate: a database without Herald's schema gets it; kExisting: the schema
// must be there (kNotFound otherwise). Pending migrations are applied either
// way; a newer schema is kStore ("upgrade herald"), as are connection
// failures (with libpq's message, never the password; HTTP 503).
[[nodiscard]] Result<std::unique_ptr<Store>> open_postgres(const PostgresOptions& options,
                                                           OpenMode mode, const Clock& clock);

}  // namespace herald::store
