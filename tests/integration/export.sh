#!/usr/bin/env bash
# Proves that what `herald issue` writes is usable by other tools: a PKCS#12
# that OpenSSL and Java keytool open, a chain.pem/fullchain.pem in leaf-to-root
# order, an encrypted or a 0600 key.pem; and that `show`/`list` report the
# same certificate.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_tool openssl keytool python3 sqlite3

D="$T/pki"
subject() { openssl x509 -in "$1" -noout -subject -nameopt RFC2253 | sed 's/^subject=//'; }
issuer() { openssl x509 -in "$1" -noout -issuer -nameopt RFC2253 | sed 's/^issuer=//'; }
pubkey_of_cert() { openssl x509 -in "$1" -noout -pubkey; }

step "ca init; issue --p12"
"$HERALD" ca init --dir "$D"
printf 'p12-secret-%s\n' "$RANDOM$RANDOM" >"$T/p12.pass"
P12PASS="$(head -n1 "$T/p12.pass")"
SERIAL=$(herald_issue "$T/issue.json" --dir "$D" --profile server --cn export.internal --san dns:export.internal \
  --out-dir "$T/out" --p12 --p12-passphrase-file "$T/p12.pass")
echo "   serial $SERIAL"
O="$T/out"
for f in cert.pem key.pem chain.pem fullchain.pem bundle.p12; do [[ -s $O/$f ]] || fail "issue did not write $f"; done
[[ "$(cert_serial "$O/cert.pem")" == "$(norm_serial "$SERIAL")" ]] || fail "issue --json serial $SERIAL is not cert.pem's serial"

step "openssl pkcs12 opens bundle.p12"
openssl pkcs12 -in "$O/bundle.p12" -passin "file:$T/p12.pass" -nokeys >"$T/p12-certs.pem" ||
  fail "openssl pkcs12 cannot read bundle.p12 with the passphrase file"
grep -q "subject=.*export.internal" "$T/p12-certs.pem" || fail "bundle.p12 does not hold the leaf:$(printf '\n%s' "$(grep -E 'subject|issuer' "$T/p12-certs.pem")")"
split_pem "$T/p12-certs.pem" "$T/p12c"
found=0
for c in "$T"/p12c.*.pem; do [[ "$(fingerprint "$c")" == "$(fingerprint "$O/cert.pem")" ]] && found=1; done
((found)) || fail "no certificate in bundle.p12 equals cert.pem"
openssl pkcs12 -in "$O/bundle.p12" -passin "file:$T/p12.pass" -nocerts -nodes 2>/dev/null | openssl pkey -pubout >"$T/p12-pub.pem" ||
  fail "cannot extract the private key from bundle.p12"
cmp -s "$T/p12-pub.pem" <(pubkey_of_cert "$O/cert.pem") || fail "bundle.p12's key does not match cert.pem"
openssl pkcs12 -in "$O/bundle.p12" -passin pass:wrong -nokeys >/dev/null 2>&1 && fail "bundle.p12 opens with a wrong passphrase"
[[ $(stat -c %a "$O/bundle.p12") == 600 ]] || fail "bundle.p12 has mode $(stat -c %a "$O/bundle.p12"), want 600"
ok "leaf and its key inside; wrong passphrase refused; mode 0600"

step "keytool lists a PrivateKeyEntry"
keytool -list -keystore "$O/bundle.p12" -storetype PKCS12 -storepass "$P12PASS" >"$T/keytool.out" 2>&1 ||
  fail "keytool cannot open bundle.p12:$(printf '\n%s' "$(cat "$T/keytool.out")")"
sed 's/^/   | /' "$T/keytool.out"
grep -q 'PrivateKeyEntry' "$T/keytool.out" || fail "keytool lists no PrivateKeyEntry"

