#include "store/postgres/test_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>

namespace herald::store::testing {

namespace {

namespace fs = std::filesystem;

std::string find_bindir() {
  if (const char* env = std::getenv("HERALD_PG_BINDIR"); env && *env) {
    return fs::exists(fs::path(env) / "initdb") ? std::string(env) : std::string();
  }
  for (const char* dir : {"/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin",
                          "/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/14/bin"}) {
    if (fs::exists(fs::path(dir) / "initdb")) return dir;
  }
  if (FILE* p = ::popen("pg_config --bindir 2>/dev/null", "r")) {
    char buf[512] = {};
    std::string out;
    if (std::fgets(buf, sizeof buf, p)) out = buf;
    ::pclose(p);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    if (!out.empty() && fs::exists(fs::path(out) / "initdb")) return out;
  }
  return {};
}

int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(s);
  return port;
}

// Quotes for /bin/sh.
std::string q(const std::string& s) {
  std::string out = "'";
  for (char ch : s) {
    if (ch == '\'')
      out += "'\\''";
    else
      out += ch;
  }
  return out + "'";
}

PostgresTestServer* g_server = nullptr;
std::mutex g_db_mu;

struct StopAtExit {
  ~StopAtExit() {
    if (g_server) g_server->stop();
  }
} g_stop_at_exit;

}  // namespace

Result<PostgresTestServer*> PostgresTestServer::get() {
  static std::mutex mu;
  static Status started = make_error(ErrorCode::kInternal, "not started");
  static bool tried = false;
  std::lock_guard lock(mu);
  if (!tried) {
    tried = true;
    g_server = new PostgresTestServer();
    started = g_server->start();
    if (!started)
      std::fprintf(stderr, "PostgreSQL test server: %s\n", started.error().message.c_str());
  }
  if (!started) return tl::unexpected(started.error());
  return g_server;
}

Status PostgresTestServer::start() {
  bindir_ = find_bindir();
  if (bindir_.empty()) {
    return make_error(ErrorCode::kInternal,
                      "the PostgreSQL server binaries (initdb, pg_ctl) are not installed: looked "
                      "in $HERALD_PG_BINDIR, else /usr/lib/postgresql/*/bin and `pg_config "
                      "--bindir` (install postgresql-15, or set HERALD_PG_BINDIR)");
  }
  char tmpl[] = "/tmp/herald-pg-test-XXXXXX";
  if (!::mkdtemp(tmpl)) return make_error(ErrorCode::kInternal, "cannot make a temp dir");
  dir_ = tmpl;
  as_postgres_user_ = ::geteuid() == 0;
  if (as_postgres_user_) {
    passwd* pw = ::getpwnam("postgres");
    if (!pw) {
      return make_error(ErrorCode::kInternal,
                        "running as root, and there is no `postgres` user to run PostgreSQL as");
    }
    if (::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0)
      return make_error(ErrorCode::kInternal, "cannot chown " + dir_);
    user_ = "postgres";
  } else {
    passwd* pw = ::getpwuid(::geteuid());
    user_ = pw ? pw->pw_name : "postgres";
  }
  const std::string as = as_postgres_user_ ? "runuser -u postgres -- " : "";
  const std::string data = dir_ + "/data";
  const std::string log = dir_ + "/log";
  std::string cmd = as + q(bindir_ + "/initdb") + " -D " + q(data) + " -U " + q(user_) +
                    " --auth=trust --locale=C.UTF-8 --encoding=UTF8 --no-sync > " +
                    q(dir_ + "/initdb.log") + " 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    std::ifstream in(dir_ + "/initdb.log");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return make_error(ErrorCode::kInternal, "initdb failed: " + text);
  }
  // Only TCP from 127.0.0.1 (and the socket in our dir); trust for the
  // superuser, a password for the role pw_herald (PostgreSQL 15 has no regex here).
  {
    std::ofstream hba(data + "/pg_hba.conf", std::ios::trunc);
    hba << "local all all trust\n"
           "host all pw_herald 127.0.0.1/32 scram-sha-256\n"
           "host all all 127.0.0.1/32 trust\n";
  }
  for (int attempt = 0; attempt < 5 && !running_; ++attempt) {
    port_ = free_port();
    if (port_ == 0) return make_error(ErrorCode::kInternal, "no free port");
    std::string opts = "-p " + std::to_string(port_) + " -k " + dir_ +
                       " -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off "
                       "-c max_connections=200";
    cmd = as + q(bindir_ + "/pg_ctl") + " -D " + q(data) + " -l " + q(log) + " -w -t 60 -o " +
          q(opts) + " start > " + q(dir_ + "/pg_ctl.log") + " 2>&1";
    if (std::system(cmd.c_str()) == 0) running_ = true;
  }
  if (running_) start_watchdog();
  if (!running_) {
    std::ifstream in(log);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return make_error(ErrorCode::kInternal, "PostgreSQL did not start: " + text);
  }
  return {};
}

