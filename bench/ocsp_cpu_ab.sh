#!/usr/bin/env bash
# Server CPU time per OCSP answer (hot set of 1,000 serials) and per GET
# /healthz, for two herald builds side by side (A/B), by `perf stat -e
# task-clock -p` during `wrk -t2 -c64 -d8s`, three rounds alternated. CPU per
# request is steadier than requests/s on shared cores.
#
# Usage: OLD_BIN=... OLD_FILL=... NEW_BIN=... NEW_FILL=... bench/ocsp_cpu_ab.sh
#   (herald and bench/inventory_fill of each build: the schema must match)
# Needs perf, wrk, sqlite3, openssl, python3. Works in a temp dir, removed after.
set -u
for v in OLD_BIN OLD_FILL NEW_BIN NEW_FILL; do
  [[ -x ${!v:-} ]] || { echo "set $v to an executable" >&2; exit 1; }
done
LUA=$(cd "$(dirname "$0")" && pwd)/ocsp_requests.lua
W=$(mktemp -d /tmp/herald-ocsp-ab.XXXXXX)
cd "$W"
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
declare -A HP PID
for v in old new; do
  if [[ $v == old ]]; then hb=$OLD_BIN; fb=$OLD_FILL; else hb=$NEW_BIN; fb=$NEW_FILL; fi
  rm -rf d-$v; mkdir d-$v
  H=$(port); S=$(port); HP[$v]=$H
  $hb ca init --dir d-$v/pki --base-url http://127.0.0.1:$H >/dev/null 2>&1
  $fb --dir d-$v/pki --count 20000 --valid-share 0.1 --revoked-share 0.01 --threads 2 --batch 1000 >/dev/null 2>&1
  $hb serve --dir d-$v/pki --listen 127.0.0.1:$S --http-listen 127.0.0.1:$H > d-$v/serve.log 2>&1 &
  PID[$v]=$!
done
sleep 8
now=$(date +%s)
sqlite3 d-new/pki/herald.db "SELECT serial FROM certificates WHERE status='valid' AND not_after > $now AND profile IN ('server','client','spiffe') ORDER BY serial LIMIT 1000" > hot-new.txt
sqlite3 d-old/pki/herald.db "SELECT serial FROM certificates WHERE status='valid' AND not_after > $now AND profile IN ('server','client','spiffe') ORDER BY serial LIMIT 1000" > hot-old.txt
for v in old new; do
  openssl ocsp -issuer d-$v/pki/ca/issuing.pem -serial 0x0102030405060708090a0b0c0d0e0f10 -no_nonce -reqout tmpl-$v.der >/dev/null 2>&1
  # warm: every hot answer into the cache
  wrk -t2 -c16 -d3s -s "$LUA" http://127.0.0.1:${HP[$v]}/ocsp -- tmpl-$v.der hot-$v.txt >/dev/null 2>&1
done
for round in 1 2 3; do
  for v in old new; do
    for what in healthz ocsp; do
      if [[ $what == ocsp ]]; then args="-s $LUA http://127.0.0.1:${HP[$v]}/ocsp -- tmpl-$v.der hot-$v.txt"; else args="http://127.0.0.1:${HP[$v]}/healthz"; fi
      perf stat -e task-clock -x, -o perf-$v-$what.txt -p ${PID[$v]} -- sleep 8 &
      ps_=$!
      wrk -t2 -c64 -d8s $args > wrk-$v-$what.txt 2>&1
      wait $ps_
      reqs=$(awk '/requests in/ {print $1}' wrk-$v-$what.txt)
      rate=$(awk '/^Requests\/sec/ {print $2}' wrk-$v-$what.txt)
      ins=$(awk -F, '/instructions/ {print $1}' perf-$v-$what.txt)
      ms=$(awk -F, '/task-clock/ {print $1}' perf-$v-$what.txt)
      python3 -c "print(f'round $round $v $what: {float($rate):9.0f}/s  {$ms*1000/$reqs:6.2f} us CPU/req')"
    done
  done
done
kill ${PID[old]} ${PID[new]}
wait 2>/dev/null
cd / && rm -rf "$W"
