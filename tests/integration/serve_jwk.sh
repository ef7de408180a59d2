#!/usr/bin/env bash
# Proves the jwk provisioner's one-time tokens: `herald token keygen` makes a
# provisioner key, `herald token --provisioner` mints a token naming the
# certificate's names, and POST /v1/sign accepts it exactly once (also after a
# restart), only for the names it carries, only for this server's audience,
# and never after it expired or with a forged signature.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$IT_DIR/serve_lib.sh"
need_tool openssl curl python3 sqlite3

step "a hierarchy, a jwk provisioner 'ci', the server"
serve_init "$T/d"
D="$T/d"
"$HERALD" token keygen --dir "$D" --provisioner ci >>"$D/herald.toml" 2>"$T/keygen.err" || fail "keygen: $(cat "$T/keygen.err")"
[[ $(stat -c %a "$D/provisioners/ci.key.pem") == 600 ]] || fail "provisioner key is not mode 0600"
grep -q "BEGIN ENCRYPTED PRIVATE KEY" "$D/provisioners/ci.key.pem" || fail "provisioner key is not encrypted"
serve_start "$D"
AUD="https://localhost:$HTTPS_PORT/v1/sign"
mint() { "$HERALD" token --dir "$D" --provisioner ci --aud "$AUD" "$@"; }
sign_with() {
  API_TOKEN="$1" api POST "/v1/sign?profile=server" -H 'Content-Type: application/pkcs10' --data-binary @"$2"
}
make_csr web web.internal "IP:10.0.0.7"
make_csr other other.internal

step "a token for web.internal + 10.0.0.7 issues exactly that, once"
TOK=$(mint --cn web.internal --san web.internal,10.0.0.7)
sign_with "$TOK" "$T/web.csr"
expect_status 201 "sign with a one-time token"
serial=$(save_issued web)
validate_issued "certificate issued with a one-time token" "$ROOT" "$T/web.chain.pem" "$T/web.pem" web.internal 10.0.0.7
[[ $(json_get "$T/.api.body" 'd["owner"]["provisioner"]') == ci ]] || fail "owner label provisioner=ci missing"
ok "issued $serial"
sign_with "$TOK" "$T/web.csr"
expect_problem 401 unauthenticated "the same token again (replay)"
err_like=$(json_get "$T/.api.body" 'd["detail"]')
[[ $err_like == *"already used"* ]] || fail "replay detail: $err_like"

step "the replay is refused after a restart too (durable)"
serve_stop
serve_start "$D"
rows=$(row_count "$D")  # a start adds the server's own TLS and OCSP-signing certificates
sign_with "$TOK" "$T/web.csr"
expect_problem 401 unauthenticated "replay after restart"

step "refusals: other names, other audience, expired, forged, unknown provisioner; nothing recorded"
TOK2=$(mint --san web.internal)
sign_with "$TOK2" "$T/other.csr"
expect_problem 403 forbidden "a CSR for a name the token does not carry"
TOK3=$("$HERALD" token --dir "$D" --provisioner ci --aud "https://evil.example:443/v1/sign" --san other.internal)
sign_with "$TOK3" "$T/other.csr"
expect_problem 401 unauthenticated "a token for another audience"
TOK4=$(mint --san other.internal --ttl 1s)
sleep 2.2
sign_with "$TOK4" "$T/other.csr"
expect_problem 401 unauthenticated "an expired token"
TOK5=$(mint --san other.internal)
forged=$(python3 - "$TOK5" <<'PY'
import base64, json, sys
h, p, s = sys.argv[1].split(".")
claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
claims["sans"] = ["evil.internal"]
print(h + "." + base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=") + "." + s)
PY
)
make_csr evil evil.internal
sign_with "$forged" "$T/evil.csr"
expect_problem 401 unauthenticated "a token whose claims were changed"
expect_fail "$HERALD" token --dir "$D" --provisioner ci --san x.internal --ttl 10m
err_mentions 'one-time tokens live at most 5m' "a token lifetime over 5 minutes"
expect_fail "$HERALD" token --dir "$D" --provisioner admin --san x.internal
err_mentions "no jwk provisioner 'admin'" "admin is a token provisioner, not a jwk one"
[[ $(row_count "$D") == "$rows" ]] || fail "refused requests changed the inventory"
ok "refused requests recorded nothing"

step "PASS serve_jwk"
