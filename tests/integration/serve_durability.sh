#!/usr/bin/env bash
# Proves that `herald serve` never hands out a certificate it has not made
# durable, and survives `kill -9` under load:
#  - 4 clients each send 100 sequential POST /v1/sign (one CSR per client)
#    while a fifth revokes certificates through POST /v1/revoke; no request
#    fails before the kill (no 5xx or "store busy" under concurrency);
#  - the server is killed with SIGKILL about 1 s into the load;
#  - every certificate a client received is in the inventory, byte for byte
#    (the DER matches, `herald show` finds it); no serial or fingerprint
#    repeats; every acknowledged revocation is recorded; the database passes
#    PRAGMA integrity_check; the CRL files left behind are intact;
#  - the CRL number never goes backwards: after a restart and one more
#    revocation it is larger than the one on disk before the kill;
#  - the restarted server serves normally: /healthz, /readyz, a new sign,
#    OCSP "good" for a certificate received before the kill, "revoked" for
#    one revoked before it, and a CRL listing every acknowledged revocation.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$IT_DIR/serve_lib.sh"
need_tool openssl curl python3 sqlite3

CLIENTS=4
REQS=100
VICTIMS=30

crl_number_of() { # DER or PEM file -> decimal CRL number
  local n
  n=$(openssl crl -in "$1" -inform "$2" -noout -crlnumber | sed 's/^crlNumber=//') || fail "cannot read the CRL number of $1"
  echo $((n))
}

step "ca init; lift the per-address issuance rate limit; start herald serve"
serve_init "$T/pki"
set_server_option "$D" issuance_rate_per_second 1000000
grep -q '^issuance_rate_per_second = 1000000' "$D/herald.toml" || fail "could not set issuance_rate_per_second"
TOKEN=$(new_token "$D" admin)
API_TOKEN=$TOKEN
serve_start "$D"
ok "serving https://127.0.0.1:$HTTPS_PORT and http://127.0.0.1:$HTTP_PORT"

step "before the load: $VICTIMS certificates to revoke during it, one revoked now"
make_csr victim victim.internal "DNS:victim.internal"
sign_json "$T/victim.csr" server >"$T/victim.json"
: >"$T/victims"
for i in $(seq "$VICTIMS"); do
  api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/victim.json"
  expect_status 201 "sign victim $i"
  save_issued "victim.$i" >>"$T/victims"
done
FIRST_VICTIM=$(head -1 "$T/victims")
api POST /v1/revoke -H 'Content-Type: application/json' --data-binary "{\"serial\":\"$FIRST_VICTIM\",\"reason\":\"keyCompromise\"}"
expect_status 200 "revoke $FIRST_VICTIM"
cp "$T/victim.1.pem" "$T/revoked-before.pem"
ok "$VICTIMS certificates; $FIRST_VICTIM revoked"

step "the load: $CLIENTS clients x $REQS sequential POST /v1/sign, 1 revoking client"
for n in $(seq "$CLIENTS"); do
  mkdir -p "$T/client$n"
  make_csr "client$n/req" "load$n.internal" "DNS:load$n.internal"
  sign_json "$T/client$n/req.csr" server "{\"client\":\"c$n\"}" >"$T/client$n/req.json"
