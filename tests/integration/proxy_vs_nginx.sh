#!/usr/bin/env bash
# Compares `herald proxy` with nginx configured as the mTLS guides do
# (ssl_verify_client on; ssl_client_certificate = the trust bundle; ssl_crl =
# the CRLs fetched from herald serve; proxy_pass to the same echo backend;
# proxy_set_header for the identity it knows), client by client:
#  valid, no certificate, another CA, expired, a server certificate used as
#  a client, revoked (before the relying parties started), a SPIFFE ID
#  outside the allow-list, plus two rows where they are expected to differ:
#  revoked after they started (Herald follows the CA's feed; nginx reads its
#  CRL file at start and reload only), and a forged identity header.
# Prints a table of both verdicts per case and asserts they agree wherever
# nginx can express the rule; the other rows are printed with what each did
# and why (nginx has no SAN variable, so the SPIFFE allow-list is "n/a").
# Every refusal by either is checked not to have reached the backend.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$IT_DIR/serve_lib.sh"
source "$IT_DIR/proxy_lib.sh"
need_tool openssl curl python3 nginx

step "ca init, herald serve, the echo backend, certificates"
serve_init "$T/pki"
serve_start "$D"
backend_start be
BE=$BE_PORT
issue_client proxy --dir "$D" --profile server --cn localhost --san ip:127.0.0.1
issue_client alice --dir "$D" --profile client --cn alice --san dns:alice.internal
issue_client web --dir "$D" --profile spiffe --san uri:spiffe://herald.internal/ns/web
issue_client db --dir "$D" --profile spiffe --san uri:spiffe://herald.internal/ns/db
issue_client srv --dir "$D" --profile server --cn alice.internal
issue_client expired --dir "$D" --profile client --cn expired --san dns:alice.internal --ttl 2s
issue_client vrev --dir "$D" --profile client --cn victim --san dns:alice.internal
issue_client vlate --dir "$D" --profile client --cn victim-late --san dns:alice.internal
"$HERALD" ca init --dir "$T/other" --org Other >"$T/other.log" 2>&1 || fail "ca init (other): $(cat "$T/other.log")"
issue_client mallory --dir "$T/other" --profile client --cn alice --san dns:alice.internal
"$HERALD" revoke --dir "$D" "$(cat "$T/c/vrev/serial")" --reason keyCompromise >/dev/null 2>&1 || fail "herald revoke vrev"
for i in $(seq 100); do
  curl -sS --fail -o "$T/issuing.crl" "$PUB/crl/issuing.crl"
  openssl crl -in "$T/issuing.crl" -inform DER -noout -text | grep -q "Serial Number: 0*$(cat "$T/c/vrev/serial")$" && break
  ((i < 100)) || fail "the issuing CRL does not list vrev 10 s on"
  sleep 0.1
done
# nginx checks CRLs for every level (CRL_CHECK_ALL): all three CRLs, as PEM.
: >"$T/crls.pem"
for ca in issuing intermediate root; do
  curl -sS --fail -o "$T/$ca.crl" "$PUB/crl/$ca.crl"
  openssl crl -in "$T/$ca.crl" -inform DER >>"$T/crls.pem"
done
ok "vrev revoked and on the issuing CRL; the three CRLs fetched from $PUB for nginx"

step "herald proxy (feed, --allow-spiffe .../ns/web, --allow-san alice.internal) and nginx, same backend"
alloc_port HP
alloc_port HA
proxy_start herald "$HA" --listen "127.0.0.1:$HP" --backend "127.0.0.1:$BE" --cert "$T/c/proxy/cert.pem" \
  --key "$T/c/proxy/key.pem" --chain "$T/c/proxy/chain.pem" --trust "$ROOT" --ca-feed "$API" --admin-listen "127.0.0.1:$HA" \
  --threads 2 --allow-spiffe spiffe://herald.internal/ns/web --allow-san alice.internal
for i in $(seq 300); do
  [[ $(metric "$HA" herald_proxy_revocation_feed_connected) == 1 ]] && break
  ((i < 300)) || fail "herald proxy did not follow the feed in 30 s"
  sleep 0.1
