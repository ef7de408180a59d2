#!/usr/bin/env bash
# Proves `herald report`: compliance findings on a real inventory, each
# confirmed with openssl on the certificate itself (a lifetime above the
# policy, the signature algorithms), an HTML page that escapes what it
# shows, and the blast radius of the issuing CA, the root and a leaf,
# before and after a revocation.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_tool openssl python3

D="$T/pki"
step "ca init; three certificates, two with owners"
"$HERALD" ca init --dir "$D" >/dev/null
LONG=$(herald_issue "$T/long.json" --dir "$D" --profile server --cn long.internal --ttl 300d --owner team=web --out-dir "$T/long")
NOOWN=$(herald_issue "$T/noown.json" --dir "$D" --profile client --cn batch --ttl 30d --out-dir "$T/noown")
SHORT=$(herald_issue "$T/short.json" --dir "$D" --profile server --cn short.internal --ttl 10d --owner team=db --out-dir "$T/short")
ok "issued $LONG (300d, team=web), $NOOWN (no owner), $SHORT (team=db)"

step "the policy tightens to 90 days: compliance finds the 300-day certificate, and the one without owner"
python3 - "$D/herald.toml" <<'PY'
import re, sys
p = sys.argv[1]
s = open(p).read()
s = re.sub(r'(\[policy\.server\]\ndefault_ttl = "90d"\nmax_ttl = )"397d"', r'\1"90d"', s)
open(p, "w").write(s)
PY
grep -A2 '^\[policy.server\]' "$D/herald.toml" | grep -q 'max_ttl = "90d"' || fail "could not lower policy.server.max_ttl"
"$HERALD" report compliance --dir "$D" --json >"$T/c.json" || fail "report compliance failed"
python3 - "$T/c.json" "$(norm_serial "$LONG")" "$(norm_serial "$NOOWN")" <<'PY' || fail "compliance findings are wrong (above)"
import json, sys
r = json.load(open(sys.argv[1]))
rules = {x["id"]: x for x in r["rules"]}
def serials(rule): return [e["serial"].lstrip("0") for e in rules[rule]["examples"]]
assert rules["lifetime-above-policy"]["count"] == 1, rules["lifetime-above-policy"]
assert serials("lifetime-above-policy") == [sys.argv[2].lstrip("0")], serials("lifetime-above-policy")
assert rules["no-owner"]["count"] == 1 and serials("no-owner") == [sys.argv[3].lstrip("0")], rules["no-owner"]
for clean in ("weak-key", "weak-signature", "cn-only-name", "ca-expires-before-children"):
    assert rules[clean]["count"] == 0, rules[clean]
assert r["certificates_checked"] == 6, r["certificates_checked"]  # 3 CAs, 3 leaves
print("   findings:", {k: v["count"] for k, v in rules.items()})
PY
days=$(python3 - "$T/long/cert.pem" <<'PY'
import subprocess, sys, datetime
out = subprocess.run(["openssl", "x509", "-in", sys.argv[1], "-noout", "-startdate", "-enddate"], capture_output=True, text=True, check=True).stdout
d = dict(l.split("=", 1) for l in out.split("\n") if l)
f = "%b %d %H:%M:%S %Y %Z"
print((datetime.datetime.strptime(d["notAfter"], f) - datetime.datetime.strptime(d["notBefore"], f)).days)
PY
)
((days > 90)) || fail "openssl says the flagged certificate lives $days days, not above 90"
for c in long noown short; do
  openssl x509 -in "$T/$c/cert.pem" -noout -text | grep -q 'Signature Algorithm: ecdsa-with-SHA256' ||
    fail "$c is not ecdsa-with-SHA256, yet no weak-signature finding"
done
ok "lifetime-above-policy confirmed by openssl ($days days > 90); signatures ecdsa-with-SHA256 (no weak-signature finding)"

step "--html: a self-contained page, every rule listed"
"$HERALD" report compliance --dir "$D" --html --out "$T/c.html" 2>/dev/null || fail "report compliance --html failed"
for id in weak-key weak-signature lifetime-above-policy cn-only-name no-owner ca-expires-before-children; do
  grep -q "$id" "$T/c.html" || fail "the HTML report does not list $id"
done
grep -qi '<script\|src=\|href="http' "$T/c.html" && fail "the HTML report loads or runs something"
"$HERALD" report compliance --dir "$D" --json --html >/dev/null 2>&1 && fail "--json --html together accepted"
ok "$(wc -c <"$T/c.html") bytes, no script, nothing fetched"

step "blast radius: the issuing CA, the root, a leaf; then after a revocation"
blast() { "$HERALD" report blast-radius --dir "$D" "$@" --json; }
blast --ca issuing >"$T/b1.json" || fail "blast-radius --ca issuing failed"
python3 - "$T/b1.json" <<'PY' || fail "issuing CA's blast radius is wrong (above)"
import json, sys
b = json.load(open(sys.argv[1]))
assert (b["total"], b["valid"], b["revoked"]) == (3, 3, 0), b
assert b["valid_by_owner"] == {"team=web": 1, "team=db": 1, "(no owner)": 1}, b["valid_by_owner"]
assert b["valid_by_profile"] == {"server": 2, "client": 1}, b["valid_by_profile"]
PY
"$HERALD" revoke --dir "$D" "$SHORT" --reason superseded >/dev/null
blast --ca issuing >"$T/b2.json"
python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); assert (b["total"], b["valid"], b["revoked"]) == (3, 2, 1), b' "$T/b2.json" ||
  fail "after revoking $SHORT the blast radius does not count it revoked"
blast --ca root >"$T/b3.json"
python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); assert b["total"] == 5 and len(b["cas"]) == 2, b' "$T/b3.json" ||
  fail "the root's blast radius is not the two CAs and three leaves"
"$HERALD" report blast-radius --dir "$D" "$LONG" | grep -q "alone" || fail "a leaf's blast radius is not itself alone"
ok "issuing CA: 3 below it (3 valid -> 2 valid + 1 revoked), root: 2 CAs + 3 leaves, a leaf: alone"

step "bad input: a clear error"
rc1=0 rc2=0
"$HERALD" report blast-radius --dir "$D" "$LONG" --ca issuing >/dev/null 2>"$T/e1" || rc1=$?
"$HERALD" report blast-radius --dir "$D" 7e57c0ffee >/dev/null 2>"$T/e2" || rc2=$?
((rc1 == 64)) && grep -q "SERIAL or --ca" "$T/e1" || fail "serial and --ca together: exit $rc1 $(cat "$T/e1")"
((rc2 != 0)) && grep -q "no certificate with serial" "$T/e2" || fail "unknown serial: exit $rc2 $(cat "$T/e2")"
ok "both refused with what to do"
echo "== PASS report"
