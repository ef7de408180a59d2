#!/usr/bin/env bash
# The CA on PostgreSQL (issue #13): a throwaway PostgreSQL 15 on 127.0.0.1
# (pg_lib.sh), password authentication (scram-sha-256).
#  - `ca init --store` refuses a URL with a password in it (without echoing
#    it) and anything but postgresql://; it writes [store] into herald.toml
#    (URL and password file, never the password) and no herald.db;
#  - a second hierarchy on the same, no longer empty, database is refused;
#  - `herald serve` and the CLI share the PostgreSQL state: a certificate
#    issued through the API and one through the CLI are both listed; a
#    revocation through the API reaches OCSP (openssl ocsp verifies the
#    answer) and the CRL;
#  - a restart of `herald serve` finds everything again; the rows are in
#    PostgreSQL (counted with psql);
#  - PostgreSQL stopped under it: issuance answers 503 (a store problem that
#    does not name the database, Retry-After), readyz turns red while healthz
#    stays up, OCSP answers from its pre-signed answers; PostgreSQL back:
#    issuance recovers by itself (time printed), readyz green;
#  - a slow network to PostgreSQL (a proxy adding 200 ms each way) slows
#    issuance but not OCSP answers;
#  - herald store migrate moves a SQLite CA into an empty database (counts
#    checked, herald.toml switched), refusing a non-empty one and a second run;
#    the audit log moves as it was (same rows, in order), an ACME account
#    keeps its id (its kid URL), and a one-time token used on SQLite before
#    the move is refused by the server on PostgreSQL after it (replay);
#  - a wrong password is refused with a clear error that does not contain
#    the password, and the password is in no log, no herald.toml, no output.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$IT_DIR/serve_lib.sh"
source "$IT_DIR/pg_lib.sh"
need_tool openssl curl python3 runuser

SECRET="pg-$(openssl rand -hex 12)"

step "start a throwaway PostgreSQL, a role and database 'herald' with a password"
pg_start
pg_create_db herald "$SECRET"
ok "PostgreSQL on 127.0.0.1:$PG_PORT; $PG_URL"

step "ca init --store: refusals first (nothing created, the password never echoed)"
pick_ports
out=$("$HERALD" ca init --dir "$T/bad1" --store "postgresql://herald:$SECRET@127.0.0.1:$PG_PORT/herald" 2>&1) &&
  fail "a URL carrying a password was accepted"
grep -q 'carries a password' <<<"$out" || fail "unclear refusal: $out"
grep -q "$SECRET" <<<"$out" && fail "the refusal echoes the password: $out"
[[ -e $T/bad1/herald.toml ]] && fail "a refused init left $T/bad1/herald.toml"
out=$("$HERALD" ca init --dir "$T/bad2" --store "mysql://herald@127.0.0.1/herald" 2>&1) &&
  fail "a mysql:// URL was accepted"
grep -q 'only postgresql://' <<<"$out" || fail "unclear refusal: $out"
echo wrong >"$T/wrong.pass"
out=$("$HERALD" ca init --dir "$T/bad3" --store "$PG_URL" --store-password-file "$T/wrong.pass" 2>&1) &&
  fail "a wrong password was accepted"
grep -qi 'password\|authentication' <<<"$out" || fail "unclear refusal for a wrong password: $out"
[[ -e $T/bad3/herald.toml ]] && fail "a refused init left $T/bad3/herald.toml"
ok "password in URL, other schemes and a wrong password refused; nothing written"

step "ca init --store URL --store-password-file F"
serve_init "$T/pki" --store "$PG_URL" --store-password-file "$T/herald.pass"
grep -Eq "^url = [\"']$PG_URL[\"']" "$D/herald.toml" || fail "herald.toml has no [store] url:$(printf '\n%s' "$(cat "$D/herald.toml")")"
grep -Eq "^password_file = [\"']$T/herald.pass[\"']" "$D/herald.toml" || fail "herald.toml has no [store] password_file"
[[ -e $D/herald.db ]] && fail "a SQLite database was created beside a PostgreSQL store"
ok "herald.toml names the store and the password file; no herald.db"
out=$("$HERALD" ca init --dir "$T/second" --store "$PG_URL" --store-password-file "$T/herald.pass" 2>&1) &&
  fail "a second hierarchy was put into a database that holds one"
