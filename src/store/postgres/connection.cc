#include "store/postgres/connection.h"

#include <libpq-fe.h>

#include <cstdlib>

namespace herald::store::postgres {

namespace {

// libpq's message, trimmed, with any occurrence of the password masked (a
// libpq message should never hold it; this makes sure).
std::string clean(std::string msg, const std::string& password) {
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  if (!password.empty()) {
    for (size_t at = msg.find(password); at != std::string::npos; at = msg.find(password, at)) {
      msg.replace(at, password.size(), "***");
    }
  }
  return msg;
}

}  // namespace

Rows::~Rows() {
  if (r_) PQclear(r_);
}

Rows& Rows::operator=(Rows&& o) noexcept {
  if (this != &o) {
    if (r_) PQclear(r_);
    r_ = o.r_;
    o.r_ = nullptr;
  }
  return *this;
}

int Rows::size() const { return PQntuples(r_); }
bool Rows::is_null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
std::string Rows::text(int row, int col) const {
  return std::string(PQgetvalue(r_, row, col), static_cast<size_t>(PQgetlength(r_, row, col)));
}
int64_t Rows::integer(int row, int col) const {
  return std::strtoll(PQgetvalue(r_, row, col), nullptr, 10);
}
bool Rows::boolean(int row, int col) const { return PQgetvalue(r_, row, col)[0] == 't'; }
Bytes Rows::bytes(int row, int col) const {
  size_t n = 0;
  unsigned char* raw =
      PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r_, row, col)), &n);
  if (!raw) return {};
  Bytes out(raw, raw + n);
  PQfreemem(raw);
  return out;
}
int64_t Rows::affected() const {
  const char* n = PQcmdTuples(r_);
  return (n && *n) ? std::strtoll(n, nullptr, 10) : 0;
}

std::string sqlstate(const Error& e) {
  for (const auto& [k, v] : e.context) {
    if (k == "sqlstate") return v;
  }
  return {};
}

namespace {
// A password written into the URL itself (against the advice), to be masked
// in messages like the one given apart.
std::string url_password(const std::string& url) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
  if (err) PQfreemem(err);
  if (!opts) return {};
  std::string out;
  for (PQconninfoOption* o = opts; o->keyword; ++o) {
    if (std::string_view(o->keyword) == "password" && o->val) out = o->val;
  }
  PQconninfoFree(opts);
  return out;
}
}  // namespace

Result<std::unique_ptr<Conn>> Conn::connect(const std::string& url, const std::string& password) {
  // Later keywords override what the URL says; connect_timeout comes first
  // so the URL may set its own.
  std::vector<const char*> keys = {"connect_timeout", "application_name", "dbname"};
  std::vector<const char*> values = {"10", "herald", url.c_str()};
  if (!password.empty()) {
    keys.push_back("password");
    values.push_back(password.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* c = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1);
  if (!c) return make_error(ErrorCode::kStore, "cannot connect to PostgreSQL: out of memory");
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg = clean(clean(PQerrorMessage(c), password), url_password(url));
    PQfinish(c);
    return make_error(ErrorCode::kStore, "cannot connect to PostgreSQL: " + msg);
  }
  std::unique_ptr<Conn> conn(new Conn(c, password));
  // A commit is durable before the caller hears of it, whatever the server's
  // default; messages stay parseable.
  HERALD_TRY_VOID(conn->exec("SET synchronous_commit = on"));
  HERALD_TRY_VOID(conn->exec("SET client_min_messages = warning"));
  return conn;
}

Conn::~Conn() { PQfinish(c_); }

// A connection left inside a transaction (a failed ROLLBACK) is not reused.
bool Conn::broken() const {
  return PQstatus(c_) != CONNECTION_OK || PQtransactionStatus(c_) != PQTRANS_IDLE;
}

std::string Conn::describe() const {
  const char* host = PQhost(c_);
  std::string h = host ? host : "";
  if (!h.empty() && h[0] == '/') {  // a socket directory, percent-encoded as libpq reads it
    std::string enc;
    for (char ch : h) enc += ch == '/' ? std::string("%2F") : std::string(1, ch);
    h = enc;
  }
  return std::string(PQuser(c_)) + "@" + h + ":" + PQport(c_) + "/" + PQdb(c_);
}

