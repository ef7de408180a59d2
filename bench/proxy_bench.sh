#!/usr/bin/env bash
# mTLS reverse proxies compared in one run: `herald proxy` and nginx as an
# mTLS terminator, in front of the same backend, loaded by bench/mtls_load
# (a client of our own: ab and wrk cannot present client certificates).
#
# Everything runs on 127.0.0.1 from a temp dir:
#   - a Herald hierarchy (herald ca init; CDPs on the backend), a server certificate for the
#     proxies and a client certificate for the load (herald issue);
#   - the backend: nginx, plain HTTP, one worker: /small (a 3-byte body),
#     /big.bin (a static file of $BYTES), /crl/ (the CA's CRLs), /upload (reads the whole body,
#     then answers 200; nginx's echo module, libnginx-mod-http-echo);
#   - nginx as the mTLS terminator, as production guides set it up:
#     ssl_verify_client on, ssl_client_certificate = issuing + intermediate +
#     root, ssl_verify_depth 3, ssl_crl = the three CAs' CRLs, proxy_pass to an upstream with keepalive,
#     X-Forwarded-* and client-certificate headers, access_log to a file
#     (herald proxy's access log, on by default, also goes to a file), bodies streamed
#     (proxy_request_buffering off, proxy_buffering off, as herald proxy
#     streams through bounded buffers), worker_processes = $PROXY_THREADS.
#     Port A: session tickets and cache off (full handshakes); port B:
#     tickets on (the resume run, and a handshake run: herald proxy always
#     issues tickets); port C: ssl_verify_client off (the
#     handshake without a client certificate, for scale); port D: as A with
#     nginx's default body buffering ("nginx(buffered)": the request body
#     read whole, the response through proxy_buffers and temp files), for
#     the upload and download runs; port E: ssl_verify_client
#     optional_no_ca and no CA file nor CRL ("nginx(cert not verified)": the
#     client's certificates received and parsed, no issuer found, no
#     signature checked: the floor of a full mTLS handshake on this OpenSSL,
#     whatever the proxy does after the parsing);
#   - `herald proxy` with the same certificates, nginx's CA file as --trust,
#     --mode http, --threads $PROXY_THREADS, revocation hard by CRL (the CDPs
#     point to the backend, which serves the CA's CRLs), the same backend (only when `herald proxy --help` works;
#     otherwise nginx alone, and the output says so).
# Cores: each proxy on $PROXY_CORE (taskset), the load client and the
# backend on $CLIENT_CORE. Server CPU = utime + stime from /proc/PID/stat
# (nginx: master + workers; herald: all threads) before/after each run.
# Also `openssl speed` on the proxy's core: the crypto ceiling of a full
# mTLS handshake.
#
# Usage: bench/proxy_bench.sh   (release build of herald and mtls_load)
#   DURATION=10 HS_CONC=16 KA_CONC=32 STREAM_CONC=4 BYTES=67108864
#   PROXY_CORE=1 CLIENT_CORE=0 PROXY_THREADS=1 TLS=1.3 MODES="handshake resume nocert keepalive download upload"
#   NGINX_STREAM="proxy_request_buffering off; proxy_buffering off;"  (nginx's body handling)
#   HERALD_TRUST=bundle|root   (herald proxy's --trust: nginx's CA file, or the root alone)
#   KEEP_TMP=1   (keep the temp dir: logs of both proxies, herald's access log)
#   LOAD_WRAP="perf record -g -o /tmp/load.perf"   (a prefix for the load client's command line)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOTDIR=$PWD
herald=$ROOTDIR/build/release/src/cli/herald
load=$ROOTDIR/build/release/bench/mtls_load
for b in "$herald" "$load"; do
  [[ -x $b ]] || { echo "build first: cmake --preset release && cmake --build --preset release --target herald mtls_load x509_decode_bench" >&2; exit 1; }
