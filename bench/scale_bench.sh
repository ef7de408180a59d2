#!/usr/bin/env bash
# Herald at production scale (issue #15): a throwaway `herald ca init`, its
# inventory filled with N real certificates by bench/inventory_fill (default
# 1,000,000: 10 % valid, 1 % revoked and not expired, the rest expired, so
# that N=10000000 gives the issue's 1,000,000 valid and 100,000 revoked),
# then, on that store:
#   fill rate (records/s), database bytes per record (SQLite: the database
#   file after a WAL checkpoint / rows; PostgreSQL: pg_database_size / rows),
#   `herald list --expiring 7d` wall time (every line, and --limit 100),
#   `herald serve`: time from start until /readyz answers 200 (at most
#   SERVE_TIMEOUT s), VmRSS / VmHWM after start, /metrics, /v1/certs?limit=25
#   (HTTPS, admin token) and /crl/issuing.crl times (curl time_total, median
#   and max of RUNS; the CRL's first fetch separately: it may be signed then),
#   OCSP responses/s with wrk (OCSP=1: a hot set of the first 1,000 valid
#   serials, and uniform over every valid serial; POST, no nonce), and
#   VmRSS / VmHWM after all that.
#
# Usage: bench/scale_bench.sh          (release build of herald and inventory_fill)
#   N=1000000 VALID_SHARE=0.1 REVOKED_SHARE=0.01 THREADS=2 BATCH=1000 RUNS=7
#   STORE=sqlite|pg (pg: a throwaway PostgreSQL from bench/pg_lib.sh)
#   SERVE_TIMEOUT=900 OCSP=1 OCSP_SECONDS=10
#   OCSP_WAIT=s: before the OCSP loads, wait up to s seconds until serve has
#   stored an OCSP answer for every valid certificate (default 0: no wait)
#   SERVE=0 skips `herald serve`; SERVE_MEM_MB=N starts it under ulimit -v N MiB
#   (before the OCSP store change, serve pre-signs an answer for every valid
#   certificate at start: at 1,000,000 valid that is tens of GB)
#   REV=... the commit the binaries were built from (printed; default HEAD)
#   HERALD_BIN=... FILL_BIN=...   other binaries (built from one commit: the
#                                 schema must match)
#   KEEP=1 keeps the directory (and does not stop PostgreSQL's data dir from
#   being deleted: PostgreSQL runs are always thrown away)
#   DIR=path  works in that directory and keeps it; a SQLite inventory left
#   there by an earlier run is measured again without a new fill
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${HERALD_BIN:-$PWD/build/release/src/cli/herald}
fill=${FILL_BIN:-$PWD/build/release/bench/inventory_fill}
[[ -x $bin && -x $fill ]] || {
  echo "build first: cmake --build --preset release --target herald inventory_fill" >&2
  exit 1
}
for t in curl sqlite3 python3; do command -v $t >/dev/null || { echo "needs $t" >&2; exit 1; }; done
N=${N:-1000000}
VALID_SHARE=${VALID_SHARE:-0.1}
REVOKED_SHARE=${REVOKED_SHARE:-0.01}
THREADS=${THREADS:-2}
BATCH=${BATCH:-1000}
RUNS=${RUNS:-7}
STORE=${STORE:-sqlite}
SERVE_TIMEOUT=${SERVE_TIMEOUT:-900}
OCSP=${OCSP:-1}
OCSP_SECONDS=${OCSP_SECONDS:-10}
T=${DIR:-$(mktemp -d /tmp/herald-scale.XXXXXX)}
mkdir -p "$T"
D=$T/pki
# DIR=a directory a KEEP=1 SQLite run left: its inventory is measured again
# (no init, no fill; N etc. are what that run filled).
REUSE=0
[[ -n ${DIR:-} && -e $D/herald.db && $STORE == sqlite ]] && REUSE=1
pid=""
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  [[ $STORE == pg ]] && pg_stop
  [[ ${KEEP:-0} == 1 || -n ${DIR:-} ]] || rm -rf "$T"
}
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
HTTPS=$(port)
HTTP=$(port)
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
# median and max of the arguments (seconds) in ms
stats() {
  python3 -c 'import statistics,sys; t=[float(x)*1000 for x in sys.argv[1:]]; print(f"median {statistics.median(t):.1f} ms, max {max(t):.1f} ms")' "$@"
}

echo "# $(date -u +%FT%TZ) $(uname -m), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo), $(openssl version | cut -d' ' -f1-2)"
echo "# herald $bin (${REV:-$(git rev-parse --short HEAD 2>/dev/null || echo '?')}), STORE=$STORE N=$N valid=$VALID_SHARE revoked=$REVOKED_SHARE threads=$THREADS"
if [[ $STORE == pg ]]; then
  command -v psql >/dev/null || { echo "needs psql" >&2; exit 1; }
  source bench/pg_lib.sh
  pg_start -c shared_buffers=512MB -c max_wal_size=4GB
  PASS=$(openssl rand -hex 16)
  pg_role herald "$PASS" && pg_db herald herald
  (umask 077 && echo "$PASS" >"$T/pg.pass")
  echo "# PostgreSQL $(pg_version) (shared_buffers=512MB, max_wal_size=4GB, fsync and synchronous_commit on)"
  "$bin" ca init --dir "$D" --base-url "http://127.0.0.1:$HTTP" \
    --store "postgresql://herald@127.0.0.1:$PGPORT/herald" --store-password-file "$T/pg.pass" >"$T/init.log" 2>&1
