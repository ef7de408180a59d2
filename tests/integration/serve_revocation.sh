#!/usr/bin/env bash
# Proves that the relying-party side of `herald serve` tells the truth about
# revocation, checked with OpenSSL and GnuTLS:
#  - OCSP (POST, RFC 6960 GET, with and without a nonce) answers "good" with a
#    response that `openssl ocsp` and `ocsptool` verify;
#  - a revocation made by ANOTHER process (`herald revoke` on the same data
#    directory) reaches the OCSP answers within 2 s (measured and printed),
#    with its reason, and reaches the CRL served at the certificate's CDP, so
#    `openssl verify -crl_check -crl_download` rejects the revoked leaf and
#    still accepts a good one;
#  - garbage gets an OCSP "malformedRequest", a foreign issuer "unauthorized",
#    an unknown serial "unknown";
#  - certificateHold (API) and its release (CLI, removeFromCRL) reach OCSP and
#    the CRL both ways;
#  - CRLs carry ETags (If-None-Match -> 304, a new CRL -> a new ETag), the CA
#    certificates are served as in ca/, OCSP GET answers honour If-None-Match,
#    and HEAD answers carry no body (a regression check, reported at the end).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$IT_DIR/serve_lib.sh"
need_tool openssl curl python3 sqlite3 ocsptool

step "ca init (base URL = this server's HTTP port), start herald serve"
serve_init "$T/pki"
API_TOKEN=$(new_token "$D" admin)
serve_start "$D"
ok "serving https://127.0.0.1:$HTTPS_PORT and http://127.0.0.1:$HTTP_PORT"

step "issue leaves: two through the API, one with the CLI while the server runs"
for name in victim control; do
  make_csr "$name" "$name.internal" "DNS:$name.internal"
  sign_json "$T/$name.csr" server >"$T/$name.json"
  api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/$name.json"
  expect_status 201 "sign $name"
  save_issued "$name" >"$T/$name.serial"
  validate_issued "API-issued $name" "$ROOT" "$T/$name.chain.pem" "$T/$name.pem" "$name.internal"
done
VICTIM=$(cat "$T/victim.serial") CONTROL=$(cat "$T/control.serial")
CLI_SERIAL=$(herald_issue "$T/cli.json" --dir "$D" --profile server --cn cli.internal --out-dir "$T/cli")
cp "$T/cli/cert.pem" "$T/cliissued.pem"
openssl x509 -in "$T/victim.pem" -noout -ext crlDistributionPoints,authorityInfoAccess | grep -q "URI:$PUB/crl/issuing.crl" ||
  fail "the leaf's CDP is not $PUB/crl/issuing.crl"
openssl x509 -in "$T/victim.pem" -noout -ocsp_uri | grep -qx "$PUB/ocsp" || fail "the leaf's OCSP URI is not $PUB/ocsp"
ok "victim $VICTIM, control $CONTROL, CLI-issued $CLI_SERIAL; CDP and OCSP URI point at this server"

step "OCSP over POST: good, signed by a responder the issuing CA delegated"
for leaf in victim control cliissued; do
  ocsp_query "$T/$leaf.pem"
  [[ $OCSP_RC == 0 ]] || fail "openssl ocsp failed for $leaf (exit $OCSP_RC):$(printf '\n%s' "$OCSP_OUT")"
  grep -q '^Response verify OK' <<<"$OCSP_OUT" || fail "$leaf: response does not verify:$(printf '\n%s' "$OCSP_OUT")"
  grep -q ": good$" <<<"$OCSP_OUT" || fail "$leaf is not good:$(printf '\n%s' "$OCSP_OUT")"
  # openssl sends a nonce by default; the answer must echo it.
  grep -qi 'nonce' <<<"$OCSP_OUT" && fail "$leaf: nonce problem:$(printf '\n%s' "$OCSP_OUT")"
  ok "$leaf: good, Response verify OK, nonce echoed"
