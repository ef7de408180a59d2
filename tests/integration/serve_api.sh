#!/usr/bin/env bash
# Proves that the REST API of `herald serve` issues, renews, revokes and lists
# certificates as documented, checked from the outside with curl and OpenSSL:
#  - POST /v1/sign (JSON and application/pkcs10) with a bearer token issues
#    server and client certificates that `openssl verify -x509_strict` accepts
#    for their purpose, recorded in the inventory with owner provisioner=admin;
#  - POST /v1/renew over mutual TLS gives a certificate for a NEW key with the
#    same subject and SANs;
#  - POST /v1/revoke works by proof of possession (a certificate revokes
#    itself) and by token; GET /v1/certs filters and paginates;
#    GET /v1/certs/{serial} returns the record and certificate;
#  - a token revoked with `herald token revoke` is refused;
#  - every bad request gets its specific application/problem+json answer
#    (HTTP status and "type"), records nothing, and leaves the server healthy;
#  - SIGHUP reloads the provisioners (their profiles and allowed_dns apply),
#    the per-address issuance rate limit answers 429 with Retry-After, and
#    SIGTERM stops the server with exit 0.
# The last step probes smaller defects and reports all of them before failing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$IT_DIR/serve_lib.sh"
need_tool openssl curl python3 sqlite3

step "ca init; a read-only provisioner in herald.toml; start herald serve"
serve_init "$T/pki"
cat >>"$D/herald.toml" <<'EOF'

[[provisioners]]
name = "reader"
type = "token"
permissions = ["read"]
EOF
ADMIN=$(new_token "$D" admin)
READER=$(new_token "$D" reader)
[[ $ADMIN == hrld_* && $READER == hrld_* && $ADMIN != "$READER" ]] || fail "unexpected tokens '$ADMIN' '$READER'"
serve_start "$D"
ok "serving https://127.0.0.1:$HTTPS_PORT and http://127.0.0.1:$HTTP_PORT (pid $SERVE_PID)"

step "the server's own TLS certificate chains to ca/root.pem for 127.0.0.1 and localhost"
curl -sS --fail --max-time 30 --cacert "$ROOT" -o /dev/null "https://127.0.0.1:$HTTPS_PORT/v1/ca/chain" ||
  fail "TLS to 127.0.0.1 with ca/root.pem as the only trust anchor failed"
curl -sS --fail --max-time 30 --cacert "$ROOT" -o /dev/null --resolve "localhost:$HTTPS_PORT:127.0.0.1" \
  "https://localhost:$HTTPS_PORT/v1/ca/chain" || fail "TLS to localhost failed"
ok "hostname and IP verified by curl"

step "POST /v1/sign: a server certificate (JSON body, owner labels)"
API_TOKEN=$ADMIN
make_csr web web.internal "DNS:web.internal,IP:127.0.0.1"
sign_json "$T/web.csr" server '{"team":"payments"}' >"$T/web.json"
api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/web.json"
expect_status 201 "sign server"
WEB=$(save_issued web)
[[ "$(cert_serial "$T/web.pem")" == "$(norm_serial "$WEB")" ]] || fail "answer serial $WEB is not the certificate's"
[[ "$(openssl x509 -in "$T/web.pem" -noout -pubkey)" == "$(openssl pkey -in "$T/web.key" -pubout)" ]] ||
  fail "the certificate does not carry the CSR's key"
must_accept "server certificate from the API (openssl sslserver web.internal)" \
  v_openssl "$ROOT" "$T/web.chain.pem" "$T/web.pem" sslserver web.internal
must_accept "server certificate from the API (openssl sslserver 127.0.0.1)" \
  v_openssl "$ROOT" "$T/web.chain.pem" "$T/web.pem" sslserver 127.0.0.1
validate_issued "server certificate from the API" "$ROOT" "$T/web.chain.pem" "$T/web.pem" web.internal 127.0.0.1
must_reject "server certificate used as a client certificate" '' \
  v_openssl "$ROOT" "$T/web.chain.pem" "$T/web.pem" sslclient

step "POST /v1/sign: a client certificate (application/pkcs10 body, ?profile=client)"
make_csr alice alice "DNS:alice.internal"
api POST "/v1/sign?profile=client" -H 'Content-Type: application/pkcs10' --data-binary @"$T/alice.csr"
expect_status 201 "sign client"
ALICE=$(save_issued alice)
must_accept "client certificate from the API (openssl sslclient)" \
  v_openssl "$ROOT" "$T/alice.chain.pem" "$T/alice.pem" sslclient
