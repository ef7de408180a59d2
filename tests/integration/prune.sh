#!/usr/bin/env bash
# Proves `herald inventory prune` (retention, issue #15): certificates that
# expired before the cutoff go, each archived first as a JSON line whose
# certificate openssl reads back; unexpired ones stay, a revoked unexpired
# one stays on the CRL; the prune is audited; a cutoff in the future is
# refused (exit 64) and changes nothing; a second run prunes nothing. Then
# `herald serve` with [server] retention = "1m" prunes, by itself, two
# certificates that expired more than a minute before, logged and audited.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$IT_DIR/serve_lib.sh"
# The store: sqlite (default) or postgres (a throwaway PostgreSQL, pg_lib.sh).
STORE=${1:-sqlite}
case $STORE in
  sqlite) need_tool openssl python3 sqlite3 curl ;;
  postgres)
    source "$IT_DIR/pg_lib.sh"
    need_tool openssl python3 curl runuser
    ;;
  *) fail "usage: prune.sh [sqlite|postgres]" ;;
esac
# sql QUERY: one query on the CA's store, rows as "a|b" lines.
sql() {
  if [[ $STORE == postgres ]]; then pg_sql "$1" herald; else sqlite3 "$D/herald.db" "$1"; fi
}

D="$T/pki"
list_serials() { "$HERALD" list --dir "$D" --json | python3 -c 'import json,sys; print("\n".join(sorted(r["serial"].lstrip("0") for r in json.load(sys.stdin))))'; }

step "ca init; three one-minute certificates (one revoked), two 30-day ones (one revoked), two 2-minute ones"
if [[ $STORE == postgres ]]; then
  pg_start
  pg_create_db herald "pg-$(openssl rand -hex 12)"
  serve_init "$D" --store "$PG_URL" --store-password-file "$T/herald.pass"
else
  serve_init "$D"
fi
E1=$(herald_issue "$T/e1.json" --dir "$D" --profile server --cn e1.internal --ttl 1m --owner team=old --out-dir "$T/e1")
E2=$(herald_issue "$T/e2.json" --dir "$D" --profile client --cn e2 --ttl 1m --out-dir "$T/e2")
E3=$(herald_issue "$T/e3.json" --dir "$D" --profile server --cn e3.internal --ttl 1m --out-dir "$T/e3")
L1=$(herald_issue "$T/l1.json" --dir "$D" --profile server --cn l1.internal --ttl 30d --out-dir "$T/l1")
L2=$(herald_issue "$T/l2.json" --dir "$D" --profile server --cn l2.internal --ttl 30d --out-dir "$T/l2")
S1=$(herald_issue "$T/s1.json" --dir "$D" --profile server --cn s1.internal --ttl 2m --out-dir "$T/s1")
S2=$(herald_issue "$T/s2.json" --dir "$D" --profile client --cn s2 --ttl 2m --out-dir "$T/s2")
"$HERALD" revoke "$E3" --dir "$D" --reason keyCompromise >/dev/null || fail "revoke E3 failed"
"$HERALD" revoke "$L1" --dir "$D" --reason keyCompromise >/dev/null || fail "revoke L1 failed"
EXPIRY=$(openssl x509 -in "$T/e3/cert.pem" -noout -enddate | sed 's/^notAfter=//')
EXPIRY_S=$(date -u -d "$EXPIRY" +%s)
BEFORE=$(list_serials)
N_BEFORE=$(grep -c '' <<<"$BEFORE")
S_EXPIRY_S=$(date -u -d "$(openssl x509 -in "$T/s2/cert.pem" -noout -enddate | sed 's/^notAfter=//')" +%s)
ok "issued; $N_BEFORE records (with the 3 CAs); the one-minute ones expire at $EXPIRY"

step "a cutoff in the future is refused with exit 64 and changes nothing"
rc=0
"$HERALD" inventory prune --dir "$D" --expired-before 2099-01-01 >"$T/future.out" 2>"$T/future.err" || rc=$?
[[ $rc == 64 ]] || fail "future cutoff: exit $rc, expected 64 ($(cat "$T/future.err"))"
grep -qi "future" "$T/future.err" || fail "the error does not say the date is in the future: $(cat "$T/future.err")"
expect_fail "$HERALD" inventory prune --dir "$D" --expired-before yesterday
err_mentions "expired-before" "names the option"
[[ "$(list_serials)" == "$BEFORE" ]] || fail "a refused prune changed the inventory"
ok "refused: $(cat "$T/future.err")"

