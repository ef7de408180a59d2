# Helpers for the end-to-end tests of `herald serve`. Source it after lib.sh;
# do not run it.
#
#   serve_init DIR [ARGS]   ports + `herald ca init` with the HTTP port as base URL (and ARGS)
#   serve_start DIR [ARGS]  start `herald serve` in the background, wait for /healthz
#   serve_stop [TIMEOUT]    SIGTERM, wait; leaves the exit status in $SERVE_RC
#   api METHOD PATH [curl args...]   HTTPS request to the API; body in $T/.api.body
#   expect_problem STATUS CODE       the last api/http_req answer is that problem
#
# Every background process started through here (bg_track) is killed when the
# script exits, whatever the outcome.

# shellcheck disable=SC2034  # globals are read by the scripts

BG_PIDS=()
bg_track() { BG_PIDS+=("$1"); }

_serve_exit() {
  local rc=$? p
  set +e
  for p in "${BG_PIDS[@]}"; do
    kill -0 "$p" 2>/dev/null || continue
    kill -TERM "$p" 2>/dev/null
  done
  for p in "${BG_PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  (exit "$rc")
  _cleanup
}
trap _serve_exit EXIT

# Wall-clock microseconds (bash 5), and a duration in seconds with 3 decimals.
now_us() { echo "${EPOCHREALTIME//[.,]/}"; }
secs() { printf '%d.%03d' $(($1 / 1000000)) $(($1 % 1000000 / 1000)); }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Two distinct free ports: HTTPS_PORT (API) and HTTP_PORT (OCSP, CRLs, health).
pick_ports() {
  HTTPS_PORT=$(free_port)
  HTTP_PORT=$(free_port)
  while [[ $HTTP_PORT == "$HTTPS_PORT" ]]; do HTTP_PORT=$(free_port); done
  API="https://127.0.0.1:$HTTPS_PORT"
  PUB="http://127.0.0.1:$HTTP_PORT"
}

# serve_init DIR: a fresh hierarchy whose certificates point at this server's
# HTTP port (CDP, AIA), and the usual file names.
serve_init() {
  D=$1
  pick_ports
  "$HERALD" ca init --dir "$D" --base-url "$PUB" "${@:2}" >"$T/init.log" 2>&1 || fail "ca init failed: $(cat "$T/init.log")"
  ROOT="$D/ca/root.pem" ISSUING="$D/ca/issuing.pem" INTER="$D/ca/intermediate.pem" CHAIN="$D/ca/chain.pem"
  cat "$ROOT" "$INTER" >"$T/root+intermediate.pem"
}

# set_server_option DIR KEY VALUE: replace `KEY = ...` in the [server] table.
set_server_option() {
  local f=$1/herald.toml
  python3 - "$f" "$2" "$3" <<'EOF' || fail "cannot set server.$2 in $f"
import re, sys
path, key, value = sys.argv[1:]
text = open(path).read()
head, sep, tail = text.partition("\n[server]\n")
assert sep, "no [server] table"
new, n = re.subn(r"(?m)^" + re.escape(key) + r"\s*=.*$", key + " = " + value, tail, count=1)
if n == 0:
    new = key + " = " + value + "\n" + tail
open(path, "w").write(head + sep + new)
EOF
}

# new_token DIR PROVISIONER: prints a bearer token.
new_token() {
  "$HERALD" token add --dir "$1" --provisioner "$2" 2>/dev/null || fail "herald token add --provisioner $2 failed"
}

SERVE_N=0
SERVE_PID=""
SERVE_LOG=""
SERVE_RC=""

