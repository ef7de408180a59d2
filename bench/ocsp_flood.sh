#!/usr/bin/env bash
# OCSP under a flood of random serials (release build): anyone may ask about
# any serial, so the answers for serials this CA never issued must cost a
# fixed amount of memory and bounded signing (docs/api.md, OCSP).
#   1. known-serial rate (pre-signed answer), wrk -t2 c=64, 10 s;
#   2. a flood of FLOOD_REQUESTS (default 1,000,000) requests, each for a fresh
#      random serial, with wrk; the server's RSS sampled every 0.5 s;
#   3. the known-serial rate again, and once more while the flood runs.
# Usage: bench/ocsp_flood.sh   (results to stdout; docs/benchmarks.md records them)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/build/release/src/cli/herald
[[ -x $bin ]] || { echo "build first: make build-release" >&2; exit 1; }
N=${FLOOD_REQUESTS:-1000000}
T=$(mktemp -d /tmp/herald-flood.XXXXXX)
D=$T/data
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
SP=$(port) HP=$(port)

echo "# $(date -u +%FT%TZ) $(openssl version | cut -d' ' -f1-2), $(nproc) cores, $N random serials"
"$bin" ca init --dir "$D" --base-url "http://127.0.0.1:$HP" >/dev/null 2>&1
"$bin" issue --dir "$D" --profile server --cn bench.internal --out-dir "$T/leaf" >/dev/null
"$bin" serve --dir "$D" --listen "127.0.0.1:$SP" --http-listen "127.0.0.1:$HP" >"$T/serve.log" 2>&1 &
SERVE=$!
pids+=($SERVE)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$HP/readyz" >/dev/null && break; sleep 0.1; done
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVE/status"; }

openssl ocsp -issuer "$D/ca/issuing.pem" -cert "$T/leaf/cert.pem" -no_nonce -reqout "$T/known.der" >/dev/null 2>&1
openssl ocsp -issuer "$D/ca/issuing.pem" -serial 0x0102030405060708090a0b0c0d0e0f10 -no_nonce \
  -reqout "$T/random.der" >/dev/null 2>&1
cat >"$T/known.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/ocsp-request"
local f = io.open("$T/known.der", "rb"); wrk.body = f:read("*a"); f:close()
LUA
# Each request a fresh random 16-octet serial in the template's place (each
# wrk thread seeded apart).
cat >"$T/random.lua" <<LUA
local f = io.open("$T/random.der", "rb"); local tmpl = f:read("*a"); f:close()
local at = string.find(tmpl, string.char(1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16), 1, true)
local head, tail = string.sub(tmpl, 1, at - 1), string.sub(tmpl, at + 16)
local n = 0
function setup(thread) n = n + 1; thread:set("seed", n) end
function init(args) math.randomseed(os.time() * 100 + seed) end
function request()
  local b = { string.char(0x11) }
  for i = 1, 15 do b[#b + 1] = string.char(math.random(0, 255)) end
  return wrk.format("POST", "/ocsp", {["Content-Type"] = "application/ocsp-request"},
                    head .. table.concat(b) .. tail)
end
LUA
known_rate() { wrk -t2 -c64 -d"$1" -s "$T/known.lua" "http://127.0.0.1:$HP/ocsp" 2>&1 | awk '/^Requests\/sec/{print $2}'; }
metric() { curl -s "http://127.0.0.1:$HP/metrics" | awk -v m="$1" 'index($0, m) == 1 {print $2}'; }

echo "RSS at start: $(rss) kB"
echo "known serial, before:  $(known_rate 10s) responses/s (wrk -t2 c=64 10s)"
echo "RSS after the known-serial run: $(rss) kB"
( while kill -0 "$SERVE" 2>/dev/null; do r=$(rss); echo "$r" >>"$T/rss.samples"; sleep 0.5; done ) &
sampler=$!
# wrk runs for a duration: 10 s runs until N requests were sent.
total=0 runs=0 rates=()
while (( total < N )); do
  wrk -t2 -c64 -d10s -s "$T/random.lua" "http://127.0.0.1:$HP/ocsp" >"$T/flood.out" 2>&1
  total=$((total + $(awk '/requests in/ {print $1}' "$T/flood.out")))
  rates+=("$(awk '/^Requests\/sec/{print $2}' "$T/flood.out")")
  runs=$((runs + 1))
done
kill "$sampler" 2>/dev/null || true
peak=$(sort -n "$T/rss.samples" | tail -1)
echo "flood: $total requests in $runs runs of 10 s (requests/s per run: ${rates[*]})"
echo "  answers: signed unknown $(metric 'herald_ocsp_requests_total{status="unknown"}'), tryLater $(metric 'herald_ocsp_requests_total{status="try_later"}')"
echo "  unknown answers cached after: $(metric 'herald_ocsp_cached_answers{kind="unknown"}') (bound 10000)"
echo "  RSS peak during the flood: $peak kB; after: $(rss) kB"
echo "known serial, after:   $(known_rate 10s) responses/s"
# While a flood runs (one wrk thread each): the known serial's share.
wrk -t1 -c32 -d7s -s "$T/random.lua" "http://127.0.0.1:$HP/ocsp" >"$T/flood2.out" 2>&1 &
sleep 1
during=$(wrk -t1 -c32 -d5s -s "$T/known.lua" "http://127.0.0.1:$HP/ocsp" 2>&1 | awk '/^Requests\/sec/{print $2}')
wait $! || true
echo "known serial, during a flood (wrk -t1 c=32 each): $during responses/s beside $(awk '/^Requests\/sec/{print $2}' "$T/flood2.out") random-serial requests/s"
echo "RSS at the end: $(rss) kB"
