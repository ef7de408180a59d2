#pragma once
// A throwaway PostgreSQL server for the PostgreSQL store's tests: one per
// test binary, started on first use (initdb into a temp dir, trust
// authentication for 127.0.0.1 only, a free port, unix sockets in the temp
// dir) and stopped, with its directory removed, at exit. As root it runs
// as the `postgres` system user (PostgreSQL refuses root). If the
// PostgreSQL binaries are missing, tests fail with a clear message: never
// skip.

#include <string>

#include "base/error.h"

namespace herald::store::testing {

class PostgresTestServer {
 public:
  // The running server (started on first call), or why it could not start.
  [[nodiscard]] static Result<PostgresTestServer*> get();

  // A fresh, empty database; returns its URL
  // (postgresql://USER@127.0.0.1:PORT/herald_tN).
  [[nodiscard]] Result<std::string> create_database();
  // A database owned by `role`, which must log in with `password`
  // (scram-sha-256; pg_hba.conf asks that of the role pw_herald only): its
  // URL, without the password.
  [[nodiscard]] Result<std::string> create_password_database(const std::string& role,
                                                             const std::string& password);
  // Runs one SQL statement in database `db` as the superuser.
  [[nodiscard]] Status sql(const std::string& db, const std::string& statement);
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string url(const std::string& db) const;

  void stop();

 private:
  PostgresTestServer() = default;
  [[nodiscard]] Status start();
  void start_watchdog();
  std::string bindir_;
  std::string dir_;
  std::string user_ = "postgres";
  int port_ = 0;
  bool as_postgres_user_ = false;
  bool running_ = false;
  int next_db_ = 0;
};

}  // namespace herald::store::testing
