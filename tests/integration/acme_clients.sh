#!/usr/bin/env bash
# Proves `herald serve`'s ACME server (RFC 8555) with real clients, offline on
# 127.0.0.1: certbot (http-01, renew, revoke by account key and by certificate
# key), lego (http-01 with an EC account, tls-alpn-01 with an RSA account,
# renew, dns-01 with a wildcard through pebble-challtestsrv). Every
# certificate chains to the root for openssl, is in the inventory with its
# ACME owner labels, and revocations show in OCSP. Then the refusals a client
# sees: an unreachable http-01 responder (connection problem, authorization
# invalid), a finalize CSR naming an extra identifier (badCSR), an identifier
# outside the provisioner's policy (rejectedIdentifier), a revocation by an
# account that did not obtain the certificate (unauthorized); none of them
# issues anything.
#
# pebble-challtestsrv is the DNS server of the validator (every name is
# 127.0.0.1) and holds the dns-01 TXT records lego's exec provider sets.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$IT_DIR/serve_lib.sh"
need_tool openssl curl python3 sqlite3 timeout certbot lego pebble-challtestsrv

T_START=$(now_us)

# ---------------------------------------------------------------- helpers

# set_acme_option DIR KEY VALUE: replace or add `KEY = VALUE` in the [acme] table.
set_acme_option() {
  python3 - "$1/herald.toml" "$2" "$3" <<'EOF' || fail "cannot set acme.$2 in $1/herald.toml"
import re, sys
path, key, value = sys.argv[1:]
text = open(path).read()
head, sep, tail = text.partition("\n[acme]\n")
assert sep, "no [acme] table"
body, nxt, rest = tail.partition("\n[")
new, n = re.subn(r"(?m)^" + re.escape(key) + r"\s*=.*$", key + " = " + value, body, count=1)
if n == 0:
    new = key + " = " + value + "\n" + body
open(path, "w").write(head + sep + new + nxt + rest)
EOF
}

# client NAME CMD...: run a real ACME client (output in $T/NAME.log); it must succeed.
client() {
  local name=$1 rc=0 t0
  shift
  t0=$(now_us)
  timeout 120 "$@" >"$T/$name.log" 2>&1 || rc=$?
  if [[ $rc != 0 ]]; then
    fail "$name failed (exit $rc):$(printf '\n%s\n--- server log (tail)\n%s' \
      "$(tail -n 25 "$T/$name.log" | sed 's/^/   | /')" "$(tail -n 15 "$SERVE_LOG" | sed 's/^/   | /')")"
  fi
  ok "$name ($(secs $(($(now_us) - t0))) s)"
}

# client_fails NAME CMD...: the client must fail cleanly (not time out); log in $T/NAME.log.
client_fails() {
  local name=$1 rc=0
  shift
  timeout 120 "$@" >"$T/$name.log" 2>&1 || rc=$?
  [[ $rc != 0 ]] || fail "$name succeeded, expected a refusal:$(printf '\n%s' "$(tail -n 20 "$T/$name.log" | sed 's/^/   | /')")"
  [[ $rc != 124 ]] || fail "$name timed out instead of failing"
  ok "$name failed as expected (exit $rc)"
}

# log_has NAME REGEX WHAT: the client's output says WHAT.
log_has() {
  grep -qiE -- "$2" "$T/$1.log" ||
    fail "$1: output does not show $3 (/$2/):$(printf '\n%s' "$(tail -n 20 "$T/$1.log" | sed 's/^/   | /')")"
  ok "$1 output shows $3: $(grep -oiE -- "$2" "$T/$1.log" | head -1)"
}

