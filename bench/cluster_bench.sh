#!/usr/bin/env bash
# Several `herald serve` nodes on one PostgreSQL behind haproxy (issue #13):
# HTTPS issuance (ab -k, P-256 CSR in DER, profile server, 16 clients)
# through haproxy (TCP pass-through, round robin per connection) to 1, 2 and
# 3 nodes on one throwaway PostgreSQL 15, same run, on this machine's cores.
# Prints certs/s, p50/p99, and CPU per certificate: all nodes together, each
# node, PostgreSQL, haproxy. On a 2-core machine the nodes share the cores,
# so more nodes cannot add throughput here: the CPU figures are what a
# projection to N machines is made from (docs/benchmarks.md).
# Usage: bench/cluster_bench.sh   (release build; N=3000 certificates per run, C=16)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${HERALD_BIN:-$PWD/build/release/src/cli/herald}
[[ -x $bin ]] || { echo "build first: make build-release" >&2; exit 1; }
command -v haproxy >/dev/null || { echo "haproxy is needed (apt-get install haproxy)" >&2; exit 1; }
source bench/pg_lib.sh
N=${N:-3000}
C=${C:-16}
T=$(mktemp -d /tmp/herald-clusterbench.XXXXXX)
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

pg_start -c max_connections=200
PASS=$(openssl rand -hex 16)
pg_role herald "$PASS"
(umask 077 && echo "$PASS" >"$T/pg.pass")
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/k.pem" -subj /CN=load.internal \
  -outform DER -out "$T/csr.der" 2>/dev/null

echo "# $(date -u +%FT%TZ) $(openssl version | cut -d' ' -f1-2), PostgreSQL $(pg_version), haproxy $(haproxy -v | head -1 | awk '{print $3}'), $(nproc) cores, N=$N per run, c=$C"
for nodes in 1 2 3; do
  db=herald$nodes
  pg_db "$db" herald
  LB=$(port) LBH=$(port)
  "$bin" ca init --dir "$T/n$nodes-1" --base-url "http://127.0.0.1:$LBH" \
    --store "postgresql://herald@127.0.0.1:$PGPORT/$db" --store-password-file "$T/pg.pass" >/dev/null 2>&1
  sed -i 's/^issuance_rate_per_second = .*/issuance_rate_per_second = 1000000/' "$T/n$nodes-1/herald.toml"
  TOKEN=$("$bin" token add --dir "$T/n$nodes-1" --provisioner admin 2>/dev/null)
  servers="" npids=()
  for i in $(seq "$nodes"); do
    d=$T/n$nodes-$i
    [[ $i == 1 ]] || cp -a "$T/n$nodes-1" "$d"
    sp=$(port) hp=$(port)
    "$bin" serve --dir "$d" --listen "127.0.0.1:$sp" --http-listen "127.0.0.1:$hp" >"$d.log" 2>&1 &
    npids+=($!)
    pids+=($!)
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$hp/readyz" >/dev/null && break; sleep 0.1; done
    servers+="  server n$i 127.0.0.1:$sp check port $hp inter 1s"$'\n'
  done
  cat >"$T/haproxy-$nodes.cfg" <<CFG
global
  maxconn 4000
defaults
  timeout connect 2s
  timeout client 60s
  timeout server 60s
frontend api
  bind 127.0.0.1:$LB
  mode tcp
  default_backend nodes
backend nodes
  mode tcp
  balance roundrobin
  option httpchk GET /readyz
$servers
CFG
  haproxy -f "$T/haproxy-$nodes.cfg" -db >"$T/haproxy-$nodes.log" 2>&1 &
  HA=$!
  pids+=($HA)
  sleep 1
  ab -q -k -c 4 -n 300 -p "$T/csr.der" -T application/pkcs10 -H "Authorization: Bearer $TOKEN" \
    "https://127.0.0.1:$LB/v1/sign?profile=server" >/dev/null 2>&1  # warm-up
  s0=$(ticks "${npids[@]}") d0=$(ticks $(pg_pids)) h0=$(ticks $HA)
  per0=(); for p in "${npids[@]}"; do per0+=("$(ticks "$p")"); done
  ab -k -c "$C" -n "$N" -p "$T/csr.der" -T application/pkcs10 -H "Authorization: Bearer $TOKEN" \
    "https://127.0.0.1:$LB/v1/sign?profile=server" >"$T/ab.txt" 2>&1
  s1=$(ticks "${npids[@]}") d1=$(ticks $(pg_pids)) h1=$(ticks $HA)
  per=""; k=0
  for p in "${npids[@]}"; do per+=" $(python3 -c "print(f'{($(ticks "$p")-${per0[$k]})/$TICK/$N*1000:.2f}')")"; k=$((k + 1)); done
  rate=$(awk '/^Requests per second/{print $4}' "$T/ab.txt")
  p50=$(awk '$1=="50%"{print $2}' "$T/ab.txt") p99=$(awk '$1=="99%"{print $2}' "$T/ab.txt")
  non2xx=$(awk '/^Non-2xx/{print $3}' "$T/ab.txt")
  ms() { python3 -c "print(f'{($2-$1)/$TICK/$N*1000:.2f}')"; }
  echo "nodes=$nodes  $rate certs/s  p50 ${p50} ms  p99 ${p99} ms  non-2xx=${non2xx:-0}  CPU ms/cert: nodes $(ms "$s0" "$s1") (each:$per)  PostgreSQL $(ms "$d0" "$d1")  haproxy $(ms "$h0" "$h1")"
  for p in "${npids[@]}" "$HA"; do kill "$p" 2>/dev/null || true; done
  wait "${npids[@]}" "$HA" 2>/dev/null || true
done