elif [[ $REUSE == 0 ]]; then
  "$bin" ca init --dir "$D" --base-url "http://127.0.0.1:$HTTP" >"$T/init.log" 2>&1
fi
DB=$D/herald.db

# --- fill
if [[ $REUSE == 1 ]]; then
  echo "reusing $D: $(cat "$T/fill.out" 2>/dev/null || echo 'fill output missing')"
  # Its ports are those of its ca init (the base URL in its config).
  HTTP=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\).*|\1|p' "$D/herald.toml" | head -1)
else
  "$fill" --dir "$D" --count "$N" --valid-share "$VALID_SHARE" --revoked-share "$REVOKED_SHARE" \
    --threads "$THREADS" --batch "$BATCH" 2>"$T/fill.log" | tee "$T/fill.out"
  grep -q '^filled' "$T/fill.out" || { cat "$T/fill.log" >&2; exit 1; }
fi

# --- size
sql() {
  if [[ $STORE == pg ]]; then
    PGPASSWORD=$PASS psql -h 127.0.0.1 -p "$PGPORT" -U herald -d herald -Atq -c "$1"
  else
    sqlite3 "$DB" "$1"
  fi
}
rows=$(sql "SELECT count(*) FROM certificates")
if [[ $STORE == pg ]]; then
  sql "VACUUM ANALYZE" >/dev/null 2>&1 || true
  bytes=$(sql "SELECT pg_database_size('herald')")
  what="pg_database_size"
else
  sqlite3 "$DB" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
  bytes=$(($(stat -c %s "$DB") + $(stat -c %s "$DB-wal" 2>/dev/null || echo 0)))
  what="database file"
fi
echo "database: $rows certificates, $what $((bytes / 1048576)) MiB, $((bytes / rows)) bytes per record"
sql "SELECT action, count(*) FROM audit_log GROUP BY action ORDER BY action" | tr '\n' ' ' | sed 's/^/audit log: /'
echo

# --- herald list --expiring 7d
times=()
for _ in $(seq "$RUNS"); do
  t0=$(date +%s%N)
  "$bin" list --dir "$D" --expiring 7d >"$T/list.out"
  times+=("$(python3 -c "print(($(date +%s%N) - $t0) / 1e9)")")
done
echo "herald list --expiring 7d: $(($(wc -l <"$T/list.out") - 1)) lines, $(stats "${times[@]}") (process start included)"
# --- herald list --expiring 7d --limit 100 (a page)
times=()
for _ in $(seq "$RUNS"); do
  t0=$(date +%s%N)
  "$bin" list --dir "$D" --expiring 7d --limit 100 >"$T/list100.out"
  times+=("$(python3 -c "print(($(date +%s%N) - $t0) / 1e9)")")
done
echo "herald list --expiring 7d --limit 100: $(($(wc -l <"$T/list100.out") - 1)) lines, $(stats "${times[@]}") (process start included)"