step "chain.pem = leaf, issuing, intermediate; fullchain.pem adds the root"
[[ $(count_certs "$O/chain.pem") == 3 ]] || fail "chain.pem holds $(count_certs "$O/chain.pem") certificates, want 3"
[[ $(count_certs "$O/fullchain.pem") == 4 ]] || fail "fullchain.pem holds $(count_certs "$O/fullchain.pem") certificates, want 4"
split_pem "$O/chain.pem" "$T/chain"
split_pem "$O/fullchain.pem" "$T/full"
[[ "$(fingerprint "$T/chain.1.pem")" == "$(fingerprint "$O/cert.pem")" ]] || fail "chain.pem[0] is not the leaf"
[[ "$(fingerprint "$T/chain.2.pem")" == "$(fingerprint "$D/ca/issuing.pem")" ]] || fail "chain.pem[1] is not ca/issuing.pem"
[[ "$(fingerprint "$T/chain.3.pem")" == "$(fingerprint "$D/ca/intermediate.pem")" ]] || fail "chain.pem[2] is not ca/intermediate.pem"
for i in 1 2 3; do
  [[ "$(fingerprint "$T/full.$i.pem")" == "$(fingerprint "$T/chain.$i.pem")" ]] || fail "fullchain.pem[$((i - 1))] differs from chain.pem"
done
[[ "$(fingerprint "$T/full.4.pem")" == "$(fingerprint "$D/ca/root.pem")" ]] || fail "fullchain.pem[3] is not ca/root.pem"
for i in 1 2 3; do
  echo "   [$((i - 1))] subject: $(subject "$T/full.$i.pem")"
  echo "       issuer:  $(issuer "$T/full.$i.pem")"
  [[ "$(issuer "$T/full.$i.pem")" == "$(subject "$T/full.$((i + 1)).pem")" ]] ||
    fail "fullchain.pem[$((i - 1))]'s issuer is not the subject of the next certificate"
done
[[ "$(issuer "$T/full.4.pem")" == "$(subject "$T/full.4.pem")" ]] || fail "the last certificate of fullchain.pem is not self-issued"
ok "order leaf -> issuing -> intermediate (-> root), each issued by the next"

step "key.pem without --key-passphrase-file: plaintext, mode 0600, matches the certificate"
[[ $(stat -c %a "$O/key.pem") == 600 ]] || fail "key.pem has mode $(stat -c %a "$O/key.pem"), want 600"
cmp -s <(openssl pkey -in "$O/key.pem" -passin pass: -pubout 2>/dev/null) <(pubkey_of_cert "$O/cert.pem") ||
  fail "key.pem does not open without a passphrase or does not match cert.pem"

step "issue --key-passphrase-file: key.pem is encrypted"
printf 'key-secret-%s\n' "$RANDOM$RANDOM" >"$T/key.pass"
herald_issue "$T/issue2.json" --dir "$D" --profile client --cn enc.internal --san dns:enc.internal \
  --out-dir "$T/enc" --key-passphrase-file "$T/key.pass" >/dev/null
[[ "$(head -n1 "$T/enc/key.pem")" == "-----BEGIN ENCRYPTED PRIVATE KEY-----" ]] ||
  fail "key.pem begins with '$(head -n1 "$T/enc/key.pem")', want ENCRYPTED PRIVATE KEY"
openssl pkey -in "$T/enc/key.pem" -passin "file:$T/key.pass" -noout || fail "openssl pkey cannot open key.pem with the passphrase file"
openssl pkey -in "$T/enc/key.pem" -passin pass:wrong -noout 2>/dev/null && fail "key.pem opens with a wrong passphrase"
cmp -s <(openssl pkey -in "$T/enc/key.pem" -passin "file:$T/key.pass" -pubout) <(pubkey_of_cert "$T/enc/cert.pem") ||
  fail "the encrypted key.pem does not match its cert.pem"
[[ $(stat -c %a "$T/enc/key.pem") == 600 ]] || fail "encrypted key.pem has mode $(stat -c %a "$T/enc/key.pem"), want 600"
ok "ENCRYPTED PRIVATE KEY, opens with the passphrase file only"

