#!/usr/bin/env bash
# Proves `herald agent --config agent.toml` and `herald agent status`:
#  - one process manages two certificates (a server and a client one) from
#    [[certificate]] tables: --once obtains both; status says "missing"
#    before (exit 81) and "valid" with serials after (exit 0, and --json);
#  - as a daemon it renews both (--renew-at 0.1 of a 1-minute lifetime),
#    runs each one's reload command, serves GET /metrics (expiry seconds per
#    certificate, renewals and reloads by result; promtool check metrics
#    accepts it), survives SIGHUP (a pass now), and exits 0 on SIGTERM;
#  - a name added in agent.toml replaces that certificate at once (a renewal
#    would keep the old names), with the token, and only that one;
#  - a certificate revoked on the CA is replaced within seconds: the agent
#    polls the OCSP responder named in it (--revocation-check 1s, the feed
#    off), the mTLS renewal is refused, the token is used;
#  - and with the CA's revocation feed instead (OCSP polling off): the
#    agent long-polls GET /v1/revocations with its own certificate and
#    replaces a certificate `herald revoke` revoked, the time measured;
#  - a misspelt key is refused with FILE:LINE, and --config with the
#    one-certificate flags is refused.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$IT_DIR/serve_lib.sh"
need_tool openssl curl python3 promtool

step "ca init, herald serve, a token, agent.toml with two certificates"
serve_init "$T/pki"
new_token "$D" admin >"$T/token"
serve_start "$D"
M="$T/m"
mkdir -p "$M"
cat >"$T/agent.toml" <<TOML
server = "$API"
trust = "$ROOT"
token_file = "$T/token"
retry_min = "1s"

[[certificate]]
profile = "server"
cn = "web.internal"
sans = ["ip:127.0.0.1"]
ttl = "1m"
renew_at = 0.1
jitter = 0.0
cert = "$M/web.pem"
key = "$M/web.key"
chain = "$M/web.chain.pem"
reload = "echo web >> $T/reloads"

[[certificate]]
profile = "client"
cn = "billing"
key_type = "ed25519"
ttl = "1m"
renew_at = 0.1
jitter = 0.0
cert = "$M/billing.pem"
key = "$M/billing.key"
reload = "echo billing >> $T/reloads"
TOML
ok "$T/agent.toml"

step "status before: both missing, exit 81"
rc=0
"$HERALD" agent status --config "$T/agent.toml" >"$T/status0.txt" 2>&1 || rc=$?
[[ $rc == 81 ]] || fail "status exited $rc, expected 81:$(printf '\n%s' "$(cat "$T/status0.txt")")"
[[ $(grep -c ': missing' "$T/status0.txt") == 2 ]] || fail "status does not say both are missing: $(cat "$T/status0.txt")"
ok "$(head -1 "$T/status0.txt")"

step "--once obtains both"
"$HERALD" agent --config "$T/agent.toml" --once 2>"$T/once.log" || fail "agent --once failed:$(printf '\n%s' "$(cat "$T/once.log")")"
for n in web billing; do
  [[ $(openssl x509 -in "$M/$n.pem" -noout -pubkey) == "$(openssl pkey -in "$M/$n.key" -pubout)" ]] || fail "$n: pair mismatch"
  [[ $(stat -c %a "$M/$n.key") == 600 ]] || fail "$n.key is not 0600"
done
openssl verify -x509_strict -CAfile "$ROOT" -untrusted "$ISSUING" -untrusted "$INTER" -purpose sslclient "$M/billing.pem" >/dev/null ||
  fail "the client certificate does not verify"
openssl x509 -in "$M/billing.pem" -noout -text | grep -q ED25519 || fail "billing's key is not Ed25519"
[[ $(sort "$T/reloads" | tr '\n' ' ') == "billing web " ]] || fail "reloads: $(cat "$T/reloads")"
ok "web.pem and billing.pem (Ed25519), one reload each"

step "status after: both valid, exit 0; --json"
"$HERALD" agent status --config "$T/agent.toml" >"$T/status1.txt" || fail "status exited non-zero: $(cat "$T/status1.txt")"
[[ $(grep -c ': valid, serial ' "$T/status1.txt") == 2 ]] || fail "status: $(cat "$T/status1.txt")"
"$HERALD" agent status --config "$T/agent.toml" --json >"$T/status.json"
python3 - "$T/status.json" "$(cert_serial "$M/web.pem")" <<'PY' || fail "status --json is wrong: $(cat "$T/status.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert [x["state"] for x in d] == ["valid", "valid"], d
assert d[0]["serial"].lstrip("0") == sys.argv[2], (d[0]["serial"], sys.argv[2])
assert 0 < d[0]["expires_in_seconds"] <= 60, d
PY
sed 's/^/   | /' "$T/status1.txt"

