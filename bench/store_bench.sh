#!/usr/bin/env bash
# `herald serve` on its two stores in one run (issue #13): the embedded
# SQLite file and PostgreSQL 15 (a throwaway server on 127.0.0.1, started
# here, scram-sha-256 over TCP, default durability: fsync and
# synchronous_commit on). For each store:
#   1. issuance over HTTPS with keep-alive (ab -k, P-256 CSR in DER, profile
#      server, every certificate committed before its answer), c = 1, 4, 16;
#   2. OCSP responses/s for a fixed pre-signed request (ab -k, c = 8);
#   3. CPU per certificate: herald serve's (utime + stime from /proc), for
#      PostgreSQL the database's (this run's postgres processes), the load
#      client's (ab), and what the rest of the machine used meanwhile
#      ("others", from /proc/stat: other builds on a shared machine).
# The stores take turns, SQLite then PostgreSQL, ROUNDS times (default 2),
# each round on a fresh data directory and database; after each round the
# PostgreSQL/SQLite ratio of certificates/s at c=16 (a busy machine moves
# both of a pair alike, so the ratio is steadier than either rate).
# Usage: bench/store_bench.sh   (release build; N=3000 certificates per run;
#        ROUNDS=n; HERALD_BIN=path picks another herald binary;
#        PG_POOL_SIZE=n sets [store] pool_size for PostgreSQL, default: herald's)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${HERALD_BIN:-$PWD/build/release/src/cli/herald}
[[ -x $bin ]] || { echo "build first: make build-release" >&2; exit 1; }
source bench/pg_lib.sh
N=${N:-3000}
T=$(mktemp -d /tmp/herald-storebench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pg_stop
  rm -rf "$T"
}
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
TICK=$(getconf CLK_TCK)
ticks() { local t=0 p f; for p in "$@"; do f=$(cut -d' ' -f14,15 "/proc/$p/stat" 2>/dev/null) || continue; t=$((t + ${f% *} + ${f#* })); done; echo $t; }
pg_start
PASS=$(openssl rand -hex 16)
pg_role herald "$PASS"
(umask 077 && echo "$PASS" >"$T/pg.pass")

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/k.pem" -subj /CN=load.internal \
  -outform DER -out "$T/csr.der" 2>/dev/null
ab_rate() { grep -E '^Requests per second' | awk '{print $4}'; }
# All CPUs' busy ticks (everything but idle and iowait).
busy() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
ROUNDS=${ROUNDS:-2}
declare -A rate16

echo "# $(date -u +%FT%TZ) $(openssl version | cut -d' ' -f1-2), PostgreSQL $(pg_version), $(nproc) cores, N=$N per run, $ROUNDS rounds${PG_POOL_SIZE:+, pool_size $PG_POOL_SIZE}"
for round in $(seq "$ROUNDS"); do
for store in sqlite postgresql; do
  D=$T/$store-$round SP=$(port) HP=$(port)
  extra=()
  if [[ $store == postgresql ]]; then
    pg_db "herald$round" herald
    extra=(--store "postgresql://herald@127.0.0.1:$PGPORT/herald$round" --store-password-file "$T/pg.pass")
  fi
  "$bin" ca init --dir "$D" --base-url "http://127.0.0.1:$HP" "${extra[@]}" >/dev/null 2>&1
  sed -i 's/^issuance_rate_per_second = .*/issuance_rate_per_second = 1000000/' "$D/herald.toml"
  if [[ $store == postgresql && -n ${PG_POOL_SIZE:-} ]]; then
    sed -i "/^\[store\]/a pool_size = $PG_POOL_SIZE" "$D/herald.toml"
  fi
  TOKEN=$("$bin" token add --dir "$D" --provisioner admin 2>/dev/null)
  "$bin" issue --dir "$D" --profile server --cn ocsp.internal --out-dir "$T/$store-$round-leaf" >/dev/null
  "$bin" serve --dir "$D" --listen "127.0.0.1:$SP" --http-listen "127.0.0.1:$HP" >"$T/$store.log" 2>&1 &
  SPID=$!
  pids+=($SPID)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$HP/readyz" >/dev/null && break; sleep 0.1; done
  echo
  echo "## $store (round $round)"
  ab -q -k -c 4 -n 300 -p "$T/csr.der" -T application/pkcs10 -H "Authorization: Bearer $TOKEN" \
    "https://127.0.0.1:$SP/v1/sign?profile=server" >/dev/null 2>&1  # warm-up
  for c in 1 4 16; do
    s0=$(ticks $SPID) d0=0 b0=$(busy)
    [[ $store == postgresql ]] && d0=$(ticks $(pg_pids))
    /usr/bin/time -f '%U %S' -o "$T/ab.cpu" ab -k -c $c -n "$N" -p "$T/csr.der" -T application/pkcs10 -H "Authorization: Bearer $TOKEN" \
      "https://127.0.0.1:$SP/v1/sign?profile=server" >"$T/ab.txt" 2>&1
    s1=$(ticks $SPID) d1=0 b1=$(busy)
    [[ $store == postgresql ]] && d1=$(ticks $(pg_pids))
    rate=$(ab_rate <"$T/ab.txt")
    p50=$(awk '$1=="50%"{print $2}' "$T/ab.txt")
    p99=$(awk '$1=="99%"{print $2}' "$T/ab.txt")
    non2xx=$(awk '/^Non-2xx/{print $3}' "$T/ab.txt")
    cpu_s=$(python3 -c "print(f'{($s1-$s0)/$TICK/$N*1000:.2f}')")
    cpu_d=$(python3 -c "print(f'{($d1-$d0)/$TICK/$N*1000:.2f}')")
    read -r ab_u ab_s <"$T/ab.cpu"
    cpu_c=$(python3 -c "print(f'{($ab_u+$ab_s)/$N*1000:.2f}')")
    cpu_o=$(python3 -c "print(f'{max(0, ($b1-$b0-($s1-$s0)-($d1-$d0))/$TICK - ($ab_u+$ab_s))/$N*1000:.2f}')")
    echo "$store issuance c=$c  $rate certs/s  p50 ${p50} ms  p99 ${p99} ms  non-2xx=${non2xx:-0}  CPU ms/cert: serve ${cpu_s}  database ${cpu_d}  client ${cpu_c}  others ${cpu_o}"
    [[ $c == 16 ]] && rate16[$store]=$rate
  done
  openssl ocsp -issuer "$D/ca/issuing.pem" -cert "$T/$store-$round-leaf/cert.pem" -no_nonce -reqout "$T/req.der" >/dev/null 2>&1
  ab -q -k -c 8 -n 20000 -p "$T/req.der" -T application/ocsp-request "http://127.0.0.1:$HP/ocsp" >/dev/null 2>&1
  r=$(ab -q -k -c 8 -n 200000 -p "$T/req.der" -T application/ocsp-request "http://127.0.0.1:$HP/ocsp" 2>&1 | ab_rate)
  echo "$store OCSP keep-alive c=8  $r responses/s"
  rows=$("$bin" list --dir "$D" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d if isinstance(d, list) else d.get("certificates", [])))')
  echo "$store inventory rows: $rows (3 CAs, 1 OCSP leaf, serve's 2, warm-up 300, 3 x $N)"
  kill $SPID; wait $SPID 2>/dev/null || true
done
echo
echo "round $round: PostgreSQL/SQLite at c=16: $(python3 -c "print(f'{${rate16[postgresql]}/${rate16[sqlite]}*100:.0f} %')") (${rate16[postgresql]} / ${rate16[sqlite]} certs/s)"
done
