# shellcheck shell=bash
# Helpers for the `herald proxy` end-to-end tests. Source after lib.sh and
# serve_lib.sh; do not run it.
#
#   backend_start NAME [echo_backend args]   echo_backend.py on a fresh port: $BE_PORT, counts in $T/NAME.count
#   backend_requests NAME / backend_connections NAME   what it saw so far
#   proxy_start NAME ADMIN_PORT ARGS...      herald proxy in the background (log $T/NAME.log, pid in
#                                            PROXY_PID[NAME]); waits until its admin /healthz answers
#   metric ADMIN_PORT 'name{labels}'         the value of one sample of /metrics (0 when absent)
#   pcurl PORT WHO PATH [curl args]          HTTPS through a proxy as client WHO ($T/c/WHO/{cert,key}.pem
#                                            with the chain $T/c/WHO/ca.pem; WHO=none: no certificate);
#                                            sets HTTP_STATUS, body in $T/.api.body
#   issue_client WHO ARGS...                 herald issue into $T/c/WHO (cert.pem, key.pem, ca.pem =
#                                            the CA certificates that follow the leaf)

# shellcheck disable=SC2034
BACKEND_PY="$IT_DIR/echo_backend.py"
declare -A PROXY_PID=()

backend_start() {
  local name=$1 i
  shift
  alloc_port BE_PORT
  python3 "$BACKEND_PY" --port "$BE_PORT" --count-file "$T/$name.count" "$@" >"$T/$name.be.log" 2>&1 &
  bg_track $!
  for i in $(seq 100); do
    [[ -s $T/$name.count ]] && python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$BE_PORT" 2>/dev/null && return 0
    sleep 0.05
  done
  fail "echo_backend $name did not start: $(cat "$T/$name.be.log")"
}
backend_requests() { json_get "$T/$1.count" 'd["requests"]'; }
backend_connections() { json_get "$T/$1.count" 'd["connections"]'; }

proxy_start() {
  local name=$1 admin=$2 i
  shift 2
  "$HERALD" proxy "$@" >"$T/$name.log" 2>&1 &
  PROXY_PID[$name]=$!
  bg_track "${PROXY_PID[$name]}"
  for i in $(seq 600); do
    kill -0 "${PROXY_PID[$name]}" 2>/dev/null || fail "herald proxy $name exited during start-up:$(printf '\n%s' "$(sed 's/^/   | /' "$T/$name.log")")"
    grep -q 'herald proxy: ready' "$T/$name.log" &&
      [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$admin/healthz" 2>/dev/null) == 200 ]] && return 0
    sleep 0.1
  done
  fail "herald proxy $name did not become ready in 60 s:$(printf '\n%s' "$(sed 's/^/   | /' "$T/$name.log")")"
}

# metric ADMIN_PORT 'name{labels}': labels exactly as rendered (route first).
metric() {
  local v
  v=$(curl -sS --max-time 10 "http://127.0.0.1:$1/metrics" | awk -v k="$2" '$1 == k { print $2 }')
  echo "${v:-0}"
}

pcurl() {
  local port=$1 who=$2 path=$3
  shift 3
  local id=()
  # curl sends the whole --cert file: the leaf and the CA certificates after it.
  [[ $who != none ]] && id=(--cert "$T/c/$who/full.pem" --key "$T/c/$who/key.pem")
  _curl_req "https://127.0.0.1:$port$path" --cacert "$ROOT" --max-time 30 "${id[@]}" "$@"
}

issue_client() {
  local who=$1
  shift
  "$HERALD" issue "$@" --out-dir "$T/c/$who" --json >"$T/c.$who.json" 2>"$T/c.$who.err" ||
    fail "herald issue $who: $(cat "$T/c.$who.err")"
  # chain.pem = leaf + issuing + intermediate.
  cp "$T/c/$who/chain.pem" "$T/c/$who/full.pem"
  awk 'n>=1{print} /-----END CERTIFICATE-----/{n++}' "$T/c/$who/chain.pem" >"$T/c/$who/ca.pem"
  cert_serial "$T/c/$who/cert.pem" >"$T/c/$who/serial"
}
