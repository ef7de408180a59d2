#!/usr/bin/env bash
# Proves that `herald revoke` + `herald crl` produce CRLs that OpenSSL, GnuTLS
# and NSS honour (revoked leaf rejected, other leaf still accepted), that the
# CRL carries number, AKI, serial and reason, that CRL numbers grow, that bad
# revocations fail cleanly, and that revoking the issuing CA shows up on the
# intermediate's CRL and makes chain-wide checking reject its leaves.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_tool openssl certtool vfychain certutil crlutil python3 sqlite3

SERVER_OID=1.3.6.1.5.5.7.3.1
D="$T/pki"

# crl_number FILE.pem: the CRL Number extension, as a decimal integer.
crl_number() {
  python3 -c 'import sys
from cryptography import x509
c = x509.load_pem_x509_crl(open(sys.argv[1], "rb").read())
print(c.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)' "$1"
}
# crl_has_serial FILE.pem SERIAL
crl_has_serial() {
  local want s
  want="$(norm_serial "$2")"
  while read -r s; do
    [[ "$(norm_serial "$s")" == "$want" ]] && return 0
  done < <(openssl crl -in "$1" -noout -text | sed -n 's/^ *Serial Number: *//p')
  return 1
}

step "ca init, issue two server certificates"
"$HERALD" ca init --dir "$D"
ROOT="$D/ca/root.pem" ISSUING="$D/ca/issuing.pem" INTER="$D/ca/intermediate.pem" CHAIN="$D/ca/chain.pem"
BAD=$(herald_issue "$T/bad.json" --dir "$D" --profile server --cn bad.internal --san dns:bad.internal --out-dir "$T/bad")
GOOD=$(herald_issue "$T/good.json" --dir "$D" --profile server --cn good.internal --san dns:good.internal --out-dir "$T/good")
echo "   to revoke: $BAD   control: $GOOD"
[[ "$(cert_serial "$T/bad/cert.pem")" == "$(norm_serial "$BAD")" ]] || fail "issue --json serial $BAD is not the serial of bad/cert.pem"

step "herald revoke $BAD --reason keyCompromise; herald crl --out crl.pem"
"$HERALD" revoke "$BAD" --dir "$D" --reason keyCompromise
"$HERALD" crl --dir "$D" --out "$T/crl.pem"
openssl crl -in "$T/crl.pem" -noout || fail "crl.pem is not a PEM CRL"

step "the CRL's content"
CRLTXT="$(openssl crl -in "$T/crl.pem" -noout -text)"
echo "$CRLTXT" | sed '/Signature Value/,$d' | sed 's/^/   | /' | head -40
grep -q 'X509v3 CRL Number' <<<"$CRLTXT" || fail "CRL has no CRL Number"
grep -q 'X509v3 Authority Key Identifier' <<<"$CRLTXT" || fail "CRL has no Authority Key Identifier"
ski="$(openssl x509 -in "$ISSUING" -noout -ext subjectKeyIdentifier | tail -1 | tr -d ' ')"
aki="$(grep -A1 'X509v3 Authority Key Identifier' <<<"$CRLTXT" | tail -1 | tr -d ' ' | sed 's/^keyid://')"
[[ -n $ski && ${aki^^} == "${ski^^}" ]] || fail "CRL AKI '$aki' is not the issuing CA's SKI '$ski'"
crl_has_serial "$T/crl.pem" "$BAD" || fail "revoked serial $BAD is not on the CRL"
crl_has_serial "$T/crl.pem" "$GOOD" && fail "non-revoked serial $GOOD is on the CRL"
grep -q 'Key Compromise' <<<"$CRLTXT" || fail "CRL does not carry the reason Key Compromise"
[[ "$(openssl crl -in "$T/crl.pem" -noout -issuer)" == "issuer=$(openssl x509 -in "$ISSUING" -noout -subject | sed 's/^subject=//')" ]] ||
  fail "CRL issuer is not the issuing CA's subject"
openssl crl -in "$T/crl.pem" -noout -CAfile "$ISSUING" 2>&1 | grep -q 'verify OK' || fail "CRL signature does not verify with the issuing CA"
ok "number, AKI, serial, reason, issuer, signature"

step "OpenSSL -crl_check"
must_reject "openssl revoked leaf" 'certificate revoked' \
  v_openssl "$ROOT" "$CHAIN" "$T/bad/cert.pem" sslserver bad.internal -crl_check -CRLfile "$T/crl.pem"
