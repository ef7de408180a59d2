#!/usr/bin/env bash
# Proves the agent's other ways in and out:
#  - one-time tokens: `herald agent --provisioner ci --ott-key K` signs a
#    fresh token per request with the jwk provisioner's key (made by
#    `herald token keygen`); the certificate is issued to provisioner ci, a
#    second first-issuance works too (new jti each time), and a wrong key
#    password is refused before anything is written;
#  - PKCS#12: --pkcs12 F --pkcs12-password-file P writes key + leaf + chain;
#    openssl, GnuTLS certtool and NSS pk12util read it with the password,
#    and its key is the key beside the certificate;
#  - owner labels: --owner team=payments is recorded with the certificate;
#  - ownership and mode: --file-owner/--file-group (the test runs as root) and
#    --key-mode 0640 on the key, the combined file and the PKCS#12 file;
#    0644 is refused;
#  - federation: --spiffe-bundle keeps another trust domain's SPIFFE bundle
#    as PEM (here this CA's own /v1/spiffe/bundle stands in for a
#    partner's); openssl verifies a leaf of that domain against the file;
#    an endpoint answering something else leaves the last good file alone;
#  - the reload signal: --reload-signal HUP --reload-pid-file F signals the
#    process in the PID file after the write; a PID file naming no process
#    is a logged, counted failure with the new files in place.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$IT_DIR/serve_lib.sh"
need_tool openssl curl python3 sqlite3 certtool pk12util certutil

step "a hierarchy, a jwk provisioner 'ci', the server"
serve_init "$T/d"
"$HERALD" token keygen --dir "$D" --provisioner ci >>"$D/herald.toml" 2>"$T/keygen.err" || fail "keygen: $(cat "$T/keygen.err")"
OTT_KEY="$D/provisioners/ci.key.pem"
OTT_PASS="$D/secrets/provisioner-ci.pass"
serve_start "$D"
M="$T/m"
mkdir -p "$M"
printf 'p12-secret-%s\n' "$RANDOM" >"$T/p12.pass"
chmod 600 "$T/p12.pass"

# A process that records each SIGHUP, with a PID file.
cat >"$T/hupper.sh" <<'SH'
trap 'echo hup >>"$1"' HUP
while :; do sleep 0.1; done
SH
bash "$T/hupper.sh" "$T/hups" &
HUPPER=$!
bg_track "$HUPPER"
echo "$HUPPER" >"$T/hupper.pid"

agent_ott() {
  "$HERALD" agent --server "$API" --trust "$ROOT" --provisioner ci --ott-key "$OTT_KEY" \
    --ott-password-file "$OTT_PASS" --profile server --cn web.internal --san ip:127.0.0.1 \
    --cert "$M/web.pem" --key "$M/web.key" --chain "$M/web.chain.pem" --combined "$M/web.combined.pem" \
    --pkcs12 "$M/web.p12" --pkcs12-password-file "$T/p12.pass" --key-mode 0640 --file-owner nobody --file-group nogroup --owner team=payments \
    --reload-signal HUP --reload-pid-file "$T/hupper.pid" --revocation-check off --once "$@"
}

step "--once with a one-time token: issued to provisioner ci, files written, the process signalled"
agent_ott 2>"$T/once1.log" || fail "agent --once failed:$(printf '\n%s' "$(cat "$T/once1.log")")"
serial1=$(cert_serial "$M/web.pem")
"$HERALD" list --dir "$D" --json >"$T/list.json"
python3 - "$T/list.json" "$serial1" <<'PY' || fail "the certificate is not recorded as issued to provisioner ci"
import json, sys
rows, serial = json.load(open(sys.argv[1])), sys.argv[2]
rows = rows if isinstance(rows, list) else rows.get("certificates", rows.get("items", []))
hit = [r for r in rows if r["serial"].lstrip("0").upper() == serial.upper()]
assert hit, serial
assert hit[0]["owner"].get("provisioner") == "ci", hit[0]["owner"]
assert hit[0]["owner"].get("team") == "payments", hit[0]["owner"]
PY
openssl verify -x509_strict -CAfile "$ROOT" -untrusted "$ISSUING" -untrusted "$INTER" -purpose sslserver "$M/web.pem" >/dev/null ||
  fail "the certificate does not verify"
