#!/usr/bin/env bash
# Herald's main job until `herald serve` exists: initialise a demo hierarchy
# in the data directory if there is none, issue a server and a client
# certificate, and show the inventory.
#
#   scripts/run-demo.sh [HERALD_BINARY]     (data directory: $HERALD_HOME or ./herald-data)
set -euo pipefail

herald=${1:-build/release/src/cli/herald}
export HERALD_HOME=${HERALD_HOME:-$PWD/herald-data}

if [[ ! -f "$HERALD_HOME/herald.db" ]]; then
  echo "== No hierarchy in $HERALD_HOME: initialising a demo one"
  "$herald" ca init --org "Herald Demo" --base-url http://127.0.0.1:8080
else
  echo "== Using the existing hierarchy in $HERALD_HOME"
fi

echo
echo "== The hierarchy"
"$herald" ca info

stamp=$(date -u +%Y%m%dT%H%M%S.%NZ)
echo
echo "== Issuing a server certificate for web.internal (+ 127.0.0.1)"
"$herald" issue --profile server --cn web.internal --san ip:127.0.0.1 \
  --owner team=demo,service=web,env=dev --out-dir "$HERALD_HOME/demo/$stamp/web"

echo
echo "== Issuing a client certificate for alice"
"$herald" issue --profile client --cn alice --owner team=demo,env=dev \
  --out-dir "$HERALD_HOME/demo/$stamp/alice"

echo
echo "== Checking both with openssl verify"
openssl verify -x509_strict -CAfile "$HERALD_HOME/ca/root.pem" -untrusted "$HERALD_HOME/ca/chain.pem" \
  -purpose sslserver -verify_hostname web.internal "$HERALD_HOME/demo/$stamp/web/cert.pem"
openssl verify -x509_strict -CAfile "$HERALD_HOME/ca/root.pem" -untrusted "$HERALD_HOME/ca/chain.pem" \
  -purpose sslclient "$HERALD_HOME/demo/$stamp/alice/cert.pem"

echo
echo "== The inventory"
"$herald" list
