#!/usr/bin/env bash
# Proves that nginx, as an independent relying party, accepts Herald's
# certificates and honours Herald's CRLs for mutual TLS:
#  - nginx serves with a server certificate from `herald issue` (curl verifies
#    it against ca/root.pem for 127.0.0.1 and localhost);
#  - with `ssl_verify_client on`, `ssl_verify_depth 3` and `ssl_crl` holding
#    the CRLs of all three CAs (issuing from GET /crl/issuing.crl of
#    `herald serve`, intermediate and root from `herald crl --ca ...`),
#    client certificates issued through the API and with `herald issue` are
#    accepted, and no certificate or a foreign one is refused;
#  - after a revocation (`herald revoke` from the CLI, then POST /v1/revoke),
#    the served CRL lists the certificate and, once nginx reloads it, that
#    client certificate is refused while the others still pass;
#  - SIGHUP makes `herald serve` publish freshly signed offline CRLs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$IT_DIR/serve_lib.sh"
need_tool openssl curl python3 sqlite3 nginx

step "ca init, start herald serve"
serve_init "$T/pki"
API_TOKEN=$(new_token "$D" admin)
serve_start "$D"
ok "serving https://127.0.0.1:$HTTPS_PORT and http://127.0.0.1:$HTTP_PORT"

step "certificates: nginx's server certificate (herald issue), client certificates (API and herald issue)"
"$HERALD" issue --dir "$D" --profile server --cn localhost --san ip:127.0.0.1 --out-dir "$T/tls" >/dev/null
must_accept "nginx server certificate" v_openssl "$ROOT" "$CHAIN" "$T/tls/cert.pem" sslserver 127.0.0.1
make_csr alice alice.internal "DNS:alice.internal"
api POST "/v1/sign?profile=client" -H 'Content-Type: application/pkcs10' --data-binary @"$T/alice.csr"
expect_status 201 "sign alice (client)"
ALICE=$(save_issued alice)
BOB=$(herald_issue "$T/bob.json" --dir "$D" --profile client --cn bob.internal --out-dir "$T/bob")
make_csr carol carol.internal "DNS:carol.internal"
api POST "/v1/sign?profile=client" -H 'Content-Type: application/pkcs10' --data-binary @"$T/carol.csr"
expect_status 201 "sign carol (client)"
CAROL=$(save_issued carol)
validate_issued "API-issued client certificate alice" "$ROOT" "$T/alice.chain.pem" "$T/alice.pem"
validate_issued "API-issued client certificate carol" "$ROOT" "$T/carol.chain.pem" "$T/carol.pem"
cp "$T/bob/cert.pem" "$T/bob.pem"
cp "$T/bob/key.pem" "$T/bob.key"
reference_chain ec-p256 "$T/ref" >/dev/null
ok "alice $ALICE (API), bob $BOB (CLI), carol $CAROL (API)"

step "CRLs for the whole chain: issuing from the server, intermediate and root from herald crl"
"$HERALD" crl --dir "$D" --ca intermediate --intermediate-passphrase-file "$D/secrets/intermediate.pass" --out "$T/intermediate.crl.pem" >/dev/null
"$HERALD" crl --dir "$D" --ca root --root-passphrase-file "$D/secrets/root.pass" --out "$T/root.crl.pem" >/dev/null
for ca in intermediate root; do
  openssl crl -in "$T/$ca.crl.pem" -noout -CAfile "$D/ca/$ca.pem" 2>&1 | grep -q 'verify OK' || fail "$ca CRL does not verify"
done
NG="$T/nginx"
mkdir -p "$NG/logs" "$NG/tmp"
# crl_bundle: $NG/crl.pem = the issuing CRL as served now + the offline CRLs.
crl_bundle() {
  curl -sS --fail --max-time 30 -o "$T/issuing.crl.der" "$PUB/crl/issuing.crl" || fail "GET /crl/issuing.crl failed"
  openssl crl -in "$T/issuing.crl.der" -inform DER -outform PEM -out "$T/issuing.crl.pem"
  cat "$T/issuing.crl.pem" "$T/intermediate.crl.pem" "$T/root.crl.pem" >"$NG/crl.pem.new"
  mv "$NG/crl.pem.new" "$NG/crl.pem"
}
crl_bundle
cat "$ISSUING" "$INTER" "$ROOT" >"$NG/client-ca.pem"
ok "3 CRLs in $NG/crl.pem (issuing CRL number $(openssl crl -in "$T/issuing.crl.pem" -noout -crlnumber | sed 's/^crlNumber=//'))"

