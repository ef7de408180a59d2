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
openssl ocsp -issuer "$T/webchain.2.pem" -cert "$T/web/cert.pem" -url "$OCSP_URL" -no_nonce -noverify \
  -respout "$T/staple.good.der" >/dev/null 2>&1 || fail "openssl ocsp (a good response to staple)"

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
OCSP_OUT=$(openssl ocsp -issuer "$T/webchain.2.pem" -cert "$T/web/cert.pem" -url "$OCSP_URL" -CAfile "$T/root+intermediate.pem" \
  -respout "$T/staple.revoked.der" 2>&1) ||
  fail "openssl ocsp failed: $OCSP_OUT"
grep -q ': revoked$' <<<"$OCSP_OUT" && grep -q 'Reason: keyCompromise' <<<"$OCSP_OUT" && grep -q '^Response verify OK' <<<"$OCSP_OUT" ||
  fail "openssl ocsp does not say revoked: $OCSP_OUT"
ok "openssl ocsp: revoked, keyCompromise, Response verify OK"

step "herald probe judges a stapled response: good -> valid, revoked -> revoked (exit 81)"
# staple NAME RESPONSE EXPECTED_EXIT: openssl s_server stapling RESPONSE, probed once.
staple() {
  local name=$1 resp=$2 want=$3 port rc=0
  port=$(free_port)
  openssl s_server -accept "127.0.0.1:$port" -cert "$T/web/cert.pem" -key "$T/web/key.pem" \
    -cert_chain "$T/web.inter.pem" -status_file "$resp" -naccept 2 -quiet </dev/null >"$T/$name.server.log" 2>&1 &
  bg_track $!
  for _ in $(seq 100); do
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$port" 2>/dev/null && break
    sleep 0.05
  done
  "$HERALD" probe "127.0.0.1:$port" --servername web.internal --trust "$ROOT" >"$T/$name.out" 2>&1 || rc=$?
  OUT=$(cat "$T/$name.out")
  [[ $rc == "$want" ]] || fail "$name: herald probe exited $rc, expected $want: $OUT"
  [[ $OUT == *"stapled OCSP: present"* ]] || fail "$name: no stapled response seen: $OUT"
  printf '   %s: exit %s\n' "$name" "$rc"
}
cat "$T/webchain.2.pem" "$T/webchain.3.pem" >"$T/web.inter.pem"
staple staple_good "$T/staple.good.der" 0
[[ $OUT == *"valid for web.internal"* && $OUT != *warning* ]] || fail "a good staple: $OUT"
staple staple_revoked "$T/staple.revoked.der" 81
grep -q '^error revoked at depth 0' <<<"$OUT" && [[ $OUT == *keyCompromise* ]] || fail "a revoked staple: $OUT"

step "a certificate whose responder and CRL URLs are unreachable"
DEAD_PORT=$(free_port)
"$HERALD" ca init --dir "$T/dead" --org Dead --base-url "http://127.0.0.1:$DEAD_PORT" >/dev/null 2>&1 || fail "ca init (dead)"
"$HERALD" issue --dir "$T/dead" --profile server --cn dead.internal --out-dir "$T/deadweb" >/dev/null 2>&1 || fail "issue (dead)"
dead=("$T/deadweb/chain.pem" --trust "$T/dead/ca/root.pem" --purpose server --host dead.internal)
hv dead_hard 81 "${dead[@]}" --ocsp --revocation hard
[[ $CODE == revocation_unavailable ]] || fail "unreachable, hard: $OUT"
[[ $OUT == *"http://127.0.0.1:$DEAD_PORT/ocsp"* && $OUT == *"nothing fetched"* && $OUT == *"cannot connect"* ]] ||
  fail "unreachable, hard: the URL and the reason are not shown: $OUT"
hv dead_default 81 "${dead[@]}" --crl-fetch
[[ $CODE == revocation_unavailable && $OUT == *"http://127.0.0.1:$DEAD_PORT/crl/issuing.crl"* ]] || fail "unreachable CRL, default (hard): $OUT"
hv dead_soft 0 "${dead[@]}" --ocsp --revocation soft
[[ $OUT == valid* && $OUT == *"warning"*revocation_unavailable* && $OUT == *"http://127.0.0.1:$DEAD_PORT/ocsp"* ]] ||
  fail "unreachable, soft: $OUT"
printf '%s\n' "$OUT" | sed 's/^/   | /'
hv dead_off 0 "${dead[@]}"
[[ $CODE == valid ]] || fail "no revocation flag: revocation should be off: $OUT"

step "a hostile CRL server: an 11 MiB CRL, a silent one, a redirect (caps, 5 s timeout, no redirect followed)"
EVIL_PORT=$(free_port)
python3 - "$EVIL_PORT" >"$T/evil.log" 2>&1 <<'EOF2' &
import http.server, sys, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/crl/issuing.crl":
            body = b"0" * (11 << 20)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/crl/root.crl":
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:%s/elsewhere.crl" % sys.argv[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            time.sleep(30)
    def log_message(self, *a):
        sys.stderr.write("request " + self.path + "\n")
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF2
bg_track $!
for _ in $(seq 50); do python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$EVIL_PORT" 2>/dev/null && break; sleep 0.1; done
"$HERALD" ca init --dir "$T/evil" --org Evil --base-url "http://127.0.0.1:$EVIL_PORT" >/dev/null 2>&1 || fail "ca init (evil)"
"$HERALD" issue --dir "$T/evil" --profile server --cn evil.internal --out-dir "$T/evilweb" >/dev/null 2>&1 || fail "issue (evil)"
t0=$(now_us)
rc=0
"$HERALD" verify "$T/evilweb/chain.pem" --trust "$T/evil/ca/root.pem" --crl-fetch --revocation soft >"$T/evil.out" 2>&1 || rc=$?
elapsed=$(($(now_us) - t0))
OUT=$(cat "$T/evil.out")
[[ $rc == 0 ]] || fail "hostile CRL server, soft: exit $rc: $OUT"
[[ $OUT == *"larger than 10485760 bytes"* ]] || fail "the 11 MiB CRL was not refused by its size: $OUT"
[[ $OUT == *"intermediate.crl: cannot read the response"*"timed out after 5 s"* ]] || fail "the silent server did not time out: $OUT"
[[ $OUT == *"root.crl: HTTP 302"* ]] || fail "the redirect was not reported as such: $OUT"
! grep -q elsewhere "$T/evil.log" || fail "the redirect was followed"
((elapsed < 20000000)) || fail "the hostile server held herald verify for $(secs "$elapsed") s"
ok "refused by size, timed out after 5 s, redirect not followed; $(secs "$elapsed") s in all"

echo
echo "PASS: verify_revocation"
