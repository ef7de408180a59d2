#!/usr/bin/env bash
# shellcheck disable=SC2034  # m0, l0, r0, API_TOKEN, ... are read by eval'd conditions and the libraries
# Proves `herald proxy` enforces mutual TLS in front of a service
# (tests/integration/echo_backend.py), end to end with curl, openssl and
# promtool, against a live `herald serve`:
#  - a valid Herald client certificate passes (200) and the backend receives
#    X-Client-Cert-Subject/-SAN/-Serial/-Fingerprint/-Verified matching the
#    certificate (-Spiffe-Id for an X.509-SVID); identity headers the client
#    forged (any case) are gone, not passed next to the real ones;
#  - refused, each with its reason in the answer, the log and
#    herald_proxy_rejections_total{route,reason}, and the backend never
#    reached: no certificate (401), another CA, an expired certificate, a
#    server certificate used as a client (wrong_purpose), a SPIFFE ID outside
#    --allow-spiffe, and certificates revoked while the proxy runs, through
#    the CA's push feed: `herald revoke` (CLI) and POST /v1/revoke, each
#    accepted just before; the time from the revocation to the first refusal
#    is measured (curl every 50 ms) and bounded (REST < 1 s, CLI < 1.5 s);
#    a TLS session saved before the revocation is resumed and refused; a
#    certificateHold refuses and its release (removeFromCRL) admits again;
#    the access log is JSON with reasons and identities, no header values;
#  - without the feed (a second proxy, proxy.toml with three routes): the
#    CRL path (revoked certificates on the CRL that serve re-signed are
#    refused, good ones pass, hard-fail), a partner's separate hierarchy
#    accepted on the route whose trust bundle has its root and allow_issuer
#    its fingerprint, refused elsewhere, an optional route (no certificate:
#    X-Client-Cert-Verified: NONE and nothing else), and a TCP route (openssl s_client
#    echoes through; refused clients are closed before the backend sees a
#    connection);
#  - the OCSP path (a third proxy; the issuing CA's CRL made unreachable by a
#    relay in front of serve's HTTP port): a good certificate passes on its
#    OCSP answer, a revoked one is refused "revoked";
#  - a trust bundle listing a partner's root before Herald's, with the feed
#    (a fourth proxy): Herald's revoked certificate is refused by the feed,
#    the partner's revoked one by the partner's CRL;
#  - the health path answers without a certificate (and is not a refusal);
#    /metrics passes `promtool check metrics`;
#  - the feed lost (herald serve stopped): health "degraded", a good client
#    passes on the cached CRL, the certificates the feed reported revoked
#    stay refused.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$IT_DIR/serve_lib.sh"
source "$IT_DIR/proxy_lib.sh"
need_tool openssl curl python3 promtool

step "a relay for CRLs/OCSP, ca init (base URL = the relay), herald serve, the echo backends"
pick_ports
: >"$T/blocked"
backend_start relay --relay "127.0.0.1:$HTTP_PORT" --block-file "$T/blocked"
RELAY="http://127.0.0.1:$BE_PORT"
D="$T/pki"
"$HERALD" ca init --dir "$D" --base-url "$RELAY" >"$T/init.log" 2>&1 || fail "ca init failed: $(cat "$T/init.log")"
ROOT="$D/ca/root.pem" ISSUING="$D/ca/issuing.pem" INTER="$D/ca/intermediate.pem"
API_TOKEN=$(new_token "$D" admin)
serve_start "$D"
backend_start be
BE=$BE_PORT
backend_start tcpbe --tcp
TCPBE=$BE_PORT
ok "serve $API, relay $RELAY -> $PUB, HTTP backend :$BE, TCP echo :$TCPBE"

step "certificates: the proxy's, clients of every kind, another CA, a partner hierarchy"
issue_client proxy --dir "$D" --profile server --cn localhost --san ip:127.0.0.1
issue_client alice --dir "$D" --profile client --cn alice --san dns:alice.internal
issue_client web --dir "$D" --profile spiffe --san uri:spiffe://herald.internal/ns/web
issue_client db --dir "$D" --profile spiffe --san uri:spiffe://herald.internal/ns/db
issue_client srv --dir "$D" --profile server --cn alice.internal
issue_client expired --dir "$D" --profile client --cn expired --san dns:alice.internal --ttl 2s
issue_client vcli --dir "$D" --profile client --cn victim-cli --san dns:alice.internal
issue_client vrest --dir "$D" --profile client --cn victim-rest --san dns:alice.internal
issue_client vhold --dir "$D" --profile client --cn victim-hold --san dns:alice.internal
issue_client vka --dir "$D" --profile client --cn victim-keepalive --san dns:alice.internal
"$HERALD" ca init --dir "$T/other" --org Other >"$T/other.log" 2>&1 || fail "ca init (other): $(cat "$T/other.log")"
issue_client mallory --dir "$T/other" --profile client --cn alice --san dns:alice.internal
alloc_port PARTNER_PORT
"$HERALD" ca init --dir "$T/partner" --org Partner --base-url "http://127.0.0.1:$PARTNER_PORT" >"$T/partner.log" 2>&1 ||
  fail "ca init (partner): $(cat "$T/partner.log")"