// A crashed or killed test binary runs no destructor: a child in its own
// session waits for the end of a pipe only this process holds, then stops
// the server and removes its directory (nothing left if stop() ran first).
void PostgresTestServer::start_watchdog() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return;
  const std::string as = as_postgres_user_ ? "runuser -u postgres -- " : "";
  const std::string script = "read -r _ <&3; " + as + q(bindir_ + "/pg_ctl") + " -D " +
                             q(dir_ + "/data") + " -m immediate -w stop >/dev/null 2>&1; rm -rf " +
                             q(dir_);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setsid();
    if (fds[0] == 3) {
      ::fcntl(3, F_SETFD, 0);
    } else {
      ::dup2(fds[0], 3);  // the copy is not close-on-exec
    }
    ::execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[0]);
  if (pid < 0) ::close(fds[1]);
  // fds[1] stays open (close-on-exec) until this process ends.
}

void PostgresTestServer::stop() {
  if (running_) {
    const std::string as = as_postgres_user_ ? "runuser -u postgres -- " : "";
    std::string cmd = as + q(bindir_ + "/pg_ctl") + " -D " + q(dir_ + "/data") +
                      " -m immediate -w stop > /dev/null 2>&1";
    (void)std::system(cmd.c_str());
    running_ = false;
  }
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    dir_.clear();
  }
}

std::string PostgresTestServer::url(const std::string& db) const {
  return "postgresql://" + user_ + "@127.0.0.1:" + std::to_string(port_) + "/" + db;
}

Status PostgresTestServer::sql(const std::string& db, const std::string& statement) {
  PGconn* c = PQconnectdb(url(db).c_str());
  std::unique_ptr<PGconn, decltype(&PQfinish)> guard(c, &PQfinish);
  if (PQstatus(c) != CONNECTION_OK)
    return make_error(ErrorCode::kInternal, std::string("test server: ") + PQerrorMessage(c));
  PGresult* r = PQexec(c, statement.c_str());
  std::unique_ptr<PGresult, decltype(&PQclear)> rguard(r, &PQclear);
  auto st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    return make_error(ErrorCode::kInternal,
                      "test server: " + statement + ": " + PQresultErrorMessage(r));
  return {};
}

Result<std::string> PostgresTestServer::create_database() {
  std::string name;
  {
    std::lock_guard lock(g_db_mu);
    name = "herald_t" + std::to_string(next_db_++);
  }
  HERALD_TRY_VOID(sql("postgres", "CREATE DATABASE " + name));
  return url(name);
}

Result<std::string> PostgresTestServer::create_password_database(const std::string& role,
                                                                 const std::string& password) {
  std::string name;
  {
    std::lock_guard lock(g_db_mu);
    name = "herald_p" + std::to_string(next_db_++);
  }
  // Test values only (no quotes in them): the role and password are ours.
  HERALD_TRY_VOID(
      sql("postgres", "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '" + role +
                          "') THEN CREATE ROLE " + role + " LOGIN PASSWORD '" + password +
                          "'; END IF; END$$"));
  HERALD_TRY_VOID(sql("postgres", "CREATE DATABASE " + name + " OWNER " + role));
  return "postgresql://" + role + "@127.0.0.1:" + std::to_string(port_) + "/" + name;
}

}  // namespace herald::store::testing
