#!/usr/bin/env bash
# ACME attacks (issue 9, items 3, 7, 8 and 13), each performed against
# `herald serve` with real http-01 validation on 127.0.0.x, checking the
# refusal, its RFC 8555 problem, that the store is unchanged and that the
# server still serves (acme_attacks.py holds the client and the peers):
#   3   http-01 as an SSRF reflector: a redirect to another loopback address
#       (an "internal service") is not followed, bodies are never echoed in
#       challenge errors, metadata / link-local IP identifiers are refused
#   13  finalize with a CSR carrying the account's key: badCSR
#   7   identifiers per order; one account's tarpit challenges do not delay
#       another account's validation (at most 2 in flight per account)
#   8   pending orders per account (429 + Retry-After), the purge of expired
#       orders, then (restart) newAccount per source address
# ACME_ATTACKS_BASELINE=1 leaves the new [acme] keys out, to show the attacks
# succeeding against a server without them.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$IT_DIR/serve_lib.sh"
need_tool openssl curl python3 sqlite3
python3 -c 'import cryptography' 2>/dev/null || need_tool python3-cryptography

# set_acme_option DIR KEY VALUE: replace or append `KEY = VALUE` in [acme].
set_acme_option() {
  python3 - "$1/herald.toml" "$2" "$3" <<'EOF' || fail "cannot set acme.$2 in $1/herald.toml"
import re, sys
path, key, value = sys.argv[1:]
text = open(path).read()
head, sep, tail = text.partition("\n[acme]\n")
assert sep, "no [acme] table"
m = re.search(r"(?m)^\[", tail)
body, rest = (tail[:m.start()], tail[m.start():]) if m else (tail, "")
new, n = re.subn(r"(?m)^" + re.escape(key) + r"\s*=.*$", key + " = " + value, body, count=1)
if n == 0:
    new = body.rstrip("\n") + "\n" + key + " = " + value + "\n"
open(path, "w").write(head + sep + new + rest)
EOF
}
new_key() { [[ ${ACME_ATTACKS_BASELINE:-0} == 1 ]] || set_acme_option "$@"; }

export MAX_IDS=10 MAX_PENDING=5 NEW_ACCOUNTS=3 TIMEOUT_S=2

run_phase() {
  ACME_OUT="$T" ACME_DB="$D/herald.db" ACME_ROOT="$ROOT" ACME_DIRECTORY="$API/acme/acme/directory" \
    H01="$H01" timeout 240 python3 "$IT_DIR/acme_attacks.py" "$1" || fail "acme_attacks.py $1 stopped (see above)"
  local line
  while IFS= read -r line; do
    [[ -n $line ]] && DEFECTS+=("$line")
  done <"$T/defects.$1"
  kill -0 "$SERVE_PID" 2>/dev/null || fail "herald serve is gone after phase $1:$(printf '\n%s' "$(tail -20 "$SERVE_LOG")")"
}

T0=$(now_us)
step "a hierarchy and the server, validating http-01 on 127.0.0.x:H01 with a 2 s timeout"
serve_init "$T/d"
D="$T/d"
H01=$(free_port)
TLS01=$(free_port)
set_acme_option "$D" validation_timeout '"2s"'
new_key "$D" max_identifiers_per_order "$MAX_IDS"
new_key "$D" max_pending_orders_per_account "$MAX_PENDING"
new_key "$D" validations_per_account 2
serve_start "$D" --acme-http01-port "$H01" --acme-tlsalpn01-port "$TLS01"

run_phase main

step "restart with new_accounts_per_address_per_hour = $NEW_ACCOUNTS"
serve_stop 60
[[ $SERVE_RC == 0 ]] || fail "herald serve exited $SERVE_RC on SIGTERM"
new_key "$D" new_accounts_per_address_per_hour "$NEW_ACCOUNTS"
serve_start "$D" --acme-http01-port "$H01" --acme-tlsalpn01-port "$TLS01"

run_phase accounts

serve_stop
[[ $SERVE_RC == 0 ]] || fail "herald serve exited $SERVE_RC on SIGTERM"
if grep -qE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$T"/serve.*.log; then
  fail "sanitizer report in the server log:$(printf '\n%s' "$(grep -hE -A20 'AddressSanitizer|runtime error:|LeakSanitizer' "$T"/serve.*.log | head -60)")"
fi
end_defects
step "PASS acme_attacks ($(secs $(($(now_us) - T0))) s)"