step "the daemon renews both and reloads each; SIGTERM exits 0"
web0=$(cert_serial "$M/web.pem")
bill0=$(cert_serial "$M/billing.pem")
MPORT=$(free_port)
"$HERALD" agent --config "$T/agent.toml" --metrics-listen "127.0.0.1:$MPORT" 2>"$T/daemon.log" &
AGENT_PID=$!
bg_track "$AGENT_PID"
for i in $(seq 300); do
  (($(grep -c ' renewed ' "$T/daemon.log" || true) >= 2)) && break
  ((i < 300)) || fail "no two renewals in 30 s:$(printf '\n%s' "$(cat "$T/daemon.log")")"
  sleep 0.1
done
curl -sS --fail --max-time 10 -o "$T/metrics.txt" "http://127.0.0.1:$MPORT/metrics" || fail "GET /metrics failed"
promtool check metrics <"$T/metrics.txt" >"$T/promtool.out" 2>&1 || fail "promtool check metrics:$(printf '\n%s' "$(cat "$T/promtool.out")")"
python3 - "$T/metrics.txt" "$M" <<'PY' || fail "metrics are wrong:$(printf '\n%s' "$(grep herald_agent "$T/metrics.txt")")"
import re, sys
text, m = open(sys.argv[1]).read(), sys.argv[2]
def val(name, labels):
    mm = re.search(re.escape(name + "{" + labels + "}") + r" (\S+)", text)
    assert mm, (name, labels)
    return float(mm.group(1))
for n in ("web", "billing"):
    cert = f'cert="{m}/{n}.pem"'
    assert 0 < val("herald_agent_certificate_expiry_seconds", cert) <= 60
    assert val("herald_agent_renewals_total", cert + ',result="success"') >= 1
    assert val("herald_agent_reloads_total", cert + ',result="success"') >= 1
    assert val("herald_agent_next_renewal_timestamp_seconds", cert) > 1.7e9
PY
ok "GET /metrics: $(grep -c '^herald_agent' "$T/metrics.txt") herald_agent samples, promtool accepts them"
kill -HUP "$AGENT_PID"
for i in $(seq 100); do
  grep -q 'SIGHUP: checking' "$T/daemon.log" && break
  ((i < 100)) || fail "no SIGHUP line in 10 s"
  sleep 0.1
done
kill -0 "$AGENT_PID" 2>/dev/null || fail "SIGHUP ended the agent"
ok "SIGHUP: a pass now, still running"
kill -TERM "$AGENT_PID"
wait "$AGENT_PID" || fail "the agent did not exit 0 on SIGTERM:$(printf '\n%s' "$(tail -3 "$T/daemon.log")")"
[[ $(cert_serial "$M/web.pem") != "$web0" && $(cert_serial "$M/billing.pem") != "$bill0" ]] ||
  fail "not both renewed:$(printf '\n%s' "$(cat "$T/daemon.log")")"
[[ $(grep -c . "$T/reloads") -ge 4 ]] || fail "reloads: $(cat "$T/reloads")"
ok "web $web0 -> $(cert_serial "$M/web.pem"), billing $bill0 -> $(cert_serial "$M/billing.pem")"

step "a name added to agent.toml: --once replaces that certificate at once (with the token), not for the other"
web1=$(cert_serial "$M/web.pem")
sed -i 's|^sans = \["ip:127.0.0.1"\]|sans = ["ip:127.0.0.1", "dns:api.web.internal"]|' "$T/agent.toml"
grep -q 'api.web.internal' "$T/agent.toml" || fail "sed did not change agent.toml"
"$HERALD" agent --config "$T/agent.toml" --once 2>"$T/names.log" || fail "agent --once failed:$(printf '\n%s' "$(cat "$T/names.log")")"
grep -q 'names changed' "$T/names.log" || fail "no 'names changed' line:$(printf '\n%s' "$(cat "$T/names.log")")"
openssl x509 -in "$M/web.pem" -noout -ext subjectAltName | grep -q 'DNS:api.web.internal' || fail "the new name is not in web.pem"
[[ $(cert_serial "$M/web.pem") != "$web1" ]] || fail "web.pem was not replaced"
# (billing.pem may be renewed as due meanwhile, but not for its names)
grep -q 'billing.pem: names changed' "$T/names.log" && fail "billing.pem's names were judged changed:$(printf '\n%s' "$(cat "$T/names.log")")"
"$HERALD" agent --config "$T/agent.toml" --once 2>"$T/names2.log" || fail "second agent --once failed"
grep -q 'names changed' "$T/names2.log" && fail "the names still differ after the reissue:$(printf '\n%s' "$(cat "$T/names2.log")")"
ok "web.pem now has DNS:api.web.internal; billing.pem's names unchanged; a second pass sees no change"

step "a certificate revoked on the CA is replaced within seconds (OCSP poll every 1 s)"
R="$T/r"
mkdir -p "$R"
"$HERALD" agent --server "$API" --trust "$ROOT" --token-file "$T/token" --profile server --cn rev.internal \
  --ttl 1m --renew-at 0.9 --cert "$R/cert.pem" --key "$R/key.pem" --revocation-check 1s \
  --revocation-feed off 2>"$T/rev.log" &