step "waiting for the one-minute certificates to expire"
while (($(date -u +%s) <= EXPIRY_S + 1)); do sleep 1; done
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
ok "now $NOW"

step "--expired-before 1h prunes nothing (they expired a minute ago); --dry-run counts 3 before now"
"$HERALD" inventory prune --dir "$D" --expired-before 1h --dry-run --json >"$T/dry1h.json"
[[ $(json_get "$T/dry1h.json" 'd["would_prune"]') == 0 ]] || fail "1h: $(cat "$T/dry1h.json")"
"$HERALD" inventory prune --dir "$D" --expired-before "$NOW" --dry-run --json >"$T/dry.json"
[[ $(json_get "$T/dry.json" 'd["would_prune"]') == 3 ]] || fail "dry run: $(cat "$T/dry.json")"
[[ "$(list_serials)" == "$BEFORE" ]] || fail "--dry-run changed the inventory"
ok "dry runs: 0 and 3, nothing deleted"

step "prune --batch 2 --archive: three records go, archived first"
"$HERALD" inventory prune --dir "$D" --expired-before "$NOW" --batch 2 --archive "$T/archive.jsonl" \
  >"$T/prune.out" 2>"$T/prune.err" || fail "prune failed: $(cat "$T/prune.err")"
cat "$T/prune.out"
grep -q "pruned 3 certificates" "$T/prune.out" || fail "summary: $(cat "$T/prune.out")"
[[ $(grep -c '^pruned' "$T/prune.err") == 2 ]] || fail "expected two batches of progress: $(cat "$T/prune.err")"
AFTER=$(list_serials)
[[ $(grep -c '' <<<"$AFTER") == $((N_BEFORE - 3)) ]] || fail "herald list shows $(grep -c '' <<<"$AFTER") records, expected $((N_BEFORE - 3))"
for s in "$E1" "$E2" "$E3"; do
  grep -qx "$(norm_serial "$s")" <<<"$AFTER" && fail "pruned $s is still listed"
done
for s in "$L1" "$L2" "$S1" "$S2"; do
  grep -qx "$(norm_serial "$s")" <<<"$AFTER" || fail "unexpired $s was pruned"
done
expect_fail "$HERALD" show "$E1" --dir "$D"
ok "herald list: $N_BEFORE -> $((N_BEFORE - 3)); the unexpired ones and the CAs stay"

step "the archive: one JSON line per pruned record; openssl reads each certificate"
[[ -f "$T/archive.jsonl" ]] || fail "no archive written"
[[ $(stat -c %a "$T/archive.jsonl") == 600 ]] || fail "archive mode $(stat -c %a "$T/archive.jsonl"), expected 600"
python3 - "$T/archive.jsonl" "$T/arch" "$E1" "$E2" "$E3" <<'PY' || fail "archive lines are wrong (above)"
import json, os, sys
path, out, *want = sys.argv[1:]
lines = open(path).read().splitlines()
assert len(lines) == 3, lines
os.makedirs(out, exist_ok=True)
seen = []
for line in lines:
    r = json.loads(line)
    for k in ("serial", "subject", "not_after", "fingerprint_sha256", "profile", "status", "pem", "pruned_at"):
        assert k in r, (k, r)
    assert r["pem"].startswith("-----BEGIN CERTIFICATE-----"), r["pem"][:40]
    open(os.path.join(out, r["serial"] + ".pem"), "w").write(r["pem"])
    seen.append(r["serial"].lstrip("0").upper())
    if r["serial"].lstrip("0").upper() == want[0].lstrip("0").upper():
        assert r["owner"] == {"team": "old"}, r["owner"]
    if r["serial"].lstrip("0").upper() == want[2].lstrip("0").upper():
        assert r["status"] == "revoked" and r["revocation_reason"] == "keyCompromise", r
