#!/usr/bin/env bash
# ACME throughput (issue #4): full orders per second (newOrder -> authorization
# -> http-01 challenge with validation short-circuited -> finalize -> order ->
# certificate download), driven by build/release/bench/acme_bench, against
# Herald and pebble started here, in the same run, on 127.0.0.1.
#   Herald: fresh `herald ca init` data dir, [acme] insecure_skip_validation,
#           per-account and per-identifier order limits off (0): with them on, a
#           worker's account would be refused after its 300th order of the hour.
#           Its store is durable: every ACME state change is an SQLite commit
#           (synchronous=FULL), so the disk's fdatasync latency is measured too.
#   pebble: Debian package, PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_VA_NOSLEEP=1,
#           PEBBLE_WFE_NONCEREJECT=0 (no random badNonce), PEBBLE_AUTHZREUSE=0;
#           state in memory only; its HTTPS certificate is made here with
#           openssl (its issuance uses its own in-memory CA).
# Usage: bench/acme_bench.sh [WORKERS...]      (default: 1 8)
#   ORDERS_1, ORDERS_N      Herald's timed orders with 1 worker / with more (default 1500 / 4000)
#   PEBBLE_ORDERS_1, PEBBLE_ORDERS_N   the same for pebble (default 400 / 800)
#   PEBBLE_TRIES=5          runs on a fresh pebble when one deadlocks (pebble 2.4 does, under
#                           concurrent orders); a cell with no completed run says "stalled"
#   POLL_CAP_MS=50          longest sleep between polls for Herald (it never needs a second
#                           poll: its challenge and finalize answer once done)
#   PEBBLE_POLL_CAPS="50 1" pebble is run once per cap: it validates and issues in the
#                           background, so a client polls and sleeps; the 1 ms run shows
#                           its capacity without the 50 ms sleeps
#   WARMUP=10               untimed orders per worker before each run
#   HERALD_SERVER_SETTINGS  one "key = value" for Herald's [server] table, e.g. "worker_threads = 4"
#   PIN=1                   servers pinned to CPU 1, the client to CPU 0 (server capacity per core)
#   ORDER_LIMIT=0           Herald's two order rate limits (0: off)
#   HERALD_B=PATH           also run a second Herald binary (an A/B comparison in one run)
#   HERALD_TMPFS=1          also run a second Herald with its data dir on /dev/shm (no
#                           fsync cost): a diagnostic, not a durable configuration
#   PERF=1                  `perf record` the (first) Herald during its last run; $T kept
#                           (PERF_ARGS, default "-g")
# Results go to stdout; docs/benchmarks.md records them.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/build/release/src/cli/herald
client=$PWD/build/release/bench/acme_bench
for f in "$bin" "$client"; do
  [[ -x $f ]] || { echo "build first: cmake --preset release && cmake --build build/release --target herald acme_bench" >&2; exit 1; }
done
command -v pebble >/dev/null || { echo "pebble is not installed (apt-get install pebble)" >&2; exit 1; }
workers=("$@")
[[ ${#workers[@]} -gt 0 ]] || workers=(1 8)
ORDERS_1=${ORDERS_1:-1500} ORDERS_N=${ORDERS_N:-4000}
PEBBLE_ORDERS_1=${PEBBLE_ORDERS_1:-400} PEBBLE_ORDERS_N=${PEBBLE_ORDERS_N:-800}
PEBBLE_TRIES=${PEBBLE_TRIES:-5}
POLL_CAP_MS=${POLL_CAP_MS:-50}
PEBBLE_POLL_CAPS=${PEBBLE_POLL_CAPS:-50 1}
WARMUP=${WARMUP:-10}
ORDER_LIMIT=${ORDER_LIMIT:-0}
# PIN=1: the servers on CPU 1 and the client on CPU 0, so each server's rate is
# what one core of its own gives it (the client must then keep up on its core).
SERVER_PIN= CLIENT_PIN=
if [[ ${PIN:-0} == 1 ]]; then SERVER_PIN="taskset -c 1" CLIENT_PIN="taskset -c 0"; fi

T=$(mktemp -d /tmp/acme-bench.XXXXXX)
pids=()
shm=
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ -z $shm ]] || rm -rf "$shm"
  if [[ ${PERF:-0} == 1 ]]; then echo "kept $T (perf.data)" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
# fdatasync latency of a 4 KiB overwrite in DIR (the floor of one durable commit).
fsync_probe() {
  python3 - "$1" <<'PY'
import os, sys, time
p = os.path.join(sys.argv[1], "fsync-probe")
fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o600)
t = []
for i in range(200):
    os.pwrite(fd, b"x" * 4096, (i % 16) * 4096)
    s = time.perf_counter(); os.fdatasync(fd); t.append((time.perf_counter() - s) * 1000)
os.close(fd); os.unlink(p); t.sort()
print(f"fdatasync of 4 KiB in {sys.argv[1]}: p50 {t[100]:.2f} ms, p90 {t[180]:.2f} ms, p99 {t[198]:.2f} ms")
PY
}

