#!/usr/bin/env bash
# Proves the README's run command works: `make run` (deps, release build,
# demo hierarchy, admin token, `herald serve`) on a fresh data directory; a
# certificate is then obtained over the API as the script's banner says, the
# server stops on SIGTERM, and a second `make run` reuses the hierarchy.
set -euo pipefail
src=${1:?source directory}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/herald-make-run.XXXXXX")
pid=""
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
export HERALD_HOME="$tmp/data"
export HERALD_LISTEN="127.0.0.1:$(free_port)" HERALD_HTTP_LISTEN="127.0.0.1:$(free_port)"

start() {
  make -C "$src" run >"$tmp/$1.log" 2>&1 &
  pid=$!
  # The first run builds the release binary from scratch: up to 20 minutes
  # on a busy two-core machine (the test's own timeout is 25).
  for _ in $(seq 1 2400); do
    curl -sf "http://$HERALD_HTTP_LISTEN/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/$1.log"; echo "make run exited"; exit 1; }
    sleep 0.5
  done
  cat "$tmp/$1.log"; echo "server never became ready"; exit 1
}
stop() {
  # make runs the server via exec in scripts/run.sh: signal the server itself.
  pkill -TERM -f "herald serve --listen $HERALD_LISTEN" || true
  wait "$pid" || true
  pid=""
}

echo "== make run (fresh data directory)"
start first
grep -q "initialising a demo one" "$tmp/first.log"
grep -q "Admin API token" "$tmp/first.log"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/web.key" \
  -subj /CN=web.internal -out "$tmp/web.csr" 2>/dev/null
curl -sf --cacert "$HERALD_HOME/ca/root.pem" -H "Authorization: Bearer $(cat "$HERALD_HOME/secrets/admin.token")" \
  -H 'Content-Type: application/pkcs10' --data-binary @"$tmp/web.csr" \
  "https://$HERALD_LISTEN/v1/sign?profile=server" >"$tmp/sign.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); open(sys.argv[2],"w").write(d["certificate"])' "$tmp/sign.json" "$tmp/web.pem"
openssl verify -x509_strict -CAfile "$HERALD_HOME/ca/root.pem" -untrusted "$HERALD_HOME/ca/chain.pem" \
  -purpose sslserver -verify_hostname web.internal "$tmp/web.pem"
stop
grep -q "herald serve: stopped" "$tmp/first.log"

echo "== make run (existing data directory)"
start second
grep -q "Using the existing hierarchy" "$tmp/second.log"
stop
# 3 CAs, the server's own TLS and OCSP-signing certificates (issued by the
# first start, reused by the second: DIR/serve/), and web.internal.
count=$("$src/build/release/src/cli/herald" list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
echo "inventory holds $count certificates"
[[ $count == 6 ]]
grep -q "not reusing" "$tmp/second.log" && { echo "the second start did not reuse the server's certificates"; exit 1; }
echo "1 passed, 0 failed"