step "SIGHUP: herald serve publishes the freshly signed offline CRLs"
kill -HUP "$SERVE_PID"
for ca in intermediate root; do
  for i in $(seq 300); do
    curl -sS --fail --max-time 30 -o "$T/served.$ca.crl" "$PUB/crl/$ca.crl" || fail "GET /crl/$ca.crl"
    [[ "$(openssl crl -in "$T/served.$ca.crl" -inform DER -outform PEM)" == "$(openssl crl -in "$T/$ca.crl.pem")" ]] && break
    ((i < 300)) || fail "30 s after SIGHUP, /crl/$ca.crl is still not the CRL made by herald crl --ca $ca"
    sleep 0.1
  done
done
assert_healthy "SIGHUP"
ok "/crl/intermediate.crl and /crl/root.crl are the new ones"

step "start nginx (mutual TLS, ssl_verify_depth 3, ssl_crl = the three CRLs)"
NGINX_PORT=$(free_port)
while [[ $NGINX_PORT == "$HTTPS_PORT" || $NGINX_PORT == "$HTTP_PORT" ]]; do NGINX_PORT=$(free_port); done
cat >"$NG/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $NG/nginx.pid;
error_log $NG/logs/error.log info;
events { worker_connections 64; }
http {
  access_log $NG/logs/access.log;
  client_body_temp_path $NG/tmp/body;
  proxy_temp_path $NG/tmp/proxy;
  fastcgi_temp_path $NG/tmp/fastcgi;
  uwsgi_temp_path $NG/tmp/uwsgi;
  scgi_temp_path $NG/tmp/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT ssl;
    server_name localhost;
    ssl_certificate $T/tls/chain.pem;
    ssl_certificate_key $T/tls/key.pem;
    ssl_client_certificate $NG/client-ca.pem;
    ssl_verify_client on;
    ssl_verify_depth 3;
    ssl_crl $NG/crl.pem;
    location / {
      default_type text/plain;
      return 200 "hello \$ssl_client_s_dn serial=\$ssl_client_serial verify=\$ssl_client_verify\n";
    }
  }
}
EOF
nginx -t -c "$NG/nginx.conf" -p "$NG/" -e stderr >"$NG/t.log" 2>&1 || fail "nginx -t:$(printf '\n%s' "$(cat "$NG/t.log")")"
nginx -c "$NG/nginx.conf" -p "$NG/" -e stderr >"$NG/stdout.log" 2>&1 &
NGINX_PID=$!
bg_track "$NGINX_PID"
NURL="https://127.0.0.1:$NGINX_PORT/"
for i in $(seq 300); do
  kill -0 "$NGINX_PID" 2>/dev/null || fail "nginx exited:$(printf '\n%s' "$(cat "$NG/stdout.log" "$NG/logs/error.log" 2>/dev/null)")"
  [[ -s $NG/nginx.pid ]] && curl -s -o /dev/null --max-time 5 --cacert "$ROOT" "$NURL" && break
  ((i < 300)) || fail "nginx did not answer within 30 s:$(printf '\n%s' "$(cat "$NG/logs/error.log" 2>/dev/null)")"
  sleep 0.1
done
ok "nginx pid $NGINX_PID on 127.0.0.1:$NGINX_PORT"

# nginx_as NAME [curl args]: GET / with NAME's certificate (or none if NAME is
# "-"). $NG_CODE = HTTP status (000: no HTTP answer), $NG_CURL_RC = curl's
# exit status, body in $NG/body, curl's error in $NG/curl.err.
nginx_as() {
  local name=$1 certargs=()
  shift
  [[ $name != - ]] && certargs=(--cert "$T/$name.pem" --key "$T/$name.key")
  NG_CURL_RC=0
  NG_CODE=$(curl -sS --max-time 30 --cacert "$ROOT" "${certargs[@]}" "$@" -o "$NG/body" -w '%{http_code}' "$NURL" 2>"$NG/curl.err") ||
    NG_CURL_RC=$?
}
expect_accepted() {
  nginx_as "$1"
  [[ $NG_CODE == 200 ]] || fail "nginx refused $1's certificate ($2): HTTP $NG_CODE $(cat "$NG/body" "$NG/curl.err" 2>/dev/null | head -c 500)$(printf '\n%s' "$(tail -5 "$NG/logs/error.log")")"
  grep -q 'verify=SUCCESS' "$NG/body" || fail "nginx did not verify $1: $(cat "$NG/body")"
  ok "nginx accepts $1 ($2): $(cat "$NG/body")"
}
# expect_refused NAME WHAT [REGEX]: nginx refuses NAME's certificate: a 400
# whose page names the certificate problem (REGEX), or a TLS alert that ends
# the handshake (curl exit 35 or 56 naming an alert). Anything else, e.g.
# curl not reaching nginx at all (HTTP 000, exit 7), is a failure.
expect_refused() {
  nginx_as "$1"
  if [[ $NG_CODE == 400 ]]; then
    grep -qE "${3:-SSL certificate error|No required SSL certificate}" "$NG/body" || fail "$1: 400 but not a certificate error: $(cat "$NG/body")"
    ok "nginx refuses $1 ($2): $(grep -o '<title>[^<]*</title>' "$NG/body" | sed 's/<[^>]*>//g')"
  elif [[ $NG_CODE == 000 && ($NG_CURL_RC == 35 || $NG_CURL_RC == 56) ]] && grep -qi 'alert' "$NG/curl.err"; then
    ok "nginx refuses $1 ($2): TLS alert (curl exit $NG_CURL_RC: $(head -1 "$NG/curl.err"))"
  else
    fail "nginx answered HTTP $NG_CODE to $1 ($2) (curl exit $NG_CURL_RC: $(head -1 "$NG/curl.err")), expected a 400 certificate error or a TLS alert: $(head -c 500 "$NG/body" 2>/dev/null)"
  fi
}