grep -q 'already holds' <<<"$out" || fail "unclear refusal: $out"
ok "a second hierarchy on the same database refused: $(tail -1 <<<"$out")"

step "herald serve on PostgreSQL; issue through the API and the CLI; revoke through the API"
API_TOKEN=$(new_token "$D" admin)
serve_start "$D"
make_csr api api.internal "DNS:api.internal"
sign_json "$T/api.csr" server >"$T/api.json"
api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/api.json"
expect_status 201 "sign through the API"
API_SERIAL=$(save_issued api)
CLI_SERIAL=$(herald_issue "$T/cli.json" --dir "$D" --profile server --cn cli.internal --out-dir "$T/cli")
listed=$("$HERALD" list --dir "$D" --json)
for s in "$API_SERIAL" "$CLI_SERIAL"; do
  grep -qi "$s" <<<"$listed" || fail "herald list does not show $s"
done
ok "API-issued $API_SERIAL and CLI-issued $CLI_SERIAL both in the shared inventory"
api POST /v1/revoke -H 'Content-Type: application/json' --data-binary "{\"serial\":\"$API_SERIAL\",\"reason\":\"keyCompromise\"}"
expect_status 200 "revoke through the API"
ocsp_query "$T/api.pem"
grep -q '^Response verify OK' <<<"$OCSP_OUT" || fail "OCSP answer does not verify:$(printf '\n%s' "$OCSP_OUT")"
grep -q ': revoked' <<<"$OCSP_OUT" || fail "OCSP does not say revoked:$(printf '\n%s' "$OCSP_OUT")"
ocsp_query "$T/cli/cert.pem"
grep -q ': good$' <<<"$OCSP_OUT" || fail "the CLI-issued certificate is not good:$(printf '\n%s' "$OCSP_OUT")"
for _ in $(seq 50); do  # the server re-signs the CRL in the background
  curl -sf "$PUB/crl/issuing.crl" -o "$T/issuing.crl" || fail "no CRL"
  openssl crl -inform DER -in "$T/issuing.crl" -noout -text | grep -q "Serial Number: ${API_SERIAL^^}" && break
  sleep 0.1
done
openssl crl -inform DER -in "$T/issuing.crl" -noout -text | grep -q "Serial Number: ${API_SERIAL^^}" ||
  fail "the revoked serial is not on the CRL within 5 s"
openssl crl -inform DER -in "$T/issuing.crl" -noout -CAfile "$ISSUING" 2>&1 | grep -q 'verify OK' ||
  fail "the served CRL does not verify"
ok "revoked: OCSP says revoked (verified by openssl), the CRL lists it, the other is good"

step "restart herald serve: the state is PostgreSQL's, and serve keeps its own certificates"
rows_before=$(pg_sql "SELECT count(*) FROM certificates" herald) || fail "cannot count the certificate rows"
for f in tls ocsp; do
  [[ $(stat -c %a "$D/serve/$f.key.pem") == 600 ]] || fail "$D/serve/$f.key.pem is not mode 0600"
  grep -q 'BEGIN ENCRYPTED PRIVATE KEY' "$D/serve/$f.key.pem" || fail "$D/serve/$f.key.pem is not encrypted"
done
serve_stop
[[ $SERVE_RC == 0 ]] || fail "herald serve exited $SERVE_RC"
serve_start "$D"
ocsp_query "$T/api.pem"
grep -q ': revoked' <<<"$OCSP_OUT" || fail "after a restart OCSP does not say revoked"
rows=$(pg_sql "SELECT count(*) FROM certificates" herald) || fail "cannot count the certificate rows"
listed_count=$("$HERALD" list --dir "$D" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d if isinstance(d, list) else d.get("certificates", [])))')
(( rows == rows_before )) || fail "the restart added $((rows - rows_before)) certificates (serve should reuse its own)"
(( rows == 7 )) || fail "PostgreSQL holds $rows certificate rows (3 CAs, 2 leaves, serve's TLS and OCSP certificates expected)"
ok "after a restart: revoked still revoked; $rows certificate rows in PostgreSQL (the restart issued none: serve reused its TLS and OCSP certificates, kept encrypted in DIR/serve/), herald list shows $listed_count"

