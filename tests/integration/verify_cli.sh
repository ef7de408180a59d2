#!/usr/bin/env bash
# `herald verify` on the runbook cases (docs/cli.md): a valid chain, a missing
# intermediate, a wrong host, a client certificate presented as a server one,
# an expired certificate, a revoked one (CRL), a foreign root; each verdict
# with its finding code and exit code, and every rejection confirmed by
# `openssl verify` (acceptances too).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_tool openssl python3

step "a hierarchy, a server and a client certificate"
D="$T/pki"
"$HERALD" ca init --dir "$D" >/dev/null 2>&1 || fail "ca init failed"
"$HERALD" issue --dir "$D" --profile server --cn web.internal --san ip:10.0.0.5 --out-dir "$T/web" >/dev/null 2>&1 || fail "issue server"
"$HERALD" issue --dir "$D" --profile client --cn alice --san dns:alice.internal --out-dir "$T/alice" >/dev/null 2>&1 || fail "issue client"
ROOT="$D/ca/root.pem"
split_pem "$T/web/chain.pem" "$T/webchain"  # webchain.1 = leaf, .2 issuing, .3 intermediate
cat "$T/webchain.2.pem" "$T/webchain.3.pem" >"$T/web.inter.pem"

# ossl EXPECT(ok|fail) [openssl verify args...]
ossl() {
  local want=$1 rc=0
  shift
  openssl verify -x509_strict "$@" >"$T/ossl.out" 2>&1 || rc=$?
  if [[ $want == ok ]]; then
    [[ $rc == 0 ]] || fail "openssl verify disagrees (rejects): $(cat "$T/ossl.out")"
  else
    [[ $rc != 0 ]] || fail "openssl verify disagrees (accepts): $(cat "$T/ossl.out")"
  fi
}

step "valid: the chain is built and shown; exit 0"
hv valid 0 "$T/web/cert.pem" --chain "$T/web.inter.pem" --trust "$ROOT" --purpose server --host web.internal
[[ $CODE == valid && $OUT == valid* && $OUT == *"(trust anchor)"* ]] || fail "valid: $OUT"
ossl ok -purpose sslserver -verify_hostname web.internal -CAfile "$ROOT" -untrusted "$T/web.inter.pem" "$T/web/cert.pem"
hv valid_ip 0 "$T/web/chain.pem" --dir "$D" --purpose server --ip 10.0.0.5
hv valid_fullchain_any 0 "$T/web/fullchain.pem" --trust "$ROOT"

step "missing intermediate"
hv missing 81 "$T/web/cert.pem" --trust "$ROOT" --purpose server --host web.internal
[[ $CODE == missing_issuer && $OUT == *"chain.pem, not cert.pem"* ]] || fail "missing intermediate: $OUT"
ossl fail -purpose sslserver -CAfile "$ROOT" "$T/web/cert.pem"

step "wrong host: the SANs are listed"
hv wronghost 81 "$T/web/chain.pem" --trust "$ROOT" --purpose server --host db.internal
[[ $CODE == hostname_mismatch && $OUT == *"found web.internal"* ]] || fail "wrong host: $OUT"
ossl fail -purpose sslserver -verify_hostname db.internal -CAfile "$ROOT" -untrusted "$T/web.inter.pem" "$T/web/cert.pem"

step "a client certificate presented as a server certificate"
split_pem "$T/alice/chain.pem" "$T/alicechain"
cat "$T/alicechain.2.pem" "$T/alicechain.3.pem" >"$T/alice.inter.pem"
hv clientasserver 81 "$T/alice/chain.pem" --trust "$ROOT" --purpose server --host alice.internal
[[ $CODE == eku_mismatch && $OUT == *clientAuth* ]] || fail "client as server: $OUT"
ossl fail -purpose sslserver -CAfile "$ROOT" -untrusted "$T/alice.inter.pem" "$T/alicechain.1.pem"
hv clientasclient 0 "$T/alice/chain.pem" --trust "$ROOT" --purpose client