step "nginx's server certificate verifies for 127.0.0.1 and localhost"
curl -sS --max-time 30 --cacert "$ROOT" --cert "$T/alice.pem" --key "$T/alice.key" -o /dev/null \
  --resolve "localhost:$NGINX_PORT:127.0.0.1" "https://localhost:$NGINX_PORT/" || fail "TLS to nginx as localhost failed"
ok "curl --cacert ca/root.pem verified nginx"

step "client certificates before any revocation"
expect_accepted alice "API-issued"
expect_accepted bob "herald issue"
expect_accepted carol "API-issued"
expect_refused - "no client certificate" 'No required SSL certificate'
cp "$T/ref/server.pem" "$T/foreign.pem"
cp "$T/ref/server.key" "$T/foreign.key"
expect_refused foreign "a certificate of another CA"

# reload_nginx_until_refused NAME: refresh the CRL bundle, reload nginx, and
# wait until NAME's certificate is refused with 400 three times in a row (the
# reload is asynchronous: old workers finish, connections may fail meanwhile).
reload_nginx_until_refused() {
  crl_bundle
  nginx -c "$NG/nginx.conf" -p "$NG/" -e stderr -s reload >"$NG/reload.log" 2>&1 || fail "nginx -s reload:$(cat "$NG/reload.log")"
  local i streak=0
  for i in $(seq 300); do
    nginx_as "$1"
    if [[ $NG_CODE == 400 ]]; then
      streak=$((streak + 1))
      ((streak >= 3)) && return 0
      continue
    fi
    streak=0
    sleep 0.1
  done
  fail "nginx still accepts $1 30 s after reloading a CRL that lists it:$(printf '\n%s' "$(openssl crl -in "$T/issuing.crl.pem" -noout -text | head -30)")"
}
# wait_served_crl_lists SERIAL: the server's /crl/issuing.crl lists SERIAL.
wait_served_crl_lists() {
  local i
  for i in $(seq 200); do
    curl -sS --fail --max-time 30 -o "$T/poll.crl" "$PUB/crl/issuing.crl"
    openssl crl -in "$T/poll.crl" -inform DER -noout -text | grep -q "Serial Number: ${1^^}" && return 0
    sleep 0.05
  done
  fail "10 s after the revocation, /crl/issuing.crl does not list $1"
}

step "herald revoke (CLI) alice; nginx reloads the served CRL and refuses her"
"$HERALD" revoke --dir "$D" "$ALICE" --reason keyCompromise >/dev/null
wait_served_crl_lists "$ALICE"
reload_nginx_until_refused alice
expect_refused alice "revoked with herald revoke" 'SSL certificate error'
grep -q 'certificate revoked' "$NG/logs/error.log" || fail "nginx's log does not say 'certificate revoked':$(printf '\n%s' "$(tail -5 "$NG/logs/error.log")")"
expect_accepted bob "not revoked"
expect_accepted carol "not revoked"

step "POST /v1/revoke carol (token); nginx refuses her after the next reload"
api POST /v1/revoke -H 'Content-Type: application/json' --data-binary "{\"serial\":\"$CAROL\",\"reason\":\"cessationOfOperation\"}"
expect_status 200 "revoke carol"
wait_served_crl_lists "$CAROL"
reload_nginx_until_refused carol
expect_refused carol "revoked through the API" 'SSL certificate error'
expect_refused alice "still revoked" 'SSL certificate error'
expect_accepted bob "still not revoked"

step "nginx is still the same healthy process; herald serve too"
kill -0 "$NGINX_PID" || fail "nginx died"
assert_healthy "the nginx round trips"
ok "both running"

step "PASS serve_nginx"
