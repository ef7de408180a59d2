#!/usr/bin/env bash
# Proves `herald renew`: a workload renews its own server certificate over
# mutual TLS with `herald serve`; the files are replaced by a certificate for
# the same identity and a new key (mode 0600) that openssl accepts; a revoked
# certificate cannot renew, and the error says why.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$IT_DIR/serve_lib.sh"
need_tool openssl curl python3 sqlite3

step "a hierarchy, a server certificate, the server"
serve_init "$T/d"
"$HERALD" issue --dir "$D" --profile server --cn svc.internal --san ip:127.0.0.1 --out-dir "$T/svc" >/dev/null
serve_start "$D"
old_serial=$(openssl x509 -in "$T/svc/cert.pem" -noout -serial | cut -d= -f2)
old_pub=$(openssl x509 -in "$T/svc/cert.pem" -noout -pubkey)

step "herald renew replaces cert and key"
"$HERALD" renew --dir "$D" --cert "$T/svc/cert.pem" --key "$T/svc/key.pem" --server "https://127.0.0.1:$HTTPS_PORT"
new_serial=$(openssl x509 -in "$T/svc/cert.pem" -noout -serial | cut -d= -f2)
[[ $new_serial != "$old_serial" ]] || fail "the certificate was not replaced"
[[ $(openssl x509 -in "$T/svc/cert.pem" -noout -pubkey) != "$old_pub" ]] || fail "the key was not renewed"
[[ $(openssl x509 -in "$T/svc/cert.pem" -noout -pubkey) == "$(openssl pkey -in "$T/svc/key.pem" -pubout)" ]] ||
  fail "the new key does not match the new certificate"
[[ $(stat -c %a "$T/svc/key.pem") == 600 ]] || fail "the new key is not mode 0600"
openssl verify -x509_strict -CAfile "$ROOT" -untrusted "$T/svc/chain.pem" -purpose sslserver \
  -verify_hostname svc.internal "$T/svc/cert.pem" >/dev/null || fail "openssl rejects the renewed certificate"
openssl x509 -in "$T/svc/cert.pem" -noout -ext subjectAltName | grep -q "IP Address:127.0.0.1" || fail "SAN lost"
"$HERALD" show --dir "$D" "$new_serial" --json | grep -q "\"renewed_from\": \"$old_serial\"" ||
  fail "the inventory does not record what was renewed"
ok "$old_serial -> $new_serial"

step "a revoked certificate cannot renew"
"$HERALD" revoke --dir "$D" "$new_serial" --reason keyCompromise >/dev/null
expect_fail "$HERALD" renew --dir "$D" --cert "$T/svc/cert.pem" --key "$T/svc/key.pem" --server "https://127.0.0.1:$HTTPS_PORT"
err_mentions 'revoked' "renewal of a revoked certificate"
[[ $(openssl x509 -in "$T/svc/cert.pem" -noout -serial | cut -d= -f2) == "$new_serial" ]] || fail "files changed on refusal"

step "PASS serve_renew_cli"