# check_issued WHAT CERT CHAIN NAME...: every validator pinned for its key type
# (lib.sh validate_issued: OpenSSL, GnuTLS, NSS, pyca) accepts CERT
# (serverAuth, for the first name) with CHAIN as intermediates; its SANs are exactly NAMEs; the
# inventory has it with ACME owner labels. Sets SERIAL and ACCOUNT (the
# acme_account label).
check_issued() {
  local what=$1 cert=$2 chain=$3 host=${4/\*/wild}
  shift 3
  [[ -s $cert ]] || fail "$what: no certificate file $cert"
  validate_issued "$what" "$ROOT" "$chain" "$cert" "$host"
  local want got
  want=$(printf 'DNS:%s\n' "$@" | sort | paste -sd,)
  got=$(openssl x509 -in "$cert" -noout -ext subjectAltName | tail -n +2 | tr -d ' ' | tr , '\n' | sort | paste -sd,)
  [[ $got == "$want" ]] || fail "$what: SANs are '$got', expected '$want'"
  SERIAL=$(cert_serial "$cert")
  "$HERALD" list --dir "$D" >"$T/.list" || fail "herald list failed"
  local found
  found=$(awk 'NR > 1 {print $1}' "$T/.list" | while read -r s; do norm_serial "$s"; done | grep -cx "$SERIAL" || true)
  [[ $found == 1 ]] || fail "$what: serial $SERIAL is not in herald list:$(printf '\n%s' "$(cat "$T/.list")")"
  "$HERALD" show --dir "$D" "$SERIAL" --json >"$T/.show" || fail "herald show $SERIAL failed"
  ACCOUNT=$(json_get "$T/.show" 'd["owner"].get("acme_account", "")')
  local order prov
  order=$(json_get "$T/.show" 'd["owner"].get("acme_order", "")')
  prov=$(json_get "$T/.show" 'd["owner"].get("provisioner", "")')
  [[ -n $ACCOUNT && -n $order && -n $prov ]] ||
    fail "$what: owner labels lack acme_account/acme_order/provisioner: $(json_get "$T/.show" 'd["owner"]')"
  [[ $(sqlite3 "$D/herald.db" "select count(*) from acme_orders where id = '$order' and account_id = '$ACCOUNT'") == 1 ]] ||
    fail "$what: owner acme_order=$order is not an order of account $ACCOUNT in the store"
  ok "$what: OpenSSL, GnuTLS, NSS, pyca OK, SANs $got, serial $SERIAL in the inventory (provisioner=$prov acme_account=$ACCOUNT acme_order=$order)"
}

# account_key ACCOUNT_ID: "EC P-256" / "RSA 2048" from the account's stored JWK.
account_key() {
  sqlite3 "$D/herald.db" "select data from acme_accounts where id = '$1'" >"$T/.acct"
  [[ -s $T/.acct ]] || fail "no account $1 in acme_accounts"
  python3 - "$T/.acct" <<'EOF'
import base64, json, sys
jwk = json.load(open(sys.argv[1]))["jwk"]
if jwk["kty"] == "EC":
    print("EC", jwk["crv"])
elif jwk["kty"] == "RSA":
    n = base64.urlsafe_b64decode(jwk["n"] + "=" * (-len(jwk["n"]) % 4))
    print("RSA", int.from_bytes(n, "big").bit_length())
else:
    print(jwk["kty"])
EOF
}

# ocsp_says CERT STATUS [REASON]: the server's OCSP responder answers STATUS for CERT.
ocsp_says() {
  local out rc=0
  out=$(openssl ocsp -url "$PUB/ocsp" -timeout 30 -issuer "$ISSUING" -cert "$1" -CAfile "$ROOT" \
    -verify_other "$D/ca/chain.pem" 2>&1) || rc=$?
  [[ $rc == 0 ]] || fail "openssl ocsp failed for $1 (exit $rc): $out"
  grep -q 'Response verify OK' <<<"$out" || fail "OCSP answer for $1 does not verify: $out"
  grep -qE ": $2\$" <<<"$out" || fail "OCSP says not '$2' for $1: $out"
  if [[ -n ${3:-} ]]; then
    grep -qi "Reason: $3" <<<"$out" || fail "OCSP reason for $1 is not $3: $out"
  fi
  ok "OCSP: $(cert_serial "$1") $2${3:+ ($3)}"
}

cert_rows() { row_count "$D"; }

# ---------------------------------------------------------------- set-up

step "a hierarchy with the 'acme' and a 'narrow' ACME provisioner; challtestsrv; the server"
serve_init "$T/d"
alloc_port H01
alloc_port TLS01
alloc_port DEAD_PORT # nothing ever listens here
set_acme_option "$D" validation_timeout '"3s"'
cat >>"$D/herald.toml" <<'EOF'