echo "# $(date -u +%FT%TZ) $(openssl version | cut -d' ' -f1-2), $(nproc) cores," \
  "pebble $(dpkg-query -W -f '${Version}' pebble 2>/dev/null || echo '?')"

# ---- Herald
declare -A PID DIRURL CAFILE LOG
start_herald() {  # label data-dir [binary]
  local D=$2 SP HP bin=${3:-$bin}
  SP=$(port) HP=$(port)
  "$bin" ca init --dir "$D" --base-url "http://127.0.0.1:$HP" >/dev/null 2>&1
  grep -q '^\[acme\]' "$D/herald.toml" || { echo "no [acme] table in $D/herald.toml" >&2; exit 1; }
  if [[ -n ${HERALD_SERVER_SETTINGS:-} ]]; then
    local key=${HERALD_SERVER_SETTINGS%% =*}
    if grep -q "^$key = " "$D/herald.toml"; then
      sed -i "s/^$key = .*/$HERALD_SERVER_SETTINGS/" "$D/herald.toml"
    else
      sed -i "/^\[server\]/a $HERALD_SERVER_SETTINGS" "$D/herald.toml"
    fi
  fi
  sed -i "/^\[acme\]/a insecure_skip_validation = true\norders_per_account_per_hour = $ORDER_LIMIT\norders_per_identifier_per_hour = $ORDER_LIMIT" \
    "$D/herald.toml"
  LOG[$1]=$T/$1.log
  $SERVER_PIN "$bin" serve --dir "$D" --listen "127.0.0.1:$SP" --http-listen "127.0.0.1:$HP" >"${LOG[$1]}" 2>&1 &
  PID[$1]=$!
  pids+=("${PID[$1]}")
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$HP/readyz" >/dev/null && break; sleep 0.05; done
  curl -sf "http://127.0.0.1:$HP/readyz" >/dev/null || { echo "$1 did not start:" >&2; cat "${LOG[$1]}" >&2; exit 1; }
  DIRURL[$1]="https://127.0.0.1:$SP/acme/acme/directory"
  CAFILE[$1]=$D/ca/root.pem
}
servers=(herald)
start_herald herald "$T/herald"
if [[ -n ${HERALD_B:-} ]]; then
  start_herald herald-b "$T/herald-b" "$HERALD_B"
  servers+=(herald-b)
fi
if [[ ${HERALD_TMPFS:-0} == 1 ]]; then
  shm=$(mktemp -d /dev/shm/acme-bench.XXXXXX)
  start_herald herald-tmpfs "$shm/data"
  servers+=(herald-tmpfs)
fi

# ---- pebble
P=$T/pebble
mkdir -p "$P"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=pebble-bench \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -keyout "$P/key.pem" -out "$P/cert.pem" 2>/dev/null
PP=$(port) PM=$(port)
cat >"$P/config.json" <<JSON
{
  "pebble": {
    "listenAddress": "127.0.0.1:$PP",
    "managementListenAddress": "127.0.0.1:$PM",
    "certificate": "$P/cert.pem",
    "privateKey": "$P/key.pem",
    "httpPort": 5002,
    "tlsPort": 5001,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false
  }
}
JSON
LOG[pebble]=$T/pebble.log
DIRURL[pebble]="https://127.0.0.1:$PP/dir"
CAFILE[pebble]=$P/cert.pem
# A fresh pebble (empty in-memory store) for every run: its newOrder scans every
# authorization it holds, so a store grown by earlier runs would slow it down.
start_pebble() {
  if [[ -n ${PID[pebble]:-} ]]; then kill "${PID[pebble]}" 2>/dev/null || true; wait "${PID[pebble]}" 2>/dev/null || true; fi
  PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
    $SERVER_PIN pebble -config "$P/config.json" -strict=false >>"${LOG[pebble]}" 2>&1 &
  PID[pebble]=$!
  pids+=("${PID[pebble]}")
  for _ in $(seq 200); do curl -sf --cacert "$P/cert.pem" "${DIRURL[pebble]}" >/dev/null && break; sleep 0.05; done
  curl -sf --cacert "$P/cert.pem" "${DIRURL[pebble]}" >/dev/null || { echo "pebble did not start:" >&2; cat "${LOG[pebble]}" >&2; exit 1; }
}
start_pebble
PEBBLE_STALLS=0
for c in $PEBBLE_POLL_CAPS; do servers+=("pebble-cap${c}ms"); done