done
# client N: REQS requests; each certificate received is kept; the first
# failure (expected once the server is gone) ends the client.
client() {
  trap - EXIT ERR
  set +e
  local n=$1 dir="$T/client$1" i code rc
  for ((i = 1; i <= REQS; i++)); do
    code=$(curl -sS --max-time 60 --cacert "$ROOT" -H "Authorization: Bearer $TOKEN" \
      -H 'Content-Type: application/json' --data-binary @"$dir/req.json" -o "$dir/.resp" -w '%{http_code}' \
      "$API/v1/sign" 2>>"$dir/curl.err")
    rc=$?
    if [[ $rc == 0 && $code == 201 ]]; then
      mv "$dir/.resp" "$dir/resp.$i.json"
    else
      echo "$(secs "$(now_us)") request $i: curl exit $rc, HTTP $code: $(head -c 300 "$dir/.resp" 2>/dev/null)" >>"$dir/failed"
      break
    fi
  done
  now_us >"$dir/finished"
}
revoker() {
  trap - EXIT ERR
  set +e
  local dir="$T/revoker" s code rc
  mkdir -p "$dir"
  tail -n +2 "$T/victims" | while read -r s; do
    code=$(curl -sS --max-time 60 --cacert "$ROOT" -H "Authorization: Bearer $TOKEN" \
      -H 'Content-Type: application/json' --data-binary "{\"serial\":\"$s\",\"reason\":\"superseded\"}" \
      -o "$dir/.resp" -w '%{http_code}' "$API/v1/revoke" 2>>"$dir/curl.err")
    rc=$?
    if [[ $rc == 0 && $code == 200 ]]; then
      echo "$s" >>"$dir/acknowledged"
    else
      echo "$(secs "$(now_us)") $s: curl exit $rc, HTTP $code: $(head -c 300 "$dir/.resp" 2>/dev/null)" >>"$dir/failed"
      break
    fi
    sleep 0.02
  done
  now_us >"$dir/finished"
}
received() { find "$T" -path "$T/client*/resp.*.json" | wc -l; }
CLIENT_PIDS=()
LOAD_START=$(now_us)
for n in $(seq "$CLIENTS"); do
  client "$n" &
  CLIENT_PIDS+=($!)
  bg_track "$!"
done
revoker &
REVOKER_PID=$!
bg_track "$REVOKER_PID"

step "kill -9 the server about 1 s into the load"
while :; do
  sleep 0.05
  el=$(($(now_us) - LOAD_START))
  ((el >= 1000000)) && (($(received) >= 20)) && break
  ((el < 60000000)) || fail "the clients received only $(received) certificates in 60 s"
done
CRL_BEFORE_FILE="$T/crl-before-kill.der"
cp "$D/crl/issuing.crl" "$CRL_BEFORE_FILE"
CRL_BEFORE=$(crl_number_of "$CRL_BEFORE_FILE" DER)
# Taken just before the signal: any failure logged after it may be the kill's doing.
KILL_AT_US=$(now_us)
KILL_AT=$(secs "$KILL_AT_US")
serve_kill9
running=0
for n in $(seq "$CLIENTS"); do [[ -e $T/client$n/finished ]] || running=$((running + 1)); done
echo "   killed at +$(secs $((KILL_AT_US - LOAD_START))) s; $(received) certificates received so far; $running of $CLIENTS clients still running; CRL number on disk before the kill: $CRL_BEFORE"
((running > 0)) || fail "test too slow to be meaningful: every client had finished before the kill"
for p in "${CLIENT_PIDS[@]}" "$REVOKER_PID"; do wait "$p" || true; done
ok "clients stopped"

step "no request failed before the kill"
for f in "$T"/client*/failed "$T/revoker/failed"; do
  [[ -e $f ]] || continue
  who=$(basename "$(dirname "$f")")
  while read -r at rest; do
    python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)' "$at" "$KILL_AT" ||
      fail "$who: a request failed BEFORE the kill: $rest"
  done <"$f"
done
TOTAL=$(received)
ACKED=$(wc -l <"$T/revoker/acknowledged" 2>/dev/null || echo 0)
for n in $(seq "$CLIENTS"); do
  printf '   client %s: %s certificates, then: %s\n' "$n" "$(find "$T/client$n" -name 'resp.*.json' | wc -l)" \
    "$(cut -d' ' -f2- "$T/client$n/failed" 2>/dev/null | head -c 200 || echo 'finished')"
done
echo "   revoker: $ACKED revocations acknowledged"
ok "$TOTAL certificates received, $ACKED revocations acknowledged, every failure after the kill"