validate_issued "client certificate from the API" "$ROOT" "$T/alice.chain.pem" "$T/alice.pem"
must_reject "client certificate used as a server certificate" '' \
  v_openssl "$ROOT" "$T/alice.chain.pem" "$T/alice.pem" sslserver
# A DER CSR works too.
make_csr bob bob.internal "DNS:bob.internal"
openssl req -in "$T/bob.csr" -outform DER -out "$T/bob.csr.der"
api POST "/v1/sign?profile=client&ttl=2d" -H 'Content-Type: application/pkcs10' --data-binary @"$T/bob.csr.der"
expect_status 201 "sign client (DER CSR, ttl=2d)"
BOB=$(save_issued bob)
must_accept "client certificate from a DER CSR" v_openssl "$ROOT" "$T/bob.chain.pem" "$T/bob.pem" sslclient
validate_issued "client certificate from a DER CSR" "$ROOT" "$T/bob.chain.pem" "$T/bob.pem"
nb=$(date -d "$(openssl x509 -in "$T/bob.pem" -noout -startdate | sed 's/^notBefore=//')" +%s)
na=$(date -d "$(openssl x509 -in "$T/bob.pem" -noout -enddate | sed 's/^notAfter=//')" +%s)
# 2 days, plus the documented back-dating of notBefore (a few minutes).
((na - nb >= 2 * 86400 && na - nb <= 2 * 86400 + 3600)) || fail "ttl=2d gave a validity of $((na - nb)) s"
ok "ttl=2d honoured ($((na - nb)) s including back-dating)"

step "the inventory records them with owner provisioner=admin (herald list --json)"
"$HERALD" list --dir "$D" --json >"$T/list.json"
python3 - "$T/list.json" "$WEB" "$ALICE" "$BOB" <<'EOF' || fail "inventory does not match: $(head -c 3000 "$T/list.json")"
import json, sys
rows = {r["serial"].replace(":", "").upper().lstrip("0"): r for r in json.load(open(sys.argv[1]))}
web, alice, bob = (s.replace(":", "").upper().lstrip("0") for s in sys.argv[2:5])
for s, prof in ((web, "server"), (alice, "client"), (bob, "client")):
    assert s in rows, f"{s} not in herald list"
    r = rows[s]
    assert r["profile"] == prof, (s, r["profile"])
    assert r["owner"].get("provisioner") == "admin", (s, r["owner"])
    assert r["status"] == "valid", (s, r["status"])
assert rows[web]["owner"].get("team") == "payments", rows[web]["owner"]
assert sorted(rows[web]["sans"]) == ["dns:web.internal", "ip:127.0.0.1"], rows[web]["sans"]
EOF
ok "web ($WEB), alice ($ALICE), bob ($BOB) recorded, owner provisioner=admin"

step "POST /v1/renew over mutual TLS with a CSR for a new key"
API_TOKEN=""
# The CSR's own subject does not matter: renewal keeps the current certificate's.
make_csr alice2 somebody-else "DNS:other.internal"
api POST /v1/renew --cert "$T/alice.pem" --key "$T/alice.key" \
  -H 'Content-Type: application/pkcs10' --data-binary @"$T/alice2.csr"
expect_status 201 "renew"
ALICE2=$(save_issued alice2)
[[ "$(norm_serial "$ALICE2")" != "$(norm_serial "$ALICE")" ]] || fail "renewal returned the same serial"
[[ "$(json_get "$T/.api.body" 'd["renewed_from"]')" == "$ALICE" ]] || fail "renewed_from is not $ALICE: $(body)"
[[ "$(openssl x509 -in "$T/alice2.pem" -noout -subject)" == "$(openssl x509 -in "$T/alice.pem" -noout -subject)" ]] ||
  fail "renewed subject differs: $(openssl x509 -in "$T/alice2.pem" -noout -subject)"
[[ "$(openssl x509 -in "$T/alice2.pem" -noout -ext subjectAltName)" == "$(openssl x509 -in "$T/alice.pem" -noout -ext subjectAltName)" ]] ||
  fail "renewed SANs differ: $(openssl x509 -in "$T/alice2.pem" -noout -ext subjectAltName)"
[[ "$(openssl x509 -in "$T/alice2.pem" -noout -pubkey)" == "$(openssl pkey -in "$T/alice2.key" -pubout)" ]] ||
  fail "the renewed certificate does not carry the new key"
must_accept "renewed client certificate (openssl sslclient)" \
  v_openssl "$ROOT" "$T/alice2.chain.pem" "$T/alice2.pem" sslclient
