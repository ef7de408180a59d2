#pragma once
// One SQLite connection with its own lock and a cache of prepared
// statements (preparing is most of the cost of a small query). Stmt borrows
// a cached statement and resets it when it goes out of scope. Internal to
// the SQLite store.

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "base/encoding.h"
#include "base/error.h"

struct sqlite3;
struct sqlite3_stmt;

namespace herald::store::sqlite {

class Connection {
 public:
  // flags are sqlite3_open_v2 flags; the connection waits up to 10 s for a lock.
  [[nodiscard]] static Result<std::unique_ptr<Connection>> open(const std::filesystem::path& path,
                                                                int flags);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* db() const { return db_; }
  std::mutex& mutex() { return mu_; }

  // One statement, prepared once and cached.
  [[nodiscard]] Status exec(std::string_view sql);
  // Several statements (migrations); not cached.
  [[nodiscard]] Status exec_script(const char* sql);

  // A store error carrying SQLite's message for this connection.
  [[nodiscard]] tl::unexpected<Error> error(const std::string& what) const;

 private:
  friend class Stmt;
  explicit Connection(sqlite3* db) : db_(db) {}
  sqlite3_stmt* prepare(std::string_view sql, bool& cached);
  sqlite3* db_;
  std::mutex mu_;
  std::map<std::string, sqlite3_stmt*, std::less<>> cache_;
};

// A prepared statement borrowed from a Connection (whose lock the caller
// holds). Bindings are cleared and the statement reset on destruction.
class Stmt {
 public:
  Stmt(Connection& c, std::string_view sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  [[nodiscard]] bool ok() const { return s_ != nullptr; }
  void bind(int i, std::string_view v);
  void bind(int i, int64_t v);
  void bind_blob(int i, const Bytes& b);
  void bind_null(int i);
  int step();
  std::string text(int i);
  int64_t integer(int i);
  bool is_null(int i);
  bool is_blob(int i);
  Bytes blob(int i);

 private:
  sqlite3_stmt* s_ = nullptr;
  bool cached_ = false;
};

}  // namespace herald::store::sqlite
