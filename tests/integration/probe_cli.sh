#!/usr/bin/env bash
# `herald probe` against `openssl s_server` on 127.0.0.1, set up the ways the
# runbooks describe: a correct chain, the leaf alone (no intermediates), the
# leaf sent twice, and a name the certificate does not carry; plus a port
# nobody listens on. Each report is checked for its verdict, finding, notes
# and exit code.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$IT_DIR/serve_lib.sh"
need_tool openssl python3

D="$T/pki"
"$HERALD" ca init --dir "$D" >/dev/null 2>&1 || fail "ca init failed"
"$HERALD" issue --dir "$D" --profile server --cn web.internal --out-dir "$T/web" >/dev/null 2>&1 || fail "issue"
split_pem "$T/web/chain.pem" "$T/wc"
cat "$T/wc.2.pem" "$T/wc.3.pem" >"$T/inter.pem"
ROOT="$D/ca/root.pem"

# tls_server NAME [s_server args...]: two connections (the readiness check
# below and the probe), then it exits.
tls_server() {
  local name=$1
  shift
  PORT=$(free_port)
  openssl s_server -accept "127.0.0.1:$PORT" -cert "$T/web/cert.pem" -key "$T/web/key.pem" \
    -naccept 2 -quiet "$@" </dev/null >"$T/$name.server.log" 2>&1 &
  bg_track $!
  for _ in $(seq 100); do
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$PORT" 2>/dev/null && break
    sleep 0.05
  done
}
probe() {
  local name=$1 want=$2 rc=0
  shift 2
  "$HERALD" probe "127.0.0.1:$PORT" --trust "$ROOT" "$@" >"$T/$name.out" 2>"$T/$name.err" || rc=$?
  OUT=$(cat "$T/$name.out")
  [[ $rc == "$want" ]] || fail "$name: herald probe exited $rc, expected $want:$(printf '\n%s\n%s' "$OUT" "$(cat "$T/$name.err")")"
  printf '   %s: exit %s\n' "$name" "$rc"
}

step "a correct chain"
tls_server good -cert_chain "$T/inter.pem"
probe good 0 --servername web.internal
[[ $OUT == *"valid for web.internal"* && $OUT != *note:* && $OUT == *TLSv1.* ]] || fail "good: $OUT"

step "the leaf alone: the intermediates are missing"
tls_server leafonly
probe leafonly 81 --servername web.internal
[[ $OUT == *"error missing_issuer"* && $OUT == *"chain.pem, not cert.pem"* ]] || fail "leaf only: $OUT"

step "the leaf sent twice (chain.pem given as the chain): noted, still valid"
tls_server twice -cert_chain "$T/web/chain.pem"
probe twice 0 --servername web.internal
[[ $OUT == *"note: certificate 1 did not issue certificate 0"* ]] || fail "leaf twice: $OUT"

step "a name the certificate does not carry (JSON report)"
tls_server wrongname -cert_chain "$T/inter.pem"
probe wrongname 81 --servername db.internal --json
[[ $(json_get "$T/wrongname.out" 'd["findings"][0]["code"]') == hostname_mismatch ]] || fail "wrong name: $OUT"
[[ $(json_get "$T/wrongname.out" 'len(d["presented"])') == 3 ]] || fail "wrong name: presented chain: $OUT"

step "nobody listening"
PORT=$(free_port)
expect_fail "$HERALD" probe "127.0.0.1:$PORT" --trust "$ROOT" --timeout 5
err_mentions "cannot connect to 127.0.0.1:$PORT" "probe of a closed port"

echo
echo "PASS: probe_cli"