done
ocsp_query "$T/victim.pem" -no_nonce -resp_text
grep -q '^Response verify OK' <<<"$OCSP_OUT" && grep -q ': good$' <<<"$OCSP_OUT" || fail "no-nonce query:$(printf '\n%s' "$OCSP_OUT")"
grep -q 'OCSP Signing' <<<"$OCSP_OUT" || fail "the responder certificate has no OCSP Signing EKU:$(printf '\n%s' "$OCSP_OUT")"
ok "pre-signed answer (no nonce): good, responder certificate has the OCSP Signing EKU"
ocsp_query "$T/victim.pem" -req_text -resp_text
python3 - "$OCSP_OUT" <<'EOF' || fail "nonce not echoed:$(printf '\n%s' "$OCSP_OUT")"
import re, sys
t = sys.argv[1]
# Request and response sections each show "OCSP Nonce:" followed by the value.
vals = re.findall(r"OCSP Nonce:\s*\n\s*([0-9A-Fa-f]+)", t)
assert len(vals) >= 2 and vals[0] == vals[1], vals
EOF
ok "the response nonce equals the request nonce"

step "GnuTLS ocsptool agrees (good)"
ocsptool_ask() {
  OCSPTOOL_RC=0
  OCSPTOOL_OUT=$(ocsptool --ask="$PUB/ocsp" --load-issuer "$ISSUING" --load-cert "$1" --load-signer "$ISSUING" "${@:2}" 2>&1) ||
    OCSPTOOL_RC=$?
  grep -q 'Verifying OCSP Response: Success' <<<"$OCSPTOOL_OUT" ||
    fail "ocsptool cannot verify the answer for $1 (exit $OCSPTOOL_RC):$(printf '\n%s' "$(grep -v '^[A-Za-z0-9+/=]*$' <<<"$OCSPTOOL_OUT")")"
}
ocsptool_ask "$T/victim.pem"
grep -q 'Certificate Status: good' <<<"$OCSPTOOL_OUT" || fail "ocsptool: not good:$(printf '\n%s' "$OCSPTOOL_OUT")"
ocsptool_ask "$T/victim.pem" --nonce
grep -q 'Certificate Status: good' <<<"$OCSPTOOL_OUT" && grep -q 'Nonce:' <<<"$OCSPTOOL_OUT" ||
  fail "ocsptool --nonce:$(printf '\n%s' "$OCSPTOOL_OUT")"
ok "ocsptool: good, verified (with and without a nonce)"