step "every certificate received is in the inventory, byte for byte; nothing repeats"
sqlite3 "$D/herald.db" 'PRAGMA integrity_check' >"$T/integrity" 2>&1 || fail "integrity_check failed: $(cat "$T/integrity")"
[[ $(cat "$T/integrity") == ok ]] || fail "PRAGMA integrity_check: $(cat "$T/integrity")"
python3 - "$D/herald.db" "$T" "$T/revoker/acknowledged" "$FIRST_VICTIM" <<'EOF' || fail "the inventory lost or garbled what clients received"
import base64, glob, hashlib, json, os, sqlite3, sys
db, tdir, acked_file, first_victim = sys.argv[1:]
con = sqlite3.connect(db)
# A fingerprint is stored as its 32 bytes (store/sqlite/fingerprint_column.h), or as
# text in rows written before that: compared as the colon-separated hex clients get.
def fp_text(fp):
    return ":".join(f"{b:02X}" for b in fp) if isinstance(fp, bytes) else fp
rows = {s: (bytes(der), fp_text(fp), status) for s, der, fp, status in con.execute("select serial, der, fingerprint_sha256, status from certificates")}
def der_of(pem):
    body = "".join(l for l in pem.strip().splitlines() if not l.startswith("-----"))
    return base64.b64decode(body)
seen = {}
n = 0
for f in sorted(glob.glob(os.path.join(tdir, "client*", "resp.*.json"))):
    d = json.load(open(f))
    n += 1
    s = d["serial"]
    assert s not in seen, f"serial {s} received twice ({seen[s]} and {f})"
    seen[s] = f
    assert s in rows, f"{f}: serial {s} was handed to a client but is not in the inventory"
    der, fp, status = rows[s]
    assert der == der_of(d["certificate"]), f"{s}: the inventory's DER differs from what the client got"
    assert fp == d["fingerprint_sha256"], f"{s}: fingerprint differs"
    assert fp == fp_text(hashlib.sha256(der).digest()), f"{s}: fingerprint is not the DER's SHA-256"
    assert status == "valid", f"{s}: status {status}"
dups = con.execute("select serial, count(*) from certificates group by serial having count(*) > 1").fetchall()
assert not dups, f"repeated serials: {dups}"
dups = con.execute("select fingerprint_sha256, count(*) from certificates group by fingerprint_sha256 having count(*) > 1").fetchall()
assert not dups, f"repeated fingerprints: {dups}"
acked = [l.strip() for l in open(acked_file)] if os.path.exists(acked_file) else []
for s in acked + [first_victim]:
    assert rows[s][2] == "revoked", f"acknowledged revocation of {s} is not recorded ({rows[s][2]})"
total = con.execute("select count(*) from certificates").fetchone()[0]
print(f"   {n} received certificates found with identical DER; {len(acked) + 1} revocations recorded; inventory holds {total} rows, no repeats")
EOF
# The CLI agrees, for the first and last certificate of each client.
for n in $(seq "$CLIENTS"); do
  for f in $(find "$T/client$n" -name 'resp.*.json' | sort -V | sed -n '1p;$p'); do
    s=$(json_get "$f" 'd["serial"]')
    "$HERALD" show --dir "$D" "$s" --json >"$T/show.json" || fail "herald show $s failed"
    [[ $(json_get "$T/show.json" 'd["fingerprint_sha256"]') == "$(json_get "$f" 'd["fingerprint_sha256"]')" ]] ||
      fail "herald show $s: another fingerprint"
  done
done
ok "herald show finds the first and last certificate of every client"

step "the CRL files left by the killed server are intact"
for f in "$D/crl/issuing.crl:DER" "$D/crl/issuing.pem:PEM"; do
  openssl crl -in "${f%:*}" -inform "${f#*:}" -noout -CAfile "$ISSUING" 2>&1 | grep -q 'verify OK' ||
    fail "${f%:*} is not a valid CRL after the kill"
done
ok "issuing.crl and issuing.pem parse and verify (number $(crl_number_of "$D/crl/issuing.crl" DER))"