# serve_start DIR [extra serve args]: start the server on HTTPS_PORT/HTTP_PORT
# and wait until /healthz answers 200 (up to 90 s: ASan on a loaded machine).
serve_start() {
  local dir=$1
  shift
  SERVE_N=$((SERVE_N + 1))
  SERVE_LOG="$T/serve.$SERVE_N.log"
  "$HERALD" serve --dir "$dir" --listen "127.0.0.1:$HTTPS_PORT" --http-listen "127.0.0.1:$HTTP_PORT" "$@" \
    >"$SERVE_LOG" 2>&1 &
  SERVE_PID=$!
  bg_track "$SERVE_PID"
  local i
  for i in $(seq 900); do
    if ! kill -0 "$SERVE_PID" 2>/dev/null; then
      wait "$SERVE_PID" || true
      fail "herald serve exited during start-up:$(printf '\n%s' "$(sed 's/^/   | /' "$SERVE_LOG")")"
    fi
    if [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$PUB/healthz" 2>/dev/null) == 200 ]]; then
      return 0
    fi
    sleep 0.1
  done
  fail "herald serve did not answer /healthz within 90 s:$(printf '\n%s' "$(sed 's/^/   | /' "$SERVE_LOG")")"
}

# serve_stop [TIMEOUT_S]: SIGTERM the server; $SERVE_RC is its exit status
# (or "timeout" if it was still running after TIMEOUT_S, default 30).
serve_stop() {
  local limit=${1:-30} i
  kill -TERM "$SERVE_PID" 2>/dev/null || true
  SERVE_RC=timeout
  for i in $(seq $((limit * 20))); do
    if ! kill -0 "$SERVE_PID" 2>/dev/null; then
      SERVE_RC=0
      wait "$SERVE_PID" || SERVE_RC=$?
      return 0
    fi
    sleep 0.05
  done
}

# serve_kill9: SIGKILL, no chance to clean up.
serve_kill9() {
  kill -KILL "$SERVE_PID" 2>/dev/null || true
  wait "$SERVE_PID" 2>/dev/null || true
}

assert_healthy() {
  local c
  c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 "$PUB/healthz") || true
  [[ $c == 200 ]] || fail "server not healthy after $1: /healthz gave '$c'"
  kill -0 "$SERVE_PID" 2>/dev/null || fail "server process is gone after $1"
}

