#include "store/sqlite/connection.h"

#include <sqlite3.h>

namespace herald::store::sqlite {

namespace {
// Dynamic SQL (list filters) varies; past this many statements new ones are
// prepared and finalized each time instead of cached.
constexpr size_t kMaxCachedStatements = 128;
}  // namespace

Result<std::unique_ptr<Connection>> Connection::open(const std::filesystem::path& path,
                                                     int flags) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    Error e{ErrorCode::kStore, "inventory database error: cannot open " + path.string(), {}};
    e.with("sqlite", db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return tl::unexpected(std::move(e));
  }
  std::unique_ptr<Connection> c(new Connection(db));
  sqlite3_busy_timeout(db, 10000);
  return c;
}

Connection::~Connection() {
  for (auto& [sql, s] : cache_) sqlite3_finalize(s);
  sqlite3_close(db_);
}

sqlite3_stmt* Connection::prepare(std::string_view sql, bool& cached) {
  if (auto it = cache_.find(sql); it != cache_.end()) {
    cached = true;
    return it->second;
  }
  sqlite3_stmt* s = nullptr;
  unsigned flags = cache_.size() < kMaxCachedStatements ? SQLITE_PREPARE_PERSISTENT : 0;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), flags, &s, nullptr) !=
      SQLITE_OK) {
    cached = false;
    return nullptr;
  }
  cached = cache_.size() < kMaxCachedStatements;
  if (cached) cache_.emplace(std::string(sql), s);
  return s;
}

Status Connection::exec(std::string_view sql) {
  Stmt s(*this, sql);
  if (!s.ok()) return error("cannot prepare: " + std::string(sql));
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE) return error(std::string(sql) + " failed");
  return {};
}

Status Connection::exec_script(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string m = msg ? msg : "unknown";
    sqlite3_free(msg);
    Error e{ErrorCode::kStore, "inventory database error", {}};
    e.with("sqlite", m);
    return tl::unexpected(std::move(e));
  }
  return {};
}

tl::unexpected<Error> Connection::error(const std::string& what) const {
  Error e{ErrorCode::kStore, "inventory database error: " + what, {}};
  e.with("sqlite", sqlite3_errmsg(db_));
  return tl::unexpected(std::move(e));
}

Stmt::Stmt(Connection& c, std::string_view sql) { s_ = c.prepare(sql, cached_); }

Stmt::~Stmt() {
  if (!s_) return;
  if (cached_) {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  } else {
    sqlite3_finalize(s_);
  }
}

void Stmt::bind(int i, std::string_view v) {
  sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}
void Stmt::bind(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); }
void Stmt::bind_blob(int i, const Bytes& b) {
  sqlite3_bind_blob(s_, i, b.data(), static_cast<int>(b.size()), SQLITE_TRANSIENT);
}
void Stmt::bind_null(int i) { sqlite3_bind_null(s_, i); }
int Stmt::step() { return s_ ? sqlite3_step(s_) : SQLITE_MISUSE; }
std::string Stmt::text(int i) {
  const auto* p = sqlite3_column_text(s_, i);
  return p ? std::string(reinterpret_cast<const char*>(p),
                         static_cast<size_t>(sqlite3_column_bytes(s_, i)))
           : "";
}
int64_t Stmt::integer(int i) { return sqlite3_column_int64(s_, i); }
bool Stmt::is_null(int i) { return sqlite3_column_type(s_, i) == SQLITE_NULL; }
bool Stmt::is_blob(int i) { return sqlite3_column_type(s_, i) == SQLITE_BLOB; }
Bytes Stmt::blob(int i) {
  const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(s_, i));
  return p ? Bytes(p, p + sqlite3_column_bytes(s_, i)) : Bytes{};
}

}  // namespace herald::store::sqlite