step "PostgreSQL stopped under herald serve: 503s, readyz red, OCSP from pre-signed answers, recovery"
make_csr outage outage.internal "DNS:outage.internal"
openssl req -in "$T/outage.csr" -outform DER -out "$T/outage.der"
sign_der() {
  curl -s -o "$T/sign.out" -D "$T/sign.hdr" -w '%{http_code}' --max-time 10 --cacert "$ROOT" \
    -H "Authorization: Bearer $API_TOKEN" -H 'Content-Type: application/pkcs10' \
    --data-binary @"$T/outage.der" "$API/v1/sign?profile=server"
}
[[ $(sign_der) == 201 ]] || fail "issuance before the outage: $(cat "$T/sign.out")"
t0=$(now_us)
pg_stop
code=$(sign_der)
[[ $code == 503 ]] || fail "issuance with the database down: HTTP $code, expected 503: $(cat "$T/sign.out")"
grep -q '"type":"urn:herald:problem:store"' "$T/sign.out" || fail "not a store problem: $(cat "$T/sign.out")"
grep -q "$PG_PORT" "$T/sign.out" && fail "the problem names the database's address: $(cat "$T/sign.out")"
grep -qi '^Retry-After:' "$T/sign.hdr" || fail "a 503 without Retry-After"
[[ $(curl -s -o /dev/null -w '%{http_code}' "$PUB/readyz") == 503 ]] || fail "readyz is not red with the database down"
[[ $(curl -s -o /dev/null -w '%{http_code}' "$PUB/healthz") == 200 ]] || fail "healthz is not 200 with the database down"
ocsp_query "$T/cli/cert.pem" -no_nonce
grep -q ': good$' <<<"$OCSP_OUT" && grep -q '^Response verify OK' <<<"$OCSP_OUT" ||
  fail "OCSP does not answer from its pre-signed answers with the database down:$(printf '\n%s' "$OCSP_OUT")"
ocsp_query "$T/api.pem"  # with a nonce: answered without it, from the pre-signed answer
grep -q ': revoked' <<<"$OCSP_OUT" && grep -q '^Response verify OK' <<<"$OCSP_OUT" ||
  fail "OCSP with a nonce does not fall back to the pre-signed answer with the database down:$(printf '\n%s' "$OCSP_OUT")"
ok "database down after $(secs $(($(now_us) - t0))) s: issuance 503 store problem (no address, Retry-After), readyz 503, healthz 200, OCSP from the pre-signed answers (good; revoked, a nonce request answered without it)"
pg_restart
t1=$(now_us)
for _ in $(seq 100); do
  [[ $(sign_der) == 201 ]] && break
  sleep 0.1
done
[[ $(sign_der) == 201 ]] || fail "issuance did not recover within 10 s of PostgreSQL's return: $(cat "$T/sign.out")"
recovered=$(secs $(($(now_us) - t1)))
for _ in $(seq 50); do [[ $(curl -s -o /dev/null -w '%{http_code}' "$PUB/readyz") == 200 ]] && break; sleep 0.1; done
[[ $(curl -s -o /dev/null -w '%{http_code}' "$PUB/readyz") == 200 ]] || fail "readyz stayed red after PostgreSQL's return"
grep -q 'store failure' "$SERVE_LOG" || fail "the outage is not in the server log"
ok "PostgreSQL back: issuing again $recovered s after its return, readyz green; the server log has the reason"