# api METHOD PATH [curl args...]: an HTTPS request to the API trusting
# ca/root.pem. Sets $HTTP_STATUS, $HTTP_CTYPE; the body is in $T/.api.body.
API_TOKEN=""
api() {
  local method=$1 path=$2
  shift 2
  local auth=()
  [[ -n $API_TOKEN ]] && auth=(-H "Authorization: Bearer $API_TOKEN")
  _curl_req "$API$path" -X "$method" --cacert "$ROOT" "${auth[@]}" "$@"
}
# http_req METHOD URL [curl args...]: same over any URL, no token, no CA.
http_req() {
  local method=$1 url=$2
  shift 2
  _curl_req "$url" -X "$method" "$@"
}
_curl_req() {
  local url=$1 out rc=0
  shift
  out=$(curl -sS --max-time 60 -o "$T/.api.body" -w '%{http_code} %{content_type}' "$@" "$url" 2>"$T/.api.err") || rc=$?
  if [[ $rc != 0 ]]; then
    HTTP_STATUS=000
    HTTP_CTYPE=""
    CURL_RC=$rc
    return 0
  fi
  CURL_RC=0
  HTTP_STATUS=${out%% *}
  HTTP_CTYPE=${out#* }
}

body() { cat "$T/.api.body"; }

# expect_status CODE WHAT: the last request got HTTP CODE.
expect_status() {
  [[ $HTTP_STATUS == "$1" ]] ||
    fail "$2: HTTP $HTTP_STATUS (curl exit ${CURL_RC:-0}: $(cat "$T/.api.err" 2>/dev/null)), expected $1:$(printf '\n%s' "$(head -c 2000 "$T/.api.body" 2>/dev/null)")"
}

# expect_problem STATUS CODE WHAT: the last answer is an RFC 9457 problem with
# that HTTP status and "type": "urn:herald:problem:CODE", its "status" member
# agreeing.
expect_problem() {
  local status=$1 code=$2 what=$3
  expect_status "$status" "$what"
  [[ $HTTP_CTYPE == application/problem+json* ]] ||
    fail "$what: Content-Type '$HTTP_CTYPE', expected application/problem+json: $(head -c 2000 "$T/.api.body")"
  local got
  got=$(json_get "$T/.api.body" 'd["type"]' 2>/dev/null) || fail "$what: problem body is not JSON with a type: $(head -c 2000 "$T/.api.body")"
  [[ $got == "urn:herald:problem:$code" ]] ||
    fail "$what: problem type '$got', expected urn:herald:problem:$code: $(head -c 2000 "$T/.api.body")"
  [[ $(json_get "$T/.api.body" 'd.get("status")') == "$status" ]] ||
    fail "$what: problem body's status is not $status: $(head -c 2000 "$T/.api.body")"
  printf '   ok: %s -> %s %s (%s)\n' "$what" "$status" "$code" "$(json_get "$T/.api.body" 'd.get("detail")')"
}

# expect_problem_like STATUS_REGEX WHAT: the last answer is a Herald problem
# (urn:herald:problem:*) with an HTTP status matching STATUS_REGEX.
expect_problem_like() {
  local re=$1 what=$2
  [[ $HTTP_STATUS =~ ^($re)$ ]] ||
    fail "$what: HTTP $HTTP_STATUS, expected /$re/: $(head -c 2000 "$T/.api.body" 2>/dev/null)"
  local got
  got=$(json_get "$T/.api.body" 'd["type"]' 2>/dev/null) || got=""
  expect_problem "$HTTP_STATUS" "${got#urn:herald:problem:}" "$what"
  [[ $got == urn:herald:problem:* ]] || fail "$what: problem type '$got' is not urn:herald:problem:*"
}

# Defects found by the regression steps are collected, not fatal at once, so
# that one run reports all of them: defect MESSAGE ... then end_defects.
DEFECTS=()
defect() {
  printf '   DEFECT: %s\n' "$*"
  DEFECTS+=("$*")
}
end_defects() {
  ((${#DEFECTS[@]} == 0)) && return 0
  local m
  m=$(printf '\n  - %s' "${DEFECTS[@]}")
  fail "${#DEFECTS[@]} defect(s):$m"
}

# make_csr NAME CN [SAN-ext]: $T/NAME.key (EC P-256) and $T/NAME.csr (PEM).
make_csr() {
  local name=$1 cn=$2 san=${3:-}
  local ext=()
  [[ -n $san ]] && ext=(-addext "subjectAltName=$san")
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$name.key" \
    -subj "/CN=$cn" "${ext[@]}" -out "$T/$name.csr" 2>/dev/null || fail "openssl req for $name failed"
}
# csr_with_key NAME KEYFILE CN [SAN-ext]: $T/NAME.csr for an existing key.
csr_with_key() {
  local name=$1 key=$2 cn=$3 san=${4:-}
  local ext=()
  [[ -n $san ]] && ext=(-addext "subjectAltName=$san")
  openssl req -new -key "$key" -subj "/CN=$cn" "${ext[@]}" -out "$T/$name.csr" 2>/dev/null ||
    fail "openssl req for $name failed"
}

# sign_json CSR PROFILE [OWNER_JSON] [TTL]: the JSON body of POST /v1/sign.
sign_json() {
  python3 - "$@" <<'EOF'
import json, sys
d = {"csr": open(sys.argv[1]).read(), "profile": sys.argv[2]}
if len(sys.argv) > 3 and sys.argv[3]:
    d["owner"] = json.loads(sys.argv[3])
if len(sys.argv) > 4 and sys.argv[4]:
    d["ttl"] = sys.argv[4]
print(json.dumps(d))
EOF
}

# save_issued PREFIX: from the last 201 answer, $T/PREFIX.pem (leaf) and
# $T/PREFIX.chain.pem (issuing + intermediate); prints the serial.
save_issued() {
  python3 - "$T/.api.body" "$T/$1" <<'EOF' || fail "answer is not an issued certificate: $(head -c 2000 "$T/.api.body")"
import json, sys
d = json.load(open(sys.argv[1]))
leaf, chain = d["certificate"], d["chain"]
assert leaf.startswith("-----BEGIN CERTIFICATE-----"), "certificate is not PEM"
assert chain.startswith(leaf), "chain does not start with the certificate"
open(sys.argv[2] + ".pem", "w").write(leaf)
open(sys.argv[2] + ".chain.pem", "w").write(chain[len(leaf):])
print(d["serial"])
EOF
}

# ocsp_query LEAF [openssl ocsp args...]: ask the server about LEAF over HTTP;
# output in $OCSP_OUT, exit status in $OCSP_RC.
ocsp_query() {
  local leaf=$1
  shift
  OCSP_RC=0
  OCSP_OUT=$(openssl ocsp -url "$PUB/ocsp" -timeout 30 -issuer "$ISSUING" -cert "$leaf" -CAfile "$T/root+intermediate.pem" "$@" 2>&1) ||
    OCSP_RC=$?
}

# alloc_port VAR: a free TCP port distinct from every port taken so far
# (HTTPS_PORT and HTTP_PORT included once pick_ports ran).
TAKEN_PORTS=" "
alloc_port() {
  local p
  while :; do
    p=$(free_port)
    [[ $TAKEN_PORTS != *" $p "* && $p != "${HTTPS_PORT:-}" && $p != "${HTTP_PORT:-}" ]] && break
  done
  TAKEN_PORTS+="$p "
  printf -v "$1" '%s' "$p"
}

# challtestsrv_start: pebble-challtestsrv as a DNS server answering every name
# with 127.0.0.1 (on $DNS_PORT) and serving the TXT records set through its
# management API (on $MGMT_PORT, POST /set-txt and /clear-txt); waits until
# both answer.
challtestsrv_start() {
  alloc_port DNS_PORT
  alloc_port MGMT_PORT
  pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" -dns01 "127.0.0.1:$DNS_PORT" \
    -http01 "" -https01 "" -tlsalpn01 "" -management "127.0.0.1:$MGMT_PORT" >"$T/challtestsrv.log" 2>&1 &
  CHALL_PID=$!
  bg_track "$CHALL_PID"
  local i
  for i in $(seq 100); do
    kill -0 "$CHALL_PID" 2>/dev/null || fail "pebble-challtestsrv exited: $(cat "$T/challtestsrv.log")"
    if [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$MGMT_PORT/" 2>/dev/null || true) != 000 ]] &&
      _dns_a_ok probe.example.test 2>/dev/null; then
      return 0
    fi
    ((i < 100)) || fail "pebble-challtestsrv did not come up: $(cat "$T/challtestsrv.log")"
    sleep 0.1
  done
}
# _dns_a_ok NAME: the DNS server on $DNS_PORT gives 127.0.0.1 for NAME.
_dns_a_ok() {
  python3 - "$DNS_PORT" "$1" <<'PY'
import socket, struct, sys
port, name = int(sys.argv[1]), sys.argv[2]
q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.5)
s.sendto(q, ("127.0.0.1", port))
r = s.recv(4096)
sys.exit(0 if r[:2] == q[:2] and struct.unpack(">H", r[6:8])[0] >= 1 and b"\x00\x04\x7f\x00\x00\x01" in r[len(q):] else 1)
PY
}

# nginx_tls_start CERT_CHAIN KEY: nginx (one worker) serving HTTPS on
# 127.0.0.1:$NGINX_PORT (allocated) with these files, in $NG; waits until it
# answers (verified against $ROOT). $NGINX_RELOAD is the reload command line
# (nginx's log shows each SIGHUP as "signal 1 (SIGHUP) received").
nginx_tls_start() {
  local chain=$1 key=$2 i
  NG="$T/nginx"
  mkdir -p "$NG/logs" "$NG/tmp"
  alloc_port NGINX_PORT
  cat >"$NG/nginx.conf" <<NGINX
daemon off;
worker_processes 1;
pid $NG/nginx.pid;
error_log $NG/logs/error.log notice;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $NG/tmp/body;
  proxy_temp_path $NG/tmp/proxy;
  fastcgi_temp_path $NG/tmp/fastcgi;
  uwsgi_temp_path $NG/tmp/uwsgi;
  scgi_temp_path $NG/tmp/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT ssl;
    ssl_certificate $chain;
    ssl_certificate_key $key;
    location / { return 200 "ok\n"; }
  }
}
NGINX
  local cmd=(nginx -c "$NG/nginx.conf" -p "$NG/" -e stderr)
  "${cmd[@]}" -t >"$NG/t.log" 2>&1 || fail "nginx -t:$(printf '\n%s' "$(cat "$NG/t.log")")"
  "${cmd[@]}" >"$NG/stdout.log" 2>&1 &
  NGINX_PID=$!
  bg_track "$NGINX_PID"
  NGINX_RELOAD="nginx -c $NG/nginx.conf -p $NG/ -e stderr -s reload"
  for i in $(seq 300); do
    kill -0 "$NGINX_PID" 2>/dev/null || fail "nginx exited:$(printf '\n%s' "$(cat "$NG/stdout.log" "$NG/logs/error.log" 2>/dev/null)")"
    [[ -s $NG/nginx.pid ]] && curl -s -o /dev/null --max-time 5 --cacert "$ROOT" "https://127.0.0.1:$NGINX_PORT/" && break
    ((i < 300)) || fail "nginx did not answer within 30 s"
    sleep 0.1
  done
}

# handshake_loop WANT SECONDS WATCH_PID LOG: new TLS connections to nginx in a
# loop (openssl s_client, verified against $ROOT for 127.0.0.1) until WANT
# distinct certificates were served or SECONDS passed; WATCH_PID (the agent)
# must stay alive (else LOG is shown). Sets HANDSHAKES, FAILED and ORDER (the
# serials in the order served; each certificate in $T/served.SERIAL.pem and
# the Unix time it was first served in $T/served.SERIAL.time, for
# `openssl verify -attime`: a short-lived one may have expired by the end).
handshake_loop() {
  local want=$1 limit=$2 watch=$3 log=$4 s out deadline
  HANDSHAKES=0 FAILED=0 ORDER=()
  local -A seen=()
  deadline=$((SECONDS + limit))
  while ((SECONDS < deadline)); do
    if out=$(openssl s_client -connect "127.0.0.1:$NGINX_PORT" -CAfile "$ROOT" -verify_return_error \
      -verify_ip 127.0.0.1 -no_ign_eof </dev/null 2>"$T/hs.err") && grep -q 'Verify return code: 0 (ok)' <<<"$out"; then
      HANDSHAKES=$((HANDSHAKES + 1))
      s=$(openssl x509 -noout -serial <<<"$out" | cut -d= -f2 | tr -d ':' | sed 's/^0*//')
      if [[ -z ${seen[$s]:-} ]]; then
        seen[$s]=1
        ORDER+=("$s")
        openssl x509 <<<"$out" >"$T/served.$s.pem"
        date +%s >"$T/served.$s.time"
        printf '   served: %s (after %d handshakes, %d s)\n' "$s" "$HANDSHAKES" "$((limit - deadline + SECONDS))"
      fi
    else
      FAILED=$((FAILED + 1))
      printf '   FAILED handshake %d: %s\n' "$((HANDSHAKES + FAILED))" "$(head -3 "$T/hs.err" | tr '\n' ' ')"
    fi
    ((${#ORDER[@]} >= want)) && break
    kill -0 "$watch" 2>/dev/null || fail "the agent exited:$(printf '\n%s' "$(cat "$log")")"
  done
}