validate_issued "renewed client certificate" "$ROOT" "$T/alice2.chain.pem" "$T/alice2.pem"
ok "same subject ($(openssl x509 -in "$T/alice2.pem" -noout -subject)) and SANs, new key, serial $ALICE2"

step "GET /v1/certs: filters and pagination; GET /v1/certs/{serial}"
API_TOKEN=$READER
# certs_page QUERY: $PAGE = the sorted normalized serials of one page
# (one a line), $NEXT = its next_offset (None on the last page).
certs_page() {
  api GET "/v1/certs$1"
  expect_status 200 "GET /v1/certs$1"
  NEXT=$(json_get "$T/.api.body" 'd["next_offset"]')
  PAGE=$(python3 -c 'import json,sys
for r in json.load(open(sys.argv[1]))["items"]: print(r["serial"].replace(":","").upper().lstrip("0"))' "$T/.api.body" | sort)
}
n_web=$(norm_serial "$WEB") n_alice=$(norm_serial "$ALICE") n_alice2=$(norm_serial "$ALICE2") n_bob=$(norm_serial "$BOB")
certs_page "?profile=client"
got=$(tr '\n' ' ' <<<"$PAGE")
want=$(printf '%s\n' "$n_alice" "$n_alice2" "$n_bob" | sort | tr '\n' ' ')
[[ $got == "$want" ]] || fail "profile=client gave [$got], expected [$want]"
ok "profile=client: $got"
certs_page "?owner=team%3Dpayments"
got=$(tr '\n' ' ' <<<"$PAGE")
[[ $got == "$n_web " ]] || fail "owner=team=payments gave [$got], expected [$n_web]"
ok "owner=team=payments: $got"
certs_page "?san=web.internal"
got=$(tr '\n' ' ' <<<"$PAGE")
[[ $got == "$n_web " ]] || fail "san=web.internal gave [$got], expected [$n_web]"
ok "san=web.internal: $got"
certs_page "?expiring=3d&profile=client"
got=$(tr '\n' ' ' <<<"$PAGE")
[[ $got == "$n_bob " ]] || fail "expiring=3d&profile=client gave [$got], expected only bob [$n_bob]"
ok "expiring=3d&profile=client: $got"
certs_page ""
all=$PAGE
[[ $NEXT == None ]] || fail "a full page has next_offset $NEXT"
total=$(grep -c '' <<<"$all")
# Everything in the inventory (the CAs' and the server's own included; none expired).
inv=$(row_count "$D")
((total == inv)) || fail "GET /v1/certs listed $total certificates, the inventory has $inv"
paged="" offset=0 pages=0
while :; do
  certs_page "?limit=1&offset=$offset"
  page=$PAGE
  [[ $(grep -c . <<<"$page" || true) -le 1 ]] || fail "limit=1 returned more than one item"
  paged+="$page"$'\n'
  pages=$((pages + 1))
  ((pages <= total + 1)) || fail "pagination does not end"
  [[ $NEXT == None ]] && break
  [[ $NEXT == $((offset + 1)) ]] || fail "next_offset $NEXT after offset $offset with limit=1"
  offset=$NEXT
done
paged=$(grep . <<<"$paged" | sort)
[[ $paged == "$all" ]] || fail "limit=1 pages ($paged) are not the full list ($all)"
[[ $(uniq -d <<<"$paged") == "" ]] || fail "a serial appears on two pages"
ok "limit=1: $pages pages, next_offset steps by one, same $total serials as the full list"
api GET "/v1/certs?limit=2&status=valid&profile=client"
expect_status 200 "limit=2"
[[ $(json_get "$T/.api.body" 'len(d["items"])') == 2 && $(json_get "$T/.api.body" 'd["next_offset"]') == 2 ]] ||
  fail "limit=2 of 3 client certificates: $(body)"
api GET "/v1/certs/$WEB"
expect_status 200 "GET /v1/certs/$WEB"
json_get "$T/.api.body" 'd["certificate"]' >"$T/web.got.pem"
[[ "$(fingerprint "$T/web.got.pem")" == "$(fingerprint "$T/web.pem")" ]] || fail "GET /v1/certs/{serial} returned another certificate"
[[ $(json_get "$T/.api.body" 'd["owner"]["team"]') == payments && $(json_get "$T/.api.body" 'd["status"]') == valid ]] ||
  fail "GET /v1/certs/{serial} record is wrong: $(body)"
# Serials are case-insensitive, colons optional.
lower_colon=$(tr '[:upper:]' '[:lower:]' <<<"$WEB" | sed 's/../&:/g; s/:$//')
api GET "/v1/certs/$lower_colon"
expect_status 200 "GET /v1/certs/$lower_colon"
ok "GET /v1/certs/{serial}: record and certificate (also as $lower_colon)"

step "POST /v1/revoke by proof of possession: alice's first certificate revokes itself"
API_TOKEN=""
api POST /v1/revoke --cert "$T/alice.pem" --key "$T/alice.key" -H 'Content-Type: application/json' \
  --data-binary '{"reason":"keyCompromise"}'
expect_status 200 "self-revocation"
[[ $(json_get "$T/.api.body" 'd["status"]') == revoked && $(json_get "$T/.api.body" 'd["revoked_by"]') == self &&
  $(json_get "$T/.api.body" 'd["revocation_reason"]') == keyCompromise ]] || fail "self-revocation answer: $(body)"
ok "revoked_by self, keyCompromise"
# A client certificate may not revoke another certificate.
rows=$(row_count "$D")
api POST /v1/revoke --cert "$T/alice2.pem" --key "$T/alice2.key" -H 'Content-Type: application/json' \
  --data-binary "{\"serial\":\"$BOB\"}"
expect_problem 403 forbidden "a client certificate revoking another certificate"
[[ $(sqlite3 "$D/herald.db" "select status from certificates where serial='$BOB'") == valid ]] ||
  fail "bob was revoked by alice's certificate"

step "POST /v1/revoke by token"
API_TOKEN=$ADMIN
api POST /v1/revoke -H 'Content-Type: application/json' --data-binary "{\"serial\":\"$BOB\",\"reason\":\"superseded\"}"
expect_status 200 "revoke by token"
[[ $(json_get "$T/.api.body" 'd["revoked_by"]') == provisioner:admin &&
  $(json_get "$T/.api.body" 'd["revocation_reason"]') == superseded ]] || fail "token revocation answer: $(body)"
api POST /v1/revoke -H 'Content-Type: application/json' --data-binary "{\"serial\":\"$BOB\",\"reason\":\"superseded\"}"
expect_problem_like '409|400' "revoking twice"
API_TOKEN=$READER
certs_page "?status=revoked"
got=$(tr '\n' ' ' <<<"$PAGE")
want=$(printf '%s\n' "$n_alice" "$n_bob" | sort | tr '\n' ' ')
[[ $got == "$want" ]] || fail "status=revoked gave [$got], expected [$want]"
ok "status=revoked: $got"
"$HERALD" show --dir "$D" "$ALICE" --json >"$T/alice.show.json"
[[ $(json_get "$T/alice.show.json" 'd["status"]') == revoked ]] || fail "herald show does not see alice revoked"

step "a token revoked with 'herald token revoke' is refused"
"$HERALD" token add --dir "$D" --provisioner admin --description "short-lived" --json >"$T/tok.json"
TMP_TOKEN=$(json_get "$T/tok.json" 'd["token"]')
TMP_ID=$(json_get "$T/tok.json" 'd["id"]')
API_TOKEN=$TMP_TOKEN
api GET "/v1/certs?limit=1"
expect_status 200 "fresh token"
"$HERALD" token revoke --dir "$D" "$TMP_ID" >/dev/null
"$HERALD" token list --dir "$D" --json >"$T/tokens.json"
[[ $(json_get "$T/tokens.json" "[t['revoked'] for t in d if t['id'] == $TMP_ID][0]") == True ]] ||
  fail "token list does not show #$TMP_ID revoked: $(cat "$T/tokens.json")"
grep -q "$TMP_TOKEN" "$T/tokens.json" && fail "token list prints the token secret"
api GET "/v1/certs?limit=1"
expect_problem 401 unauthenticated "GET /v1/certs with a revoked token"
make_csr revtok revtok.internal "DNS:revtok.internal"
sign_json "$T/revtok.csr" server >"$T/revtok.json"
rows=$(row_count "$D")
api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/revtok.json"
expect_problem 401 unauthenticated "sign with a revoked token"
[[ $(row_count "$D") == "$rows" ]] || fail "a revoked token issued a certificate"

step "bad requests: a specific problem+json each, nothing recorded, server healthy"
rows=$(row_count "$D")
# check_nothing_recorded WHAT
unchanged() {
  [[ $(row_count "$D") == "$rows" ]] || fail "$1 changed the inventory ($rows -> $(row_count "$D") rows)"
  assert_healthy "$1"
}
API_TOKEN=$ADMIN
api POST /v1/sign -H 'Content-Type: application/json' --data-binary 'this is {not json'
expect_problem 400 malformed-input "garbage body as application/json"
unchanged "garbage JSON"
api POST /v1/sign -H 'Content-Type: application/json' --data-binary '["csr"]'
expect_problem 400 malformed-input "a JSON array instead of an object"
unchanged "JSON array"
api POST /v1/sign -H 'Content-Type: application/json' --data-binary '{"csr": 42, "profile": "server"}'
expect_problem 400 malformed-input "csr is a number"
unchanged "csr is a number"
api POST /v1/sign -H 'Content-Type: application/json' --data-binary '{"profile": "server"}'
expect_problem 400 malformed-input "no CSR"
unchanged "no CSR"
python3 -c 'import json; print(json.dumps({"csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "profile": "server"}))' >"$T/badcsr.json"
api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/badcsr.json"
expect_problem 400 malformed-input "a CSR that is not DER inside"
unchanged "undecodable CSR"
python3 -c 'import json; print(json.dumps({"csr": "x" * 70000, "profile": "server"}))' >"$T/big.json"
api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/big.json"
expect_status 413 "a 70 kB body (max_body_bytes 65536)"
[[ $HTTP_CTYPE == application/problem+json* ]] || fail "413 answer is not problem+json: $HTTP_CTYPE $(body)"
big_type=$(json_get "$T/.api.body" 'd["type"]')
[[ -n $big_type && $(json_get "$T/.api.body" 'd["status"]') == 413 ]] || fail "413 problem lacks type/status: $(body)"
ok "a 70 kB body -> 413 problem+json (type $big_type)"
unchanged "oversized body"
api POST /v1/sign -H 'Content-Type: text/plain' --data-binary @"$T/web.csr"
expect_problem 415 invalid-argument "Content-Type text/plain"
unchanged "wrong content type"
api POST /v1/sign --data-binary @"$T/web.json"  # curl's default: form-urlencoded
expect_problem 415 invalid-argument "Content-Type application/x-www-form-urlencoded"
unchanged "form content type"
make_csr google www.google.com "DNS:www.google.com"
sign_json "$T/google.csr" server >"$T/google.json"
api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/google.json"
expect_problem 403 policy-violation "CSR for www.google.com"
unchanged "name outside policy"
make_csr badip ok.internal "DNS:ok.internal,IP:8.8.8.8"
sign_json "$T/badip.csr" server >"$T/badip.json"
api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/badip.json"
expect_problem 403 policy-violation "CSR with IP 8.8.8.8"
unchanged "IP outside policy"
sign_json "$T/revtok.csr" server '' 1000d >"$T/longttl.json"
api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/longttl.json"
expect_problem 403 policy-violation "ttl 1000d (max_ttl 397d)"
unchanged "ttl over max"
sign_json "$T/revtok.csr" nonsense >"$T/badprofile.json"
api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/badprofile.json"
expect_problem_like '400|404' "unknown profile"
unchanged "unknown profile"
# A CSR whose signature does not verify (last byte of the signature flipped):
# no proof of possession of the key.
openssl req -in "$T/revtok.csr" -outform DER -out "$T/tampered.der"
python3 - "$T/tampered.der" <<'EOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[-1] ^= 0x01
open(sys.argv[1], "wb").write(b)
EOF
openssl req -in "$T/tampered.der" -inform DER -noout -verify 2>&1 | grep -q "verify OK" && fail "test bug: tampered CSR still verifies"
api POST "/v1/sign?profile=server" -H 'Content-Type: application/pkcs10' --data-binary @"$T/tampered.der"
expect_problem 400 bad-signature "CSR with a broken signature"
unchanged "tampered CSR"
API_TOKEN=""
api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/revtok.json"
expect_problem 401 unauthenticated "no token"
unchanged "no token"
API_TOKEN="hrld_notarealtoken"
api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/revtok.json"
expect_problem 401 unauthenticated "an unknown token"
unchanged "unknown token"
API_TOKEN=$READER
api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/revtok.json"
expect_problem 403 forbidden "sign with a read-only token"
unchanged "read-only token"
api POST /v1/revoke -H 'Content-Type: application/json' --data-binary "{\"serial\":\"$WEB\"}"
expect_problem 403 forbidden "revoke with a read-only token"
[[ $(sqlite3 "$D/herald.db" "select status from certificates where serial='$WEB'") == valid ]] ||
  fail "a read-only token revoked $WEB"
API_TOKEN=""
api GET "/v1/certs"
expect_problem 401 unauthenticated "GET /v1/certs without a token"
API_TOKEN=$ADMIN
api GET "/v1/certs?limit=abc"
expect_problem 400 invalid-argument "limit=abc"
api GET "/v1/certs?status=bogus"
expect_problem 400 invalid-argument "status=bogus"
api GET "/v1/certs/7E57C0FFEE0123456789ABCDEF"
expect_problem 404 not-found "GET an unknown serial"
api POST /v1/revoke -H 'Content-Type: application/json' --data-binary '{"serial":"7E57C0FFEE0123456789ABCDEF"}'
expect_problem 404 not-found "revoke an unknown serial"
api POST /v1/revoke -H 'Content-Type: application/json' --data-binary "{\"serial\":\"$WEB\",\"reason\":\"becauseISaidSo\"}"
expect_problem_like 400 "unknown revocation reason"
ISS_SERIAL=$(sqlite3 "$D/herald.db" "select serial from certificates where profile='issuing-ca'")
api POST /v1/revoke -H 'Content-Type: application/json' --data-binary "{\"serial\":\"$ISS_SERIAL\",\"reason\":\"keyCompromise\"}"
expect_problem 403 forbidden "revoke the issuing CA through the API"
[[ $(sqlite3 "$D/herald.db" "select status from certificates where serial='$ISS_SERIAL'") == valid ]] ||
  fail "the API revoked the issuing CA"
api GET /v1/sign
expect_problem 405 invalid-argument "GET /v1/sign"
unchanged "API misuse"
API_TOKEN=""
# Renewal: a revoked certificate, then the current key again.
make_csr alice3 alice "DNS:alice.internal"
api POST /v1/renew --cert "$T/alice.pem" --key "$T/alice.key" -H 'Content-Type: application/pkcs10' --data-binary @"$T/alice3.csr"
expect_problem 401 unauthenticated "renewal with a revoked certificate"
unchanged "renewal with a revoked certificate"
csr_with_key samekey "$T/alice2.key" alice "DNS:alice.internal"
api POST /v1/renew --cert "$T/alice2.pem" --key "$T/alice2.key" -H 'Content-Type: application/pkcs10' --data-binary @"$T/samekey.csr"
expect_problem 400 invalid-argument "renewal reusing the current key"
unchanged "renewal with the same key"
api POST /v1/renew -H 'Content-Type: application/pkcs10' --data-binary @"$T/alice3.csr"
expect_problem 401 unauthenticated "renewal without a client certificate"
unchanged "renewal without a client certificate"
# A client certificate from another CA (openssl-made) is not accepted.
reference_chain ec-p256 "$T/ref" >/dev/null
api POST /v1/renew --cert "$T/ref/server.pem" --key "$T/ref/server.key" -H 'Content-Type: application/pkcs10' --data-binary @"$T/alice3.csr"
[[ $HTTP_STATUS == 401 || $HTTP_STATUS == 000 ]] || fail "foreign client certificate: HTTP $HTTP_STATUS $(body)"
ok "renewal with a foreign client certificate refused ($HTTP_STATUS: handshake or 401)"
unchanged "foreign client certificate"
# The API is not served over plain HTTP.
API_TOKEN=$ADMIN
http_req POST "$PUB/v1/sign" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' --data-binary @"$T/revtok.json"
expect_problem 403 forbidden "POST /v1/sign over plain HTTP"
http_req GET "$PUB/v1/certs" -H "Authorization: Bearer $ADMIN"
expect_problem 403 forbidden "GET /v1/certs over plain HTTP"
unchanged "API over plain HTTP"
http_req GET "$PUB/no/such/thing"
expect_problem 404 not-found "an unknown path"

step "after all that, the server still issues"
api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/revtok.json"
expect_status 201 "sign after the bad requests"
save_issued last >/dev/null
must_accept "certificate issued after the bad requests" v_openssl "$ROOT" "$T/last.chain.pem" "$T/last.pem" sslserver revtok.internal
validate_issued "certificate issued after the bad requests" "$ROOT" "$T/last.chain.pem" "$T/last.pem" revtok.internal
[[ $(row_count "$D") == $((rows + 1)) ]] || fail "one issuance added $(($(row_count "$D") - rows)) rows"

step "SIGHUP reloads the provisioners of herald.toml (profiles and allowed_dns narrow the policy)"
cat >>"$D/herald.toml" <<'EOF'

[[provisioners]]
name = "late"
type = "token"
profiles = ["client"]
allowed_dns = [".late.internal"]
permissions = ["sign"]
EOF
API_TOKEN=$(new_token "$D" late)
make_csr late1 a.late.internal "DNS:a.late.internal"
sign_json "$T/late1.csr" client >"$T/late1.json"
api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/late1.json"
expect_problem 403 forbidden "a provisioner the running server does not know yet"
kill -HUP "$SERVE_PID"
for i in $(seq 300); do
  api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/late1.json"
  [[ $HTTP_STATUS == 403 ]] || break
  ((i < 300)) || fail "30 s after SIGHUP the new provisioner is still unknown"
  sleep 0.1
done
expect_status 201 "sign with the new provisioner after SIGHUP"
[[ $(json_get "$T/.api.body" 'd["owner"]["provisioner"]') == late ]] || fail "owner is not provisioner=late: $(body)"
ok "after SIGHUP: 201, owner provisioner=late"
rows=$(row_count "$D")
sign_json "$T/late1.csr" server >"$T/late-server.json"
api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/late-server.json"
expect_problem 403 forbidden "provisioner 'late' asking for a server certificate"
make_csr late2 b.other.internal "DNS:b.other.internal"
sign_json "$T/late2.csr" client >"$T/late2.json"
api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/late2.json"
expect_problem 403 forbidden "provisioner 'late' asking for a name outside its allowed_dns"
[[ $(row_count "$D") == "$rows" ]] || fail "a refused provisioner request was recorded"
assert_healthy "SIGHUP"

step "SIGTERM: herald serve stops cleanly"
serve_stop 30
[[ $SERVE_RC == 0 ]] || fail "herald serve exited with '$SERVE_RC' on SIGTERM:$(printf '\n%s' "$(tail -20 "$SERVE_LOG")")"
ok "exit 0"

step "issuance rate limit: issuance_rate_per_second = 0.5 (burst 1) -> 429 rate-limited with Retry-After"
set_server_option "$D" issuance_rate_per_second 0.5
serve_start "$D"
API_TOKEN=$ADMIN
rows=$(row_count "$D")
codes=""
for i in 1 2 3 4; do
  api POST /v1/sign -D "$T/rl.headers" -H 'Content-Type: application/json' --data-binary @"$T/revtok.json"
  codes+="$HTTP_STATUS "
  if [[ $HTTP_STATUS == 429 ]]; then
    expect_problem 429 rate-limited "sign number $i within a second or two"
    grep -qi '^Retry-After: *[0-9]' "$T/rl.headers" || fail "429 without Retry-After: $(cat "$T/rl.headers")"
  fi
done
[[ $codes == "201 "* ]] || fail "the first sign was not 201 (codes: $codes)"
[[ $codes == *429* ]] || fail "4 signs in a row at 0.5/s were never throttled (codes: $codes)"
issued=$(grep -o 201 <<<"$codes" | wc -l)
[[ $(row_count "$D") == $((rows + issued)) ]] || fail "rate-limited requests changed the inventory"
ok "codes: $codes"

step "regressions: smaller API defects (each reported, the script fails at the end)"
set_server_option "$D" issuance_rate_per_second 100
serve_stop 30
[[ $SERVE_RC == 0 ]] || fail "herald serve exited with '$SERVE_RC' on SIGTERM"
serve_start "$D"
rows=$(row_count "$D")
# next_offset must move forward, or a client following it never ends.
api GET "/v1/certs?limit=0&offset=2"
if [[ $HTTP_STATUS == 200 ]]; then
  nx=$(json_get "$T/.api.body" 'd["next_offset"]')
  if [[ $nx == None ]] || ((nx > 2)); then
    ok "limit=0: next_offset $nx"
  else
    defect "GET /v1/certs?limit=0&offset=2 -> 200 $(body): next_offset does not advance, a client following it loops forever (expected 400 or limit>=1)"
  fi
elif [[ $HTTP_STATUS == 400 ]]; then
  ok "limit=0 -> 400"
else
  defect "GET /v1/certs?limit=0 -> HTTP $HTTP_STATUS $(body)"
fi
# Owner labels are a JSON object of strings, each checked by
# store::check_label (key: letters, digits, _ - .; value: 1-256 printable
# characters without , or =). A label Herald cannot store is a bad field:
# exactly 400 invalid-argument naming the label, never 201 (a comma must not
# smuggle in a label env=prod), never 415, and nothing is recorded.
labels_rows=$(row_count "$D")
for owner in '{"team":"payments,env=prod"}' '{"team":""}' '{"team":"a,b"}' '{"a b":"c"}'; do
  sign_json "$T/revtok.csr" server "$owner" >"$T/badlabel.json"
  api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/badlabel.json"
  got_type=$(json_get "$T/.api.body" 'd.get("type")' 2>/dev/null || echo "?")
  got_detail=$(json_get "$T/.api.body" 'd.get("detail")' 2>/dev/null || echo "?")
  if [[ $HTTP_STATUS == 400 && $got_type == urn:herald:problem:invalid-argument && $got_detail == "invalid owner label "* ]]; then
    ok "owner $owner -> 400 invalid-argument ($got_detail)"
  else
    defect "owner $owner in a JSON body -> HTTP $HTTP_STATUS $got_type (\"$got_detail\"), expected 400 urn:herald:problem:invalid-argument \"invalid owner label ...\""
  fi
done
[[ $(row_count "$D") == "$labels_rows" ]] ||
  defect "requests with invalid owner labels were recorded ($labels_rows -> $(row_count "$D") rows)"
# Transport-level refusals use Herald's problem types like every other error.
api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/big.json"
t413=$(json_get "$T/.api.body" 'd.get("type")' 2>/dev/null || echo "?")
[[ $HTTP_STATUS == 413 && $t413 == urn:herald:problem:* ]] && ok "413 type $t413" ||
  defect "a 70 kB body -> HTTP $HTTP_STATUS type '$t413' (body $(body)): not a urn:herald:problem:* type like every other API error"
api GET /v1/certs -H "X-Padding: $(head -c 12000 /dev/zero | tr '\0' a)"
t431=$(json_get "$T/.api.body" 'd.get("type")' 2>/dev/null || echo "?")
[[ $HTTP_STATUS == 431 && $t431 == urn:herald:problem:* ]] && ok "431 type $t431" ||
  defect "a 12 kB header -> HTTP $HTTP_STATUS type '$t431' (body $(body)): expected 431 with a urn:herald:problem:* type"
assert_healthy "the regression probes"
# /v1/renew and proof-of-possession revocation take "the client's current
# certificate": a server certificate (EKU serverAuth only) is the common case.
API_TOKEN=""
make_csr web2 web.internal "DNS:web.internal,IP:127.0.0.1"
api POST /v1/renew --cert "$T/web.pem" --key "$T/web.key" -H 'Content-Type: application/pkcs10' --data-binary @"$T/web2.csr"
if [[ $HTTP_STATUS == 201 ]]; then
  save_issued web2 >/dev/null
  must_accept "renewed server certificate" v_openssl "$ROOT" "$T/web2.chain.pem" "$T/web2.pem" sslserver web.internal
  validate_issued "renewed server certificate" "$ROOT" "$T/web2.chain.pem" "$T/web2.pem" web.internal
else
  defect "POST /v1/renew with a valid server-profile certificate (EKU serverAuth) over mTLS -> HTTP $HTTP_STATUS \"$(json_get "$T/.api.body" 'd.get("detail")')\": the TLS layer checks the client certificate for the sslclient purpose, so server certificates can never renew (the message blames the chain)"
fi
api POST /v1/revoke --cert "$T/web.pem" --key "$T/web.key" -H 'Content-Type: application/json' --data-binary '{"reason":"superseded"}'
if [[ $HTTP_STATUS == 200 ]]; then
  ok "a server certificate revoked itself by proof of possession"
else
  defect "POST /v1/revoke by proof of possession with a valid server-profile certificate -> HTTP $HTTP_STATUS \"$(json_get "$T/.api.body" 'd.get("detail")')\""
fi
API_TOKEN=$ADMIN
# A low rate (one issuance per 4 s) must still allow issuance.
set_server_option "$D" issuance_rate_per_second 0.25
serve_stop 30
serve_start "$D"
api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/revtok.json"
if [[ $HTTP_STATUS == 201 ]]; then
  ok "issuance_rate_per_second = 0.25: the first sign is 201"
else
  defect "with issuance_rate_per_second = 0.25 (accepted by the config parser) the very first sign gets HTTP $HTTP_STATUS $(json_get "$T/.api.body" 'd.get("type")'): the bucket holds 2*rate = 0.5 < 1 token, so nothing is ever issued"
fi

step "SIGTERM: herald serve stops cleanly"
serve_stop 30
[[ $SERVE_RC == 0 ]] || fail "herald serve exited with '$SERVE_RC' on SIGTERM:$(printf '\n%s' "$(tail -20 "$SERVE_LOG")")"
ok "exit 0"

end_defects
step "PASS serve_api"
