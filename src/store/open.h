#pragma once
// The one place a store is opened: the embedded default (SQLite, a file in
// the data directory) or PostgreSQL (several `herald serve` nodes on one
// database). Everything else sees store::Store.

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

#include "base/clock.h"
#include "base/error.h"
#include "store/store.h"

namespace herald::store {

struct StoreSpec {
  // SQLite: the database file (used when `url` is empty).
  std::filesystem::path sqlite_path;
  // PostgreSQL: postgresql://user@host:port/dbname[?sslmode=...], without a
  // password (one in the URL is refused: it would end up in logs and `ps`).
  std::string url;
  std::string password;  // from a file or the environment
  std::size_t pool_size = 8;
};

// kInvalidArgument for a URL that is not postgresql:// or carries a
// password; otherwise what the adapter returns (kNotFound for kExisting on a
// missing database or schema, kStore for a database that cannot be reached
// or has a newer schema).
[[nodiscard]] Result<std::unique_ptr<Store>> open(const StoreSpec& spec, OpenMode mode,
                                                  const Clock& clock);

// kInvalidArgument unless `url` is a postgresql:// URL without a password.
[[nodiscard]] Status check_url(std::string_view url);

// The URL as it may be shown: never a password (user:secret@ -> user@).
[[nodiscard]] std::string redact_url(std::string_view url);

}  // namespace herald::store