for _ in $(seq 50); do [[ -s $T/hups ]] && break; sleep 0.1; done
[[ $(grep -c hup "$T/hups" 2>/dev/null) == 1 ]] || fail "the process in the PID file was not signalled once: $(cat "$T/hups" 2>/dev/null)"
grep -q "reload: signal 1 sent to process $HUPPER" "$T/once1.log" || fail "no reload line: $(cat "$T/once1.log")"
ok "serial $serial1, provisioner ci, SIGHUP delivered to $HUPPER"

step "modes and ownership: key, combined and PKCS#12 0640 nobody:nogroup; cert and chain 0644"
for f in web.key web.combined.pem web.p12; do
  [[ $(stat -c '%a %U %G' "$M/$f") == "640 nobody nogroup" ]] || fail "$f: $(stat -c '%a %U %G' "$M/$f")"
done
for f in web.pem web.chain.pem; do
  [[ $(stat -c '%a %U %G' "$M/$f") == "644 nobody nogroup" ]] || fail "$f: $(stat -c '%a %U %G' "$M/$f")"
done
ok "$(stat -c '%n %a %U:%G' "$M/web.key" "$M/web.p12" | tr '\n' ' ')"

step "PKCS#12: openssl, certtool and NSS pk12util read it; its key is the certificate's"
P12PASS=$(head -1 "$T/p12.pass")
openssl pkcs12 -in "$M/web.p12" -passin "file:$T/p12.pass" -nodes -out "$T/p12.pem" 2>"$T/p12.err" ||
  fail "openssl pkcs12 cannot read it: $(cat "$T/p12.err")"
[[ $(count_certs "$T/p12.pem") == 3 ]] || fail "the PKCS#12 holds $(count_certs "$T/p12.pem") certificates, expected leaf + 2"
[[ $(openssl pkey -in "$T/p12.pem" -pubout) == "$(openssl x509 -in "$M/web.pem" -noout -pubkey)" ]] ||
  fail "the PKCS#12 key is not the certificate's"
certtool --p12-info --inder --infile "$M/web.p12" --password "$P12PASS" >"$T/certtool.out" 2>&1 ||
  fail "certtool cannot read it: $(tail -3 "$T/certtool.out")"
mkdir -p "$T/nssdb"
certutil -N -d "sql:$T/nssdb" --empty-password
pk12util -i "$M/web.p12" -d "sql:$T/nssdb" -W "$P12PASS" >"$T/pk12util.out" 2>&1 ||
  fail "pk12util cannot import it: $(cat "$T/pk12util.out")"
certutil -K -d "sql:$T/nssdb" >"$T/nsskeys.out" 2>&1 || fail "no keys in the NSS database: $(cat "$T/nsskeys.out")"
grep -q web.internal "$T/nsskeys.out" || fail "NSS has no key named web.internal: $(cat "$T/nsskeys.out")"
rc=0
openssl pkcs12 -in "$M/web.p12" -passin pass:wrong -nodes -out /dev/null 2>/dev/null || rc=$?
[[ $rc != 0 ]] || fail "a wrong password opened the PKCS#12 file"
ok "openssl, certtool and pk12util read it; a wrong password is refused"

step "a second first issuance (files removed) mints a new token: issued again"
rm -f "$M"/web.*
agent_ott 2>"$T/once2.log" || fail "second agent --once failed:$(printf '\n%s' "$(cat "$T/once2.log")")"
serial2=$(cert_serial "$M/web.pem")
[[ $serial2 != "$serial1" ]] || fail "no new certificate"
ok "serial $serial2"

step "a PID file naming no process: the files are written, the failed reload logged"
rm -f "$M"/web.*
echo 4000000 >"$T/dead.pid"
rc=0
"$HERALD" agent --server "$API" --trust "$ROOT" --provisioner ci --ott-key "$OTT_KEY" \
  --ott-password-file "$OTT_PASS" --profile server --cn web.internal \
  --cert "$M/web.pem" --key "$M/web.key" --reload-signal HUP --reload-pid-file "$T/dead.pid" \
  --revocation-check off --once 2>"$T/once3.log" || rc=$?
