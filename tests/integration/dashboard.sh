#!/usr/bin/env bash
# The dashboard of `herald serve` (/ui/ and its JSON API): who may see it
# (no credential 401, a token without the admin permission 403, an admin
# token or its session cookie 200; the cookie's flags; login and logout
# Origin-checked; the cookie refused outside the dashboard), admin client
# certificates ([dashboard] admin_client_names: a listed SAN on a valid
# clientAuth certificate of this CA reads the dashboard and nothing more;
# unlisted, revoked, serverAuth-only, CN-only and foreign ones refused), its security
# headers and ETags, and then the pages in a real browser (Debian's chromium
# driven by playwright-core, tests/browser/dashboard.mjs): login, the
# overview's numbers against `herald list`, the expiry chart, the filtered
# table, a certificate's detail, no console errors, and a screenshot; then a
# browser context presenting a listed admin client certificate reads the
# overview without a login, and one with an unlisted certificate gets 403.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$IT_DIR/serve_lib.sh"
need_tool openssl curl python3 node chromium
BROWSER_DIR="$IT_DIR/../browser"
if [[ ! -d $BROWSER_DIR/node_modules/playwright-core ]]; then
  if [[ $IT_REQUIRE_TOOLS == 1 ]]; then
    fail "tests/browser/node_modules is missing: run scripts/install-deps.sh (npm ci in tests/browser)"
  fi
  echo "SKIP: tests/browser/node_modules is missing (scripts/install-deps.sh runs npm ci there)"
  IT_SKIPPING=1
  exit 77
fi

step "ca init (a reader provisioner without admin), start herald serve"
serve_init "$T/pki"
cat >>"$D/herald.toml" <<'TOML'

[[provisioners]]
name = "reader"
type = "token"
profiles = ["server"]
permissions = ["read"]

[dashboard]
admin_client_names = ["DNS:alice.internal", "dns:carol.internal", "dns:web.internal",
                      "dns:ops-admin.internal"]
TOML
grep -q 'permissions = \["sign", "revoke", "read", "admin"\]' "$D/herald.toml" ||
  fail "the demo admin provisioner of ca init lacks the admin permission"
ADMIN=$(new_token "$D" admin)
READER=$(new_token "$D" reader)
serve_start "$D"
ok "serving $API"

step "certificates: 4 server (2 revoked), 2 client"
API_TOKEN=$ADMIN
issue() {  # NAME PROFILE OWNER-JSON
  make_csr "$1" "$1.internal" "DNS:$1.internal"
  sign_json "$T/$1.csr" "$2" "$3" >"$T/$1.json"
  api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/$1.json"
  expect_status 201 "sign $1"
  save_issued "$1"
}
WEB=$(issue web server '{"team":"payments"}')
API1=$(issue api server '{"team":"payments"}')
OLD=$(issue old server '{"team":"search"}')
GONE=$(issue gone server '{"team":"search"}')
issue alice client '{"team":"payments"}' >/dev/null
issue bob client '{"team":"search"}' >/dev/null
for s in "$OLD" "$GONE"; do
  api POST /v1/revoke -H 'Content-Type: application/json' --data-binary "{\"serial\":\"$s\",\"reason\":\"keyCompromise\"}"
  expect_status 200 "revoke $s"
done
ok "issued $WEB $API1 ... revoked $OLD $GONE"

step "what herald list says"
"$HERALD" list --dir "$D" --json >"$T/list.json" || fail "herald list --json failed"
EXPECT=$(python3 - "$T/list.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
if isinstance(rows, dict):
    rows = rows.get("items", rows.get("certificates", []))
c = {"valid": 0, "revoked": 0, "expired": 0}
for r in rows:
    c[r["status"]] += 1
c["total"] = len(rows)
c["server"] = sum(1 for r in rows if r["profile"] == "server")
print(json.dumps(c))
PY
)
ok "herald list: $EXPECT"
jget() { python3 -c "import json,sys; print(json.loads(sys.argv[1])$2)" "$1"; }

step "who may read the dashboard API"
API_TOKEN=""
api GET /v1/overview
expect_problem 401 unauthenticated "overview without a credential"
API_TOKEN=$READER
api GET /v1/overview
expect_problem 403 forbidden "overview with a token without the admin permission"
api GET /v1/expiry-timeline
expect_problem 403 forbidden "timeline with a token without the admin permission"
api GET /v1/certs
expect_status 200 "the plain /v1/certs still answers a read token"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert "total" not in d' "$T/.api.body" ||
  fail "a read token got the admin listing"
