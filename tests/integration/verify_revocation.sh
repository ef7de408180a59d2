#!/usr/bin/env bash
# `herald verify --ocsp` and `--crl-fetch` against a running `herald serve`:
# a fresh certificate is valid by both; after `herald revoke` both say
# revoked (exit 81), and the rejection is confirmed by OpenSSL on its own
# (`openssl verify -crl_check` with the CRL from the certificate's CDP,
# `openssl ocsp` asking the responder in its AIA). A certificate whose
# responder and CRL URLs point at a closed port: revocation_unavailable
# under --revocation hard (exit 81), a warning under soft (exit 0), the URL
# and the reason shown either way.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$IT_DIR/serve_lib.sh"
need_tool openssl curl python3

step "a hierarchy served by herald serve, a server certificate"
serve_init "$T/pki"
serve_start "$D"
"$HERALD" issue --dir "$D" --profile server --cn web.internal --out-dir "$T/web" >/dev/null 2>&1 || fail "issue"
split_pem "$T/web/chain.pem" "$T/webchain"  # .1 leaf, .2 issuing, .3 intermediate
SERIAL=$(openssl x509 -in "$T/web/cert.pem" -noout -serial | cut -d= -f2)
OCSP_URL=$(openssl x509 -in "$T/web/cert.pem" -noout -ocsp_uri)
CRL_URL=$(openssl x509 -in "$T/web/cert.pem" -noout -ext crlDistributionPoints | sed -n 's/^ *URI://p' | head -1)
[[ $OCSP_URL == "$PUB/ocsp" && $CRL_URL == "$PUB/crl/issuing.crl" ]] || fail "AIA/CDP not as expected: '$OCSP_URL' '$CRL_URL'"
ok "serial $SERIAL, OCSP $OCSP_URL, CRL $CRL_URL"

# hv NAME EXPECTED_EXIT [args...]: herald verify, text then --json; $OUT is
# the text, $CODE the first finding's code ("valid" when none).
hv() {
  local name=$1 want=$2 rc=0
  shift 2
  "$HERALD" verify "$@" >"$T/$name.out" 2>"$T/$name.err" || rc=$?
  OUT=$(cat "$T/$name.out")
  [[ $rc == "$want" ]] || fail "$name: herald verify exited $rc, expected $want:$(printf '\n%s\n%s' "$OUT" "$(cat "$T/$name.err")")"
  rc=0
  "$HERALD" verify "$@" --json >"$T/$name.json" 2>/dev/null || rc=$?
  [[ $rc == "$want" ]] || fail "$name --json: exit $rc, expected $want"
  CODE=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["findings"][0]["code"] if d["findings"] else ("valid" if d["valid"] else "none"))' "$T/$name.json")
  printf '   %s: exit %s, %s\n' "$name" "$rc" "$CODE"
}
args=("$T/web/chain.pem" --trust "$ROOT" --purpose server --host web.internal)

step "good: --ocsp (OCSP for the leaf, CRLs for the CAs) and --crl-fetch: valid, exit 0"
hv ocsp_good 0 "${args[@]}" --ocsp
[[ $CODE == valid ]] || fail "--ocsp on a good certificate: $OUT"
grep -q "^fetched OCSP $PUB/ocsp " <<<"$OUT" || fail "--ocsp did not ask the responder: $OUT"
grep -q "^fetched CRL $PUB/crl/intermediate.crl " <<<"$OUT" || fail "--ocsp: the issuing CA's CRL was not fetched: $OUT"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert any(f.startswith("OCSP ") for f in d["fetched"]), d' "$T/ocsp_good.json" ||
  fail "--ocsp --json lists no fetched response"
hv crl_good 0 "${args[@]}" --crl-fetch
[[ $CODE == valid ]] || fail "--crl-fetch on a good certificate: $OUT"
[[ $(grep -c '^fetched CRL ' <<<"$OUT") == 3 ]] || fail "--crl-fetch should fetch 3 CRLs: $OUT"
hv both_good 0 "${args[@]}" --crl-fetch --ocsp
ok "valid by OCSP and by CRLs"

step "herald revoke (another process): --ocsp says revoked within 10 s, then --crl-fetch too; exit 81"
"$HERALD" revoke --dir "$D" "$SERIAL" --reason keyCompromise >"$T/revoke.log" 2>&1 || fail "herald revoke: $(cat "$T/revoke.log")"
t0=$(now_us)
while :; do
  rc=0
  "$HERALD" verify "${args[@]}" --ocsp >"$T/poll.out" 2>&1 || rc=$?
  [[ $rc == 81 ]] && grep -q '^error revoked' "$T/poll.out" && break
  (($(now_us) - t0 < 10000000)) || fail "--ocsp still does not say revoked 10 s after herald revoke: $(cat "$T/poll.out")"
  sleep 0.2
