#!/usr/bin/env bash
# Proves `herald proxy` streams bodies of any size through bounded memory:
#  - an upload (chunked, from a pipe: the client never holds it) and a
#    download of the same size pass through the proxy with the SHA-256
#    checked at both ends (client and echo_backend.py), plus a 64 MiB
#    Content-Length upload from a file;
#  - the proxy's peak RSS (VmHWM in /proc/PID/status) is printed with its
#    value after start-up, and its growth is bounded (< 64 MiB) whatever the
#    size streamed.
# Size: HERALD_STREAM_BYTES if set; else 1 GiB when the measured rate allows
# it within ~15 s per direction, otherwise the largest multiple of 64 MiB
# that does (at least 128 MiB): the ASan build in CI streams ~20 MB/s. The
# size used is printed.
# Under ASan the proxy runs with ASAN_OPTIONS=quarantine_size_mb=16: the
# default quarantine keeps up to 256 MiB of freed buffers resident, which
# would be measured as the proxy's memory (it is ASan's).
STREAM_BYTES_ENV=${HERALD_STREAM_BYTES:-}
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$IT_DIR/serve_lib.sh"
source "$IT_DIR/proxy_lib.sh"
need_tool openssl curl python3

step "ca init, herald serve, the echo backend, the proxy"
serve_init "$T/pki"
serve_start "$D"
backend_start be
BE=$BE_PORT
issue_client proxy --dir "$D" --profile server --cn localhost --san ip:127.0.0.1
issue_client alice --dir "$D" --profile client --cn alice --san dns:alice.internal
alloc_port P
alloc_port A
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16" proxy_start px "$A" --listen "127.0.0.1:$P" --backend "127.0.0.1:$BE" --cert "$T/c/proxy/cert.pem" --key "$T/c/proxy/key.pem" \
  --chain "$T/c/proxy/chain.pem" --trust "$ROOT" --ca-feed "$API" --admin-listen "127.0.0.1:$A" --threads 2 --no-access-log
PID=${PROXY_PID[px]}
for i in $(seq 300); do
  [[ $(metric "$A" herald_proxy_revocation_feed_connected) == 1 ]] && break
  ((i < 300)) || fail "the proxy did not follow the feed in 30 s"
  sleep 0.1
done
ASAN=no
grep -q 'libasan\|libclang_rt.asan' "/proc/$PID/maps" 2>/dev/null && ASAN=yes
nm -D "$HERALD" 2>/dev/null | grep -q ' __asan_init' && ASAN=yes
CURL=(curl -sS --max-time 300 --cacert "$ROOT" --cert "$T/c/alice/full.pem" --key "$T/c/alice/key.pem")
pcurl "$P" alice /echo
expect_status 200 "a first request"
kib() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$PID/status"; }
BASE_KIB=$(kib VmHWM)
ok "proxy pid $PID on :$P (ASan build: $ASAN); after start-up and one request: VmHWM $((BASE_KIB / 1024)) MiB"

# mbps BYTES MICROSECONDS
mbps() { awk -v b="$1" -v us="$2" 'BEGIN { printf "%.1f", b / 1048576 / (us / 1e6) }'; }

step "64 MiB probe: Content-Length upload from a file, and a download"
PROBE=$((64 * 1048576))
python3 "$BACKEND_PY" --gen "$PROBE" --seed probe >"$T/probe.bin"
PROBE_SHA=$(sha256sum <"$T/probe.bin" | cut -d' ' -f1)
t0=$(now_us)
"${CURL[@]}" -X POST -H 'Content-Type: application/octet-stream' --data-binary @"$T/probe.bin" \
  "https://127.0.0.1:$P/upload" >"$T/probe.up.json"
t1=$(now_us)
[[ $(json_get "$T/probe.up.json" 'd["bytes"]') == "$PROBE" && $(json_get "$T/probe.up.json" 'd["sha256"]') == "$PROBE_SHA" ]] ||
  fail "64 MiB upload: the backend got $(cat "$T/probe.up.json"), expected $PROBE bytes $PROBE_SHA"
UP_US=$((t1 - t0))
rm -f "$T/probe.bin"
t0=$(now_us)
got=$("${CURL[@]}" "https://127.0.0.1:$P/download?bytes=$PROBE&seed=probe" | sha256sum | cut -d' ' -f1)
t1=$(now_us)
[[ $got == "$PROBE_SHA" ]] || fail "64 MiB download: SHA-256 $got, expected $PROBE_SHA"
DOWN_US=$((t1 - t0))
ok "upload $(mbps "$PROBE" "$UP_US") MB/s, download $(mbps "$PROBE" "$DOWN_US") MB/s, SHA-256 equal at both ends"