done
NG="$T/nginx"
mkdir -p "$NG/logs" "$NG/tmp"
alloc_port NP
cat >"$NG/nginx.conf" <<NGINX
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
    listen 127.0.0.1:$NP ssl;
    ssl_certificate $T/c/proxy/chain.pem;
    ssl_certificate_key $T/c/proxy/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_verify_client on;
    ssl_client_certificate $ROOT;
    ssl_verify_depth 3;
    ssl_crl $T/crls.pem;
    location / {
      proxy_pass http://127.0.0.1:$BE;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Client-Cert-Verified \$ssl_client_verify;
      proxy_set_header X-Client-Cert-Subject \$ssl_client_s_dn;
      proxy_set_header X-Client-Cert-Serial \$ssl_client_serial;
      proxy_set_header X-Client-Cert-Fingerprint \$ssl_client_fingerprint;
    }
  }
}
NGINX
NGCMD=(nginx -c "$NG/nginx.conf" -p "$NG/" -e stderr)
"${NGCMD[@]}" -t >"$NG/t.log" 2>&1 || fail "nginx -t:$(printf '\n%s' "$(cat "$NG/t.log")")"
"${NGCMD[@]}" >"$NG/stdout.log" 2>&1 &
bg_track $!
for i in $(seq 300); do
  [[ -s $NG/nginx.pid ]] && curl -s -o /dev/null --max-time 5 --cacert "$ROOT" "https://127.0.0.1:$NP/" && break
  ((i < 300)) || fail "nginx did not answer within 30 s: $(cat "$NG/stdout.log" "$NG/logs/error.log")"
  sleep 0.1
done
ok "herald proxy :$HP, nginx :$NP, both in front of :$BE"

step "the expired certificate has expired"
exp_end=$(date -d "$(openssl x509 -in "$T/c/expired/cert.pem" -noout -enddate | cut -d= -f2)" +%s)
while (($(date +%s) <= exp_end)); do sleep 0.2; done
ok "notAfter $(openssl x509 -in "$T/c/expired/cert.pem" -noout -enddate | cut -d= -f2)"

step "revoke vlate now, while both run (Herald learns it from the feed; nginx's CRL file is not refreshed)"
"$HERALD" revoke --dir "$D" "$(cat "$T/c/vlate/serial")" --reason keyCompromise >/dev/null 2>&1 || fail "herald revoke vlate"
for i in $(seq 50); do grep -q "revocation feed: certificate 0*$(cat "$T/c/vlate/serial") revoked" "$T/herald.log" && break; sleep 0.1; done
ok "vlate revoked"

# verdict PORT WHO [curl args]: "accept 200" or "refuse CODE" (000: the
# TLS connection was refused); checks a refusal did not reach the backend.
verdict() {
  local port=$1 who=$2 n0
  shift 2
  n0=$(backend_requests be)
  pcurl "$port" "$who" /echo "$@"
  if [[ $HTTP_STATUS == 200 ]]; then
    VERDICT=accept
  else
    VERDICT=refuse
    [[ $(backend_requests be) == "$n0" ]] || fail "$who on :$port: refused ($HTTP_STATUS) but the backend was reached"
  fi
  CODE=$HTTP_STATUS
  REASON=""
  [[ $port == "$HP" && $VERDICT == refuse ]] && REASON=$(json_get "$T/.api.body" 'd.get("reason")')
  if [[ $port == "$NP" && $VERDICT == refuse ]]; then
    # nginx logs why at "info": "client SSL certificate verify error: (10:certificate has expired) ..."
    sleep 0.2
    REASON=$(tail -n +"$((NG_LINES + 1))" "$NG/logs/error.log" | sed -n 's/.*verify error: (\([^)]*\)).*/\1/p; s/.*\(client sent no required SSL certificate\).*/no certificate/p' | head -1)
  fi
  NG_LINES=$(wc -l <"$NG/logs/error.log")
  return 0
}