[[provisioners]]
name = "narrow"
type = "acme"
allowed_dns = ["*.allowed.test"]
allow_ip = false
EOF
DIR_URL="https://127.0.0.1:$HTTPS_PORT/acme/acme/directory"
NARROW_URL="https://127.0.0.1:$HTTPS_PORT/acme/narrow/directory"
export REQUESTS_CA_BUNDLE="$ROOT" LEGO_CA_CERTIFICATES="$ROOT"

challtestsrv_start
ok "challtestsrv: DNS on 127.0.0.1:$DNS_PORT, management on $MGMT_PORT"

ACME_FLAGS=(--acme-http01-port "$H01" --acme-tlsalpn01-port "$TLS01" --acme-dns-resolver "127.0.0.1:$DNS_PORT")
serve_start "$D" "${ACME_FLAGS[@]}"
curl -sS --cacert "$ROOT" "$DIR_URL" >"$T/directory.json" || fail "GET $DIR_URL failed"
json_get "$T/directory.json" 'd["newOrder"]' >/dev/null || fail "directory has no newOrder: $(cat "$T/directory.json")"
ok "directory $DIR_URL"

# ---------------------------------------------------------------- certbot

CB=(--non-interactive --server "$DIR_URL" --config-dir "$T/cb/c" --work-dir "$T/cb/w" --logs-dir "$T/cb/l")
CB_LIVE="$T/cb/c/live/web.example.test"

step "1. certbot certonly over http-01"
client certbot-certonly certbot certonly "${CB[@]}" --agree-tos --email e@example.com --no-eff-email \
  --standalone --preferred-challenges http --http-01-address 127.0.0.1 --http-01-port "$H01" -d web.example.test
check_issued "certbot certificate" "$CB_LIVE/cert.pem" "$CB_LIVE/chain.pem" web.example.test
CB_SERIAL1=$SERIAL CB_ACCOUNT=$ACCOUNT
cp "$CB_LIVE/cert.pem" "$T/cb-cert1.pem"
[[ $(account_key "$CB_ACCOUNT") == "RSA "* ]] || fail "certbot's account key is not RSA: $(account_key "$CB_ACCOUNT")"
ok "certbot account $CB_ACCOUNT: $(account_key "$CB_ACCOUNT") (RS256)"
ocsp_says "$T/cb-cert1.pem" good

step "1. certbot renew --force-renewal"
client certbot-renew certbot renew "${CB[@]}" --force-renewal --no-random-sleep-on-renew
check_issued "certbot renewal" "$CB_LIVE/cert.pem" "$CB_LIVE/chain.pem" web.example.test
CB_SERIAL2=$SERIAL
[[ $CB_SERIAL2 != "$CB_SERIAL1" ]] || fail "certbot renew did not produce a new certificate ($CB_SERIAL1)"
[[ $ACCOUNT == "$CB_ACCOUNT" ]] || fail "the renewal was obtained by another account ($ACCOUNT, not $CB_ACCOUNT)"
cp "$CB_LIVE/cert.pem" "$T/cb-cert2.pem"
ok "renewed: $CB_SERIAL1 -> $CB_SERIAL2 (same account)"

step "1. certbot revoke: the renewal by the account key, the first certificate by its own key"
client certbot-revoke certbot revoke "${CB[@]}" --cert-path "$CB_LIVE/cert.pem" --reason keycompromise \
  --no-delete-after-revoke
[[ $(json_get <("$HERALD" show --dir "$D" "$CB_SERIAL2" --json) 'd["status"]') == revoked ]] ||
  fail "$CB_SERIAL2 is not revoked in the inventory"
ocsp_says "$T/cb-cert2.pem" revoked keyCompromise
# certbot signs this one with the certificate's key (JWS "jwk", RFC 8555 §7.6), an EC key.
client certbot-revoke-certkey certbot revoke "${CB[@]}" --cert-path "$T/cb/c/archive/web.example.test/cert1.pem" \
  --key-path "$T/cb/c/archive/web.example.test/privkey1.pem" --reason superseded --no-delete-after-revoke
ocsp_says "$T/cb-cert1.pem" revoked superseded

# ---------------------------------------------------------------- lego

LEGO=(lego --server "$DIR_URL" --accept-tos --email e@example.com)
LEGO_HTTP=(--http --http.port "127.0.0.1:$H01")

