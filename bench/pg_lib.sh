# A throwaway PostgreSQL for the benchmarks of the PostgreSQL store
# (store_bench.sh, cluster_bench.sh). Source it; do not run it.
#
#   pg_start [POSTGRES OPTIONS...]  initdb in a temp dir and start PostgreSQL
#                           (15 from Debian's postgresql package) on 127.0.0.1
#                           at a free port, as the `postgres` system user when
#                           run as root (initdb refuses root); scram-sha-256
#                           over TCP, the superuser on the unix socket in the
#                           temp dir; default durability (fsync and
#                           synchronous_commit on). Extra options are passed
#                           to the server ("-c name=value"). Sets PG_BIN,
#                           PGD (the temp dir), PGPORT, PG_MAIN (postmaster pid).
#   pg_role NAME PASS       a login role NAME with password PASS
#   pg_db NAME OWNER        a database NAME owned by OWNER
#   pg_pids                 this server's postmaster and its children (not
#                           other PostgreSQL servers on the machine)
#   pg_version              the server's version (e.g. 15.14)
#   pg_stop                 stop (fast) and remove the temp dir; call it from
#                           the script's EXIT trap
#
# The tests have their own (tests/integration/pg_lib.sh: fail(), the test
# trap chain); this one only needs bash, python3 and the server binaries.

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}

_pg_as() {
  # From /: the postgres user may not enter the caller's directory.
  if [[ $(id -u) == 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

pg_start() {
  if [[ ! -x $PG_BIN/initdb ]]; then
    echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2
    return 1
  fi
  PGD=$(mktemp -d /tmp/herald-bench-pg.XXXXXX)
  [[ $(id -u) == 0 ]] && chown postgres: "$PGD"
  PGPORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  _pg_as "$PG_BIN/initdb" -D "$PGD/data" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 >"$PGD/initdb.log" 2>&1 ||
    { echo "initdb failed: $(tail -5 "$PGD/initdb.log")" >&2; return 1; }
  _pg_as "$PG_BIN/pg_ctl" -D "$PGD/data" -w -l "$PGD/log" \
    -o "-c listen_addresses=127.0.0.1 -c port=$PGPORT -c unix_socket_directories=$PGD $*" \
    start >/dev/null || { echo "PostgreSQL did not start: $(tail -5 "$PGD/log")" >&2; return 1; }
  PG_MAIN=$(head -1 "$PGD/data/postmaster.pid")
}

_pg_psql() { _pg_as "$PG_BIN/psql" -h "$PGD" -p "$PGPORT" -U postgres -v ON_ERROR_STOP=1 -q "$@"; }
pg_role() { _pg_psql -c "CREATE ROLE $1 LOGIN PASSWORD '$2'"; }
pg_db() { _pg_psql -c "CREATE DATABASE $1 OWNER $2"; }
pg_pids() { echo "$PG_MAIN $(pgrep -P "$PG_MAIN" | tr '\n' ' ')"; }
pg_version() { "$PG_BIN/postgres" --version | awk '{print $3}'; }

pg_stop() {
  [[ -n ${PGD:-} && -d $PGD ]] || return 0
  _pg_as "$PG_BIN/pg_ctl" -D "$PGD/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$PGD"
}