if [[ -n $STREAM_BYTES_ENV ]]; then
  N=$STREAM_BYTES_ENV
  why="HERALD_STREAM_BYTES"
else
  slow=$((UP_US > DOWN_US ? UP_US : DOWN_US))
  # bytes in 15 s at the slower rate, in 64 MiB steps, between 128 MiB and 1 GiB
  N=$(awk -v p="$PROBE" -v us="$slow" 'BEGIN { n = int(p * 15e6 / us / 67108864) * 67108864; if (n < 134217728) n = 134217728; if (n > 1073741824) n = 1073741824; print n }')
  why="1 GiB, or what the measured rate streams in ~15 s per direction"
fi
echo "   streaming $N bytes ($((N / 1048576)) MiB) each way ($why)"

step "upload: chunked from a pipe, SHA-256 at the client and at the backend"
t0=$(now_us)
python3 "$BACKEND_PY" --gen "$N" --seed up | tee >(sha256sum | cut -d' ' -f1 >"$T/up.client.sha") |
  "${CURL[@]}" -X POST -H 'Content-Type: application/octet-stream' -T - "https://127.0.0.1:$P/upload" >"$T/up.json"
t1=$(now_us)
for i in $(seq 50); do [[ -s $T/up.client.sha ]] && break; sleep 0.1; done
[[ $(json_get "$T/up.json" 'd["bytes"]') == "$N" ]] || fail "upload: the backend counted $(json_get "$T/up.json" 'd["bytes"]') bytes, expected $N"
[[ $(json_get "$T/up.json" 'd["sha256"]') == "$(cat "$T/up.client.sha")" ]] ||
  fail "upload: SHA-256 at the backend $(json_get "$T/up.json" 'd["sha256"]'), at the client $(cat "$T/up.client.sha")"
UP_RATE=$(mbps "$N" $((t1 - t0)))
ok "$((N / 1048576)) MiB up in $(secs $((t1 - t0))) s = $UP_RATE MB/s, SHA-256 $(cat "$T/up.client.sha") at both ends"

step "download: SHA-256 at the backend and at the client"
t0=$(now_us)
"${CURL[@]}" -w '%{size_download}\n' -o >(sha256sum | cut -d' ' -f1 >"$T/down.client.sha") \
  "https://127.0.0.1:$P/download?bytes=$N&seed=down" >"$T/down.size"
t1=$(now_us)
for i in $(seq 50); do [[ -s $T/down.client.sha ]] && break; sleep 0.1; done
[[ $(cat "$T/down.size") == "$N" ]] || fail "download: $(cat "$T/down.size") bytes, expected $N"
curl -sS "http://127.0.0.1:$BE/download-sha?bytes=$N&seed=down" >"$T/down.json"
[[ $(json_get "$T/down.json" 'd["sha256"]') == "$(cat "$T/down.client.sha")" ]] ||
  fail "download: SHA-256 at the client $(cat "$T/down.client.sha"), of the backend's stream $(json_get "$T/down.json" 'd["sha256"]')"
DOWN_RATE=$(mbps "$N" $((t1 - t0)))
ok "$((N / 1048576)) MiB down in $(secs $((t1 - t0))) s = $DOWN_RATE MB/s, SHA-256 equal"

step "the proxy's memory"
PEAK_KIB=$(kib VmHWM)
GROWTH=$(((PEAK_KIB - BASE_KIB) / 1024))
echo "   measured: VmHWM $((BASE_KIB / 1024)) MiB after start-up, $((PEAK_KIB / 1024)) MiB after streaming $((2 * N / 1048576 + 128)) MiB: +$GROWTH MiB (ASan build: $ASAN)"
((GROWTH < 64)) || fail "the proxy's peak RSS grew by $GROWTH MiB while streaming (bounded buffers should keep it flat)"
[[ $(metric "$A" 'herald_proxy_upstream_errors_total{route="default"}') == 0 ]] || fail "upstream errors counted"
ok "peak RSS +$GROWTH MiB (< 64 MiB) for $((2 * N / 1048576 + 128)) MiB streamed; no upstream error"
echo "   summary: $((N / 1048576)) MiB each way; upload $UP_RATE MB/s, download $DOWN_RATE MB/s; VmHWM $((PEAK_KIB / 1024)) MiB (start $((BASE_KIB / 1024)) MiB)"

step "PASS proxy_stream"