step "2. lego http-01, ec256 (EC account: ES256)"
client lego-http "${LEGO[@]}" --path "$T/lego1" --key-type ec256 --domains lego.example.test "${LEGO_HTTP[@]}" run
L1="$T/lego1/certificates/lego.example.test"
check_issued "lego http-01" "$L1.crt" "$L1.issuer.crt" lego.example.test
LEGO1_SERIAL=$SERIAL LEGO1_ACCOUNT=$ACCOUNT
assert_key_type "$L1.crt" ec-p256
[[ $(account_key "$LEGO1_ACCOUNT") == "EC P-256" ]] || fail "lego ec256 account key is $(account_key "$LEGO1_ACCOUNT")"
ok "lego account $LEGO1_ACCOUNT: EC P-256 (ES256)"
cp "$L1.crt" "$T/lego1-first.crt"

step "2. lego tls-alpn-01, rsa2048 (RSA account: RS256)"
client lego-tls "${LEGO[@]}" --path "$T/lego2" --key-type rsa2048 --domains alpn.example.test --tls --tls.port "127.0.0.1:$TLS01" run
L2="$T/lego2/certificates/alpn.example.test"
check_issued "lego tls-alpn-01" "$L2.crt" "$L2.issuer.crt" alpn.example.test
LEGO2_ACCOUNT=$ACCOUNT
assert_key_type "$L2.crt" rsa-2048
[[ $(account_key "$LEGO2_ACCOUNT") == "RSA 2048" ]] || fail "lego rsa2048 account key is $(account_key "$LEGO2_ACCOUNT")"
[[ $LEGO2_ACCOUNT != "$LEGO1_ACCOUNT" ]] || fail "the two lego runs share an account"
ok "lego account $LEGO2_ACCOUNT: RSA 2048 (RS256)"

step "2. lego renew --days 365 (ec256, http-01)"
client lego-renew "${LEGO[@]}" --path "$T/lego1" --key-type ec256 --domains lego.example.test "${LEGO_HTTP[@]}" renew --days 365 --no-random-sleep
check_issued "lego renewal" "$L1.crt" "$L1.issuer.crt" lego.example.test
[[ $SERIAL != "$LEGO1_SERIAL" ]] || fail "lego renew did not produce a new certificate ($SERIAL)"
[[ $ACCOUNT == "$LEGO1_ACCOUNT" ]] || fail "the lego renewal was obtained by another account"
ok "renewed: $LEGO1_SERIAL -> $SERIAL"

step "3. lego dns-01 with a wildcard (exec provider -> challtestsrv TXT records)"
cat >"$T/txt-hook.sh" <<EOF
#!/bin/sh
# lego exec provider: present|cleanup FQDN VALUE
set -e
case "\$1" in
  present) curl -sSf -X POST -d "{\"host\":\"\$2\",\"value\":\"\$3\"}" http://127.0.0.1:$MGMT_PORT/set-txt ;;
  cleanup) curl -sSf -X POST -d "{\"host\":\"\$2\"}" http://127.0.0.1:$MGMT_PORT/clear-txt ;;
esac
echo "\$1 \$2" >>"$T/txt-hook.calls"
EOF
chmod +x "$T/txt-hook.sh"
# The exec provider solves one name after the other, 60 s apart by default.
export EXEC_PATH="$T/txt-hook.sh" EXEC_SEQUENCE_INTERVAL=1 EXEC_POLLING_INTERVAL=1 EXEC_PROPAGATION_TIMEOUT=20
client lego-dns "${LEGO[@]}" --path "$T/lego3" --key-type ec256 --domains dns.example.test --domains '*.dns.example.test' \
  --dns exec --dns.resolvers "127.0.0.1:$DNS_PORT" --dns.disable-cp run
L3="$T/lego3/certificates/dns.example.test"
check_issued "lego dns-01 + wildcard" "$L3.crt" "$L3.issuer.crt" dns.example.test '*.dns.example.test'
openssl verify -CAfile "$ROOT" -untrusted "$L3.issuer.crt" -verify_hostname any.dns.example.test "$L3.crt" >/dev/null 2>&1 ||
  fail "the wildcard certificate does not cover any.dns.example.test"