step "a slow network to PostgreSQL (200 ms each way) does not slow OCSP"
serve_stop
alloc_port SLOW_PORT
python3 "$IT_DIR/slow_tcp_proxy.py" "$SLOW_PORT" "$PG_PORT" 0.2 >"$T/slow.log" 2>&1 &
bg_track $!
for _ in $(seq 50); do python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" "$SLOW_PORT" 2>/dev/null && break; sleep 0.1; done
sed -i "s|127.0.0.1:$PG_PORT/|127.0.0.1:$SLOW_PORT/|" "$D/herald.toml"
grep -q "127.0.0.1:$SLOW_PORT/" "$D/herald.toml" || fail "could not point herald.toml at the slow proxy"
serve_start "$D"
t0=$(now_us)
[[ $(sign_der) == 201 ]] || fail "issuance through the slow network: $(cat "$T/sign.out")"
sign_ms=$((($(now_us) - t0) / 1000))
(( sign_ms >= 400 )) || fail "issuance took $sign_ms ms: the slow proxy is not in the path"
openssl ocsp -issuer "$ISSUING" -cert "$T/cli/cert.pem" -no_nonce -reqout "$T/ocsp.req" >/dev/null 2>&1
# Right after a start, an answer not pre-signed yet needs the database once.
cold=$(curl -s -o /dev/null -w '%{time_total}' --data-binary @"$T/ocsp.req" \
  -H 'Content-Type: application/ocsp-request' "$PUB/ocsp" | python3 -c 'import sys; print(int(float(sys.stdin.read()) * 1000))')
worst=0
for _ in $(seq 20); do
  ms=$(curl -s -o "$T/ocsp.resp" -w '%{time_total}' --data-binary @"$T/ocsp.req" \
    -H 'Content-Type: application/ocsp-request' "$PUB/ocsp" | python3 -c 'import sys; print(int(float(sys.stdin.read()) * 1000))')
  (( ms > worst )) && worst=$ms
done
openssl ocsp -respin "$T/ocsp.resp" -issuer "$ISSUING" -CAfile "$T/root+intermediate.pem" -cert "$T/cli/cert.pem" 2>&1 |
  grep -q ': good$' || fail "the OCSP answer through the slow setup is not good"
(( worst < 200 )) || fail "an OCSP answer took $worst ms with a slow database (one database round trip is 400 ms)"
ok "issuance took $sign_ms ms (each database round trip 400 ms); the first OCSP answer after the start $cold ms (not pre-signed yet: read from the database), the next 20 at most $worst ms: pre-signed answers do not wait for the database"

step "herald store migrate: a CA on SQLite moved into an empty PostgreSQL database"
serve_stop
FIRST_URL=$PG_URL
MAIN_D=$D
serve_init "$T/lite"
D=$MAIN_D
LITE=$T/lite
for n in m1 m2 m3; do
  herald_issue "$T/$n.json" --dir "$LITE" --profile server --cn "$n.internal" --out-dir "$T/$n" >"$T/$n.serial"
done
"$HERALD" revoke --dir "$LITE" "$(cat "$T/m2.serial")" --reason keyCompromise >/dev/null 2>&1 || fail "revoke on SQLite failed"
"$HERALD" token add --dir "$LITE" --provisioner admin >/dev/null 2>&1 || fail "token add failed"
# A one-time token spent on the SQLite server before the move.
"$HERALD" token keygen --dir "$LITE" --provisioner ci >>"$LITE/herald.toml" 2>"$T/keygen.err" || fail "keygen: $(cat "$T/keygen.err")"
serve_start "$LITE"
OTT=$("$HERALD" token --dir "$LITE" --provisioner ci --aud "https://localhost:$HTTPS_PORT/v1/sign" \
  --cn ott.internal --san ott.internal --ttl 5m) || fail "cannot mint a one-time token"
make_csr ott ott.internal DNS:ott.internal
API_TOKEN=$OTT api POST "/v1/sign?profile=server" -H 'Content-Type: application/pkcs10' --data-binary @"$T/ott.csr"
expect_status 201 "sign with a one-time token on SQLite"
serve_stop
# An ACME account as newAccount stores it (no ACME client here).
python3 - "$LITE/herald.db" <<'PY' || fail "cannot add an ACME account to the SQLite file"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("INSERT INTO acme_accounts (id, provisioner, thumbprint, data, created_at) VALUES "
           "('acct-mig-1', 'acme', 'thumb-mig-1', '{\"provisioner\":\"acme\",\"status\":\"valid\"}', 1700000000)")