done
command -v nginx >/dev/null || { echo "nginx is needed (apt-get install nginx-light libnginx-mod-http-echo)" >&2; exit 1; }
DURATION=${DURATION:-10}
HS_CONC=${HS_CONC:-16}
KA_CONC=${KA_CONC:-32}
STREAM_CONC=${STREAM_CONC:-4}
BYTES=${BYTES:-67108864}
PROXY_CORE=${PROXY_CORE:-1}
CLIENT_CORE=${CLIENT_CORE:-0}
PROXY_THREADS=${PROXY_THREADS:-1}
TLS=${TLS:-1.3}
SERVER_CHAIN=${SERVER_CHAIN:-chain}
HERALD_TRUST=${HERALD_TRUST:-bundle}
NGINX_STREAM=${NGINX_STREAM:-proxy_request_buffering off; proxy_buffering off;}
MODES=${MODES:-handshake resume nocert keepalive download upload}
read -ra WRAP <<<"${LOAD_WRAP:-}"

T=$(mktemp -d /tmp/herald-proxybench.XXXXXX)
D=$T/data
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ -n ${KEEP_TMP:-} ]]; then echo "# kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
TICK=$(getconf CLK_TCK)
# cpu_ticks PID...: utime + stime of these processes (all their threads).
cpu_ticks() {
  local t=0 p f
  for p in "$@"; do
    [[ -r /proc/$p/stat ]] || continue
    read -ra f <<<"$(sed 's/^.*) //' "/proc/$p/stat")"  # fields from the 3rd on (comm may hold spaces)
    t=$((t + f[11] + f[12]))
  done
  echo "$t"
}
# busy_ticks: CPU ticks spent by everything on the machine (the /proc/stat cpu line less idle and iowait).
busy_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9; exit}' /proc/stat; }
# nginx_pids MASTER: the master and its workers.
nginx_pids() { echo "$1 $(pgrep -P "$1" | tr '\n' ' ' || true)"; }
wait_port() {  # wait_port PORT PID LOG
  for _ in $(seq 300); do
    kill -0 "$2" 2>/dev/null || { echo "process for port $1 exited:" >&2; cat "$3" >&2; return 1; }
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on $1 after 30 s" >&2
  cat "$3" >&2
  return 1
}

echo "# $(date -u +%FT%TZ) $(openssl version | cut -d' ' -f1-2), nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), $(nproc) cores:$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
echo "# proxies on core $PROXY_CORE ($PROXY_THREADS worker/thread), load client and backend on core $CLIENT_CORE; TLS $TLS; $DURATION s per run; server presents: $SERVER_CHAIN"

# ---- PKI ----
# The CRL distribution points name the backend, which serves $D/crl/: both
# proxies check revocation with the same CRLs (nginx: ssl_crl; herald proxy:
# fetched from the CDPs and cached, its default revocation = hard).
BP=$(port)
"$herald" ca init --dir "$D" --org "Proxy Bench" --base-url "http://127.0.0.1:$BP" >/dev/null 2>&1
"$herald" issue --dir "$D" --profile server --cn localhost --san ip:127.0.0.1 --out-dir "$T/server" >/dev/null
"$herald" issue --dir "$D" --profile client --cn load.internal --out-dir "$T/client" >/dev/null
cat "$D/ca/issuing.pem" "$D/ca/intermediate.pem" "$D/ca/root.pem" >"$T/client-ca.pem"
cat "$D/crl/issuing.pem" "$D/crl/intermediate.pem" "$D/crl/root.pem" >"$T/crl.pem"
ROOT=$D/ca/root.pem
# What the proxies present: chain.pem (leaf + issuing + intermediate, as in
# production) or SERVER_CHAIN=leaf (cert.pem alone: the load client then
# parses one certificate per handshake instead of three).
SCERT=$T/server/chain.pem
[[ $SERVER_CHAIN == leaf ]] && SCERT=$T/server/cert.pem
# The client presents leaf + issuing + intermediate (chain.pem), like herald agent's outputs.
CCERT=$T/client/chain.pem
CKEY=$T/client/key.pem
CCERT_LEAF=$T/client/cert.pem

# ---- backend ----
mkdir -p "$T/be/tmp" "$T/be/www"
printf 'ok\n' >"$T/be/www/small"
truncate -s "$BYTES" "$T/be/www/big.bin"
chmod 755 "$T" "$T/be" "$T/be/www" "$D" "$D/crl"  # nginx workers run as an unprivileged user
chmod 644 "$T/be/www/small" "$T/be/www/big.bin"
cat /dev/null >"$T/be/modules.conf"
upload_loc='return 200 "ok\n";'
upload_note="backend /upload answers at once and discards the body (no echo module)"
if [[ -f /usr/lib/nginx/modules/ngx_http_echo_module.so ]]; then
  echo "load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;" >"$T/be/modules.conf"
  upload_loc='echo_read_request_body; echo "ok";'
  upload_note="backend /upload reads the whole body, then answers"