API_TOKEN=$ADMIN
api GET /v1/overview
expect_status 200 "overview with the admin token"
for k in valid revoked expired total; do
  got=$(json_get "$T/.api.body" "d['counts']['$k']")
  want=$(jget "$EXPECT" "['$k']")
  [[ $got == "$want" ]] || fail "overview $k = $got, herald list says $want"
done
[[ $(json_get "$T/.api.body" "d['revoked_last_day']") == 2 ]] || fail "revoked_last_day: $(body)"
[[ $(json_get "$T/.api.body" "len(d['cas'])") == 3 ]] || fail "cas: $(body)"
[[ $(json_get "$T/.api.body" "d['crls'][0]['fresh']") == True ]] || fail "crls: $(body)"
ok "overview counts = herald list ($EXPECT)"
api GET "/v1/expiry-timeline?days=400"
expect_status 200 "timeline"
[[ $(json_get "$T/.api.body" "d['bucket']") == week ]] || fail "400 days should be by week: $(body)"
[[ $(json_get "$T/.api.body" "sum(b['count'] for b in d['buckets'])") -ge 4 ]] || fail "timeline: $(body)"
api GET "/v1/expiry-timeline?days=0"
expect_problem 400 invalid-argument "timeline days=0"
api GET "/v1/certs?profile=server&count=1&limit=2"
expect_status 200 "admin listing"
[[ $(json_get "$T/.api.body" "d['total']") == $(jget "$EXPECT" "['server']") ]] || fail "total: $(body)"
[[ $(json_get "$T/.api.body" "len(d['items'])") == 2 && $(json_get "$T/.api.body" "d['next_offset']") == 2 ]] ||
  fail "paging: $(body)"
# Keyset paging: next_after walks every record once.
seen=0 after="" pages=0
while :; do
  api GET "/v1/certs?limit=4${after:+&after=$after}"
  expect_status 200 "a keyset page"
  seen=$((seen + $(json_get "$T/.api.body" "len(d['items'])")))
  json_get "$T/.api.body" "'\n'.join(i['serial'] for i in d['items'])" >>"$T/walked"
  pages=$((pages + 1))
  after=$(json_get "$T/.api.body" "d['next_after'] or ''")
  [[ -n $after ]] || break
  ((pages < 20)) || fail "keyset paging does not end"
done
[[ $seen == $(jget "$EXPECT" "['total']") && $(sort -u "$T/walked" | grep -c .) == "$seen" ]] ||
  fail "keyset paging saw $seen records in $pages pages ($(sort -u "$T/walked" | grep -c .) distinct)"
api GET "/v1/certs?after=nonsense"
expect_problem 400 invalid-argument "a malformed after"
api GET "/v1/certs/$GONE"
expect_status 200 "a certificate's detail"
[[ $(json_get "$T/.api.body" "len(d['chain'])") == 3 ]] || fail "chain: $(body)"
[[ $(json_get "$T/.api.body" "'-'.join(e['action'] for e in d['audit'])") == issue-revoke ]] || fail "audit: $(body)"
api GET /v1/hierarchy
expect_status 200 "hierarchy"
[[ $(json_get "$T/.api.body" "len(d['cas'])") -ge 3 ]] || fail "hierarchy: $(body)"
ok "timeline, admin listing with total, offset and keyset paging ($pages pages), detail with chain and audit trail, hierarchy"