# ---- runs
declare -A R
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime, all threads
HZ=$(getconf CLK_TCK)
bench() {  # label server workers orders poll-cap
  local out t0 t1 cpu pid rc tries=0
  while :; do
    [[ $2 != pebble ]] || start_pebble
    pid=${PID[$2]} rc=0
    t0=$(ticks "$pid")
    out=$($CLIENT_PIN "$client" --directory "${DIRURL[$2]}" --ca "${CAFILE[$2]}" --workers "$3" --orders "$4" \
      --warmup "$WARMUP" --poll-cap-ms "$5" --timeout 10 --label "$1" 2>"$T/client.err") || rc=$?
    # pebble 2.4 can deadlock under concurrent orders (its in-memory store's
    # locks; a goroutine dump shows newOrder's authorization scan blocked):
    # count it and run again on a fresh pebble, up to PEBBLE_TRIES times.
    if [[ $rc -ne 0 && $2 == pebble ]] && grep -q 'the server stalled' "$T/client.err" && ((++tries < PEBBLE_TRIES)); then
      PEBBLE_STALLS=$((PEBBLE_STALLS + 1))
      echo "pebble stalled during $1 with $3 worker(s) (no answer within 10 s); again on a fresh pebble" >&2
      continue
    fi
    break
  done
  if [[ $rc -ne 0 ]]; then
    echo "$out"; cat "$T/client.err" >&2
    echo "acme_bench against $1 FAILED (exit status $rc$( ((rc > 128)) && echo ": killed by signal $((rc - 128))"));" \
      "server log tail:" >&2
    tail -20 "${LOG[$2]}" >&2
    [[ $2 == pebble ]] || exit 1
    echo "pebble stalled on every try: no result for $1 with $3 worker(s)"
    R[$1,$3]="rate=stalled"
    return
  fi
  t1=$(ticks "$pid")
  # Server CPU over the whole client run (account, warmup and timed orders).
  cpu=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n=$(($4 + $3 * WARMUP)) 'BEGIN{printf "%.2f", d * 1000 / hz / n}')
  echo "$out" | grep -v '^RESULT'
  echo "server CPU        $cpu ms/order (utime+stime of the server process, warmup included)"
  echo
  R[$1,$3]="$(echo "$out" | grep '^RESULT') server_cpu_ms=$cpu"
}
field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1==k{print $2}'; }

# Raw P-256 rates of this machine, one core (openssl speed), for the floor below.
read -r SIGN_RATE VERIFY_RATE < <(openssl speed -seconds 2 ecdsap256 2>/dev/null |
  awk '/256 bits ecdsa \(nistp256\)/ {print $(NF-1), $NF}')
echo "raw P-256 on one core (openssl speed ecdsap256): $SIGN_RATE sign/s, $VERIFY_RATE verify/s"
echo "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
fsync_probe "$T"
echo
for w in "${workers[@]}"; do
  if [[ $w -eq 1 ]]; then ho=$ORDERS_1 po=$PEBBLE_ORDERS_1; else ho=$ORDERS_N po=$PEBBLE_ORDERS_N; fi
  if [[ ${PERF:-0} == 1 && $w == "${workers[-1]}" ]]; then
    # shellcheck disable=SC2086
    perf record ${PERF_ARGS:--g} -o "$T/perf.data" -p "${PID[herald]}" >"$T/perf.log" 2>&1 &
    perf_pid=$!
    sleep 0.5
  fi
  bench herald herald "$w" "$ho" "$POLL_CAP_MS"
  if [[ -n ${perf_pid:-} ]]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; perf_pid=; fi
  [[ -z ${HERALD_B:-} ]] || bench herald-b herald-b "$w" "$ho" "$POLL_CAP_MS"
  [[ ${HERALD_TMPFS:-0} != 1 ]] || bench herald-tmpfs herald-tmpfs "$w" "$ho" "$POLL_CAP_MS"
  for c in $PEBBLE_POLL_CAPS; do bench "pebble-cap${c}ms" pebble "$w" "$po" "$c"; done
done
echo "load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "pebble stalls (runs repeated on a fresh pebble): $PEBBLE_STALLS"
fsync_probe "$T"
echo