tl::unexpected<Error> Conn::error(std::string_view what, PGresult* r) const {
  std::string msg = clean(r ? PQresultErrorMessage(r) : PQerrorMessage(c_), password_);
  if (msg.empty()) msg = clean(PQerrorMessage(c_), password_);
  Error e{ErrorCode::kStore, std::string(what) + ": " + msg, {}};
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  if (state) e.with("sqlstate", state);
  return tl::unexpected(std::move(e));
}

Result<std::optional<std::string>> Conn::prepared(const std::string& sql, int nparams) {
  if (auto it = prepared_.find(sql); it != prepared_.end()) return std::optional(it->second);
  if (prepared_.size() >= kMaxPrepared) return std::optional<std::string>{};
  std::string name = "herald_" + std::to_string(++next_name_);
  // Parameter types are inferred by the server, as PQexecParams does. A
  // statement prepared at the protocol level outlives a transaction that
  // rolls back, so the cache stays true; a failed prepare is not cached.
  Rows r(PQprepare(c_, name.c_str(), sql.c_str(), nparams, nullptr));
  if (!r.raw()) return error("PostgreSQL query failed", nullptr);
  if (PQresultStatus(r.raw()) != PGRES_COMMAND_OK) return error("PostgreSQL query failed", r.raw());
  prepared_.emplace(sql, name);
  return std::optional(std::move(name));
}

Result<Rows> Conn::exec(std::string_view sql, const std::vector<Param>& params) {
  return run(sql, params, true);
}

Result<Rows> Conn::exec_unprepared(std::string_view sql, const std::vector<Param>& params) {
  return run(sql, params, false);
}

Result<Rows> Conn::run(std::string_view sql, const std::vector<Param>& params, bool prepare) {
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
  values.reserve(params.size());
  lengths.reserve(params.size());
  formats.reserve(params.size());
  for (const auto& p : params) {
    values.push_back(p.is_null ? nullptr : p.value.c_str());
    lengths.push_back(static_cast<int>(p.value.size()));
    formats.push_back(p.binary ? 1 : 0);
  }
  std::string text(sql);
  const int n = static_cast<int>(params.size());
  std::optional<std::string> name;
  if (prepare) {
    HERALD_TRY(name, prepared(text, n));
  }
  PGresult* r = name ? PQexecPrepared(c_, name->c_str(), n, values.data(), lengths.data(),
                                      formats.data(), 0)
                     : PQexecParams(c_, text.c_str(), n, nullptr, values.data(), lengths.data(),
                                    formats.data(), 0);
  Rows rows(r);
  if (!r) return error("PostgreSQL query failed", nullptr);
  auto st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    auto e = error("PostgreSQL query failed", r);
    // 0A000 "cached plan must not change result type": a migration from
    // another node changed a table under the statement. Prepared afresh
    // next time (the old name is left unused).
    if (name && sqlstate(e.value()) == "0A000") prepared_.erase(text);
    return e;
  }
  return rows;
}

Status Conn::exec_script(const char* sql) {
  PGresult* r = PQexec(c_, sql);
  Rows rows(r);
  if (!r) return error("PostgreSQL script failed", nullptr);
  auto st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return error("PostgreSQL script failed", r);
  return {};
}

Status Conn::transaction(const std::function<Status(Conn&)>& body) {
  HERALD_TRY_VOID(exec("BEGIN"));
  Status s = body(*this);
  if (s) {
    auto committed = exec("COMMIT");
    if (committed) return {};
    s = tl::unexpected(committed.error());
  }
  (void)exec("ROLLBACK");
  return s;
}

Pool::Lease::~Lease() {
  if (pool_ && conn_) pool_->put_back(std::move(conn_));
}

void Pool::put_back(std::unique_ptr<Conn> c) {
  std::lock_guard lock(mu_);
  if (c->broken()) {
    --open_;  // dropped; the next caller opens a fresh one
  } else {
    idle_.push_back(std::move(c));
  }
  cv_.notify_one();
}

Result<Pool::Lease> Pool::get() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !idle_.empty() || open_ < size_; });
  if (!idle_.empty()) {
    auto c = std::move(idle_.back());
    idle_.pop_back();
    return Lease(*this, std::move(c));
  }
  ++open_;
  lock.unlock();
  auto c = Conn::connect(url_, password_);
  if (!c) {
    lock.lock();
    --open_;
    cv_.notify_one();
    return tl::unexpected(c.error());
  }
  return Lease(*this, std::move(*c));
}

}  // namespace herald::store::postgres