step "pages: 401 / login redirect, security headers, ETag"
API_TOKEN=""
api GET /ui/
expect_problem 401 unauthenticated "/ui/ without a credential"
api GET /ui/ -H 'Accept: text/html'
expect_status 303 "/ui/ for a browser without a credential"
curl -sS --cacert "$ROOT" -D "$T/login.h" -o "$T/login.html" "$API/ui/login"
grep -qi "^Content-Security-Policy: default-src 'self'" "$T/login.h" || fail "CSP: $(cat "$T/login.h")"
grep -qi '^X-Frame-Options: DENY' "$T/login.h" || fail "X-Frame-Options: $(cat "$T/login.h")"
grep -qi '^Content-Type: text/html' "$T/login.h" || fail "content type: $(cat "$T/login.h")"
grep -qi '<script>' "$T/login.html" && fail "an inline script in the login page"
ETAG=$(grep -i '^ETag:' "$T/login.h" | cut -d' ' -f2 | tr -d '\r')
[[ -n $ETAG ]] || fail "no ETag"
api GET /ui/login -H "If-None-Match: $ETAG"
expect_status 304 "the login page again with its ETag"
API_TOKEN=$ADMIN
api GET /ui/
expect_status 200 "/ui/ with the admin token"
[[ $HTTP_CTYPE == text/html* ]] || fail "/ui/ content type $HTTP_CTYPE"
api GET /ui/app.js
[[ $HTTP_STATUS == 200 && $HTTP_CTYPE == text/javascript* ]] || fail "app.js: $HTTP_STATUS $HTTP_CTYPE"
API_TOKEN=$READER
api GET /ui/
expect_problem 403 forbidden "/ui/ with a token without the admin permission"
ok "401, 303 to the login page, 403; CSP, X-Frame-Options DENY, ETag/304, content types"

step "login: Origin checked, rate-limited, cookie flags; the cookie only on the dashboard"
API_TOKEN=""
login_body() { python3 -c 'import json,sys; print(json.dumps({"token": sys.argv[1]}))' "$1"; }
api POST /ui/login -H 'Content-Type: application/json' --data-binary "$(login_body "$ADMIN")"
expect_problem 403 forbidden "login without Origin"
api POST /ui/login -H 'Content-Type: application/json' -H 'Origin: https://evil.example' --data-binary "$(login_body "$ADMIN")"
expect_problem 403 forbidden "login from another origin"
ORIGIN="https://127.0.0.1:$HTTPS_PORT"
api POST /ui/login -H 'Content-Type: application/json' -H "Origin: $ORIGIN" --data-binary "$(login_body "$READER")"
expect_problem 403 forbidden "login with a token without the admin permission"
curl -sS --cacert "$ROOT" -D "$T/session.h" -o "$T/session.json" -H 'Content-Type: application/json' \
  -H "Origin: $ORIGIN" --data-binary "$(login_body "$ADMIN")" "$API/ui/login"
SET=$(grep -i '^Set-Cookie:' "$T/session.h" | tr -d '\r') || fail "no Set-Cookie: $(cat "$T/session.h")"
for flag in Secure HttpOnly SameSite=Strict 'Path=/' Max-Age=28800; do
  grep -q "; $flag" <<<"$SET" || fail "cookie lacks $flag: $SET"
done
grep -q "$ADMIN" "$T/session.h" "$T/session.json" && fail "the token is echoed by the login"
COOKIE=$(sed -E 's/^Set-Cookie: (herald_session=[^;]*).*/\1/I' <<<"$SET")
api GET /v1/overview -H "Cookie: $COOKIE"
expect_status 200 "overview with the session cookie"
api GET /ui/ -H "Cookie: $COOKIE"
expect_status 200 "/ui/ with the session cookie"
api POST /v1/revoke -H "Cookie: $COOKIE" -H 'Content-Type: application/json' --data-binary "{\"serial\":\"$WEB\"}"
expect_problem 401 unauthenticated "POST /v1/revoke with only the session cookie"
make_csr viacookie viacookie.internal "DNS:viacookie.internal"
sign_json "$T/viacookie.csr" server >"$T/viacookie.json"
api POST /v1/sign -H "Cookie: $COOKIE" -H 'Content-Type: application/json' --data-binary @"$T/viacookie.json"
expect_problem 401 unauthenticated "POST /v1/sign with only the session cookie"
api GET /v1/overview -H "Cookie: ${COOKIE%?}x"
expect_problem 401 unauthenticated "a tampered cookie"
api POST /ui/logout -H "Cookie: $COOKIE"
expect_problem 403 forbidden "logout without Origin"
curl -sS --cacert "$ROOT" -D "$T/logout.h" -o /dev/null -X POST -H "Origin: $ORIGIN" -H "Cookie: $COOKIE" "$API/ui/logout"
grep -qi '^Set-Cookie: herald_session=;.*Max-Age=0' "$T/logout.h" || fail "logout does not clear the cookie: $(cat "$T/logout.h")"
ok "Origin checked, cookie Secure/HttpOnly/SameSite=Strict/Path=/, dashboard-only, tamper refused, logout clears"