n_present=$(grep -c '^present _acme-challenge.dns.example.test.$' "$T/txt-hook.calls" || true)
[[ $n_present == 2 ]] || fail "expected 2 TXT records presented (name + wildcard), the hook saw: $(cat "$T/txt-hook.calls")"
ok "2 TXT records presented for _acme-challenge.dns.example.test, wildcard covers any.dns.example.test"

# ---------------------------------------------------------------- refusals

step "4. refusals seen through real clients; nothing is issued"
ROWS_BEFORE=$(cert_rows)

# b. finalize with a CSR naming an identifier the order does not have. certbot
# and lego both derive the order from the CSR, so no CLI can send a mismatch:
# drive certbot's own ACME library (python3-acme) for this one step.
CERTBOT_PY=$(head -1 "$(command -v certbot)" | sed -E 's/^#! *//; s/ .*//')
{ [[ -x $CERTBOT_PY ]] && "$CERTBOT_PY" -c 'import acme.client' 2>/dev/null; } ||
  fail "certbot's interpreter ($CERTBOT_PY) cannot import its acme library"
cat >"$T/finalize_extra.py" <<'EOF'
# Order NAME, prove it over http-01 on 127.0.0.1:PORT, then finalize with a
# CSR for NAME + EXTRA. Exit 0 iff the server answers badCSR and the order
# stays "ready".
import datetime, sys, threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import josepy as jose
from acme import challenges, client, crypto_util, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