must_accept "openssl control leaf, same CRL" \
  v_openssl "$ROOT" "$CHAIN" "$T/good/cert.pem" sslserver good.internal -crl_check -CRLfile "$T/crl.pem"

step "GnuTLS --load-crl"
must_accept "gnutls revoked leaf without the CRL" v_gnutls "$ROOT" "$T/bad/chain.pem" $SERVER_OID bad.internal
must_reject "gnutls revoked leaf" 'revoked' \
  v_gnutls "$ROOT" "$T/bad/chain.pem" $SERVER_OID bad.internal --load-crl "$T/crl.pem"
must_accept "gnutls control leaf, same CRL" \
  v_gnutls "$ROOT" "$T/good/chain.pem" $SERVER_OID good.internal --load-crl "$T/crl.pem"

step "NSS with the CRL in a database"
nss_crl_db "$T/nssdb" "$T/crl.pem"
must_accept "nss revoked leaf without the CRL" v_nss 1 "$ROOT" "$ISSUING" "$INTER" "$T/bad/cert.pem"
must_reject "nss revoked leaf" '-8180|revoked' v_nss 1 "$ROOT" "$ISSUING" "$INTER" "$T/bad/cert.pem" - "$T/nssdb"
must_accept "nss control leaf, same CRL" v_nss 1 "$ROOT" "$ISSUING" "$INTER" "$T/good/cert.pem" - "$T/nssdb"

step "a second herald crl has a larger CRL number"
n1=$(crl_number "$T/crl.pem")
"$HERALD" crl --dir "$D" --out "$T/crl2.pem"
n2=$(crl_number "$T/crl2.pem")
echo "   CRL numbers: $n1 then $n2"
((n2 > n1)) || fail "second CRL number $n2 is not larger than $n1"
crl_has_serial "$T/crl2.pem" "$BAD" || fail "revoked serial $BAD vanished from the second CRL"

step "herald list --status revoked"
"$HERALD" list --dir "$D" --status revoked --json >"$T/revoked.json"
python3 - "$T/revoked.json" "$(norm_serial "$BAD")" "$(norm_serial "$GOOD")" <<'EOF' || fail "list --status revoked is wrong: $(cat "$T/revoked.json")"
import json, sys
rows = json.load(open(sys.argv[1]))
norm = lambda s: s.replace(":", "").upper().lstrip("0") or "0"
serials = [norm(r["serial"]) for r in rows]
assert sys.argv[2] in serials, "revoked serial missing"
assert sys.argv[3] not in serials, "valid serial listed as revoked"
assert all(r["status"] == "revoked" for r in rows), "a row is not revoked"
EOF
ok "revoked serial listed, control not"

step "bad revocations fail cleanly"
rows=$(row_count "$D")
expect_fail "$HERALD" revoke "$BAD" --dir "$D" --reason keyCompromise
err_mentions 'already|revoked' "repeat revocation"
# The same serial spelled upper-case with colons is the same certificate.
colon_serial="$(norm_serial "$BAD" | sed 's/^\(.\)\(\(..\)*\)$/0\1\2/' | sed 's/../&:/g; s/:$//')"
expect_fail "$HERALD" revoke "$colon_serial" --dir "$D"
err_mentions 'already|revoked' "repeat revocation as $colon_serial"
expect_fail "$HERALD" revoke 7e57c0ffee0123456789abcdef --dir "$D"
err_mentions 'not found|unknown|no such|no certificate' "unknown serial"
[[ $(row_count "$D") == "$rows" ]] || fail "failed revocations changed the certificate count"

step "revoke the issuing CA; the intermediate's CRL lists it"
"$HERALD" ca info --dir "$D" --json >"$T/info.json"
python3 - "$T/info.json" <<'EOF' || fail "ca info --json lacks fields:$(printf '\n%s' "$(cat "$T/info.json")")"
import json, sys
d = json.load(open(sys.argv[1]))
for ca in ("root", "intermediate", "issuing"):
    for k in ("serial", "subject", "not_before", "not_after", "fingerprint_sha256", "key_type", "path_len"):
        assert k in d[ca], f"{ca}.{k} missing"
EOF
ISS_SERIAL="$(json_get "$T/info.json" 'd["issuing"]["serial"]')"
[[ "$(norm_serial "$ISS_SERIAL")" == "$(cert_serial "$ISSUING")" ]] ||
  fail "ca info issuing serial $ISS_SERIAL is not the serial of ca/issuing.pem ($(cert_serial "$ISSUING"))"