step "issue without --json prints a 'serial:' line"
"$HERALD" issue --dir "$D" --profile server --cn human.internal --san dns:human.internal --out-dir "$T/human" >"$T/human.txt"
sed 's/^/   | /' "$T/human.txt"
hs="$(sed -n 's/^serial:[[:space:]]*\([0-9A-Fa-f:]*\)[[:space:]]*$/\1/p' "$T/human.txt")"
[[ -n $hs ]] || fail "no 'serial: HEX' line in the output of issue"
[[ "$(norm_serial "$hs")" == "$(cert_serial "$T/human/cert.pem")" ]] || fail "'serial: $hs' is not the serial of the issued certificate"

step "herald show SERIAL --pem is cert.pem"
"$HERALD" show "$SERIAL" --dir "$D" --pem >"$T/show.pem"
[[ $(count_certs "$T/show.pem") == 1 ]] || fail "show --pem printed $(count_certs "$T/show.pem") certificates"
[[ "$(fingerprint "$T/show.pem")" == "$(fingerprint "$O/cert.pem")" ]] || fail "show --pem differs from cert.pem"
cmp -s <(openssl x509 -in "$T/show.pem") "$O/cert.pem" || echo "   note: same certificate, different PEM text"
# SERIAL is case-insensitive and colons are optional.
s=$(norm_serial "$SERIAL")
((${#s} % 2)) && s="0$s"
colon="$(sed 's/../&:/g; s/:$//' <<<"$s")"
"$HERALD" show "${colon,,}" --dir "$D" --pem >"$T/show2.pem" || fail "show does not accept the serial as ${colon,,}"
[[ "$(fingerprint "$T/show2.pem")" == "$(fingerprint "$O/cert.pem")" ]] || fail "show ${colon,,} printed another certificate"
ok "same certificate, also for serial spelled ${colon,,}"

step "herald list --json"
"$HERALD" list --dir "$D" --json >"$T/list.json"
python3 - "$T/list.json" "$(norm_serial "$SERIAL")" <<'EOF' || fail "list --json is wrong:$(printf '\n%s' "$(head -c 3000 "$T/list.json")")"
import json, sys
rows = json.load(open(sys.argv[1]))
assert isinstance(rows, list), "not a JSON array"
norm = lambda s: s.replace(":", "").upper().lstrip("0") or "0"
mine = [r for r in rows if norm(r["serial"]) == sys.argv[2]]
assert len(mine) == 1, f"serial {sys.argv[2]} appears {len(mine)} times"
r = mine[0]
for k in ("serial", "subject", "sans", "profile", "status", "not_after", "fingerprint_sha256", "owner"):
    assert k in r, f"row lacks {k}"
assert r["profile"] == "server", r["profile"]
assert r["status"] == "valid", r["status"]
print(f"   {len(rows)} rows; ours: " + json.dumps({k: r[k] for k in ('serial', 'profile', 'status', 'not_after')}))
EOF
fp="$(fingerprint "$O/cert.pem" | tr -d ':' | tr '[:upper:]' '[:lower:]')"
json_get "$T/list.json" '[r["fingerprint_sha256"] for r in d]' | tr -d ':' | tr '[:upper:]' '[:lower:]' | grep -q "$fp" ||
  fail "list --json has no row with cert.pem's SHA-256 fingerprint $fp"

step "herald list --status revoked is empty before any revocation"
"$HERALD" list --dir "$D" --status revoked --json >"$T/revoked.json"
[[ "$(json_get "$T/revoked.json" 'len(d)')" == 0 ]] || fail "list --status revoked --json is not empty: $(cat "$T/revoked.json")"
"$HERALD" list --dir "$D" --status revoked >"$T/revoked.txt"
grep -qi "$(norm_serial "$SERIAL")" "$T/revoked.txt" && fail "list --status revoked shows $SERIAL"
ok "empty"

step "PASS export"