# --- herald serve
[[ ${SERVE:-1} == 1 ]] || exit 0
TOKEN=$("$bin" token add --dir "$D" --provisioner admin 2>/dev/null)
vm() { awk -v k="$1:" '$1 == k {printf "%.0f MB", $2/1024}' "/proc/$pid/status"; }
t0=$(date +%s%N)
serve_t0=$t0
(
  [[ -n ${SERVE_MEM_MB:-} ]] && ulimit -v $((SERVE_MEM_MB * 1024))
  exec "$bin" serve --dir "$D" --listen "127.0.0.1:$HTTPS" --http-listen "127.0.0.1:$HTTP" >"$T/serve.log" 2>&1
) &
pid=$!
ready=""
while (($(date +%s%N) - t0 < SERVE_TIMEOUT * 1000000000)); do
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" && rc=0 || rc=$?
    echo "herald serve exited (status $rc) after $(ms_since "$t0") ms before /readyz: $(tail -c 300 "$T/serve.log")"
    pid=""
    exit 0
  fi
  if [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP/readyz") == 200 ]]; then
    ready=$(ms_since "$t0")
    break
  fi
  sleep 0.1
done
if [[ -z $ready ]]; then
  echo "herald serve: /readyz not 200 within $SERVE_TIMEOUT s (VmRSS $(vm VmRSS), VmHWM $(vm VmHWM)); stopping"
  exit 0
fi
echo "herald serve: /readyz 200 after $ready ms; VmRSS $(vm VmRSS), VmHWM $(vm VmHWM)"

timed() {  # URL [curl args]: RUNS times, fails on a non-200
  local url=$1 out ts=()
  shift
  for _ in $(seq "$RUNS"); do
    out=$(curl -sS -k -o "$T/body" -w '%{http_code} %{time_total}' "$@" "$url")
    [[ ${out%% *} == 200 ]] || { echo "$url: HTTP ${out%% *}: $(head -c 300 "$T/body")" >&2; exit 1; }
    ts+=("${out#* }")
  done
  stats "${ts[@]}"
}
echo "/metrics: $(timed "http://127.0.0.1:$HTTP/metrics") ($(wc -c <"$T/body") bytes)"
echo "/v1/certs?limit=25: $(timed "https://127.0.0.1:$HTTPS/v1/certs?limit=25" -H "Authorization: Bearer $TOKEN")"
first=$(curl -sS -o "$T/crl.der" -w '%{time_total}' "http://127.0.0.1:$HTTP/crl/issuing.crl")
entries=$(openssl crl -inform DER -in "$T/crl.der" -noout -text | grep -c 'Serial Number:' || true)
echo "/crl/issuing.crl: first $(python3 -c "print(f'{$first*1000:.1f} ms')"), then $(timed "http://127.0.0.1:$HTTP/crl/issuing.crl") ($entries entries, $(($(stat -c %s "$T/crl.der") / 1024)) KiB)"

# --- OCSP with wrk: the serials' template, a serial list, a Lua script each
if [[ $OCSP == 1 ]] && command -v wrk >/dev/null; then
  openssl ocsp -issuer "$D/ca/issuing.pem" -serial 0x0102030405060708090a0b0c0d0e0f10 -no_nonce \
    -reqout "$T/tmpl.der" >/dev/null 2>&1
  now=$(date +%s)
  sql "SELECT serial FROM certificates WHERE status = 'valid' AND not_after > $now AND profile IN ('server', 'client', 'spiffe') ORDER BY serial" >"$T/valid.txt"
  head -1000 "$T/valid.txt" >"$T/hot.txt"
  # OCSP_WAIT=s: before the loads, wait (at most s seconds, polling every
  # 5 s) until serve's gap walk has stored an answer for every valid
  # certificate (its `ocsp walk done` log line, or as many stored answers
  # of status valid and not expired as valid serials listed above).
  if ((${OCSP_WAIT:-0} > 0)); then
    want=$(wc -l <"$T/valid.txt")
    w0=$(date +%s%N)
    while :; do
      have=$(sql "SELECT count(*) FROM ocsp_answers WHERE status = 'valid' AND not_after > $now" 2>/dev/null || echo 0)
      done_=$(grep -c 'ocsp walk done' "$T/serve.log" || true)
      ((have >= want || done_ > 0)) && break
      (($(date +%s%N) - w0 >= OCSP_WAIT * 1000000000)) && break
      kill -0 "$pid" 2>/dev/null || { echo "herald serve exited during the OCSP wait: $(tail -c 300 "$T/serve.log")"; pid=""; exit 0; }
      sleep 5
    done
    total=$(sql "SELECT count(*) FROM ocsp_answers")
    echo "OCSP wait: $have of $want valid serials' answers stored ($total answers in all, the revoked included) after $(ms_since "$w0") ms of waiting, $(ms_since "$serve_t0") ms after serve's start; walk done logged: $( ((done_ > 0)) && echo yes || echo no); $( ((have >= want || done_ > 0)) && echo complete || echo "NOT complete (OCSP_WAIT=$OCSP_WAIT s reached)")"
    grep -m1 'ocsp walk done' "$T/serve.log" | sed 's/^/  serve: /' || true
  fi
  # The ceiling on this machine: the same server and client answering the
  # cheapest request it has (GET /healthz), with wrk on the same two cores.
  wrk -t2 -c64 -d"${OCSP_SECONDS}s" "http://127.0.0.1:$HTTP/healthz" >"$T/wrk-healthz.out" 2>&1 || true
  echo "GET /healthz (reference): $(awk '/^Requests\/sec/ {print $2}' "$T/wrk-healthz.out") responses/s (wrk -t2 -c64 ${OCSP_SECONDS}s)"
  cp "$T/valid.txt" "$T/valid-again.txt"
  for set in hot valid valid-again; do
    wrk -t2 -c64 -d"${OCSP_SECONDS}s" -s bench/ocsp_requests.lua "http://127.0.0.1:$HTTP/ocsp" \
      -- "$T/tmpl.der" "$T/$set.txt" >"$T/wrk-$set.out" 2>&1 || true
    echo "OCSP $set ($(wc -l <"$T/$set.txt") serials): $(awk '/^Requests\/sec/ {print $2}' "$T/wrk-$set.out") responses/s (wrk -t2 -c64 ${OCSP_SECONDS}s; non-2xx: $(awk '/Non-2xx/ {print $NF}' "$T/wrk-$set.out"))"
  done
  # One hot serial asked with openssl ocsp: it must say good.
  s=$(head -1 "$T/hot.txt")
  openssl ocsp -issuer "$D/ca/issuing.pem" -serial "0x$s" -no_nonce -url "http://127.0.0.1:$HTTP/ocsp" \
    -noverify 2>/dev/null | grep -m1 ": good\|: revoked\|: unknown" | sed 's/^/OCSP check: /' || true
fi
echo "herald serve after the load: VmRSS $(vm VmRSS), VmHWM $(vm VmHWM)"