step "TLS sessions resume (a browser offers the first connection's ticket on the next ones)"
# Without a session id context OpenSSL refuses to resume under client-certificate
# verification; Chromium then failed /ui/login.js with ERR_SSL_PROTOCOL_ERROR.
for v in -tls1_3 -tls1_2; do
  # stdin open for a second: a TLS 1.3 ticket arrives after the handshake.
  sleep 1 | openssl s_client $v -connect "127.0.0.1:$HTTPS_PORT" -servername localhost -CAfile "$ROOT" \
    -sess_out "$T/sess$v.pem" >"$T/s1$v.log" 2>&1 || true
  [[ -s "$T/sess$v.pem" ]] || fail "openssl s_client $v kept no session: $(tail -3 "$T/s1$v.log")"
  openssl s_client $v -connect "127.0.0.1:$HTTPS_PORT" -servername localhost -CAfile "$ROOT" \
    -sess_in "$T/sess$v.pem" </dev/null >"$T/s2$v.log" 2>&1 || true
  grep -q "^Reused" "$T/s2$v.log" || fail "no resumption with $v: $(grep -E '^(New|Reused)|error' "$T/s2$v.log" | head -3)"
done
ok "TLS 1.3 and 1.2 sessions resumed (openssl s_client -sess_in: Reused)"

step "the pages in chromium (playwright-core)"
SHOT="$T/dashboard.png"
HERALD_URL=$API HERALD_TOKEN=$ADMIN HERALD_EXPECT=$EXPECT HERALD_PROFILE=client \
  HERALD_PROFILE_COUNT=2 HERALD_SERIAL=$GONE HERALD_SHOT=$SHOT \
  HERALD_ADMIN_CERT=$T/alice.pem HERALD_ADMIN_KEY=$T/alice.key HERALD_ADMIN_NAME=cert:dns:alice.internal \
  HERALD_OTHER_CERT=$T/bob.pem HERALD_OTHER_KEY=$T/bob.key \
  node "$BROWSER_DIR/dashboard.mjs" 2>&1 | tee "$T/browser.log" || fail "the browser test failed"
[[ ${PIPESTATUS[0]} == 0 ]] || fail "the browser test failed"
[[ -s $SHOT ]] || fail "no screenshot"
ARTIFACT_DIR=${HERALD_ARTIFACT_DIR:-$IT_DIR/../../build/test-artifacts}
mkdir -p "$ARTIFACT_DIR" 2>/dev/null && cp "$SHOT" "$ARTIFACT_DIR/dashboard.png" 2>/dev/null &&
  echo "   screenshot kept as $ARTIFACT_DIR/dashboard.png"
ok "login, overview = herald list, chart, filters, detail, hierarchy, logout; with alice's certificate the overview without a login, bob's refused 403; screenshot $SHOT"

step "admin client certificates (mutual TLS): listed SAN, clientAuth, this CA, not revoked"
API_TOKEN=$ADMIN
carol=$(issue carol client '{"team":"ops"}')
# CN ops-admin.internal is listed as a DNS name, but the certificate's SAN is dave's.
make_csr cnonly ops-admin.internal "DNS:dave.internal"
sign_json "$T/cnonly.csr" client >"$T/cnonly.json"
api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/cnonly.json"
expect_status 201 "sign cnonly"
save_issued cnonly >/dev/null
API_TOKEN=""
as() { local who=$1; shift; api "$@" --cert "$T/$who.pem" --key "$T/$who.key"; }
as alice GET /v1/overview
expect_status 200 "overview with alice's certificate (listed as DNS:alice.internal)"
[[ $(json_get "$T/.api.body" "d['counts']['total']") == $(($(jget "$EXPECT" "['total']") + 2)) ]] ||
  fail "overview with the certificate: $(body)"
as alice GET /v1/session
expect_status 200 "session with alice's certificate"
[[ $(json_get "$T/.api.body" "d['provisioner']") == cert:dns:alice.internal ]] || fail "session: $(body)"
as alice GET /ui/ -H 'Accept: text/html'
expect_status 200 "/ui/ with alice's certificate"
as alice GET "/v1/certs?count=1"
expect_status 200 "the admin listing with alice's certificate"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert "total" in d' "$T/.api.body" || fail "no admin listing: $(body)"
as bob GET /v1/overview
expect_problem 403 forbidden "bob's valid client certificate, not listed"
as web GET /v1/overview
expect_problem 403 forbidden "a listed SAN on a serverAuth-only certificate"
as cnonly GET /ui/
expect_problem 403 forbidden "a listed name in the CN only"
as carol GET /v1/overview
expect_status 200 "carol's listed certificate before its revocation"
API_TOKEN=$ADMIN
api POST /v1/revoke -H 'Content-Type: application/json' --data-binary "{\"serial\":\"$carol\",\"reason\":\"keyCompromise\"}"
expect_status 200 "revoke carol"
API_TOKEN=""
as carol GET /v1/overview
expect_problem 401 unauthenticated "carol's listed certificate once revoked"
# A foreign CA issues a certificate with alice's name and clientAuth.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/evilca.key" -out "$T/evilca.pem" \
  -subj "/CN=Evil Root" -days 2 -addext "basicConstraints=critical,CA:TRUE" 2>/dev/null || fail "openssl: evil CA"