fi
cat >"$T/be/nginx.conf" <<EOF
include $T/be/modules.conf;
daemon off;
worker_processes 1;
pid $T/be/nginx.pid;
error_log $T/be/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 1000000;
  client_body_temp_path $T/be/tmp/body;
  proxy_temp_path $T/be/tmp/proxy;
  fastcgi_temp_path $T/be/tmp/fastcgi;
  uwsgi_temp_path $T/be/tmp/uwsgi;
  scgi_temp_path $T/be/tmp/scgi;
  server {
    listen 127.0.0.1:$BP;
    root $T/be/www;
    location = /small { default_type text/plain; }
    location = /big.bin { default_type application/octet-stream; }
    location /crl/ { alias $D/crl/; }
    location = /upload {
      client_max_body_size 0;
      client_body_buffer_size $BYTES;
      $upload_loc
    }
  }
}
EOF
taskset -c "$CLIENT_CORE" nginx -c "$T/be/nginx.conf" -p "$T/be/" -e stderr >"$T/be/out.log" 2>&1 &
BE_PID=$!
pids+=("$BE_PID")
wait_port "$BP" "$BE_PID" "$T/be/out.log"

# ---- nginx, mTLS terminator ----
NA=$(port) NB=$(port) NC=$(port) ND=$(port) NE=$(port)
mkdir -p "$T/ng/tmp"
ngx_server() {  # PORT SERVER_EXTRA LOCATION_EXTRA [noca]
  local ca="ssl_client_certificate $T/client-ca.pem;
    ssl_verify_depth 3;
    ssl_crl $T/crl.pem;"
  [[ ${4:-} == noca ]] && ca="# no CA, no CRL: OpenSSL finds no issuer and checks no signature"
  cat <<EOF
  server {
    listen 127.0.0.1:$1 ssl;
    ssl_certificate $SCERT;
    ssl_certificate_key $T/server/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    $ca
    $2
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header X-Client-Cert-Subject \$ssl_client_s_dn;
      proxy_set_header X-Client-Cert-Serial \$ssl_client_serial;
      proxy_set_header X-Client-Cert-Fingerprint \$ssl_client_fingerprint;
      proxy_set_header X-Client-Cert-Verified \$ssl_client_verify;
      client_max_body_size 0;
      $3
    }
  }
EOF
}
cat >"$T/ng/nginx.conf" <<EOF
daemon off;
worker_processes $PROXY_THREADS;
pid $T/ng/nginx.pid;
error_log $T/ng/error.log warn;
worker_rlimit_nofile 16384;
events { worker_connections 8192; }
http {
  access_log $T/ng/access.log;
  keepalive_requests 1000000;
  client_body_temp_path $T/ng/tmp/body;
  proxy_temp_path $T/ng/tmp/proxy;
  fastcgi_temp_path $T/ng/tmp/fastcgi;
  uwsgi_temp_path $T/ng/tmp/uwsgi;
  scgi_temp_path $T/ng/tmp/scgi;
  upstream backend {
    server 127.0.0.1:$BP;
    keepalive 64;
  }
$(ngx_server "$NA" "ssl_verify_client on; ssl_session_tickets off; ssl_session_cache off;" "$NGINX_STREAM")
$(ngx_server "$NB" "ssl_verify_client on; ssl_session_tickets on; ssl_session_cache shared:SSL:10m;" "$NGINX_STREAM")
$(ngx_server "$NC" "ssl_verify_client off; ssl_session_tickets off; ssl_session_cache off;" "$NGINX_STREAM")
$(ngx_server "$ND" "ssl_verify_client on; ssl_session_tickets off; ssl_session_cache off;" "")
$(ngx_server "$NE" "ssl_verify_client optional_no_ca; ssl_session_tickets off; ssl_session_cache off;" "$NGINX_STREAM" noca)
}
EOF
taskset -c "$PROXY_CORE" nginx -c "$T/ng/nginx.conf" -p "$T/ng/" -e stderr >"$T/ng/out.log" 2>&1 &
NG_PID=$!
pids+=("$NG_PID")
wait_port "$NA" "$NG_PID" "$T/ng/out.log"

