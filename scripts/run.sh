#!/usr/bin/env bash
# Herald's main job: the online CA. Initialises a demo hierarchy in the data
# directory if there is none (embedded SQLite inventory), makes sure an admin
# API token exists, then runs `herald serve` in the foreground.
#
#   scripts/run.sh [HERALD_BINARY]
#   HERALD_HOME (default ./herald-data), HERALD_LISTEN (default 127.0.0.1:8443),
#   HERALD_HTTP_LISTEN (default 127.0.0.1:8080)
set -euo pipefail

herald=${1:-build/release/src/cli/herald}
export HERALD_HOME=${HERALD_HOME:-$PWD/herald-data}
listen=${HERALD_LISTEN:-127.0.0.1:8443}
http_listen=${HERALD_HTTP_LISTEN:-127.0.0.1:8080}

if [[ ! -f "$HERALD_HOME/herald.db" ]]; then
  echo "== No hierarchy in $HERALD_HOME: initialising a demo one"
  "$herald" ca init --org "Herald Demo" --base-url "http://$http_listen"
  echo
else
  echo "== Using the existing hierarchy in $HERALD_HOME"
fi

token_file="$HERALD_HOME/secrets/admin.token"
if [[ ! -s $token_file ]]; then
  mkdir -p "$HERALD_HOME/secrets" && chmod 700 "$HERALD_HOME/secrets"
  (umask 077 && "$herald" token add --provisioner admin --description "demo admin (scripts/run.sh)" 2>/dev/null >"$token_file")
fi
cat <<EOT
== Admin API token: $token_file (mode 0600)
   Get a first certificate:
     openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout web.key -subj /CN=web.internal -out web.csr
     curl --cacert $HERALD_HOME/ca/root.pem -H "Authorization: Bearer \$(cat $token_file)" \\
          -H 'Content-Type: application/pkcs10' --data-binary @web.csr \\
          'https://$listen/v1/sign?profile=server'

EOT
exec "$herald" serve --listen "$listen" --http-listen "$http_listen"
