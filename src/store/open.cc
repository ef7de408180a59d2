#include "store/open.h"

#include "store/postgres/postgres_store.h"
#include "store/sqlite/sqlite_inventory.h"

namespace herald::store {
namespace {

bool is_postgres_url(std::string_view url) {
  return url.starts_with("postgresql://") || url.starts_with("postgres://");
}

// The userinfo of a URL (between "://" and '@' before the host), if any.
std::string_view userinfo(std::string_view url) {
  const auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return {};
  const std::string_view rest = url.substr(scheme + 3);
  const auto end = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, end);
  const auto at = authority.rfind('@');
  if (at == std::string_view::npos) return {};
  return authority.substr(0, at);
}

}  // namespace

std::string redact_url(std::string_view url) {
  const std::string_view info = userinfo(url);
  const auto colon = info.find(':');
  if (info.empty() || colon == std::string_view::npos) return std::string(url);
  const auto start = static_cast<std::size_t>(info.data() - url.data());
  return std::string(url.substr(0, start + colon)) +
         std::string(url.substr(start + info.size()));
}

Status check_url(std::string_view url) {
  if (!is_postgres_url(url)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "store url '" + redact_url(url) +
                          "': only postgresql:// URLs are supported (or no url: SQLite in the "
                          "data directory)");
  }
  if (userinfo(url).find(':') != std::string_view::npos) {
    return make_error(ErrorCode::kInvalidArgument,
                      "store url '" + redact_url(url) +
                          "' carries a password: give it in a file ([store] password_file, "
                          "--store-password-file or $HERALD_STORE_PASSWORD_FILE) instead");
  }
  return {};
}

Result<std::unique_ptr<Store>> open(const StoreSpec& spec, OpenMode mode, const Clock& clock) {
  if (spec.url.empty()) {
    HERALD_TRY(auto sqlite, SqliteInventory::open(spec.sqlite_path, mode, clock));
    return std::unique_ptr<Store>(std::move(sqlite));
  }
  HERALD_TRY_VOID(check_url(spec.url));
  PostgresOptions options;
  options.url = spec.url;
  options.password = spec.password;
  options.pool_size = spec.pool_size == 0 ? 1 : spec.pool_size;
  return open_postgres(options, mode, clock);
}

}  // namespace herald::store