dir_url, port, name, extra = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
key = jose.JWKRSA(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
net = client.ClientNetwork(key, user_agent="herald-integration-test")
acme = client.ClientV2(client.ClientV2.get_directory(dir_url, net), net)
acme.new_account(messages.NewRegistration.from_data(email="e@example.com", terms_of_service_agreed=True))
cert_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
order = acme.new_order(crypto_util.make_csr(cert_key, [name]))
challb = next(c for c in order.authorizations[0].body.challenges if isinstance(c.chall, challenges.HTTP01))
response, validation = challb.response_and_validation(key)

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path == challb.chall.path
        body = validation.encode() if ok else b"not found"
        self.send_response(200 if ok else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

srv = HTTPServer(("127.0.0.1", port), Handler)
threading.Thread(target=srv.serve_forever, daemon=True).start()
deadline = datetime.datetime.now() + datetime.timedelta(seconds=60)
acme.answer_challenge(challb, response)
order = acme.poll_authorizations(order, deadline)
srv.shutdown()
print("order", order.uri, "authorizations valid")
bad = crypto_util.make_csr(cert_key, [name, extra])
try:
    acme.finalize_order(order.update(csr_pem=bad), deadline)
except messages.Error as e:
    status = messages.Order.from_json(acme._post_as_get(order.uri).json()).status
    print("finalize refused:", e.typ, "::", e.detail)
    print("order status afterwards:", status.name)
    sys.exit(0 if e.typ == "urn:ietf:params:acme:error:badCSR" and status == messages.STATUS_READY else 1)
print("finalize ACCEPTED a CSR naming", extra)
sys.exit(1)
EOF
rc=0
timeout 120 "$CERTBOT_PY" "$T/finalize_extra.py" "$DIR_URL" "$H01" csr.example.test extra.example.test \
  >"$T/finalize-extra.log" 2>&1 || rc=$?
[[ $rc == 0 ]] || fail "finalize with an extra identifier (exit $rc):$(printf '\n%s' "$(sed 's/^/   | /' "$T/finalize-extra.log")")"
log_has finalize-extra 'urn:ietf:params:acme:error:badCSR' "badCSR"
log_has finalize-extra 'not in the order: extra\.example\.test' "the extra name"
log_has finalize-extra 'order status afterwards: ready' "the order still ready"

# c. newOrder outside the provisioner's policy, then inside it.
NARROW=(--server "$NARROW_URL" --accept-tos --email e@example.com --path "$T/lego-narrow" "${LEGO_HTTP[@]}")
client_fails lego-narrow-bad lego "${NARROW[@]}" --domains bad.example.test run
log_has lego-narrow-bad 'urn:ietf:params:acme:error:rejectedIdentifier' "rejectedIdentifier"
log_has lego-narrow-bad "provisioner 'narrow' does not issue for dns identifier 'bad\.example\.test'" "the reason"
[[ $(sqlite3 "$D/herald.db" "select count(*) from acme_orders where data like '%bad.example.test%'") == 0 ]] ||
  fail "an order for bad.example.test was stored"
ok "no order for bad.example.test in the store"

# d. revocation by an account that did not obtain the certificate (certbot's account, lego's certificate).
client_fails certbot-revoke-foreign certbot revoke "${CB[@]}" --cert-path "$L2.crt" --reason keycompromise \
  --no-delete-after-revoke
# Debian's certbot 2.1 on Python 3.11 prints "AttributeError: can't set
# attribute" for any ACME error (certbot#9539); its debug log has the answer.
cp "$T/cb/l/letsencrypt.log" "$T/certbot-revoke-foreign-debug.log"
log_has certbot-revoke-foreign-debug '"type": ?"urn:ietf:params:acme:error:unauthorized"' "unauthorized"
log_has certbot-revoke-foreign-debug 'this account did not obtain that certificate' "the reason"
ocsp_says "$L2.crt" good

ROWS_MID=$(cert_rows)
[[ $ROWS_MID == "$ROWS_BEFORE" ]] || fail "the refusals changed the certificates table: $ROWS_BEFORE -> $ROWS_MID rows"
ok "certificates table unchanged: $ROWS_MID rows"

step "4c. the narrow provisioner issues inside its policy"
client lego-narrow-ok lego "${NARROW[@]}" --domains ok.allowed.test run
check_issued "narrow ok.allowed.test" "$T/lego-narrow/certificates/ok.allowed.test.crt" \
  "$T/lego-narrow/certificates/ok.allowed.test.issuer.crt" ok.allowed.test
[[ $(json_get "$T/.show" 'd["owner"]["provisioner"]') == narrow ]] || fail "ok.allowed.test not owned by provisioner narrow"
[[ $(cert_rows) == $((ROWS_MID + 1)) ]] || fail "expected exactly one more certificate row"

step "4a. an unsatisfiable http-01 challenge: the validator dials a port nobody listens on"
serve_stop
[[ $SERVE_RC == 0 ]] || fail "herald serve did not stop cleanly ($SERVE_RC)"
serve_start "$D" --acme-http01-port "$DEAD_PORT" --acme-tlsalpn01-port "$TLS01" --acme-dns-resolver "127.0.0.1:$DNS_PORT"
ROWS_BEFORE=$(cert_rows)
client_fails lego-dead "${LEGO[@]}" --path "$T/lego-dead" --key-type ec256 --domains fail.example.test "${LEGO_HTTP[@]}" run
log_has lego-dead 'urn:ietf:params:acme:error:connection' "the connection problem"
log_has lego-dead "127\.0\.0\.1:$DEAD_PORT" "the port dialled"
authz_status=$(sqlite3 "$D/herald.db" "select data from acme_authzs where data like '%\"fail.example.test\"%'" |
  python3 -c 'import json, sys; print(" ".join(sorted(json.loads(l)["status"] for l in sys.stdin if l.strip())))')
[[ $authz_status == invalid ]] || fail "fail.example.test authorization status(es) in the store: '$authz_status', expected invalid"
chall=$(sqlite3 "$D/herald.db" "select data from acme_authzs where data like '%\"fail.example.test\"%'" |
  python3 -c 'import json, sys; d = json.loads(sys.stdin.readline()); c = [c for c in d["challenges"] if c["type"] == "http-01"][0]; print(c["status"], c["error"]["type"])')
[[ $chall == "invalid urn:ietf:params:acme:error:connection" ]] || fail "http-01 challenge in the store: '$chall'"
order_status=$(sqlite3 "$D/herald.db" "select data from acme_orders where data like '%\"fail.example.test\"%'" |
  python3 -c 'import json, sys; print(json.loads(sys.stdin.readline())["status"])')
[[ $order_status == invalid ]] || fail "the fail.example.test order is '$order_status', expected invalid"
ok "store: authorization invalid, http-01 challenge invalid (connection), order invalid"

step "5. nothing else was issued"
[[ $(cert_rows) == "$ROWS_BEFORE" ]] || fail "the failed validation changed the certificates table: $ROWS_BEFORE -> $(cert_rows)"
ok "certificates table unchanged across the failed validation: $ROWS_BEFORE rows"
assert_healthy "the ACME clients"

step "PASS acme_clients ($(secs $(($(now_us) - T_START))) s)"