"$HERALD" crl --dir "$D" --ca intermediate --out "$T/icrl0.pem"
"$HERALD" crl --dir "$D" --ca root --out "$T/rcrl.pem"
crl_has_serial "$T/icrl0.pem" "$ISS_SERIAL" && fail "issuing CA is on the intermediate CRL before its revocation"
cat "$T/crl.pem" "$T/icrl0.pem" "$T/rcrl.pem" >"$T/all0.crl"
must_accept "openssl -crl_check_all, control leaf, before CA revocation" \
  v_openssl "$ROOT" "$CHAIN" "$T/good/cert.pem" sslserver good.internal -crl_check_all -CRLfile "$T/all0.crl"

# Without --yes: the blast radius is printed and nothing is revoked.
if "$HERALD" revoke "$ISS_SERIAL" --dir "$D" --reason keyCompromise >"$T/ca-revoke.out" 2>&1; then
  fail "herald revoke of the issuing CA went ahead without --yes"
fi
grep -q "certificates chain to it" "$T/ca-revoke.out" || fail "no blast radius before revoking a CA: $(cat "$T/ca-revoke.out")"
grep -q -- "--yes" "$T/ca-revoke.out" || fail "the refusal does not say how to go on: $(cat "$T/ca-revoke.out")"
"$HERALD" show --dir "$D" "$ISS_SERIAL" --json | grep -q '"status": "valid"' ||
  fail "the issuing CA changed although herald revoke refused"
ok "without --yes: refused, the blast radius printed ($(grep -m1 'certificates chain' "$T/ca-revoke.out" | sed 's/^ *//'))"
"$HERALD" revoke "$ISS_SERIAL" --dir "$D" --reason keyCompromise --yes >/dev/null 2>"$T/ca-revoke.err"
"$HERALD" crl --dir "$D" --ca intermediate --out "$T/icrl.pem"
ICRLTXT="$(openssl crl -in "$T/icrl.pem" -noout -text)"
crl_has_serial "$T/icrl.pem" "$ISS_SERIAL" || fail "issuing CA serial $ISS_SERIAL is not on the intermediate CRL:$(printf '\n%s' "$ICRLTXT")"
[[ "$(openssl crl -in "$T/icrl.pem" -noout -issuer)" == "issuer=$(openssl x509 -in "$INTER" -noout -subject | sed 's/^subject=//')" ]] ||
  fail "intermediate CRL issuer is not the intermediate CA's subject"
openssl crl -in "$T/icrl.pem" -noout -CAfile "$INTER" 2>&1 | grep -q 'verify OK' || fail "intermediate CRL signature does not verify"
ok "issuing CA $ISS_SERIAL is on the intermediate CRL"

step "chain-wide CRL checks reject a leaf under the revoked issuing CA"
must_reject "openssl -crl_check_all (issuing + intermediate CRLs)" 'certificate revoked' \
  v_openssl "$ROOT" "$CHAIN" "$T/good/cert.pem" sslserver good.internal -crl_check_all -CRLfile "$T/crl.pem" -CRLfile "$T/icrl.pem"
cat "$T/crl.pem" "$T/icrl.pem" "$T/rcrl.pem" >"$T/all.crl"
must_reject "openssl -crl_check_all (all three CRLs)" 'at 1 depth lookup: certificate revoked' \
  v_openssl "$ROOT" "$CHAIN" "$T/good/cert.pem" sslserver good.internal -crl_check_all -CRLfile "$T/all.crl"
must_reject "gnutls with all CRLs" 'revoked' \
  v_gnutls "$ROOT" "$T/good/chain.pem" $SERVER_OID good.internal --load-crl "$T/all.crl"
nss_crl_db "$T/nssdb2" "$T/crl.pem" "$T/icrl.pem" "$T/rcrl.pem"
must_reject "nss chain-wide CRL check" '-8180|revoked' \
  v_nss 1 "$ROOT" "$ISSUING" "$INTER" "$T/good/cert.pem" - "$T/nssdb2" chain

step "nothing more is issued under the revoked issuing CA"
rows=$(row_count "$D")
expect_fail "$HERALD" issue --dir "$D" --profile server --cn after.internal --out-dir "$T/after"
err_mentions 'issuing CA certificate .* is revoked'
[[ $(row_count "$D") == "$rows" ]] || fail "a refused issuance changed the inventory"
[[ ! -e $T/after ]] || fail "a refused issuance wrote files"
ok "issuance refused, inventory unchanged"

step "PASS revocation"