make_csr evil alice.internal "DNS:alice.internal"
openssl x509 -req -in "$T/evil.csr" -CA "$T/evilca.pem" -CAkey "$T/evilca.key" -CAcreateserial -days 1 \
  -extfile <(printf 'subjectAltName=DNS:alice.internal\nextendedKeyUsage=clientAuth\n') -out "$T/evil.pem" 2>/dev/null ||
  fail "openssl: evil leaf"
as evil GET /v1/overview
expect_problem 401 unauthenticated "a foreign CA's certificate with a listed SAN"
as evil GET /ui/ -H 'Accept: text/html'
[[ $HTTP_STATUS == 303 ]] || fail "/ui/ for a browser with a foreign certificate: $HTTP_STATUS $(body)"
# The dashboard's read scope only: no signing, no revoking another certificate.
make_csr viacert viacert.internal "DNS:viacert.internal"
sign_json "$T/viacert.csr" server >"$T/viacert.json"
as alice POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/viacert.json"
expect_problem 401 unauthenticated "POST /v1/sign with only the admin certificate"
as alice POST /v1/revoke -H 'Content-Type: application/json' --data-binary "{\"serial\":\"$WEB\",\"reason\":\"keyCompromise\"}"
expect_problem 403 forbidden "POST /v1/revoke of another certificate with the admin certificate"
API_TOKEN=$READER
as alice GET /v1/overview
expect_problem 403 forbidden "a reader's bearer token with alice's certificate (the token decides)"
API_TOKEN=$ADMIN
api GET "/v1/certs/$WEB"
[[ $(json_get "$T/.api.body" "d['status']") == valid ]] || fail "$WEB changed: $(body)"
API_TOKEN=""
as alice GET /v1/overview -H "Cookie: herald_session=stale"
expect_status 200 "alice's certificate with a stale session cookie"
as bob GET /v1/overview -H "Cookie: ${COOKIE%?}x"
expect_problem 401 unauthenticated "an unlisted certificate with a tampered cookie"
# Dropping a name from the list (SIGHUP) ends that certificate's access.
python3 - "$D/herald.toml" <<'PY'
import sys
p = sys.argv[1]
t = open(p).read()
assert '"DNS:alice.internal", ' in t
open(p, "w").write(t.replace('"DNS:alice.internal", ', ''))
PY
kill -HUP "$SERVE_PID"
for _ in $(seq 100); do grep -q "SIGHUP: configuration and offline CRLs reloaded" "$SERVE_LOG" && break; sleep 0.1; done
grep -q "SIGHUP: configuration and offline CRLs reloaded" "$SERVE_LOG" || fail "no reload: $(tail -5 "$SERVE_LOG")"
as alice GET /v1/overview
expect_problem 403 forbidden "alice's certificate once her name is dropped (SIGHUP)"
ok "listed+clientAuth+this CA reads /ui/ and its API; unlisted 403, serverAuth-only 403, CN-only 403, revoked 401, foreign 401; no sign, no revoke; a stale cookie does not hide the certificate; SIGHUP drops a name"

step "login attempts are limited per address"
n429=0
for i in $(seq 12); do
  api POST /ui/login -H 'Content-Type: application/json' -H "Origin: $ORIGIN" --data-binary "$(login_body wrong-$i)"
  [[ $HTTP_STATUS == 429 ]] && n429=$((n429 + 1))
done
((n429 >= 1)) || fail "12 more login attempts in a minute were never rate-limited"
ok "$n429 of 12 more attempts within the minute answered 429"

step "stop"
serve_stop
[[ $SERVE_RC == 0 ]] || fail "herald serve exited $SERVE_RC"
ok "done"