REV_PID=$!
bg_track "$REV_PID"
for i in $(seq 300); do
  grep -q ' obtained ' "$T/rev.log" && break
  ((i < 300)) || fail "no certificate within 30 s:$(printf '\n%s' "$(cat "$T/rev.log")")"
  sleep 0.1
done
sleep 1.5  # at least one OCSP check that says good
grep -q 'revocation check failed' "$T/rev.log" && fail "the OCSP check failed:$(printf '\n%s' "$(cat "$T/rev.log")")"
R0=$(cert_serial "$R/cert.pem")
"$HERALD" revoke --dir "$D" "$R0" --reason keyCompromise >/dev/null
start=$SECONDS
for i in $(seq 300); do
  [[ -s $R/cert.pem && $(cert_serial "$R/cert.pem") != "$R0" ]] && grep -q ' renewed ' "$T/rev.log" && break
  ((i < 300)) || fail "the revoked certificate was not replaced within 30 s:$(printf '\n%s' "$(cat "$T/rev.log")")"
  sleep 0.1
done
grep -q "is revoked (OCSP): replacing it now" "$T/rev.log" || fail "no OCSP revocation line:$(printf '\n%s' "$(cat "$T/rev.log")")"
grep -q 'trying the bearer token' "$T/rev.log" || fail "the replacement did not fall back to the token"
kill -TERM "$REV_PID"
wait "$REV_PID" || fail "the agent did not exit 0 on SIGTERM"
ok "$R0 revoked -> $(cert_serial "$R/cert.pem") after $((SECONDS - start)) s (mTLS renewal refused, token used)"

step "with the revocation feed (no OCSP polling): a revoked certificate is replaced at once"
F="$T/f"
mkdir -p "$F"
"$HERALD" agent --server "$API" --trust "$ROOT" --token-file "$T/token" --profile server --cn feed.internal \
  --ttl 1m --renew-at 0.9 --cert "$F/cert.pem" --key "$F/key.pem" --revocation-check off 2>"$T/feed.log" &
FEED_PID=$!
bg_track "$FEED_PID"
for i in $(seq 300); do
  grep -q 'following the CA.s revocation feed' "$T/feed.log" && break
  ((i < 300)) || fail "the agent did not follow the feed within 30 s:$(printf '\n%s' "$(cat "$T/feed.log")")"
  sleep 0.1
done
sleep 0.5  # the first long poll is in place
F0=$(cert_serial "$F/cert.pem")
t0=$(now_us)
"$HERALD" revoke --dir "$D" "$F0" --reason keyCompromise >/dev/null
for i in $(seq 600); do
  # The log prints the serial's bytes (a leading 0 kept); F0 is normalised without it.
  grep -Eq "certificate 0?$F0 is revoked \(the CA's revocation feed\)" "$T/feed.log" 2>/dev/null && break
  ((i < 600)) || fail "the feed did not report the revocation within 30 s:$(printf '\n%s' "$(cat "$T/feed.log")")"
  sleep 0.01
done
t1=$(now_us)
for i in $(seq 300); do
  [[ -s $F/cert.pem && $(cert_serial "$F/cert.pem") != "$F0" ]] && break
  ((i < 300)) || fail "the revoked certificate was not replaced within 30 s:$(printf '\n%s' "$(cat "$T/feed.log")")"
  sleep 0.05
done
t2=$(now_us)
grep -q 'is revoked (OCSP)' "$T/feed.log" && fail "OCSP was asked although the feed was followed"
(( (t1 - t0) < 3000000 )) || fail "the feed took $(secs $((t1 - t0))) s to report the revocation"
kill -TERM "$FEED_PID"
t3=$(now_us)
wait "$FEED_PID" || fail "the agent did not exit 0 on SIGTERM while long-polling"
(( ($(now_us) - t3) < 5000000 )) || fail "SIGTERM took $(secs $(($(now_us) - t3))) s with a long poll open"
ok "herald revoke -> the agent knew after $(secs $((t1 - t0))) s, new certificate on disk after $(secs $((t2 - t0))) s; SIGTERM mid-poll: exit 0"

step "bad configuration"
printf 'server = "%s"\ntrust = "%s"\n[[certificate]]\ncert = "a"\nkey = "b"\nrenew_at = 0.5\nreload_timout = "1s"\n' "$API" "$ROOT" >"$T/bad.toml"
expect_fail "$HERALD" agent --config "$T/bad.toml" --once
err_mentions 'bad.toml:7: unknown key .certificate.reload_timout' "misspelt key"
expect_fail "$HERALD" agent --config "$T/agent.toml" --cert x.pem --once
err_mentions 'either --config or' "--config with --cert"
expect_fail "$HERALD" agent --server "$API" --trust "$ROOT" --cert x.pem --key x.key --once
err_mentions '--profile is required' "no profile"

step "PASS agent_config"