step "restart herald serve on the same data directory"
serve_start "$D"
for path in /healthz /readyz; do
  code=$(curl -s -o "$T/probe" -w '%{http_code}' --max-time 30 "$PUB$path")
  [[ $code == 200 ]] || fail "$path after restart: $code $(cat "$T/probe")"
done
ok "/healthz and /readyz: 200"
API_TOKEN=$TOKEN
api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/client1/req.json"
expect_status 201 "sign after restart"
save_issued after >/dev/null
must_accept "certificate issued after the restart" v_openssl "$ROOT" "$T/after.chain.pem" "$T/after.pem" sslserver load1.internal
validate_issued "certificate issued after the restart" "$ROOT" "$T/after.chain.pem" "$T/after.pem" load1.internal
PRE=$(find "$T/client1" -name 'resp.*.json' | sort -V | tail -1)
python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["certificate"], end="")' "$PRE" >"$T/prekill.pem"
ocsp_query "$T/prekill.pem" -no_nonce
grep -q '^Response verify OK' <<<"$OCSP_OUT" && grep -q ': good$' <<<"$OCSP_OUT" ||
  fail "OCSP for a certificate received before the kill:$(printf '\n%s' "$OCSP_OUT")"
ok "OCSP: the last certificate client 1 received before the kill is good"
ocsp_query "$T/revoked-before.pem" -no_nonce
grep -q '^Response verify OK' <<<"$OCSP_OUT" && grep -q ': revoked$' <<<"$OCSP_OUT" && grep -q 'Reason: keyCompromise' <<<"$OCSP_OUT" ||
  fail "OCSP for the certificate revoked before the load:$(printf '\n%s' "$OCSP_OUT")"
ok "OCSP: $FIRST_VICTIM revoked (keyCompromise)"
curl -sS --fail --max-time 30 -o "$T/crl-after.der" "$PUB/crl/issuing.crl"
python3 - "$T/crl-after.der" "$T/revoker/acknowledged" "$FIRST_VICTIM" <<'EOF' || fail "the served CRL misses acknowledged revocations"
import os, sys
from cryptography import x509
crl = x509.load_der_x509_crl(open(sys.argv[1], "rb").read())
on = {format(r.serial_number, "X") for r in crl}
want = [l.strip() for l in open(sys.argv[2])] if os.path.exists(sys.argv[2]) else []
want.append(sys.argv[3])
missing = [s for s in want if s.lstrip("0") not in on]
assert not missing, f"not on the CRL: {missing}"
print(f"   the served CRL lists all {len(want)} acknowledged revocations")
EOF

step "one more revocation: the CRL number on disk is larger than before the kill"
api POST /v1/revoke -H 'Content-Type: application/json' --data-binary "{\"serial\":\"$(json_get "$PRE" 'd["serial"]')\",\"reason\":\"superseded\"}"
expect_status 200 "revoke after restart"
for i in $(seq 200); do
  after=$(crl_number_of "$D/crl/issuing.crl" DER)
  ((after > CRL_BEFORE)) && openssl crl -in "$D/crl/issuing.crl" -inform DER -noout -text | grep -q "Serial Number: $(json_get "$PRE" 'd["serial"]')" && break
  ((i < 200)) || fail "10 s after the revocation, D/crl/issuing.crl has number $after (before the kill: $CRL_BEFORE) or lacks the serial"
  sleep 0.05
done
served=$(curl -sS --fail --max-time 30 "$PUB/crl/issuing.crl" | openssl crl -inform DER -noout -crlnumber | sed 's/^crlNumber=//')
((served >= after)) || fail "the served CRL number $served is below the one on disk $after"
ok "CRL number: $CRL_BEFORE before the kill -> $after after restart and one revocation (served: $((served)))"

step "SIGTERM stops the restarted server cleanly"
serve_stop 30
[[ $SERVE_RC == 0 ]] || fail "herald serve exited with '$SERVE_RC' on SIGTERM:$(printf '\n%s' "$(tail -20 "$SERVE_LOG")")"
ok "exit 0"

step "PASS serve_durability"