assert sorted(seen) == sorted(w.lstrip("0").upper() for w in want), (seen, want)
PY
for f in "$T"/arch/*.pem; do
  s=$(cert_serial "$f") || fail "openssl cannot read $f"
  orig=""
  for c in e1 e2 e3; do [[ $(cert_serial "$T/$c/cert.pem") == "$s" ]] && orig=$c; done
  [[ -n $orig ]] || fail "archived certificate $s is none of the pruned ones"
  [[ $(fingerprint "$f") == $(fingerprint "$T/$orig/cert.pem") ]] || fail "archived $orig differs from the issued certificate"
done
ok "3 lines; each certificate read by openssl, identical to the one issued"

step "the CRL still lists the unexpired revoked certificate"
"$HERALD" crl --dir "$D" --out "$T/crl.pem" >/dev/null
openssl crl -in "$T/crl.pem" -noout -text | sed -n 's/^ *Serial Number: *//p' >"$T/crl.serials"
grep -qix "0*$(norm_serial "$L1")" <(sed 's/^0*//' "$T/crl.serials") || fail "revoked unexpired $L1 is not on the CRL: $(cat "$T/crl.serials")"
grep -qix "$(norm_serial "$E3")" <(sed 's/^0*//' "$T/crl.serials") && fail "the expired (pruned) $E3 is on the CRL"
ok "L1 listed; E3 (expired before the prune) not"

step "the prune is audited; a second run prunes nothing"
sql "select detail from audit_log where action = 'prune'" >"$T/audit.txt"
[[ $(grep -c '' "$T/audit.txt") == 1 ]] || fail "expected one prune audit entry: $(cat "$T/audit.txt")"
python3 - "$T/audit.txt" "$T/archive.jsonl" <<'PY' || fail "audit entry is wrong"
import json, sys
d = json.loads(open(sys.argv[1]).read())
assert d["count"] == 3 and d["archive"] == sys.argv[2] and d["expired_before"], d
print("   audit:", d)
PY
[[ $(sql "select count(*) from audit_log where action = 'issue'") == 10 ]] ||
  fail "issue audit entries were touched"
"$HERALD" inventory prune --dir "$D" --expired-before "$NOW" --json >"$T/again.json"
[[ $(json_get "$T/again.json" 'd["pruned"]') == 0 ]] || fail "second run: $(cat "$T/again.json")"
[[ "$(list_serials)" == "$AFTER" ]] || fail "the second run changed the inventory"
ok "audit entry with count and archive; the issue entries kept; second run: 0"

step "herald serve with [server] retention = \"1m\" prunes the 2-minute certificates a minute after they expire"
while (($(date -u +%s) <= S_EXPIRY_S + 62)); do sleep 1; done
set_server_option "$D" retention '"1m"'
serve_start "$D"
for _ in $(seq 300); do
  grep -q 'retention: pruned' "$SERVE_LOG" && break
  sleep 0.1
done
grep 'retention: pruned' "$SERVE_LOG" || fail "no retention log line within 30 s:$(printf '\n%s' "$(tail -20 "$SERVE_LOG")")"
grep 'retention: pruned' "$SERVE_LOG" | grep -q '"count":2' || fail "the log line does not count 2: $(grep 'retention' "$SERVE_LOG")"
SERVED=$(list_serials)
for s in "$S1" "$S2"; do
  grep -qx "$(norm_serial "$s")" <<<"$SERVED" && fail "serve did not prune expired $s"
done
for s in "$L1" "$L2"; do
  grep -qx "$(norm_serial "$s")" <<<"$SERVED" || fail "serve pruned unexpired $s"
done
sql "select detail from audit_log where action = 'prune' and detail like '%\"by\":\"serve\"%'" >"$T/audit2.txt"
[[ $(grep -c '' "$T/audit2.txt") == 1 ]] || fail "expected one prune audit entry by serve: $(cat "$T/audit2.txt")"
grep -q '"count":2' "$T/audit2.txt" || fail "serve's audit entry: $(cat "$T/audit2.txt")"
curl -sS --fail -o "$T/served.crl" "$PUB/crl/issuing.crl" || fail "cannot fetch serve's CRL"
openssl crl -inform DER -in "$T/served.crl" -noout -text | sed -n 's/^ *Serial Number: *//p' | sed 's/^0*//' >"$T/served.serials"
grep -qix "$(norm_serial "$L1")" "$T/served.serials" || fail "serve's CRL lost the revoked unexpired $L1: $(cat "$T/served.serials")"
ok "serve's CRL still lists $L1"
serve_stop
[[ $SERVE_RC == 0 ]] || fail "herald serve exited with $SERVE_RC"
ok "serve pruned S1 and S2 (log line, audit entry by serve); L1 and L2 stay"

echo "PASS prune ($STORE)"