step "GET OCSP (RFC 6960 A.1, RFC 5019): good, with caching headers"
ocsp_get() { # LEAF OUT.der -> curl headers in $T/get.headers
  openssl ocsp -issuer "$ISSUING" -cert "$1" -no_nonce -reqout "$T/get.req.der" >/dev/null 2>&1 || fail "openssl ocsp -reqout failed"
  local enc
  enc=$(python3 -c 'import base64, sys, urllib.parse
print(urllib.parse.quote(base64.b64encode(open(sys.argv[1], "rb").read()).decode(), safe=""))' "$T/get.req.der")
  curl -sS --fail --max-time 30 -D "$T/get.headers" -o "$2" "$PUB/ocsp/$enc" || fail "GET $PUB/ocsp/$enc failed"
}
ocsp_get "$T/victim.pem" "$T/get.resp.der"
GET_OUT=$(openssl ocsp -respin "$T/get.resp.der" -issuer "$ISSUING" -cert "$T/victim.pem" -CAfile "$T/root+intermediate.pem" -no_nonce 2>&1)
grep -q '^Response verify OK' <<<"$GET_OUT" && grep -q ': good$' <<<"$GET_OUT" || fail "GET OCSP:$(printf '\n%s' "$GET_OUT")"
grep -qi '^Content-Type: application/ocsp-response' "$T/get.headers" || fail "GET OCSP content type:$(cat "$T/get.headers")"
grep -qiE '^Cache-Control: .*max-age=[1-9]' "$T/get.headers" || fail "GET OCSP has no max-age:$(cat "$T/get.headers")"
grep -qi '^ETag: ' "$T/get.headers" || fail "GET OCSP has no ETag:$(cat "$T/get.headers")"
ok "GET: good, Response verify OK, $(grep -i '^Cache-Control' "$T/get.headers" | tr -d '\r')"

step "CRL at the CDP before revocation: openssl verify -crl_check -crl_download accepts"
crl_verify() { # LEAF HOST -> v_openssl verdict with the CRL fetched from the CDP
  v_openssl "$ROOT" "$CHAIN" "$1" sslserver "$2" -crl_check -crl_download
}
must_accept "victim with the downloaded CRL" crl_verify "$T/victim.pem" victim.internal
curl -sS --fail -o "$T/crl0.der" "$PUB/crl/issuing.crl"
CRLNUM0=$(openssl crl -in "$T/crl0.der" -inform DER -noout -crlnumber | sed 's/^crlNumber=//')
ETAG0=$(curl -sS --fail -I "$PUB/crl/issuing.crl" | tr -d '\r' | sed -n 's/^[Ee][Tt][Aa][Gg]: //p')
[[ -n $ETAG0 ]] || fail "the CRL has no ETag"
ok "CRL number $CRLNUM0, ETag $ETAG0"

step "herald revoke (CLI, another process) -> OCSP says revoked, keyCompromise, within 2 s"
tstart=$(now_us)
"$HERALD" revoke --dir "$D" "$VICTIM" --reason keyCompromise >"$T/revoke.log" 2>&1 || fail "herald revoke failed: $(cat "$T/revoke.log")"
t0=$(now_us)
polls=0
while :; do
  polls=$((polls + 1))
  # No nonce: the pre-signed (cached) answer must be replaced, not only fresh signatures.
  ocsp_query "$T/victim.pem" -no_nonce
  seen=$(now_us)
  grep -q ': revoked$' <<<"$OCSP_OUT" && break
  grep -q ': good$' <<<"$OCSP_OUT" || fail "unexpected OCSP answer while polling:$(printf '\n%s' "$OCSP_OUT")"
  ((seen - t0 < 10000000)) || fail "OCSP still says good 10 s after herald revoke"
  sleep 0.05
done
# $seen is when the answer that said "revoked" had arrived.
ELAPSED=$(secs $((seen - t0)))
echo "   measured: OCSP said revoked ${ELAPSED} s after 'herald revoke' returned, $(secs $((seen - tstart))) s after it started ($polls polls)"
((seen - t0 <= 2000000)) || fail "revocation took ${ELAPSED} s to reach OCSP (limit 2 s)"
grep -q '^Response verify OK' <<<"$OCSP_OUT" || fail "revoked answer does not verify:$(printf '\n%s' "$OCSP_OUT")"
grep -q 'Reason: keyCompromise' <<<"$OCSP_OUT" || fail "revoked answer lacks the reason keyCompromise:$(printf '\n%s' "$OCSP_OUT")"
grep -q 'Revocation Time:' <<<"$OCSP_OUT" || fail "revoked answer lacks the revocation time"
ok "revoked, keyCompromise, Response verify OK, after ${ELAPSED} s"
ocsp_query "$T/victim.pem"
grep -q '^Response verify OK' <<<"$OCSP_OUT" && grep -q ': revoked$' <<<"$OCSP_OUT" && grep -q 'Reason: keyCompromise' <<<"$OCSP_OUT" ||
  fail "nonce query after revocation:$(printf '\n%s' "$OCSP_OUT")"
grep -qi 'nonce' <<<"$OCSP_OUT" && fail "nonce warning after revocation:$(printf '\n%s' "$OCSP_OUT")"
ok "with a nonce: revoked, keyCompromise, nonce echoed"
for leaf in control cliissued; do
  ocsp_query "$T/$leaf.pem" -no_nonce
  grep -q ': good$' <<<"$OCSP_OUT" || fail "$leaf is no longer good:$(printf '\n%s' "$OCSP_OUT")"
done
ok "control and CLI-issued leaves still good"

step "GET OCSP and ocsptool agree: revoked"
ocsp_get "$T/victim.pem" "$T/get.resp2.der"
GET_OUT=$(openssl ocsp -respin "$T/get.resp2.der" -issuer "$ISSUING" -cert "$T/victim.pem" -CAfile "$T/root+intermediate.pem" -no_nonce 2>&1)
grep -q '^Response verify OK' <<<"$GET_OUT" && grep -q ': revoked$' <<<"$GET_OUT" && grep -q 'Reason: keyCompromise' <<<"$GET_OUT" ||
  fail "GET OCSP after revocation:$(printf '\n%s' "$GET_OUT")"
ok "GET: revoked, keyCompromise"
ocsptool_ask "$T/victim.pem"
grep -q 'Certificate Status: revoked' <<<"$OCSPTOOL_OUT" || fail "ocsptool does not say revoked:$(printf '\n%s' "$OCSPTOOL_OUT")"
# (ocsptool prints the revocation time but never the reason; openssl showed it above.)
ok "ocsptool: revoked ($(grep -i 'Revocation time' <<<"$OCSPTOOL_OUT" | sed 's/^[[:space:]]*//'))"

step "the CRL at the CDP follows: openssl -crl_download rejects the revoked leaf, accepts the control"
# The server re-signs its CRL when it sees the revocation in the feed.
for i in $(seq 200); do
  curl -sS --fail -o "$T/crl1.der" "$PUB/crl/issuing.crl"
  openssl crl -in "$T/crl1.der" -inform DER -noout -text | grep -q "Serial Number: ${VICTIM^^}" && break
  ((i < 200)) || fail "the served CRL does not list $VICTIM 10 s after the revocation"
  sleep 0.05
done
CRLNUM1=$(openssl crl -in "$T/crl1.der" -inform DER -noout -crlnumber | sed 's/^crlNumber=//')
((CRLNUM1 > CRLNUM0)) || fail "CRL number did not grow: $CRLNUM0 -> $CRLNUM1"
openssl crl -in "$T/crl1.der" -inform DER -noout -CAfile "$ISSUING" 2>&1 | grep -q 'verify OK' || fail "the served CRL does not verify"
must_reject "revoked victim, CRL from the CDP" 'certificate revoked' crl_verify "$T/victim.pem" victim.internal
must_accept "control, CRL from the CDP" crl_verify "$T/control.pem" control.internal
must_accept "CLI-issued, CRL from the CDP" crl_verify "$T/cliissued.pem" cli.internal
ok "CRL number $CRLNUM0 -> $CRLNUM1"

step "malformed and foreign OCSP requests"
ocsp_raw() { # OUT.der curl-args...
  local out=$1
  shift
  local code
  code=$(curl -sS --max-time 30 -o "$out" -w '%{http_code}' "$@") || fail "OCSP request failed: $*"
  [[ $code == 200 ]] || fail "OCSP error answers are HTTP 200 with a status inside; got HTTP $code for $*"
}
ocsp_status_of() { # DER -> responseStatus name as openssl prints it
  openssl ocsp -respin "$1" -resp_text -noverify 2>&1 | sed -n 's/^Responder Error: \([a-zA-Z]*\).*/\1/p; s/^ *OCSP Response Status: \([a-zA-Z]*\).*/\1/p' | head -1
}
ocsp_raw "$T/m1.der" -X POST -H 'Content-Type: application/ocsp-request' --data-binary 'this is not DER' "$PUB/ocsp"
[[ $(ocsp_status_of "$T/m1.der") == malformedrequest || $(ocsp_status_of "$T/m1.der") == malformedRequest ]] ||
  fail "garbage POST: $(openssl ocsp -respin "$T/m1.der" -resp_text -noverify 2>&1)"
[[ $(xxd -p "$T/m1.der") == 30030a0101 ]] || fail "garbage POST: DER is $(xxd -p "$T/m1.der"), expected 30030a0101"
ok "POST garbage -> malformedRequest (30 03 0a 01 01)"
head -c 300 /dev/urandom >"$T/random.bin"
ocsp_raw "$T/m2.der" -X POST -H 'Content-Type: application/ocsp-request' --data-binary @"$T/random.bin" "$PUB/ocsp"
[[ $(xxd -p "$T/m2.der") == 30030a0101 ]] || fail "random bytes: $(xxd -p "$T/m2.der")"
ok "POST random bytes -> malformedRequest"
ocsp_raw "$T/m3.der" -X POST -H 'Content-Type: text/plain' --data-binary @"$T/get.req.der" "$PUB/ocsp"
[[ $(xxd -p "$T/m3.der") == 30030a0101 ]] || fail "wrong content type: $(xxd -p "$T/m3.der")"
ok "POST with Content-Type text/plain -> malformedRequest"
ocsp_raw "$T/m4.der" "$PUB/ocsp/%21%21notbase64%21%21"
[[ $(xxd -p "$T/m4.der") == 30030a0101 ]] || fail "GET garbage: $(xxd -p "$T/m4.der")"
ok "GET with garbage -> malformedRequest"
reference_chain ec-p256 "$T/ref" >/dev/null
openssl ocsp -issuer "$T/ref/root.pem" -cert "$T/ref/server.pem" -no_nonce -reqout "$T/foreign.req.der" >/dev/null 2>&1
ocsp_raw "$T/m5.der" -X POST -H 'Content-Type: application/ocsp-request' --data-binary @"$T/foreign.req.der" "$PUB/ocsp"
[[ $(xxd -p "$T/m5.der") == 30030a0106 ]] || fail "foreign issuer: $(openssl ocsp -respin "$T/m5.der" -resp_text -noverify 2>&1)"
ok "a certificate of another CA -> unauthorized (30 03 0a 01 06)"
# An unknown serial under our issuer: "unknown", signed.
python3 - "$T/get.req.der" "$T/unknown.req.der" <<'EOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
# The serial is the last INTEGER of the request (no nonce): flip its last byte.
b[-1] ^= 0x5A
open(sys.argv[2], "wb").write(b)
EOF
ocsp_raw "$T/m6.der" -X POST -H 'Content-Type: application/ocsp-request' --data-binary @"$T/unknown.req.der" "$PUB/ocsp"
UNK_RC=0
UNK=$(openssl ocsp -respin "$T/m6.der" -resp_text -CAfile "$T/root+intermediate.pem" -verify_other "$ISSUING" 2>&1) || UNK_RC=$?
[[ $UNK_RC == 0 ]] && grep -q '^Response verify OK' <<<"$UNK" ||
  fail "unknown serial: the answer's signature does not verify (openssl ocsp exit $UNK_RC):$(printf '\n%s' "$UNK")"
grep -q 'Cert Status: unknown' <<<"$UNK" || fail "unknown serial:$(printf '\n%s' "$UNK")"
ok "an unknown serial -> certStatus unknown, Response verify OK"
assert_healthy "malformed OCSP requests"

step "CRL ETags: If-None-Match -> 304 (twice); a new CRL has a new ETag"
ETAG1=$(curl -sS --fail -I "$PUB/crl/issuing.crl" | tr -d '\r' | sed -n 's/^[Ee][Tt][Aa][Gg]: //p')
[[ -n $ETAG1 && $ETAG1 != "$ETAG0" ]] || fail "the ETag did not change with the new CRL ($ETAG0 -> $ETAG1)"
for i in 1 2; do
  code=$(curl -sS -o /dev/null -w '%{http_code}' -I -H "If-None-Match: $ETAG1" "$PUB/crl/issuing.crl")
  [[ $code == 304 ]] || fail "HEAD with If-None-Match (try $i): $code, expected 304"
  code=$(curl -sS -o "$T/nm.body" -w '%{http_code}' -H "If-None-Match: $ETAG1" "$PUB/crl/issuing.crl")
  [[ $code == 304 && ! -s $T/nm.body ]] || fail "GET with If-None-Match (try $i): $code, $(wc -c <"$T/nm.body") bytes"
done
code=$(curl -sS -o "$T/old.body" -w '%{http_code}' -H "If-None-Match: $ETAG0" "$PUB/crl/issuing.crl")
[[ $code == 200 ]] && cmp -s "$T/old.body" "$T/crl1.der" || fail "stale ETag: $code, expected 200 and the current CRL"
ok "ETag $ETAG0 -> $ETAG1; 304 for the current one, 200 + CRL for the old one"

step "offline CRLs and CA certificates over HTTP"
for ca in intermediate root; do
  curl -sS --fail -o "$T/$ca.crl.der" "$PUB/crl/$ca.crl" || fail "GET /crl/$ca.crl"
  cmp -s "$T/$ca.crl.der" "$D/crl/$ca.crl" || fail "/crl/$ca.crl differs from $D/crl/$ca.crl"
done
for ca in root intermediate issuing; do
  curl -sS --fail -o "$T/$ca.crt" "$PUB/ca/$ca.crt" || fail "GET /ca/$ca.crt"
  [[ $(openssl x509 -in "$T/$ca.crt" -inform DER -outform PEM) == "$(openssl x509 -in "$D/ca/$ca.pem")" ]] ||
    fail "/ca/$ca.crt is not $D/ca/$ca.pem"
done
curl -sS --fail -o "$T/chain.pem" "$PUB/v1/ca/chain"
cmp -s "$T/chain.pem" "$CHAIN" || fail "/v1/ca/chain is not ca/chain.pem"
curl -sS --fail -o "$T/trust.tar" "$PUB/v1/ca/trust-package"
# Listed into a file first: `tar | grep -q` under pipefail fails when grep
# stops reading at its match and tar gets SIGPIPE.
tar -tf "$T/trust.tar" >"$T/trust.list" || fail "the trust package is not a tar archive"
grep -qx 'herald-trust/root.pem' "$T/trust.list" || fail "trust package lacks root.pem: $(cat "$T/trust.list")"
ok "offline CRLs, CA certificates, chain and trust package"

step "certificateHold, then removeFromCRL: OCSP and the CRL follow both ways"
api POST /v1/revoke -H 'Content-Type: application/json' --data-binary "{\"serial\":\"$CONTROL\",\"reason\":\"certificateHold\"}"
expect_status 200 "hold the control certificate"
ocsp_query "$T/control.pem" -no_nonce
grep -q ': revoked$' <<<"$OCSP_OUT" && grep -q 'Reason: certificateHold' <<<"$OCSP_OUT" || fail "on hold:$(printf '\n%s' "$OCSP_OUT")"
wait_crl() { # SERIAL yes|no: poll /crl/issuing.crl until SERIAL is (not) on it
  local i on
  for i in $(seq 200); do
    curl -sS --fail --max-time 30 -o "$T/poll.crl" "$PUB/crl/issuing.crl"
    on=no
    openssl crl -in "$T/poll.crl" -inform DER -noout -text | grep -q "Serial Number: ${1^^}" && on=yes
    [[ $on == "$2" ]] && return 0
    sleep 0.05
  done
  fail "10 s on, $1 is still $( [[ $2 == yes ]] && echo 'not ')on the served CRL"
}
wait_crl "$CONTROL" yes
must_reject "control on hold, CRL from the CDP" 'certificate revoked' crl_verify "$T/control.pem" control.internal
"$HERALD" revoke --dir "$D" "$CONTROL" --reason removeFromCRL >/dev/null 2>&1 || fail "herald revoke --reason removeFromCRL failed"
for i in $(seq 200); do
  ocsp_query "$T/control.pem" -no_nonce
  grep -q ': good$' <<<"$OCSP_OUT" && break
  ((i < 200)) || fail "OCSP still says revoked 10 s after the hold was released:$(printf '\n%s' "$OCSP_OUT")"
  sleep 0.05
done
wait_crl "$CONTROL" no
must_accept "control released from hold, CRL from the CDP" crl_verify "$T/control.pem" control.internal
ok "hold: OCSP revoked (certificateHold) and on the CRL; release (CLI): OCSP good and off the CRL"

step "GET OCSP with If-None-Match -> 304"
ocsp_get "$T/victim.pem" "$T/get.resp3.der"
OETAG=$(tr -d '\r' <"$T/get.headers" | sed -n 's/^[Ee][Tt][Aa][Gg]: //p')
enc=$(python3 -c 'import base64, sys, urllib.parse
print(urllib.parse.quote(base64.b64encode(open(sys.argv[1], "rb").read()).decode(), safe=""))' "$T/get.req.der")
code=$(curl -sS --max-time 30 -o "$T/ocsp304.body" -w '%{http_code}' -H "If-None-Match: $OETAG" "$PUB/ocsp/$enc")
[[ $code == 304 && ! -s $T/ocsp304.body ]] || fail "GET OCSP with If-None-Match $OETAG: HTTP $code, $(wc -c <"$T/ocsp304.body") bytes"
ok "304 for ETag $OETAG"

step "regressions (each reported, the script fails at the end)"
# RFC 9110 9.3.2: a HEAD answer has no content.
python3 - "$HTTP_PORT" >"$T/head.out" 2>&1 <<'EOF' && ok "HEAD /crl/issuing.crl: $(cat "$T/head.out")" || defect "HEAD /crl/issuing.crl sends the CRL after the headers: $(cat "$T/head.out") (RFC 9110 9.3.2: no content in a HEAD answer; a keep-alive client reads those bytes as the next response)"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.sendall(b"HEAD /crl/issuing.crl HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
data = b""
while True:
    c = s.recv(65536)
    if not c:
        break
    data += c
head, _, rest = data.partition(b"\r\n\r\n")
print(head.split(b"\r\n")[0].decode() + f", {len(rest)} bytes after the headers", end="")
sys.exit(0 if head.startswith(b"HTTP/1.1 200") and not rest else 1)
EOF
end_defects

step "PASS serve_revocation"