echo "## Summary"
echo "(ms; srv = the order's request round trips summed, the server-side time bound;"
echo " CPU = server process CPU per order)"
printf '%-16s %7s %9s %8s %8s %8s %8s %9s %7s %7s\n' server workers orders/s "p50" "p99" "p50 srv" "p99 srv" \
  req/order CPU "clt CPU"
for w in "${workers[@]}"; do
  for s in "${servers[@]}"; do
    r=${R[$s,$w]}
    printf '%-16s %7s %9s %8s %8s %8s %8s %9s %7s %7s\n' "$s" "$w" "$(field "$r" rate)" "$(field "$r" wall_p50)" \
      "$(field "$r" wall_p99)" "$(field "$r" server_p50)" "$(field "$r" server_p99)" \
      "$(field "$r" req_per_order)" "$(field "$r" server_cpu_ms)" "$(field "$r" client_cpu_ms)"
  done
  for h in "${servers[@]}"; do
    [[ $h == herald* ]] || continue
    for c in $PEBBLE_POLL_CAPS; do
      hr=${R[$h,$w]} pr=${R[pebble-cap${c}ms,$w]}
      awk -v h="$h" -v w="$w" -v c="$c" -v hr="$(field "$hr" rate)" -v pr="$(field "$pr" rate)" \
          -v hs="$(field "$hr" server_p50)" -v ps="$(field "$pr" server_p50)" \
          -v hc="$(field "$hr" server_cpu_ms)" -v pc="$(field "$pr" server_cpu_ms)" \
          'BEGIN{if (pr + 0 == 0) {printf "  %s vs pebble-cap%sms, %s worker(s): no pebble result\n", h, c, w; exit}
                 printf "  %s vs pebble-cap%sms, %s worker(s): orders/s %.2fx; p50 server-side time %.2fx pebble'"'"'s; CPU/order %.2fx pebble'"'"'s\n", h, c, w, hr/pr, hs/ps, hc/pc}'
    done
  done
  # The ceiling of any server here: the client's measured CPU per order plus the
  # least signature work a server must do per order (verify 7 JWS + the CSR;
  # sign the certificate and one OCSP answer), on this machine's cores.
  hr=${R[herald,$w]}
  if [[ ${PIN:-0} == 1 ]]; then
    awk -v w="$w" -v s="$SIGN_RATE" -v v="$VERIFY_RATE" -v clt="$(field "$hr" client_cpu_ms)" \
      'BEGIN{floor = (8 / v + 2 / s) * 1000;
             printf "  pinned, %s worker(s): one server core doing only its signature work: %.0f orders/s; the client core (%.2f ms/order): %.0f orders/s\n", w, 1000 / floor, clt, 1000 / clt}'
    continue
  fi
  awk -v w="$w" -v cores="$(nproc)" -v s="$SIGN_RATE" -v v="$VERIFY_RATE" -v clt="$(field "$hr" client_cpu_ms)" \
      -v best="$(for c in $PEBBLE_POLL_CAPS; do field "${R[pebble-cap${c}ms,$w]}" rate; done | sort -g | tail -1)" \
      'BEGIN{floor = (8 / v + 2 / s) * 1000; lim = cores * 1000 / (clt + floor);
             cfloor = 7 / s * 1000; abs = cores * 1000 / (cfloor + floor);
             r1 = best + 0 > 0 ? sprintf(" = %.1fx pebble'"'"'s best (%.1f/s)", lim / best, best) : "";
             r2 = best + 0 > 0 ? sprintf(" = %.1fx pebble'"'"'s best", abs / best) : "";
             printf "  ceiling, %s worker(s): this client (%.2f ms CPU/order) + a server doing only its signature work (%.2f ms) = %.0f orders/s on %d cores%s\n", w, clt, floor, lim, cores, r1;
             printf "  ceiling, %s worker(s): a client doing only its 7 JWS signatures (%.2f ms) + that server = %.0f orders/s%s\n", w, cfloor, abs, r2}'
done
echo
for s in herald herald-b herald-tmpfs pebble; do
  [[ -n ${LOG[$s]:-} ]] || continue
  n=$(grep -ciE 'error|panic|fatal|warn' "${LOG[$s]}" || true)
  echo "$s log: $(wc -l <"${LOG[$s]}") lines, $n matching error/panic/fatal/warn"
  [[ $n -eq 0 ]] || grep -iE 'error|panic|fatal|warn' "${LOG[$s]}" | sort | uniq -c | sort -rn | head -5
done
if [[ ${PERF:-0} == 1 ]]; then
  echo "perf data: $T/perf.data (perf report -i $T/perf.data --no-children)"
fi