# ---- herald proxy ----
HP=""
HERALD_PID=""
# --trust: the same file as nginx's ssl_client_certificate (issuing +
# intermediate + root), or HERALD_TRUST=root (the root alone: herald proxy
# then refuses resumed sessions with unknown_ca, since a resumed session
# carries the leaf alone and the intermediates are nowhere).
HTRUST=$T/client-ca.pem
[[ $HERALD_TRUST == root ]] && HTRUST=$ROOT
if "$herald" proxy --help >"$T/hp-help.txt" 2>&1 && grep -q -- '--backend' "$T/hp-help.txt"; then
  HP=$(port)
  hp_args=(proxy --listen "127.0.0.1:$HP" --backend "127.0.0.1:$BP" --cert "$T/server/cert.pem"
           --key "$T/server/key.pem" --trust "$HTRUST" --mode http)
  [[ $SERVER_CHAIN == chain ]] && grep -q -- '--chain' "$T/hp-help.txt" && hp_args+=(--chain "$T/server/chain.pem")
  grep -q -- '--threads' "$T/hp-help.txt" && hp_args+=(--threads "$PROXY_THREADS")
  for c in issuing intermediate root; do hp_args+=(--crl-url "http://127.0.0.1:$BP/crl/$c.crl"); done
  read -ra extra <<<"${HERALD_PROXY_ARGS:-}"
  hp_args+=("${extra[@]}")
  echo "# herald ${hp_args[*]}" | sed "s|$T|\$T|g"
  # Its access log (default on, one JSON line per request on stderr) goes to
  # a file, as nginx's access_log does.
  taskset -c "$PROXY_CORE" "$herald" "${hp_args[@]}" >"$T/hp.log" 2>"$T/hp-access.log" &
  HERALD_PID=$!
  pids+=("$HERALD_PID")
  if ! wait_port "$HP" "$HERALD_PID" "$T/hp-access.log"; then
    echo "# herald proxy did not start: nginx alone"
    HP=""
  fi
else
  echo "# herald proxy is not in this build (herald proxy --help: $(head -1 "$T/hp-help.txt")): nginx alone"
fi

RES=$T/results.jsonl
: >"$RES"
# run NAME PORT MODE CONC EXTRA...: one load run, server CPU measured around it.
run() {
  local name=$1 p=$2 mode=$3 conc=$4
  shift 4
  local spids bpids
  if [[ $name == nginx* ]]; then read -ra spids <<<"$(nginx_pids "$NG_PID")"; else spids=("$HERALD_PID"); fi
  read -ra bpids <<<"$(nginx_pids "$BE_PID")"
  local s0 b0 s1 b1 a0 a1 out
  a0=$(busy_ticks)
  s0=$(cpu_ticks "${spids[@]}")
  b0=$(cpu_ticks "${bpids[@]}")
  out=$(taskset -c "$CLIENT_CORE" "${WRAP[@]}" "$load" --mode "$mode" --concurrency "$conc" --duration "$DURATION" --threads 1 \
        --tls "$TLS" "$@" 2>"$T/load.err") || true
  s1=$(cpu_ticks "${spids[@]}")
  b1=$(cpu_ticks "${bpids[@]}")
  a1=$(busy_ticks)
  [[ -n $out ]] || { echo "mtls_load failed: $(cat "$T/load.err")" >&2; return 0; }
  python3 - "$RES" "$name" "$out" "$((s1 - s0))" "$((b1 - b0))" "$TICK" "$((a1 - a0))" <<'PY'
import json, sys
res, name, out, s, b, tick, a = sys.argv[1:]
r = json.loads(out)
r["proxy"] = name
r["server_cpu_s"] = int(s) / int(tick)
r["backend_cpu_s"] = int(b) / int(tick)
# Everything else that ran on the machine meanwhile (other users, the kernel's
# own threads): a busy machine shows here.
r["other_cpu_s"] = max(0.0, int(a) / int(tick) - r["server_cpu_s"] - r["backend_cpu_s"] - r["client_cpu_s"])
open(res, "a").write(json.dumps(r) + "\n")
fb = {k: v for k, v in r["failed_by"].items() if v}
print(f'{name:13} {r["mode"]:9} c={r["concurrency"]:<3} ok={r["ok"]:<8} {r["rate_per_s"]:>9.1f}/s '
      f'{r["mb_per_s"]:>7.1f} MB/s  failed={r["failed"]} {fb if fb else ""} {r["statuses"] if r["statuses"] else ""} '
      f'full={r["full_handshakes"]} resumed={r["resumed"]}  p50={r["latency_ms"]["p50"]} p99={r["latency_ms"]["p99"]} ms  '
      f'server {r["server_cpu_s"]:.2f} s  client {r["client_cpu_pct_of_core"]}%  backend {r["backend_cpu_s"]:.2f} s  other {r["other_cpu_s"]:.2f} s')
PY
}