# case NAME WHO KIND NOTE [curl args]; KIND: same (must agree), stricter
# (Herald refuses what nginx accepts, by design), n/a (nginx cannot express it)
ROWS=()
DISAGREE=()
NG_LINES=$(wc -l <"$NG/logs/error.log")
row() {
  local name=$1 who=$2 kind=$3 note=$4 hv hc hr nv nc nr
  shift 4
  verdict "$HP" "$who" "$@"
  hv=$VERDICT hc=$CODE hr=$REASON
  verdict "$NP" "$who" "$@"
  nv=$VERDICT nc=$CODE nr=$REASON
  local agree=yes
  [[ $hv == "$nv" ]] || agree=no
  [[ $kind == n/a ]] && agree=n/a
  [[ $kind == stricter && $agree == no ]] && agree="no*"
  ROWS+=("$(printf '| %-31s | %-28s | %-46s | %-5s | %s' "$name" "$hv $hc${hr:+ $hr}" "$nv $nc${nr:+ ($nr)}" "$agree" "$note")")
  case $kind in
    same) [[ $agree == yes ]] || DISAGREE+=("$name: herald $hv $hc $hr, nginx $nv $nc") ;;
    stricter) [[ $hv == refuse && $nv == accept ]] || DISAGREE+=("$name: expected Herald to refuse and nginx to accept; herald $hv $hc $hr, nginx $nv $nc") ;;
    n/a) ;;
  esac
}

step "the cases"
row "valid client (alice)" alice same "both pass"
row "valid SVID (ns/web)" web same "both pass"
row "no certificate" none same ""
row "another CA" mallory same "nginx names the missing CRL first"
row "expired" expired same ""
row "server cert as client" srv same "OpenSSL checks the purpose for nginx too"
row "revoked before start" vrev same "nginx: ssl_crl (all 3 CRLs)"
row "SPIFFE ID not allowed (ns/db)" db n/a "no SAN variable in nginx"
row "revoked after start" vlate stricter "Herald: CA feed; nginx: CRL file until reload"
# A forged identity header nginx does not set itself passes through nginx.
pcurl "$HP" alice /echo -H 'X-Client-Cert-Spiffe-Id: spiffe://herald.internal/ns/admin'
h_forged=$(python3 -c 'import json,sys; print("passed" if any(k.lower()=="x-client-cert-spiffe-id" for k,v in json.load(open(sys.argv[1]))["headers"]) else "stripped")' "$T/.api.body")
pcurl "$NP" alice /echo -H 'X-Client-Cert-Spiffe-Id: spiffe://herald.internal/ns/admin'
n_forged=$(python3 -c 'import json,sys; print("passed" if any(k.lower()=="x-client-cert-spiffe-id" for k,v in json.load(open(sys.argv[1]))["headers"]) else "stripped")' "$T/.api.body")
ROWS+=("$(printf '| %-31s | %-28s | %-46s | %-5s | %s' "forged X-Client-Cert-Spiffe-Id" "$h_forged" "$n_forged" "$([[ $h_forged == "$n_forged" ]] && echo yes || echo "no*")" "nginx replaces only the headers proxy_set_header sets")")
[[ $h_forged == stripped ]] || DISAGREE+=("herald proxy passed a forged X-Client-Cert-Spiffe-Id")

step "verdicts"
printf '| %-31s | %-28s | %-46s | %-5s | %s\n' "case" "herald proxy" "nginx (OpenSSL verify error)" "agree" "note"
printf '|%s|%s|%s|%s|%s\n' "---------------------------------" "------------------------------" "------------------------------------------------" "-------" "------"
printf '%s\n' "${ROWS[@]}"
((${#DISAGREE[@]} == 0)) || fail "$(printf '%s\n' "${DISAGREE[@]}")"
echo "   (no*: Herald is stricter by design; n/a: nginx cannot express the rule without njs/Lua)"
ok "they agree on every rule nginx can express; the differences are the rows marked"

step "PASS proxy_vs_nginx"
