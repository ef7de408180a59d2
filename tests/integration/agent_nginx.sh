#!/usr/bin/env bash
# Proves `herald agent` end to end with nginx as the workload:
#  - the agent obtains a 2-minute server certificate with a bearer token
#    (POST /v1/sign), a new key generated locally, files written 0600/0644;
#  - nginx serves it; the agent, running as a daemon, renews it over mutual
#    TLS (POST /v1/renew) early in its lifetime (--renew-at 0.1) and reloads
#    nginx through --reload each time (nginx's log shows every reload);
#  - a client opens a new TLS connection in a loop, verifying nginx's
#    certificate against ca/root.pem for 127.0.0.1 each time, through at least
#    three renewals: zero failed handshakes, every served certificate verified
#    (openssl s_client -verify_return_error, then openssl verify -x509_strict
#    of each distinct certificate seen), nginx's serial changes >= 3 times;
#  - the trust bundle file is written and holds the root;
#  - SIGTERM stops the agent cleanly (exit 0) with a matching pair on disk.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$IT_DIR/serve_lib.sh"
need_tool openssl curl python3 nginx

step "ca init, herald serve, a token"
serve_init "$T/pki"
new_token "$D" admin >"$T/token"
chmod 600 "$T/token"
serve_start "$D"
ok "serving $API"

W="$T/workload"
mkdir -p "$W"
AGENT_ARGS=(--server "$API" --trust "$ROOT" --token-file "$T/token" --profile server --cn localhost
  --san ip:127.0.0.1 --ttl 2m --cert "$W/cert.pem" --key "$W/key.pem" --chain "$W/chain.pem"
  --trust-bundle "$W/bundle.pem")

step "herald agent --once: the first certificate, with the token"
"$HERALD" agent "${AGENT_ARGS[@]}" --once 2>"$T/once.log" || fail "agent --once failed:$(printf '\n%s' "$(cat "$T/once.log")")"
grep -q 'obtained' "$T/once.log" || fail "agent --once did not say it obtained a certificate: $(cat "$T/once.log")"
[[ $(stat -c %a "$W/key.pem") == 600 ]] || fail "key.pem is mode $(stat -c %a "$W/key.pem"), not 600"
[[ $(openssl x509 -in "$W/cert.pem" -noout -pubkey) == "$(openssl pkey -in "$W/key.pem" -pubout)" ]] ||
  fail "cert.pem does not match key.pem"
openssl verify -x509_strict -CAfile "$ROOT" -untrusted "$W/chain.pem" -purpose sslserver -verify_ip 127.0.0.1 \
  "$W/cert.pem" >/dev/null || fail "openssl rejects the agent's certificate"
life=$(($(date -d "$(openssl x509 -in "$W/cert.pem" -noout -enddate | cut -d= -f2)" +%s) - $(date +%s)))
((life > 60 && life <= 121)) || fail "the certificate has $life s left, expected about 120 (--ttl 2m)"
cmp -s <(openssl x509 -in "$W/bundle.pem") <(openssl x509 -in "$ROOT") || fail "bundle.pem does not start with the root"
FIRST=$(cert_serial "$W/cert.pem")
ok "serial $FIRST, $life s left, key 0600, trust bundle written"

step "herald agent --once again: nothing due, nothing changes"
"$HERALD" agent "${AGENT_ARGS[@]}" --once 2>"$T/once2.log" || fail "second agent --once failed: $(cat "$T/once2.log")"
[[ $(cert_serial "$W/cert.pem") == "$FIRST" ]] || fail "--once renewed a certificate that was not due"
ok "still $FIRST"

step "start nginx on the agent's files"
nginx_tls_start "$W/chain.pem" "$W/key.pem"
ok "nginx pid $NGINX_PID on 127.0.0.1:$NGINX_PORT"

step "herald agent as a daemon (--renew-at 0.1: a renewal every ~12 s) reloading nginx"
"$HERALD" agent "${AGENT_ARGS[@]}" --renew-at 0.1 --jitter 0.02 --reload "$NGINX_RELOAD" --reload-timeout 20s \
  2>"$T/agent.log" &
AGENT_PID=$!
bg_track "$AGENT_PID"

handshake_loop 4 150 "$AGENT_PID" "$T/agent.log"
ok "$HANDSHAKES handshakes, $FAILED failed, ${#ORDER[@]} distinct certificates served"
((FAILED == 0)) || fail "$FAILED handshakes failed while the agent renewed and reloaded:$(printf '\n%s' "$(cat "$T/agent.log")")"
((${#ORDER[@]} >= 4)) || fail "nginx's serial changed only $((${#ORDER[@]} - 1)) times in 150 s:$(printf '\n%s' "$(cat "$T/agent.log")")"

step "every served certificate verifies on its own (openssl verify -x509_strict, sslserver, 127.0.0.1)"
for s in "${ORDER[@]}"; do
  openssl verify -x509_strict -CAfile "$ROOT" -untrusted "$ISSUING" -untrusted "$INTER" -purpose sslserver \
    -verify_ip 127.0.0.1 -attime "$(cat "$T/served.$s.time")" "$T/served.$s.pem" >/dev/null 2>&1 ||
    fail "served certificate $s does not verify at the time it was served"
done
ok "${#ORDER[@]} certificates verified: ${ORDER[*]}"

step "the agent's log and nginx's: renewals over mTLS with new keys, one reload each"
renewed=$(grep -c ' renewed .* (new key)' "$T/agent.log" || true)
reloads=$(grep -c 'reload command: exit 0' "$T/agent.log" || true)
nginx_reloads=$(grep -c 'signal 1 (SIGHUP) received' "$NG/logs/error.log" || true)
((renewed >= 3)) || fail "the agent logged $renewed renewals:$(printf '\n%s' "$(cat "$T/agent.log")")"
((reloads >= renewed)) || fail "$renewed renewals but $reloads successful reloads"
((nginx_reloads >= 3)) || fail "nginx's log shows $nginx_reloads reloads:$(printf '\n%s' "$(tail -20 "$NG/logs/error.log")")"
if grep -q 'renewal failed\|trying the bearer token' "$T/agent.log"; then
  fail "a renewal failed or fell back to the token:$(printf '\n%s' "$(cat "$T/agent.log")")"
fi
ok "$renewed renewals (mutual TLS), $reloads reloads by the agent, $nginx_reloads SIGHUPs in nginx's log"
# Every certificate came from a new key.
keys=$(for s in "${ORDER[@]}"; do openssl x509 -in "$T/served.$s.pem" -noout -pubkey | sha256sum; done | sort -u | wc -l)
((keys == ${#ORDER[@]})) || fail "only $keys distinct keys for ${#ORDER[@]} certificates"
ok "$keys certificates, $keys distinct keys"

step "SIGTERM stops the agent cleanly"
kill -TERM "$AGENT_PID"
rc=0
wait "$AGENT_PID" || rc=$?
((rc == 0)) || fail "the agent exited $rc on SIGTERM:$(printf '\n%s' "$(tail -5 "$T/agent.log")")"
grep -q 'SIGTERM: stopping' "$T/agent.log" || fail "no stop line in the agent's log"
[[ $(openssl x509 -in "$W/cert.pem" -noout -pubkey) == "$(openssl pkey -in "$W/key.pem" -pubout)" ]] ||
  fail "cert.pem does not match key.pem after the run"
ls "$W"/*.new >/dev/null 2>&1 && fail "leftover .new files: $(ls "$W")"
[[ -s $W/cert.pem.prev && -s $W/key.pem.prev ]] || fail "no .prev pair kept"
ok "exit 0, matching pair, .prev kept"

step "PASS agent_nginx"