# warm NAME PORT: first connections, backend keep-alive pool (not recorded).
warm() {
  taskset -c "$CLIENT_CORE" "$load" --url "https://127.0.0.1:$2/small" --cert "$CCERT" --key "$CKEY" --mode keepalive \
    --concurrency 8 --duration 1 >/dev/null 2>&1 || true
}
# run_mode MODE NAME PORT_FULL PORT_RESUME PORT_NOCERT PORT_BUFFERED
run_mode() {
  local m=$1 name=$2 pa=$3 pb=$4 pc=$5 pd=$6
  local cert=(--cert "$CCERT" --key "$CKEY")
  case $m in
    handshake)
      run "$name" "$pa" handshake "$HS_CONC" --url "https://127.0.0.1:$pa/small" "${cert[@]}"
      # nginx with tickets on, as herald proxy always issues them (unused here).
      if [[ $pb != "$pa" ]]; then
        run "$name(tickets on)" "$pb" handshake "$HS_CONC" --url "https://127.0.0.1:$pb/small" "${cert[@]}"
      fi
      # The floor of this libssl: the client's certificates received and
      # parsed (OpenSSL 3.0 decodes each one's key, ~0.15 ms apiece), nothing
      # verified, no CRL. No proxy that checks certificates costs less.
      if [[ $name == nginx ]]; then
        run "$name(cert not verified)" "$NE" handshake "$HS_CONC" --url "https://127.0.0.1:$NE/small" "${cert[@]}"
      fi
      ;;
    resume) run "$name" "$pb" resume "$HS_CONC" --url "https://127.0.0.1:$pb/small" "${cert[@]}" ;;
    nocert)
      if [[ -n $pc ]]; then
        run "$name(no client cert)" "$pc" handshake "$HS_CONC" --url "https://127.0.0.1:$pc/small" --no-client-cert
      fi
      ;;
    keepalive) run "$name" "$pa" keepalive "$KA_CONC" --url "https://127.0.0.1:$pa/small" "${cert[@]}" ;;
    download|upload)
      local path=/big.bin
      [[ $m == upload ]] && path=/upload
      run "$name" "$pa" "$m" "$STREAM_CONC" --url "https://127.0.0.1:$pa$path" --bytes "$BYTES" "${cert[@]}"
      if [[ -n $pd ]]; then
        run "$name(buffered)" "$pd" "$m" "$STREAM_CONC" --url "https://127.0.0.1:$pd$path" --bytes "$BYTES" "${cert[@]}"
      fi
      ;;
  esac
}

echo
echo "## runs ($upload_note)"
# Interleaved (each mode against nginx, then herald proxy) so that both meet
# the same background load.
warm nginx "$NA"
[[ -z $HP ]] || warm herald "$HP"
for m in $MODES; do
  run_mode "$m" nginx "$NA" "$NB" "$NC" "$ND"
  # herald proxy has one listener: tickets always on, no certificate-less variant.
  if [[ -n $HP ]]; then run_mode "$m" herald "$HP" "$HP" "" ""; fi
done

