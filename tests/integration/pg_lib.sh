# A throwaway PostgreSQL for the tests of the PostgreSQL store. Source it
# after lib.sh and serve_lib.sh; do not run it.
#
#   pg_start                start PostgreSQL 15 on 127.0.0.1 (temp dir, free
#                           port); as the `postgres` system user when run as
#                           root (initdb refuses root). Sets PG_PORT, PG_DIR.
#   pg_create_db NAME PASS  a role NAME with password PASS owning database
#                           NAME; sets PG_URL (no password in it) and writes
#                           the password to $T/NAME.pass (0600)
#   pg_stop / pg_restart    stop (fast) / start again on the same port
#   pg_sql SQL [DB]         run SQL as the superuser in DB (default postgres), print the result (psql -At)
#
# Connections over TCP need the password (scram-sha-256); the superuser uses
# the unix socket in PG_DIR. Stopped when the script exits, whatever the outcome.

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}

_pg_as() {
  # From /: the postgres user may not enter the test's temp dir.
  if [[ $(id -u) == 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

pg_start() {
  [[ -x $PG_BIN/initdb ]] || fail "PostgreSQL server binaries not found (apt-get install postgresql)"
  PG_DIR=$(mktemp -d /tmp/herald-pg.XXXXXX)
  [[ $(id -u) == 0 ]] && chown postgres: "$PG_DIR"
  PG_PORT=$(free_port)
  _pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 --no-sync >"$PG_DIR/initdb.log" 2>&1 ||
    fail "initdb failed: $(tail -5 "$PG_DIR/initdb.log")"
  _pg_ctl_start
}

_pg_ctl_start() {
  _pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -w -t 30 -l "$PG_DIR/server.log" \
    -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$PG_DIR -c max_connections=200" \
    start >/dev/null 2>&1 || fail "PostgreSQL did not start: $(tail -5 "$PG_DIR/server.log")"
}

pg_stop() {
  [[ -n ${PG_DIR:-} && -d $PG_DIR/data ]] || return 0
  _pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
}

pg_restart() { _pg_ctl_start; }

pg_sql() {
  _pg_as "$PG_BIN/psql" -h "$PG_DIR" -p "$PG_PORT" -U postgres -d "${2:-postgres}" -v ON_ERROR_STOP=1 -At -c "$1"
}

pg_create_db() {
  local name=$1 pass=$2
  pg_sql "CREATE ROLE $name LOGIN PASSWORD '$pass'" >/dev/null || fail "cannot create role $name"
  pg_sql "CREATE DATABASE $name OWNER $name" >/dev/null || fail "cannot create database $name"
  PG_URL="postgresql://$name@127.0.0.1:$PG_PORT/$name"
  (umask 077 && printf '%s\n' "$pass" >"$T/$name.pass")
}

_pg_exit() {
  local rc=$?
  set +e  # (exit "$rc") below must not end the handler before _serve_exit
  pg_stop
  [[ -n ${PG_DIR:-} && ${HERALD_KEEP_TMP:-0} != 1 ]] && rm -rf "$PG_DIR"
  (exit "$rc")
  _serve_exit
}
trap _pg_exit EXIT