db.commit()
PY
lite_audit=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM audit_log").fetchone()[0])' "$LITE/herald.db")
lite_last=$(python3 -c 'import sqlite3,sys; print("|".join(map(str, sqlite3.connect(sys.argv[1]).execute("SELECT at, action, coalesce(serial, \x27\x27) FROM audit_log ORDER BY id DESC LIMIT 1").fetchone())))' "$LITE/herald.db")
count_list() { "$HERALD" list --dir "$1" --json "${@:2}" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d if isinstance(d, list) else d.get("certificates", [])))'; }
before=$(count_list "$LITE")
pg_create_db herald2 "pw2-$(openssl rand -hex 8)"
out=$("$HERALD" store migrate --dir "$LITE" --to "$FIRST_URL" --to-password-file "$T/herald.pass" 2>&1) &&
  fail "a migration into a database that holds a CA was accepted"
grep -q 'already holds' <<<"$out" || fail "unclear refusal: $out"
out=$("$HERALD" store migrate --dir "$LITE" --to "$PG_URL" --to-password-file "$T/herald2.pass" 2>&1) ||
  fail "herald store migrate failed: $out"
printf '%s\n' "$out" | sed 's/^/   | /'
grep -q 'counts checked' <<<"$out" || fail "no count check reported: $out"
grep -Eq 'ACME accounts +1 ' <<<"$out" || fail "the ACME account is not reported moved: $out"
grep -Eq 'one-time tokens +1 ' <<<"$out" || fail "the used one-time token id is not reported moved: $out"
grep -Eq "^url = [\"']$PG_URL[\"']" "$LITE/herald.toml" || fail "herald.toml does not name the new store"
after=$(count_list "$LITE")
[[ $after == "$before" ]] || fail "herald list shows $after certificates after the migration, $before before"
[[ $(count_list "$LITE" --status revoked) == 1 ]] || fail "the revoked certificate is not revoked after the migration"
rows=$(pg_sql "SELECT count(*) FROM certificates" herald2)
[[ $rows == "$before" ]] || fail "PostgreSQL holds $rows certificates, the SQLite file held $before"
pg_audit=$(pg_sql "SELECT count(*) FROM audit_log" herald2)
[[ $pg_audit == "$lite_audit" ]] || fail "PostgreSQL's audit log has $pg_audit entries, the SQLite file's $lite_audit"
pg_last=$(pg_sql "SELECT at || '|' || action || '|' || coalesce(serial, '') FROM audit_log ORDER BY id DESC LIMIT 1" herald2)
[[ $pg_last == "$lite_last" ]] || fail "the last audit entry is '$pg_last' on PostgreSQL, '$lite_last' on SQLite"
[[ $(pg_sql "SELECT provisioner || '|' || thumbprint FROM acme_accounts WHERE id = 'acct-mig-1'" herald2) == "acme|thumb-mig-1" ]] ||
  fail "the ACME account did not keep its id"
out2=$("$HERALD" store migrate --dir "$LITE" --to "$PG_URL" --to-password-file "$T/herald2.pass" 2>&1) &&
  fail "a second migration was accepted"
grep -q 'already keeps its state' <<<"$out2" || fail "unclear refusal of a second migration: $out2"
herald_issue "$T/m4.json" --dir "$LITE" --profile server --cn m4.internal --out-dir "$T/m4" >/dev/null
[[ $(pg_sql "SELECT count(*) FROM certificates" herald2) == $((before + 1)) ]] || fail "a certificate issued after the migration is not in PostgreSQL"
serve_start "$LITE"
API_TOKEN=$OTT api POST "/v1/sign?profile=server" -H 'Content-Type: application/pkcs10' --data-binary @"$T/ott.csr"
expect_problem 401 unauthenticated "the one-time token spent before the move, replayed on PostgreSQL after it"
[[ $(json_get "$T/.api.body" 'd["detail"]') == *"already used"* ]] || fail "replay detail: $(body)"
ok "moved $before certificates (1 revoked), $lite_audit audit entries (the same last one), a token, an ACME account under its id and a used one-time token id (replay refused after the move); counts checked; herald.toml switched; a non-empty target and a second migration refused; new issuance goes to PostgreSQL"

step "no password anywhere"
serve_stop
hits=$(grep -rl -- "$SECRET" "$D" "$T"/*.log 2>/dev/null | grep -v "$T/herald.pass" || true)
[[ -z $hits ]] || fail "the database password appears in: $hits"
ok "the password is in its file only"