issue_client partner --dir "$T/partner" --profile client --cn partner-app --san dns:app.partner.internal
# The partner publishes its CRLs (crl/*.crl of its data directory) over HTTP.
python3 -m http.server --bind 127.0.0.1 --directory "$T/partner" "$PARTNER_PORT" >"$T/partner-http.log" 2>&1 &
bg_track $!
for i in $(seq 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$PARTNER_PORT/crl/issuing.crl" && break
  ((i < 100)) || fail "the partner's CRL server did not start"
  sleep 0.05
done
grep -q "URI:$RELAY/ocsp\|OCSP - URI:$RELAY/ocsp" <(openssl x509 -in "$T/c/alice/cert.pem" -noout -text) ||
  fail "alice's certificate has no AIA OCSP URL $RELAY/ocsp"
grep -q "URI:$RELAY/crl/issuing.crl" <(openssl x509 -in "$T/c/alice/cert.pem" -noout -text) ||
  fail "alice's certificate has no CDP $RELAY/crl/issuing.crl"
openssl x509 -in "$T/c/srv/cert.pem" -noout -ext extendedKeyUsage | grep -q 'TLS Web Server Authentication' &&
  ! openssl x509 -in "$T/c/srv/cert.pem" -noout -ext extendedKeyUsage | grep -q 'Client Authentication' ||
  fail "the server-profile certificate is not serverAuth-only"
ok "CDP $RELAY/crl/issuing.crl and AIA OCSP $RELAY/ocsp on the leaves; srv is serverAuth only"

step "configuration errors: one line naming the problem, exit non-zero"
PXC=(--cert "$T/c/proxy/cert.pem" --backend "127.0.0.1:$BE")
PX=("${PXC[@]}" --key "$T/c/proxy/key.pem")
alloc_port PE
expect_fail "$HERALD" proxy --listen "127.0.0.1:$PE" "${PX[@]}"
err_mentions -- '--trust' "no trust bundle"
expect_fail "$HERALD" proxy --listen "127.0.0.1:$PE" "${PX[@]}" --trust "$T/c/alice/ca.pem"
err_mentions 'root' "a trust bundle without a root"
expect_fail "$HERALD" proxy --listen "127.0.0.1:$PE" "${PXC[@]}" --trust "$ROOT" --key "$T/c/alice/key.pem"
err_mentions 'does not match' "a key that is not the certificate's"
expect_fail "$HERALD" proxy --listen "127.0.0.1:$PE" "${PX[@]}" --trust "$ROOT" --allow-spiffe 'spiffe://herald.internal/*/web'
err_mentions 'spiffe' "a bad SPIFFE pattern"
expect_fail "$HERALD" proxy --listen "127.0.0.1:$HTTPS_PORT" "${PX[@]}" --trust "$ROOT"
err_mentions "$HTTPS_PORT|address|use" "a port already taken (by herald serve)"
printf 'admin_listen = "127.0.0.1:1"\n[[route]]\nname = "a"\nlisten = "127.0.0.1:%s"\nbakend = "127.0.0.1:1"\n' "$PE" >"$T/bad.toml"
expect_fail "$HERALD" proxy --config "$T/bad.toml"
err_mentions 'bad\.toml:5|bakend' "an unknown key in proxy.toml, with its line"
ok "missing --trust, a bundle without a root, a mismatched key, a bad SPIFFE pattern, a taken port, a misspelt key"

# identity_ok WHAT CERT_DIR: the last /echo answer shows exactly the proxy's
# identity headers for that certificate, each once, and no other
# x-client-cert-* header (forged ones removed).
identity_ok() {
  local what=$1 dir=$2 subj san spiffe=""
  subj=$(openssl x509 -in "$dir/cert.pem" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
  san=$(openssl x509 -in "$dir/cert.pem" -noout -ext subjectAltName | tail -n +2 | sed 's/^ *//; s/, /, /g')
  [[ $san == URI:spiffe://* ]] && spiffe=${san#URI:}
  python3 - "$T/.api.body" "$subj" "$san" "$(cat "$dir/serial")" "$(fingerprint "$dir/cert.pem")" "$spiffe" <<'EOF' ||
import json, sys
d = json.load(open(sys.argv[1]))
subj, san, serial, fp, spiffe = sys.argv[2:]
want = {"x-client-cert-verified": "SUCCESS", "x-client-cert-subject": subj,
        "x-client-cert-san": san, "x-client-cert-serial": serial,
        "x-client-cert-fingerprint": fp.replace(":", "").lower()}
if spiffe:
    want["x-client-cert-spiffe-id"] = spiffe
got = {}
for k, v in d["headers"]:
    k = k.lower()
    if not k.startswith("x-client-cert-"):
        continue
    if k in got:
        sys.exit(f"{k} arrived twice: {got[k]!r} and {v!r}")
    got[k] = v
if "x-client-cert-serial" in got:
    got["x-client-cert-serial"] = got["x-client-cert-serial"].upper().lstrip("0")
if not subj and got.get("x-client-cert-subject", "") == "":
    got["x-client-cert-subject"] = ""
if got != want:
    sys.exit("identity headers at the backend:\n  got  %s\n  want %s" % (json.dumps(got, sort_keys=True), json.dumps(want, sort_keys=True)))
EOF
    fail "$what: the backend did not get the right identity headers (body: $(head -c 3000 "$T/.api.body"))"
}

# wait_for SECONDS CMD...: until CMD succeeds.
wait_for() {
  local limit=$1 i
  shift
  for i in $(seq $((limit * 10))); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

# refused PORT ADMIN ROUTE LOGNAME WHO STATUS REASON [curl args]: a request
# by WHO is answered STATUS with that reason (problem+json), counted once in
# herald_proxy_rejections_total{route,reason}, logged with the reason, and
# the backend saw nothing.
REFUSALS=()
refused() {
  local port=$1 admin=$2 route=$3 log=$4 who=$5 status=$6 reason=$7
  shift 7
  local key="herald_proxy_rejections_total{route=\"$route\",reason=\"$reason\"}" m0 n0 l0 got
  m0=$(metric "$admin" "$key")
  n0=$(backend_requests be)
  l0=$(grep -c "route $route: refus.* ($reason)" "$T/$log.log" || true)
  pcurl "$port" "$who" /echo "$@"
  expect_status "$status" "$who on route $route"
  [[ $HTTP_CTYPE == application/problem+json* ]] || fail "$who on $route: Content-Type '$HTTP_CTYPE'"
  got=$(json_get "$T/.api.body" 'd.get("reason")')
  [[ $got == "$reason" ]] || fail "$who on $route: reason '$got', expected $reason: $(body)"
  wait_for 5 eval '[[ $(metric "$admin" "$key") == $((m0 + 1)) ]]' ||
    fail "$who on $route: $key went $m0 -> $(metric "$admin" "$key"), expected +1"
  wait_for 5 eval '(( $(grep -c "route $route: refus.* ($reason)" "$T/$log.log" || true) > l0 ))' ||
    fail "$who on $route: no log line with ($reason):$(printf '\n%s' "$(tail -5 "$T/$log.log")")"
  [[ $(backend_requests be) == "$n0" ]] || fail "$who on $route: the backend was reached ($n0 -> $(backend_requests be) requests)"
  REFUSALS+=("$(printf '%-9s %-8s %s %s' "$route" "$who" "$status" "$reason")")
  ok "$who on $route: $status $reason ($(json_get "$T/.api.body" 'd.get("detail")' | cut -c1-110)); counted, logged, backend untouched"
}

step "proxy 1: one route with flags, the CA's revocation feed, --allow-spiffe .../ns/web and --allow-san alice.internal"
alloc_port P1
alloc_port A1
proxy_start main "$A1" --listen "127.0.0.1:$P1" --backend "127.0.0.1:$BE" \
  --cert "$T/c/proxy/cert.pem" --key "$T/c/proxy/key.pem" --chain "$T/c/proxy/chain.pem" --trust "$ROOT" \
  --ca-feed "$API" --health-path /healthz --admin-listen "127.0.0.1:$A1" --threads 2 \
  --allow-spiffe spiffe://herald.internal/ns/web --allow-san alice.internal
wait_for 30 eval '[[ $(metric "$A1" herald_proxy_revocation_feed_connected) == 1 ]]' ||
  fail "the proxy did not follow the feed within 30 s:$(printf '\n%s' "$(cat "$T/main.log")")"
ok "proxy on :$P1, admin :$A1, following the feed"

step "allowed: alice (DNS SAN) and the X.509-SVID of spiffe://herald.internal/ns/web, identity headers at the backend"
n0=$(backend_requests be)
pcurl "$P1" alice /echo
expect_status 200 "alice"
identity_ok "alice" "$T/c/alice"
pcurl "$P1" web /echo
expect_status 200 "the SVID"
identity_ok "the SVID" "$T/c/web"
[[ $(backend_requests be) == $((n0 + 2)) ]] || fail "the backend saw $(($(backend_requests be) - n0)) requests, expected 2"
ok "alice: Subject CN=alice, SAN DNS:alice.internal, serial $(cat "$T/c/alice/serial"), fingerprint, Verified SUCCESS"
ok "SVID: Spiffe-Id spiffe://herald.internal/ns/web, SAN URI:spiffe://herald.internal/ns/web"

step "forged identity headers (any case, and as hop-by-hop) are removed, the real ones set"
pcurl "$P1" alice /echo -H 'X-Client-Cert-Subject: CN=admin' -H 'x-client-cert-verified: SUCCESS' \
  -H 'X-CLIENT-CERT-SERIAL: 01' -H 'x-Client-Cert-Spiffe-Id: spiffe://herald.internal/ns/admin' \
  -H 'X-Client-Cert-Fingerprint: 00' -H 'X-cLiEnT-cErT-sAn: DNS:admin.internal' -H 'X-Client-Cert-Admin: yes' \
  -H 'Connection: keep-alive, X-Client-Cert-Subject, X-Client-Cert-Serial'
expect_status 200 "alice with forged headers"
identity_ok "alice with forged headers" "$T/c/alice"
ok "7 forged x-client-cert-* headers in 5 spellings: none reached the backend; the proxy's own arrived once each"
pcurl "$P1" web /echo -H 'X-Client-Cert-Spiffe-Id: spiffe://herald.internal/ns/admin' -H 'X-Client-Cert-Verified: NONE'
expect_status 200 "the SVID with a forged Spiffe-Id"
identity_ok "the SVID with a forged Spiffe-Id" "$T/c/web"
ok "a forged Spiffe-Id is replaced by the certificate's"
# CGI, WSGI, PHP and Rack fold '_' and '-' into HTTP_X_CLIENT_CERT_SUBJECT: an
# underscore spelling must not reach the backend either (nginx drops header
# names with '_' by default, underscores_in_headers off).
pcurl "$P1" alice /echo -H 'X-Client-Cert_Subject: CN=admin' -H 'X_Client_Cert_Spiffe_Id: spiffe://herald.internal/ns/admin'
expect_status 200 "alice with underscore spellings"
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(any(k.lower().replace("_","-").startswith("x-client-cert-") and v in ("CN=admin","spiffe://herald.internal/ns/admin") for k,v in d["headers"]))' "$T/.api.body"; then
  ok "underscore spellings (X-Client-Cert_Subject, X_Client_Cert_Spiffe_Id) removed too"
else
  defect "forged X-Client-Cert_Subject / X_Client_Cert_Spiffe_Id reach the backend next to the real headers (a CGI/WSGI/PHP backend reads them as HTTP_X_CLIENT_CERT_SUBJECT): $(python3 -c 'import json,sys; print([h for h in json.load(open(sys.argv[1]))["headers"] if "_" in h[0]])' "$T/.api.body")"
fi

step "refused on proxy 1: no certificate, another CA, expired, server certificate as a client, SPIFFE ID not allowed"
exp_end=$(date -d "$(openssl x509 -in "$T/c/expired/cert.pem" -noout -enddate | cut -d= -f2)" +%s)
while (($(date +%s) <= exp_end)); do sleep 0.2; done
refused "$P1" "$A1" default main none 401 no_certificate
refused "$P1" "$A1" default main mallory 403 unknown_ca
refused "$P1" "$A1" default main expired 403 expired
refused "$P1" "$A1" default main srv 403 wrong_purpose
refused "$P1" "$A1" default main db 403 not_allowed
grep -q 'spiffe=spiffe://herald.internal/ns/db' "$T/main.log" || fail "the not_allowed log line does not name the SPIFFE ID"

step "the health path answers without a certificate, and is not a refusal; /metrics passes promtool"
m0=$(metric "$A1" 'herald_proxy_rejections_total{route="default",reason="no_certificate"}')
n0=$(backend_requests be)
pcurl "$P1" none /healthz
expect_status 200 "/healthz without a certificate"
[[ $(json_get "$T/.api.body" 'd["status"]') == ok && $(json_get "$T/.api.body" 'd["revocation_feed"]') == following ]] ||
  fail "/healthz: $(body)"
[[ $(backend_requests be) == "$n0" ]] || fail "/healthz was forwarded to the backend"
sleep 0.3
m1=$(metric "$A1" 'herald_proxy_rejections_total{route="default",reason="no_certificate"}')
[[ $m1 == "$m0" ]] || defect "a health probe without a certificate is counted as a no_certificate rejection ($m0 -> $m1): a load balancer probing /healthz inflates herald_proxy_rejections_total"
ok "/healthz: $(body | tr -d '\n')"
curl -sS --fail "http://127.0.0.1:$A1/metrics" >"$T/metrics1.txt"
promtool check metrics <"$T/metrics1.txt" >"$T/promtool.out" 2>&1 || fail "promtool check metrics:$(printf '\n%s' "$(cat "$T/promtool.out")")"
ok "promtool check metrics: clean ($(grep -c '^herald_proxy_' "$T/metrics1.txt") herald_proxy_ samples)"

# revoke_race WHO LIMIT_MS AFTER_MS WHAT CMD...: WHO passes; CMD revokes it
# (in the background); curl every 50 ms until the first refusal. The time
# from the start of CMD to the answer that refused must stay under LIMIT_MS;
# with AFTER_MS > 0, when CMD itself ran longer than LIMIT_MS - AFTER_MS (an
# ASan `herald revoke` starting on a loaded machine), under AFTER_MS from the
# moment CMD had recorded the revocation and exited instead: the proxy's part
# is bounded either way, the process start-up is not the proxy's.
revoke_race() {
  local who=$1 limit=$2 after=$3 what=$4 t0 t1 tend polls=0 rp allowed
  shift 4
  pcurl "$P1" "$who" /echo
  expect_status 200 "$who before its revocation"
  rm -f "$T/revoke.$who.end"
  t0=$(now_us)
  ( "$@" >"$T/revoke.$who.log" 2>&1; rc=$?; now_us >"$T/revoke.$who.end"; exit $rc ) &
  rp=$!
  while :; do
    polls=$((polls + 1))
    pcurl "$P1" "$who" /echo
    t1=$(now_us)
    [[ $HTTP_STATUS == 403 ]] && break
    [[ $HTTP_STATUS == 200 ]] || fail "$who while being revoked: HTTP $HTTP_STATUS: $(body)"
    ((t1 - t0 < 10000000)) || fail "$who still accepted 10 s after $what"
    sleep 0.05
  done
  wait "$rp" || fail "$what failed: $(cat "$T/revoke.$who.log")"
  tend=$(cat "$T/revoke.$who.end")
  [[ $(json_get "$T/.api.body" 'd.get("reason")') == revoked ]] || fail "$who refused, but not as revoked: $(body)"
  LAT_MS=$(((t1 - t0) / 1000))
  CMD_MS=$(((tend - t0) / 1000))
  echo "   measured: $what -> first refusal of $who after $LAT_MS ms ($polls polls; the command itself ran $CMD_MS ms)"
  allowed=$limit
  if ((after > 0 && CMD_MS + after > limit)); then allowed=$((CMD_MS + after)); fi
  ((LAT_MS < allowed)) ||
    fail "$what took $LAT_MS ms to reach the proxy (limit $limit ms, or $after ms after the command exited: $allowed ms)"
  refused "$P1" "$A1" default main "$who" 403 revoked
}

# sess_req PORT WHO [s_client args]: one GET /echo over openssl s_client
# (e.g. -sess_out F, -sess_in F); sets SESS_STATUS (HTTP status) and
# SESS_REUSED (yes: the TLS session was resumed).
sess_req() {
  local port=$1 who=$2 out
  shift 2
  out=$(printf 'GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' |
    timeout 20 openssl s_client -connect "127.0.0.1:$port" -CAfile "$ROOT" -verify_return_error -ign_eof \
      -cert "$T/c/$who/cert.pem" -key "$T/c/$who/key.pem" -cert_chain "$T/c/$who/ca.pem" "$@" 2>&1) || true
  # (s_client's stderr may interleave with the answer: no anchors)
  SESS_STATUS=$(grep -m1 -oE 'HTTP/1\.1 [0-9]{3}' <<<"$out" | cut -d' ' -f2 || true)
  SESS_REUSED=no
  if grep -q 'Reused, TLS' <<<"$out"; then SESS_REUSED=yes; fi
}

step "TLS session resumption: a resumed session passes; a session of vcli's is kept for after its revocation"
sess_req "$P1" alice -sess_out "$T/alice.sess"
[[ $SESS_STATUS == 200 && -s $T/alice.sess ]] || fail "alice over s_client: HTTP '$SESS_STATUS', session file $(stat -c %s "$T/alice.sess" 2>/dev/null || echo none)"
sess_req "$P1" alice -sess_in "$T/alice.sess"
[[ $SESS_REUSED == yes && $SESS_STATUS == 200 ]] || fail "alice's session: reused=$SESS_REUSED, HTTP '$SESS_STATUS'"
sess_req "$P1" vcli -sess_out "$T/vcli.sess"
[[ $SESS_STATUS == 200 && -s $T/vcli.sess ]] || fail "vcli over s_client: HTTP '$SESS_STATUS'"
ok "alice: resumed session (Reused) -> 200; vcli's session saved"

step "revoked through the CA's push feed: herald revoke (CLI)"
revoke_race vcli 1500 1000 "herald revoke (CLI)" "$HERALD" revoke --dir "$D" "$(cat "$T/c/vcli/serial")" --reason keyCompromise
CLI_MS=$LAT_MS
grep -q "revocation feed: certificate 0*$(cat "$T/c/vcli/serial") revoked" "$T/main.log" || fail "no feed line for $(cat "$T/c/vcli/serial")"
sess_req "$P1" vcli -sess_in "$T/vcli.sess"
[[ $SESS_REUSED == yes ]] || fail "vcli's saved session was not resumed: the check below would prove nothing"
[[ $SESS_STATUS == 403 ]] || fail "vcli's resumed session after its revocation: HTTP '$SESS_STATUS', expected 403"
ok "vcli's TLS session from before its revocation is resumed (Reused) and refused: 403"

step "revoked through the CA's push feed: POST /v1/revoke (REST)"
rest_revoke() { # its own body file: the poll loop writes $T/.api.body meanwhile
  local code
  code=$(curl -sS --max-time 30 --cacert "$ROOT" -H "Authorization: Bearer $API_TOKEN" -H 'Content-Type: application/json' \
    --data-binary "{\"serial\":\"$1\",\"reason\":\"keyCompromise\"}" -o "$T/rest-revoke.body" -w '%{http_code}' "$API/v1/revoke")
  [[ $code == 200 ]] || { echo "HTTP $code: $(cat "$T/rest-revoke.body")"; return 1; }
}
revoke_race vrest 1000 0 "POST /v1/revoke" rest_revoke "$(cat "$T/c/vrest/serial")"
REST_MS=$LAT_MS
pcurl "$P1" alice /echo
expect_status 200 "alice after the revocations"
ok "alice still passes"

step "certificateHold (REST) refuses through the feed, its release (CLI removeFromCRL) lets the certificate in again"
pcurl "$P1" vhold /echo
expect_status 200 "vhold before its hold"
rest_hold() {
  api POST /v1/revoke -H 'Content-Type: application/json' --data-binary "{\"serial\":\"$1\",\"reason\":\"certificateHold\"}"
  [[ $HTTP_STATUS == 200 ]] || { echo "HTTP $HTTP_STATUS: $(body)"; return 1; }
}
rest_hold "$(cat "$T/c/vhold/serial")" >"$T/hold.log" || fail "hold: $(cat "$T/hold.log")"
wait_for 5 eval 'pcurl "$P1" vhold /echo; [[ $HTTP_STATUS == 403 ]]' || fail "vhold still accepted 5 s after its hold"
[[ $(json_get "$T/.api.body" 'd.get("reason")') == revoked ]] || fail "vhold on hold: $(body)"
"$HERALD" revoke --dir "$D" "$(cat "$T/c/vhold/serial")" --reason removeFromCRL >"$T/release.log" 2>&1 || fail "release: $(cat "$T/release.log")"
wait_for 5 eval 'pcurl "$P1" vhold /echo; [[ $HTTP_STATUS == 200 ]]' || fail "vhold still refused 5 s after its release: $(body)"
identity_ok "vhold after its release" "$T/c/vhold"
ok "vhold: 200, on hold 403 revoked, released 200"

step "a keep-alive connection opened before a revocation is refused at its next request"
python3 - "$P1" "$ROOT" "$T/c/vka" "$(cat "$T/c/vka/serial")" "$API" "$API_TOKEN" >"$T/ka.out" 2>&1 <<'PY' || fail "keep-alive probe: $(cat "$T/ka.out")"
import http.client, json, ssl, sys, time, urllib.request
port, root, d, serial, api, token = sys.argv[1:]
ctx = ssl.create_default_context(cafile=root)
ctx.load_cert_chain(d + "/full.pem", d + "/key.pem")
def get(c):
    c.request("GET", "/echo"); r = c.getresponse(); r.read(); return r.status
old = http.client.HTTPSConnection("127.0.0.1", int(port), context=ctx, timeout=30)
assert get(old) == 200
req = urllib.request.Request(api + "/v1/revoke", method="POST", data=json.dumps({"serial": serial}).encode(),
                             headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
urllib.request.urlopen(req, context=ssl.create_default_context(cafile=root)).read()
for _ in range(100):  # until a new connection is refused
    if get(http.client.HTTPSConnection("127.0.0.1", int(port), context=ctx, timeout=30)) == 403:
        break
    time.sleep(0.05)
else:
    sys.exit("a new connection of the revoked certificate is still accepted")
time.sleep(1)
print(get(old))
PY
KA=$(tail -1 "$T/ka.out")
[[ $KA == 403 ]] || fail "a keep-alive connection opened before the revocation got HTTP $KA after new connections were refused (want 403: each request is judged again)"
ok "the keep-alive connection opened before the revocation is refused too (HTTP $KA)"

step "the access log: one JSON line per request, reasons and identities, no header values"
python3 - "$T/main.log" "$(cat "$T/c/vcli/serial")" <<'PY' || fail "access log: see above"
import json, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("{")]
recs = [json.loads(l) for l in lines]  # every line parses
refused = [r for r in recs if r.get("verdict") == "refuse"]
assert refused and all(r.get("reason") for r in refused), "a refusal without a reason"
assert any(r.get("reason") == "revoked" and sys.argv[2].lstrip("0") in r.get("identity", "").replace("serial=0", "serial=") for r in refused), "no revoked line naming vcli"
text = open(sys.argv[1]).read()
assert "CN=admin" not in text and "ns/admin" not in text, "a forged header value reached the log"
print(f"   {len(recs)} JSON lines, {len(refused)} refusals, each with its reason; no header value logged")
PY

step "proxy 2 (proxy.toml, no feed): CRL path, a partner's hierarchy on one route and not another, an optional route, a TCP route"
# serve re-signs the issuing CRL when it sees the revocations.
crl_lists() {
  curl -sS --fail --max-time 10 -o "$T/crl.der" "$PUB/crl/issuing.crl" &&
    openssl crl -in "$T/crl.der" -inform DER -noout -text >"$T/crl.txt" &&
    grep -q "Serial Number: 0*$(cat "$T/c/vcli/serial")$" "$T/crl.txt" && grep -q "Serial Number: 0*$(cat "$T/c/vrest/serial")$" "$T/crl.txt"
}
wait_for 10 crl_lists || fail "the issuing CRL does not list both revoked certificates 10 s on"
ok "the served issuing CRL lists vcli and vrest"
cat "$ROOT" "$T/partner/ca/root.pem" >"$T/bundle-partner.pem"
PARTNER_FP=$(fingerprint "$T/partner/ca/root.pem")
alloc_port P2I
alloc_port P2P
alloc_port P2T
alloc_port P2O
alloc_port A2
cat >"$T/proxy2.toml" <<EOF
admin_listen = "127.0.0.1:$A2"
threads = 2

[[route]]
name = "internal"
listen = "127.0.0.1:$P2I"
backend = "127.0.0.1:$BE"
cert = "$T/c/proxy/cert.pem"
key = "$T/c/proxy/key.pem"
chain = "$T/c/proxy/chain.pem"
trust = "$ROOT"
revocation = "hard"
# no crl_urls: the CRLs along the proxy's own chain (Herald's three) are fetched at start

[[route]]
name = "partners"
listen = "127.0.0.1:$P2P"
backend = "127.0.0.1:$BE"
cert = "$T/c/proxy/cert.pem"
key = "$T/c/proxy/key.pem"
chain = "$T/c/proxy/chain.pem"
trust = "$T/bundle-partner.pem"
allow_issuer = ["$PARTNER_FP"]
crl_urls = ["http://127.0.0.1:$PARTNER_PORT/crl/issuing.crl", "http://127.0.0.1:$PARTNER_PORT/crl/intermediate.crl", "http://127.0.0.1:$PARTNER_PORT/crl/root.crl"]

[[route]]
name = "optional"
listen = "127.0.0.1:$P2O"
backend = "127.0.0.1:$BE"
cert = "$T/c/proxy/cert.pem"
key = "$T/c/proxy/key.pem"
chain = "$T/c/proxy/chain.pem"
trust = "$ROOT"
client_cert = "optional"

[[route]]
name = "tcp"
mode = "tcp"
listen = "127.0.0.1:$P2T"
backend = "127.0.0.1:$TCPBE"
cert = "$T/c/proxy/cert.pem"
key = "$T/c/proxy/key.pem"
chain = "$T/c/proxy/chain.pem"
trust = "$ROOT"
allow_san = ["alice.internal"]
EOF
proxy_start crl "$A2" --config "$T/proxy2.toml"
wait_for 20 eval '(( $(metric "$A2" "herald_proxy_revocation_cache_entries{kind=\"crl\"}") >= 6 ))' ||
  fail "proxy 2 did not fetch its 6 CRLs in 20 s:$(printf '\n%s' "$(cat "$T/crl.log")")"
[[ $(metric "$A2" herald_proxy_revocation_feed_connected) == 0 ]] || fail "proxy 2 says it follows a feed"
ok "4 routes up, 6 CRLs cached (Herald's 3 along the proxy's own chain, through the relay; the partner's 3 from crl_urls)"
pcurl "$P2I" alice /echo
expect_status 200 "alice on internal (CRL path)"
identity_ok "alice on internal" "$T/c/alice"
refused "$P2I" "$A2" internal crl vcli 403 revoked
refused "$P2I" "$A2" internal crl vrest 403 revoked
refused "$P2I" "$A2" internal crl partner 403 unknown_ca
ok "internal route: revocation from the CRL (no feed), hard-fail, the partner unknown"
pcurl "$P2P" partner /echo
expect_status 200 "the partner on partners"
identity_ok "the partner on partners" "$T/c/partner"
refused "$P2P" "$A2" partners crl alice 403 issuer_not_allowed
refused "$P2P" "$A2" partners crl mallory 403 unknown_ca
ok "partners route: the partner's certificate passes (its root in the bundle, allow_issuer its fingerprint), Herald's own is refused"

step "optional route: no certificate passes as X-Client-Cert-Verified: NONE (forged identity removed); a bad certificate is still refused"
pcurl "$P2O" none /echo -H 'X-Client-Cert-Subject: CN=admin' -H 'X-Client-Cert-Verified: SUCCESS'
expect_status 200 "no certificate on the optional route"
python3 - "$T/.api.body" <<'PY' || fail "optional route without a certificate: $(body)"
import json, sys
h = {k.lower(): v for k, v in json.load(open(sys.argv[1]))["headers"] if k.lower().startswith("x-client-cert-")}
sys.exit(0 if h == {"x-client-cert-verified": "NONE"} else f"identity headers {h}")
PY
pcurl "$P2O" alice /echo
expect_status 200 "alice on the optional route"
identity_ok "alice on optional" "$T/c/alice"
refused "$P2O" "$A2" optional crl mallory 403 unknown_ca
ok "optional: anonymous -> Verified NONE only; alice -> her identity; another CA -> 403"

step "TCP route: an allowed client echoes through openssl s_client; refused ones are closed before the backend"
tcp_try() { # WHO [s_client id args] -> $TCP_OUT
  local who=$1 id=()
  [[ $who != none ]] && id=(-cert "$T/c/$who/cert.pem" -key "$T/c/$who/key.pem" -cert_chain "$T/c/$who/ca.pem")
  TCP_OUT=$( (printf 'ping-through-herald-%s\n' "$who"; sleep 0.7) |
    timeout 20 openssl s_client -connect "127.0.0.1:$P2T" -CAfile "$ROOT" -verify_return_error -quiet -no_ign_eof "${id[@]}" 2>"$T/tcp.$who.err") || true
}
c0=$(backend_connections tcpbe)
tcp_try alice
[[ $TCP_OUT == *ping-through-herald-alice* ]] || fail "alice's bytes did not come back through the TCP route: '$TCP_OUT' $(cat "$T/tcp.alice.err")"
wait_for 5 eval '[[ $(backend_connections tcpbe) == $((c0 + 1)) ]]' || fail "the TCP backend saw $(($(backend_connections tcpbe) - c0)) connections for alice"
ok "alice: 'ping-through-herald-alice' echoed by the backend through the proxy"
for who in srv vcli none; do
  c0=$(backend_connections tcpbe)
  r0=$(metric "$A2" "herald_proxy_requests_total{route=\"tcp\",verdict=\"refuse\"}")
  tcp_try "$who"
  [[ $TCP_OUT != *ping-through-herald* ]] || fail "$who's bytes came back through the TCP route"
  wait_for 5 eval '(( $(metric "$A2" "herald_proxy_requests_total{route=\"tcp\",verdict=\"refuse\"}") > r0 ))' ||
    fail "no refused connection counted for $who on the TCP route"
  [[ $(backend_connections tcpbe) == "$c0" ]] || fail "the TCP backend saw a connection for $who"
done
for r in wrong_purpose revoked no_certificate; do
  [[ $(metric "$A2" "herald_proxy_rejections_total{route=\"tcp\",reason=\"$r\"}") -ge 1 ]] || fail "tcp route: no $r rejection counted"
done
ok "server certificate (wrong_purpose), revoked (CRL), no certificate: closed, counted, the backend saw no connection"

step "proxy 3 (no feed): the OCSP path, with the issuing CA's CRL unreachable"
echo /crl/issuing.crl >"$T/blocked"
alloc_port P3
alloc_port A3
proxy_start ocsp "$A3" --listen "127.0.0.1:$P3" --backend "127.0.0.1:$BE" \
  --cert "$T/c/proxy/cert.pem" --key "$T/c/proxy/key.pem" --chain "$T/c/proxy/chain.pem" --trust "$ROOT" \
  --revocation hard --crl-url "$RELAY/crl/intermediate.crl" --crl-url "$RELAY/crl/root.crl" --admin-listen "127.0.0.1:$A3"
wait_for 20 eval '(( $(metric "$A3" "herald_proxy_revocation_cache_entries{kind=\"crl\"}") >= 2 ))' || fail "proxy 3 did not cache the 2 offline CRLs"
# ocsp_until WHO: the first connection of a certificate finds nothing cached
# (hard: revocation_unavailable) and queues its OCSP fetch; the next finds it.
ocsp_until() {
  local who=$1 i
  for i in $(seq 50); do
    pcurl "$P3" "$who" /echo
    [[ $HTTP_STATUS == 403 && $(json_get "$T/.api.body" 'd.get("reason")') == revocation_unavailable ]] || return 0
    sleep 0.1
  done
  fail "$who: still revocation_unavailable after 5 s: $(tail -5 "$T/ocsp.log")"
}
ocsp_until alice
expect_status 200 "alice on proxy 3 (OCSP)"
identity_ok "alice on proxy 3" "$T/c/alice"
[[ $(metric "$A3" "herald_proxy_revocation_cache_entries{kind=\"ocsp\"}") -ge 1 ]] || fail "proxy 3 holds no OCSP answer"
[[ $(metric "$A3" "herald_proxy_revocation_cache_entries{kind=\"crl\"}") == 2 ]] || fail "proxy 3 holds the issuing CRL though it is blocked"
grep -q 'revocation fetch failed.*issuing.crl' "$T/ocsp.log" || fail "proxy 3 did not log the blocked CRL:$(printf '\n%s' "$(cat "$T/ocsp.log")")"
ocsp_until vrest
[[ $HTTP_STATUS == 403 && $(json_get "$T/.api.body" 'd.get("reason")') == revoked ]] || fail "vrest on proxy 3: HTTP $HTTP_STATUS $(body)"
refused "$P3" "$A3" default ocsp vrest 403 revoked
ok "OCSP: alice good (passes with no CRL for her), vrest revoked (refused)"

step "proxy 4 (feed): a trust bundle listing the partner's root first; the feed answers for Herald's paths only"
# The partner revokes one of its certificates on its own CRL (served by its
# HTTP server); Herald's feed knows nothing of it.
issue_client partner2 --dir "$T/partner" --profile client --cn partner-app2 --san dns:app.partner.internal
"$HERALD" revoke --dir "$T/partner" "$(cat "$T/c/partner2/serial")" --reason keyCompromise >"$T/prevoke.log" 2>&1 ||
  fail "herald revoke (partner): $(cat "$T/prevoke.log")"
cat "$T/partner/ca/root.pem" "$ROOT" >"$T/bundle-partner-first.pem"
: >"$T/blocked"
alloc_port P4
alloc_port A4
proxy_start feed2 "$A4" --listen "127.0.0.1:$P4" --backend "127.0.0.1:$BE" \
  --cert "$T/c/proxy/cert.pem" --key "$T/c/proxy/key.pem" --chain "$T/c/proxy/chain.pem" --trust "$T/bundle-partner-first.pem" \
  --ca-feed "$API" --admin-listen "127.0.0.1:$A4" --threads 2 \
  --crl-url "http://127.0.0.1:$PARTNER_PORT/crl/issuing.crl" --crl-url "http://127.0.0.1:$PARTNER_PORT/crl/intermediate.crl" \
  --crl-url "http://127.0.0.1:$PARTNER_PORT/crl/root.crl"
wait_for 30 eval '[[ $(metric "$A4" herald_proxy_revocation_feed_connected) == 1 ]]' || fail "proxy 4 did not follow the feed"
wait_for 20 eval '(( $(metric "$A4" "herald_proxy_revocation_cache_entries{kind=\"crl\"}") >= 6 ))' || fail "proxy 4 did not fetch its CRLs"
pcurl "$P4" alice /echo
expect_status 200 "alice on proxy 4"
pcurl "$P4" partner /echo
expect_status 200 "the partner on proxy 4"
refused "$P4" "$A4" default feed2 vcli 403 revoked
[[ $(json_get "$T/.api.body" 'd.get("detail")') == *"revocation feed"* ]] || fail "vcli on proxy 4 was not refused by the feed: $(body)"
refused "$P4" "$A4" default feed2 partner2 403 revoked
[[ $(json_get "$T/.api.body" 'd.get("detail")') == *CRL* ]] || fail "partner2 on proxy 4 was not refused by its CRL: $(body)"
ok "Herald's revoked certificate refused by the feed, the partner's by its CRL, whatever the bundle's order"

step "the feed lost (herald serve stopped): degraded health, and what the feed said is still known"
serve_stop 30
[[ $SERVE_RC == 0 ]] || fail "herald serve did not stop cleanly: $SERVE_RC"
wait_for 20 eval '[[ $(metric "$A1" herald_proxy_revocation_feed_connected) == 0 ]]' || fail "proxy 1 still says it follows the feed 20 s after serve stopped"
curl -sS "http://127.0.0.1:$A1/healthz" >"$T/health-lost.json"
[[ $(json_get "$T/health-lost.json" 'd["status"]') == degraded ]] || fail "health with the feed lost: $(cat "$T/health-lost.json")"
ok "health: $(cat "$T/health-lost.json")"
pcurl "$P1" alice /echo
expect_status 200 "alice with the feed lost (CRLs cached at start)"
# proxy 1 fetched the issuing CRL at start, before vcli and vrest were
# revoked: the revocations it learnt from the feed must not be forgotten
# because the feed is gone.
refused "$P1" "$A1" default main vcli 403 revoked
refused "$P1" "$A1" default main vrest 403 revoked
ok "with the feed lost, alice passes on the cached CRL, the certificates the feed reported revoked stay refused"

step "summary"
printf '   %s\n' "${REFUSALS[@]}"
echo "   feed latency: herald revoke (CLI) -> first refusal $CLI_MS ms; POST /v1/revoke -> first refusal $REST_MS ms"
kill -0 "${PROXY_PID[main]}" && kill -0 "${PROXY_PID[crl]}" && kill -0 "${PROXY_PID[ocsp]}" && kill -0 "${PROXY_PID[feed2]}" || fail "a proxy died"
end_defects

step "PASS proxy_mtls"