[[ $rc != 0 ]] || fail "a failed reload exited 0"
[[ -s $M/web.pem ]] || fail "the certificate was not written"
grep -q "reload failed: cannot send signal 1 to process 4000000" "$T/once3.log" ||
  fail "no clear reload failure: $(cat "$T/once3.log")"
ok "$(grep -o 'reload failed: [^;(]*' "$T/once3.log" | head -1)"

step "federation: the SPIFFE bundle as PEM; a bad answer never replaces a good file"
mkdir -p "$T/fed"
"$HERALD" agent --server "$API" --trust "$ROOT" --provisioner ci --ott-key "$OTT_KEY" \
  --ott-password-file "$OTT_PASS" --profile server --cn fed.internal \
  --cert "$T/fed/fed.pem" --key "$T/fed/fed.key" --chain "$T/fed/fed.chain.pem" --revocation-check off \
  --spiffe-bundle "$API/v1/spiffe/bundle" --spiffe-bundle-trust "$ROOT" --spiffe-bundle-file "$T/fed/partner.pem" \
  --once 2>"$T/fed.log" || fail "agent with --spiffe-bundle failed:$(printf '\n%s' "$(cat "$T/fed.log")")"
[[ $(count_certs "$T/fed/partner.pem") == 1 ]] || fail "the bundle file holds $(count_certs "$T/fed/partner.pem") certificates"
[[ $(fingerprint "$T/fed/partner.pem") == "$(fingerprint "$ROOT")" ]] || fail "the bundle's authority is not the root"
openssl verify -x509_strict -CAfile "$T/fed/partner.pem" -untrusted "$T/fed/fed.chain.pem" "$T/fed/fed.pem" >/dev/null ||
  fail "a leaf of that trust domain does not verify against the bundle file"
grep -q "SPIFFE bundle from $API/v1/spiffe/bundle written: 1 X.509 authority" "$T/fed.log" || fail "no log line: $(cat "$T/fed.log")"
cp "$T/fed/partner.pem" "$T/fed/partner.good"
rc=0
"$HERALD" agent --server "$API" --trust "$ROOT" --provisioner ci --ott-key "$OTT_KEY" \
  --ott-password-file "$OTT_PASS" --profile server --cn fed.internal \
  --cert "$T/fed/fed.pem" --key "$T/fed/fed.key" --revocation-check off \
  --spiffe-bundle "$API/v1/trust/bundle" --spiffe-bundle-trust "$ROOT" --spiffe-bundle-file "$T/fed/partner.pem" \
  --once 2>"$T/fed2.log" || rc=$?
[[ $rc != 0 ]] || fail "a PEM answer from a SPIFFE bundle endpoint was accepted"
grep -q "SPIFFE bundle: not a JSON object" "$T/fed2.log" || fail "no clear refusal: $(cat "$T/fed2.log")"
cmp -s "$T/fed/partner.pem" "$T/fed/partner.good" || fail "the good bundle file was replaced"
ok "1 authority written; a PEM answer refused ($(grep -o 'SPIFFE bundle: not a JSON object' "$T/fed2.log" | head -1)), the file kept"

step "refused before anything is written: a wrong key password, a world-readable key mode, no key"
rm -f "$M"/web.*
echo wrong >"$T/wrong.pass"
expect_fail "$HERALD" agent --server "$API" --trust "$ROOT" --provisioner ci --ott-key "$OTT_KEY" \
  --ott-password-file "$T/wrong.pass" --profile server --cn web.internal --cert "$M/web.pem" --key "$M/web.key" --once
err_mentions "one-time token key .* cannot be loaded" "the key that cannot be loaded"
expect_fail "$HERALD" agent --server "$API" --trust "$ROOT" --provisioner ci --ott-key "$OTT_KEY" \
  --ott-password-file "$OTT_PASS" --profile server --cn web.internal --cert "$M/web.pem" --key "$M/web.key" \
  --key-mode 0644 --once
err_mentions "never readable by others" "the key mode"
expect_fail "$HERALD" agent --server "$API" --trust "$ROOT" --provisioner ci \
  --profile server --cn web.internal --cert "$M/web.pem" --key "$M/web.key" --once
err_mentions "--ott-key" "the missing key"
[[ -z $(ls -A "$M") ]] || fail "files were written: $(ls -A "$M")"
ok "nothing written"

kill "$HUPPER" 2>/dev/null || true
echo "PASS"