echo
echo "## openssl speed on core $PROXY_CORE (3 s each)"
taskset -c "$PROXY_CORE" openssl speed -seconds 3 ecdsap256 ecdhx25519 ecdhp256 2>/dev/null >"$T/speed.txt"
grep -E '^ *256 bits ecdsa|^ *25[36] bits ecdh' "$T/speed.txt"
# What libssl pays per presented certificate before the proxy sees it.
decode=$ROOTDIR/build/release/bench/x509_decode_bench
if [[ -x $decode ]]; then
  echo "d2i_X509 of the client's leaf on core $PROXY_CORE: $(taskset -c "$PROXY_CORE" "$decode" "$CCERT_LEAF" 2000)"
  echo "(the load client presents $(grep -c BEGIN "$CCERT") certificates: libssl decodes each on every full handshake)"
fi

echo
python3 - "$RES" "$T/speed.txt" "$PROXY_CORE" "$CLIENT_CORE" <<'PY'
import json, re, sys
res, speed, pcore, ccore = sys.argv[1:]
rows = [json.loads(l) for l in open(res)]
print(f"| proxy | mode | c | ok/s | MB/s | failed | p50 ms | p90 ms | p99 ms | max ms | server CPU ms/op | server CPU % of core {pcore} | load client CPU % of core {ccore} | backend CPU % | other processes CPU % |")
print("|---|---|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
for r in rows:
    fb = ", ".join(f"{k} {v}" for k, v in r["failed_by"].items() if v) or "0"
    if r["statuses"]:
        fb += " (" + ", ".join(f"{k}: {v}" for k, v in r["statuses"].items()) + ")"
    ms_op = r["server_cpu_s"] * 1000 / r["ok"] if r["ok"] else float("nan")
    mode = r["mode"]
    if mode in ("upload", "download"):
        mode += f' {r["bytes"] >> 20} MiB'
    if r["mode"] == "resume":
        mode += f' ({r["resumed"]} of {r["resumed"] + r["full_handshakes"]} resumed)'
    lat = r["latency_ms"]
    print(f'| {r["proxy"]} | {mode} | {r["concurrency"]} | {r["rate_per_s"]:,.0f} | '
          f'{r["mb_per_s"]:,.0f} | {fb} | {lat["p50"]:.2f} | {lat["p90"]:.2f} | {lat["p99"]:.2f} | {lat["max"]:.1f} | '
          f'{ms_op:.3f} | {r["server_cpu_s"] / r["duration_s"] * 100:.0f} | {r["client_cpu_pct_of_core"]:.0f} | '
          f'{r["backend_cpu_s"] / r["duration_s"] * 100:.0f} | {r["other_cpu_s"] / r["duration_s"] * 100:.0f} |')
# Crypto ceiling of a full TLS 1.3 mTLS handshake on the server, X25519 key
# share, P-256 certificates, client chain leaf + issuing + intermediate:
# 1 sign (CertificateVerify), 4 verifies (the client's CertificateVerify and
# the three chain signatures: leaf, issuing, intermediate), 2 X25519 (key
# generation + shared secret; openssl speed times the latter).
txt = open(speed).read()
m = re.search(r"256 bits ecdsa \(nistp256\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)", txt)
x = re.search(r"253 bits ecdh \(X25519\)\s+\S+s\s+([\d.]+)", txt)
p = re.search(r"256 bits ecdh \(nistp256\)\s+\S+s\s+([\d.]+)", txt)
if m and x:
    sign, verify, x25519 = float(m.group(1)), float(m.group(2)), float(x.group(1))
    us = 1e6 / sign + 4 * 1e6 / verify + 2 * 1e6 / x25519
    us_nc = 1e6 / sign + 2 * 1e6 / x25519
    print()
    print(f"openssl speed (core {pcore}): P-256 sign {sign:,.0f}/s, verify {verify:,.0f}/s; X25519 {x25519:,.0f}/s"
          + (f"; P-256 ECDH {float(p.group(1)):,.0f}/s" if p else ""))
    print(f"crypto per full mTLS handshake (1 sign + 4 verifies + 2 X25519) = {us:.0f} us -> ceiling {1e6 / us:,.0f} handshakes/s per core")
    print(f"crypto per full handshake without client certificate (1 sign + 2 X25519) = {us_nc:.0f} us -> ceiling {1e6 / us_nc:,.0f}/s per core")
PY
