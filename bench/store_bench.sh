#!/usr/bin/env bash
# `herald serve` on its two stores in one run (issue #13): the embedded
# SQLite file and PostgreSQL 15 (a throwaway server on 127.0.0.1, started
# here, scram-sha-256 over TCP, default durability: fsync and
# synchronous_commit on). For each store:
#   1. issuance over HTTPS with keep-alive (ab -k, P-256 CSR in DER, profile
#      server, every certificate committed before its answer), c = 1, 4, 16;
#   2. OCSP responses/s for a fixed pre-signed request (ab -k, c = 8);
#   3. CPU per certificate: herald serve's (utime + stime from /proc) and,
#      for PostgreSQL, the database's (all postgres processes).
# Usage: bench/store_bench.sh   (release build; N=3000 certificates per run;
#        HERALD_BIN=path picks another herald binary; PG_POOL_SIZE=n sets
#        [store] pool_size for PostgreSQL, default: herald's)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${HERALD_BIN:-$PWD/build/release/src/cli/herald}
[[ -x $bin ]] || { echo "build first: make build-release" >&2; exit 1; }
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[[ -x $PG_BIN/initdb ]] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
N=${N:-3000}
T=$(mktemp -d /tmp/herald-storebench.XXXXXX)
PGD=$(mktemp -d /tmp/herald-storebench-pg.XXXXXX)
pids=()
as_pg() { if [[ $(id -u) == 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  as_pg "$PG_BIN/pg_ctl" -D "$PGD/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$T" "$PGD"
}
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
TICK=$(getconf CLK_TCK)
ticks() { local t=0 p f; for p in "$@"; do f=$(cut -d' ' -f14,15 "/proc/$p/stat" 2>/dev/null) || continue; t=$((t + ${f% *} + ${f#* })); done; echo $t; }
# This run's postmaster and its children only (not other PostgreSQL servers
# on the machine).
pg_pids() { local pm; pm=$(head -1 "$PGD/data/postmaster.pid"); echo "$pm $(pgrep -P "$pm" | tr '\n' ' ')"; }

[[ $(id -u) == 0 ]] && chown postgres: "$PGD"
PGPORT=$(port)
as_pg "$PG_BIN/initdb" -D "$PGD/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 >/dev/null
as_pg "$PG_BIN/pg_ctl" -D "$PGD/data" -w -l "$PGD/log" \
  -o "-c listen_addresses=127.0.0.1 -c port=$PGPORT -c unix_socket_directories=$PGD" start >/dev/null
PASS=$(openssl rand -hex 16)
as_pg "$PG_BIN/psql" -h "$PGD" -p "$PGPORT" -U postgres -qc "CREATE ROLE herald LOGIN PASSWORD '$PASS'"
as_pg "$PG_BIN/psql" -h "$PGD" -p "$PGPORT" -U postgres -qc "CREATE DATABASE herald OWNER herald"
(umask 077 && echo "$PASS" >"$T/pg.pass")

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/k.pem" -subj /CN=load.internal \
  -outform DER -out "$T/csr.der" 2>/dev/null
ab_rate() { grep -E '^Requests per second' | awk '{print $4}'; }

echo "# $(date -u +%FT%TZ) $(openssl version | cut -d' ' -f1-2), PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'), $(nproc) cores, N=$N per run${PG_POOL_SIZE:+, pool_size $PG_POOL_SIZE}"
for store in sqlite postgresql; do
  D=$T/$store SP=$(port) HP=$(port)
  extra=()
  [[ $store == postgresql ]] && extra=(--store "postgresql://herald@127.0.0.1:$PGPORT/herald" --store-password-file "$T/pg.pass")
  "$bin" ca init --dir "$D" --base-url "http://127.0.0.1:$HP" "${extra[@]}" >/dev/null 2>&1
  sed -i 's/^issuance_rate_per_second = .*/issuance_rate_per_second = 1000000/' "$D/herald.toml"
  if [[ $store == postgresql && -n ${PG_POOL_SIZE:-} ]]; then
    sed -i "/^\[store\]/a pool_size = $PG_POOL_SIZE" "$D/herald.toml"
  fi
  TOKEN=$("$bin" token add --dir "$D" --provisioner admin 2>/dev/null)
  "$bin" issue --dir "$D" --profile server --cn ocsp.internal --out-dir "$T/$store-leaf" >/dev/null
  "$bin" serve --dir "$D" --listen "127.0.0.1:$SP" --http-listen "127.0.0.1:$HP" >"$T/$store.log" 2>&1 &
  SPID=$!
  pids+=($SPID)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$HP/readyz" >/dev/null && break; sleep 0.1; done
  echo
  echo "## $store"
  ab -q -k -c 4 -n 300 -p "$T/csr.der" -T application/pkcs10 -H "Authorization: Bearer $TOKEN" \
    "https://127.0.0.1:$SP/v1/sign?profile=server" >/dev/null 2>&1  # warm-up
  for c in 1 4 16; do
    s0=$(ticks $SPID) d0=0
    [[ $store == postgresql ]] && d0=$(ticks $(pg_pids))
    ab -k -c $c -n "$N" -p "$T/csr.der" -T application/pkcs10 -H "Authorization: Bearer $TOKEN" \
      "https://127.0.0.1:$SP/v1/sign?profile=server" >"$T/ab.txt" 2>&1
    s1=$(ticks $SPID) d1=0
    [[ $store == postgresql ]] && d1=$(ticks $(pg_pids))
    rate=$(ab_rate <"$T/ab.txt")
    p50=$(awk '$1=="50%"{print $2}' "$T/ab.txt")
    p99=$(awk '$1=="99%"{print $2}' "$T/ab.txt")
    non2xx=$(awk '/^Non-2xx/{print $3}' "$T/ab.txt")
    cpu_s=$(python3 -c "print(f'{($s1-$s0)/$TICK/$N*1000:.2f}')")
    cpu_d=$(python3 -c "print(f'{($d1-$d0)/$TICK/$N*1000:.2f}')")
    echo "$store issuance c=$c  $rate certs/s  p50 ${p50} ms  p99 ${p99} ms  non-2xx=${non2xx:-0}  serve CPU ${cpu_s} ms/cert  database CPU ${cpu_d} ms/cert"
  done
  openssl ocsp -issuer "$D/ca/issuing.pem" -cert "$T/$store-leaf/cert.pem" -no_nonce -reqout "$T/req.der" >/dev/null 2>&1
  ab -q -k -c 8 -n 20000 -p "$T/req.der" -T application/ocsp-request "http://127.0.0.1:$HP/ocsp" >/dev/null 2>&1
  r=$(ab -q -k -c 8 -n 200000 -p "$T/req.der" -T application/ocsp-request "http://127.0.0.1:$HP/ocsp" 2>&1 | ab_rate)
  echo "$store OCSP keep-alive c=8  $r responses/s"
  rows=$("$bin" list --dir "$D" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d if isinstance(d, list) else d.get("certificates", [])))')
  echo "$store inventory rows: $rows (3 CAs, 1 OCSP leaf, serve's 2, warm-up 300, 3 x $N)"
  kill $SPID; wait $SPID 2>/dev/null || true
done