done
hv ocsp_revoked 81 "${args[@]}" --ocsp
[[ $CODE == revoked && $OUT == *keyCompromise* && $OUT == *"OCSP response"* ]] || fail "--ocsp after revoke: $OUT"
hv crl_revoked 81 "${args[@]}" --crl-fetch
[[ $CODE == revoked && $OUT == *keyCompromise* && $OUT == *"CRL #"* ]] || fail "--crl-fetch after revoke: $OUT"
hv soft_revoked 81 "${args[@]}" --ocsp --revocation soft
[[ $CODE == revoked ]] || fail "--revocation soft lets a revoked certificate pass: $OUT"
hv off_revoked 0 "${args[@]}" --ocsp --revocation off
printf '%s\n' "$(cat "$T/crl_revoked.out")" | sed 's/^/   | /'

step "OpenSSL on its own agrees: openssl verify -crl_check with the CDP's CRL, openssl ocsp with the AIA's responder"
curl -sf --max-time 10 -o "$T/issuing.crl.der" "$CRL_URL" || fail "curl $CRL_URL"
openssl crl -inform DER -in "$T/issuing.crl.der" -out "$T/issuing.crl.pem" 2>/dev/null || fail "the CDP's CRL does not parse for openssl"
rc=0
openssl verify -crl_check -CRLfile "$T/issuing.crl.pem" -CAfile "$T/root+intermediate.pem" -untrusted "$T/webchain.2.pem" \
  "$T/web/cert.pem" >"$T/ossl.out" 2>&1 || rc=$?
[[ $rc != 0 ]] && grep -q 'certificate revoked' "$T/ossl.out" || fail "openssl verify -crl_check does not reject: $(cat "$T/ossl.out")"
ok "openssl verify: $(grep -m1 'error' "$T/ossl.out")"
OCSP_OUT=$(openssl ocsp -issuer "$T/webchain.2.pem" -cert "$T/web/cert.pem" -url "$OCSP_URL" -CAfile "$T/root+intermediate.pem" 2>&1) ||
  fail "openssl ocsp failed: $OCSP_OUT"
grep -q ': revoked$' <<<"$OCSP_OUT" && grep -q 'Reason: keyCompromise' <<<"$OCSP_OUT" && grep -q '^Response verify OK' <<<"$OCSP_OUT" ||
  fail "openssl ocsp does not say revoked: $OCSP_OUT"
ok "openssl ocsp: revoked, keyCompromise, Response verify OK"

step "a certificate whose responder and CRL URLs are unreachable"
DEAD_PORT=$(free_port)
"$HERALD" ca init --dir "$T/dead" --org Dead --base-url "http://127.0.0.1:$DEAD_PORT" >/dev/null 2>&1 || fail "ca init (dead)"
"$HERALD" issue --dir "$T/dead" --profile server --cn dead.internal --out-dir "$T/deadweb" >/dev/null 2>&1 || fail "issue (dead)"
dead=("$T/deadweb/chain.pem" --trust "$T/dead/ca/root.pem" --purpose server --host dead.internal)
hv dead_hard 81 "${dead[@]}" --ocsp --revocation hard
[[ $CODE == revocation_unavailable ]] || fail "unreachable, hard: $OUT"
[[ $OUT == *"http://127.0.0.1:$DEAD_PORT/ocsp"* && $OUT == *revocation_fetch_failed* && $OUT == *"cannot connect"* ]] ||
  fail "unreachable, hard: the URL and the reason are not shown: $OUT"
hv dead_default 81 "${dead[@]}" --crl-fetch
[[ $CODE == revocation_unavailable && $OUT == *"http://127.0.0.1:$DEAD_PORT/crl/issuing.crl"* ]] || fail "unreachable CRL, default (hard): $OUT"
hv dead_soft 0 "${dead[@]}" --ocsp --revocation soft
[[ $OUT == valid* && $OUT == *"warning"*revocation_unavailable* && $OUT == *"http://127.0.0.1:$DEAD_PORT/ocsp"* ]] ||
  fail "unreachable, soft: $OUT"
printf '%s\n' "$OUT" | sed 's/^/   | /'
hv dead_off 0 "${dead[@]}"
[[ $CODE == valid ]] || fail "no revocation flag: revocation should be off: $OUT"

echo
echo "PASS: verify_revocation"