step "expired (verified at a later time; --at in RFC 3339 and in seconds)"
hv expired 81 "$T/web/chain.pem" --trust "$ROOT" --purpose server --host web.internal --at 2030-01-01T00:00:00Z
[[ $CODE == expired ]] || fail "expired: $OUT"
ossl fail -purpose sslserver -attime "$(date -d 2030-01-01T00:00:00Z +%s)" -CAfile "$ROOT" -untrusted "$T/web.inter.pem" "$T/web/cert.pem"
hv expired_secs 81 "$T/web/chain.pem" --trust "$ROOT" --at "$(date -d 2030-01-01T00:00:00Z +%s)"
[[ $CODE == expired ]] || fail "expired (--at seconds): $OUT"

step "revoked (CRLs of the whole path)"
serial=$(openssl x509 -in "$T/web/cert.pem" -noout -serial | cut -d= -f2)
"$HERALD" revoke --dir "$D" "$serial" --reason keyCompromise >/dev/null 2>&1 || fail "revoke"
crls=(--crl "$D/crl/issuing.crl" --crl "$D/crl/intermediate.crl" --crl "$D/crl/root.crl")
hv revoked 81 "$T/web/chain.pem" --trust "$ROOT" --purpose server --host web.internal "${crls[@]}"
[[ $CODE == revoked ]] || fail "revoked: $OUT"
cat "$D/crl/issuing.crl" "$D/crl/intermediate.crl" "$D/crl/root.crl" >"$T/crls.pem"
ossl fail -crl_check_all -CRLfile "$T/crls.pem" -purpose sslserver -CAfile "$ROOT" -untrusted "$T/web.inter.pem" "$T/web/cert.pem"
hv notrevoked 0 "$T/alice/chain.pem" --trust "$ROOT" --purpose client "${crls[@]}"

step "a SPIFFE workload: --uri matches the URI SAN exactly; --eku"
"$HERALD" issue --dir "$D" --profile spiffe --san uri:spiffe://herald.internal/ns/web --out-dir "$T/spiffe" >/dev/null 2>&1 || fail "issue spiffe"
hv spiffe_ok 0 "$T/spiffe/chain.pem" --trust "$ROOT" --purpose client --uri spiffe://herald.internal/ns/web --eku clientAuth
hv spiffe_other 81 "$T/spiffe/chain.pem" --trust "$ROOT" --purpose client --uri spiffe://herald.internal/ns/db
[[ $CODE == uri_mismatch && $OUT == *"found spiffe://herald.internal/ns/web"* ]] || fail "spiffe mismatch: $OUT"
hv spiffe_prefix 81 "$T/spiffe/chain.pem" --trust "$ROOT" --uri spiffe://herald.internal/ns/we
[[ $CODE == uri_mismatch ]] || fail "a prefix of the SPIFFE ID must not match: $OUT"
hv spiffe_eku 81 "$T/spiffe/chain.pem" --trust "$ROOT" --eku codeSigning
[[ $CODE == eku_mismatch ]] || fail "--eku codeSigning: $OUT"
expect_fail "$HERALD" verify "$T/spiffe/chain.pem" --trust "$ROOT" --eku not-an-eku
err_mentions "--eku" "an unknown --eku"

step "a foreign root; bad input"
"$HERALD" ca init --dir "$T/other" --org Other >/dev/null 2>&1 || fail "second ca init"
hv foreign 81 "$T/alice/chain.pem" --trust "$T/other/ca/root.pem" --purpose client
[[ $CODE == missing_issuer ]] || fail "foreign root: $OUT"
ossl fail -purpose sslclient -CAfile "$T/other/ca/root.pem" -untrusted "$T/alice.inter.pem" "$T/alicechain.1.pem"
head -c 100 /dev/urandom >"$T/garbage.der"
hv garbage 81 "$T/garbage.der" --trust "$ROOT"
[[ $CODE == malformed_certificate ]] || fail "garbage: $OUT"
expect_fail "$HERALD" verify "$T/web/chain.pem"
err_mentions "no trust anchor" "verify without --trust or --dir"
expect_fail "$HERALD" verify "$T/web/chain.pem" --trust "$ROOT" --at yesterday
err_mentions "RFC 3339" "a bad --at"

echo
echo "PASS: verify_cli"
