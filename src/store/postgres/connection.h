#pragma once
// A small libpq wrapper for the PostgreSQL store: a pool of connections,
// parameterized queries only (values never enter the SQL text), each SQL
// text prepared once per connection and executed by name after (the server
// parses and plans it once), RAII for results, and transactions that roll
// back on error. Internal to the PostgreSQL store.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/encoding.h"
#include "base/error.h"

struct pg_conn;
struct pg_result;

namespace herald::store::postgres {

// One query parameter: text, an integer, NULL, or binary (bytea).
struct Param {
  Param(std::string_view v) : value(v) {}         // NOLINT(google-explicit-constructor)
  Param(const std::string& v) : value(v) {}       // NOLINT(google-explicit-constructor)
  Param(const char* v) : value(v) {}              // NOLINT(google-explicit-constructor)
  Param(int64_t v) : value(std::to_string(v)) {}  // NOLINT(google-explicit-constructor)
  Param(std::nullopt_t) : is_null(true) {}        // NOLINT(google-explicit-constructor)
  static Param bytes(const Bytes& b) {
    Param p{std::string(b.begin(), b.end())};
    p.binary = true;
    return p;
  }
  static Param optional(const std::optional<int64_t>& v) {
    return v ? Param(*v) : Param(std::nullopt);
  }
  std::string value;
  bool is_null = false;
  bool binary = false;
};

// An owned PGresult (text format).
class Rows {
 public:
  explicit Rows(pg_result* r) : r_(r) {}
  ~Rows();
  Rows(Rows&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Rows& operator=(Rows&& o) noexcept;
  Rows(const Rows&) = delete;
  Rows& operator=(const Rows&) = delete;

  [[nodiscard]] int size() const;
  [[nodiscard]] bool is_null(int row, int col) const;
  [[nodiscard]] std::string text(int row, int col) const;
  [[nodiscard]] int64_t integer(int row, int col) const;
  [[nodiscard]] bool boolean(int row, int col) const;
  [[nodiscard]] Bytes bytes(int row, int col) const;  // a bytea column
  // Rows an INSERT/UPDATE/DELETE touched.
  [[nodiscard]] int64_t affected() const;
  [[nodiscard]] pg_result* raw() const { return r_; }

 private:
  pg_result* r_;
};

// SQLSTATEs the store tells apart.
inline constexpr std::string_view kUniqueViolation = "23505";

// The SQLSTATE an error from Conn carries ("" if none).
[[nodiscard]] std::string sqlstate(const Error& e);

class Conn {
 public:
  // `conninfo_url` is a libpq URI or key=value string; `password` is passed
  // apart and never appears in an error.
  [[nodiscard]] static Result<std::unique_ptr<Conn>> connect(const std::string& conninfo_url,
                                                             const std::string& password);
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // One statement with parameters (text results); kStore on failure, with
  // context "sqlstate". Prepared on this connection the first time its text
  // is seen (up to kMaxPrepared texts; any beyond run unprepared).
  [[nodiscard]] Result<Rows> exec(std::string_view sql, const std::vector<Param>& params = {});
  // The same, never prepared: planned for its parameters every time (the
  // inventory searches, list_filter_sql.h, whose best plan depends on them;
  // a prepared statement may get one generic plan from its 6th run).
  [[nodiscard]] Result<Rows> exec_unprepared(std::string_view sql,
                                             const std::vector<Param>& params = {});
  // Several statements without parameters (migrations).
  [[nodiscard]] Status exec_script(const char* sql);
  // BEGIN; body; COMMIT, or ROLLBACK if body (or COMMIT) fails.
  [[nodiscard]] Status transaction(const std::function<Status(Conn&)>& body);
  // Lost, or not idle (so not fit to go back to the pool).
  [[nodiscard]] bool broken() const;
  // user@host:port/dbname of the live connection.
  [[nodiscard]] std::string describe() const;

 private:
  Conn(pg_conn* c, std::string password) : c_(c), password_(std::move(password)) {}
  [[nodiscard]] tl::unexpected<Error> error(std::string_view what, pg_result* r) const;
  // The name `sql` is prepared under on this connection, preparing it first;
  // nullopt if the cache is full (the caller runs it unprepared).
  [[nodiscard]] Result<std::optional<std::string>> prepared(const std::string& sql, int nparams);
  [[nodiscard]] Result<Rows> run(std::string_view sql, const std::vector<Param>& params,
                                 bool prepare);
  static constexpr size_t kMaxPrepared = 256;
  pg_conn* c_;
  std::string password_;
  std::unordered_map<std::string, std::string> prepared_;  // SQL text -> statement name
  uint64_t next_name_ = 0;
};

// Up to `size` connections, opened on demand; a caller takes a free one
// (waiting if all are in use) and gives it back when its Lease ends.
class Pool {
 public:
  Pool(std::string url, std::string password, size_t size)
      : url_(std::move(url)), password_(std::move(password)), size_(size == 0 ? 1 : size) {}
  class Lease {
   public:
    Lease(Pool& p, std::unique_ptr<Conn> c) : pool_(&p), conn_(std::move(c)) {}
    ~Lease();
    Lease(Lease&& o) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Conn& operator*() const { return *conn_; }
    Conn* operator->() const { return conn_.get(); }

   private:
    Pool* pool_;
    std::unique_ptr<Conn> conn_;
  };
  [[nodiscard]] Result<Lease> get();

 private:
  void put_back(std::unique_ptr<Conn> c);
  std::string url_;
  std::string password_;
  size_t size_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Conn>> idle_;
  size_t open_ = 0;
};

}  // namespace herald::store::postgres
