#!/usr/bin/env bash
# Proves expiry alerts and webhooks end to end: `herald serve` with a days
# threshold above the certificates' lifetime sends each alert once (also
# across a restart) to a local receiver that checks the HMAC signature; a
# silenced owner gets none; a receiver that fails twice gets the alert on
# the third attempt; one that always fails leaves a dead letter listed by
# `herald alert list --dead-letters`; a partner gets a signed notice when
# its certificate is revoked (by the CLI: serve sees it in the store), and
# hears of each CA certificate once. An HTTPS receiver with a Herald-issued
# certificate is reached through the webhook's ca_file (and refused without
# it: the system trust store does not know Herald's CA). A SIGHUP with a
# retry pending carries it over to the new configuration; only the retry of
# a webhook removed from herald.toml becomes a dead letter.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/lib.sh"
source "$HERE/serve_lib.sh"
need_tool python3 curl

D="$T/pki"
step "ca init; certificates: team=web (10d), team=quiet (10d, silenced), partner=acme (200d)"
serve_init "$D"
WEB=$(herald_issue "$T/web.json" --dir "$D" --profile server --cn web.internal --ttl 10d --owner team=web --out-dir "$T/web")
QUIET=$(herald_issue "$T/quiet.json" --dir "$D" --profile server --cn quiet.internal --ttl 10d --owner team=quiet --out-dir "$T/quiet")
PARTNER=$(herald_issue "$T/partner.json" --dir "$D" --profile server --cn acme-api.internal --ttl 200d --owner partner=acme --out-dir "$T/partner")
"$HERALD" alert silence add --dir "$D" --owner team=quiet --until 2d --reason "decommissioning" >"$T/silence.out" \
  || fail "alert silence add failed"
"$HERALD" alert silence list --dir "$D" | grep -q "owner team=quiet" || fail "the silence is not listed"
ok "issued $WEB $QUIET $PARTNER; team=quiet silenced"

step "webhook receivers on 127.0.0.1 (HTTP, and HTTPS with a Herald-issued certificate) that verify signatures"
for n in ops flaky dead partner tls tls-system hold dead-gone; do
  head -c 24 /dev/urandom | base64 >"$T/$n.secret"
  chmod 600 "$T/$n.secret"
done
python3 - "$T" >"$T/secrets.json" <<'PY'
import json, sys
t = sys.argv[1]
print(json.dumps({"/" + n: open(f"{t}/{n}.secret").read().strip()
                  for n in ("ops", "flaky", "dead", "partner", "tls", "tls-system", "hold", "dead-gone")}))
PY
herald_issue "$T/hooktls.json" --dir "$D" --profile server --cn 127.0.0.1 --out-dir "$T/hooktls" >/dev/null
WEBHOOK_HOLD_FILE="$T/hold" python3 "$HERE/webhook_receiver.py" "$T/recv.port" "$T/recv.log" "$T/secrets.json" &
bg_track $!
python3 "$HERE/webhook_receiver.py" "$T/recv-tls.port" "$T/recv.log" "$T/secrets.json" \
  "$T/hooktls/chain.pem" "$T/hooktls/key.pem" &
bg_track $!
for _ in $(seq 100); do [[ -s $T/recv.port && -s $T/recv-tls.port ]] && break; sleep 0.1; done
RP=$(cat "$T/recv.port")
RPS=$(cat "$T/recv-tls.port")
touch "$T/recv.log"
cat >>"$D/herald.toml" <<TOML

[alerts]
days = [30]
lifetime_percent = 0
interval = "1s"
retry_initial = "1s"
retry_max = "1s"
max_attempts = 3
timeout = "5s"

[[alerts.webhooks]]
name = "ops"
url = "http://127.0.0.1:$RP/ops"
secret_file = "$T/ops.secret"

[[alerts.webhooks]]
name = "flaky"
url = "http://127.0.0.1:$RP/flaky"
secret_file = "$T/flaky.secret"

[[alerts.webhooks]]
name = "dead"
url = "http://127.0.0.1:$RP/dead"
secret_file = "$T/dead.secret"

[[alerts.webhooks]]
name = "acme"
url = "http://127.0.0.1:$RP/partner"
secret_file = "$T/partner.secret"
partner = "acme"

[[alerts.webhooks]]
name = "tls"
url = "https://127.0.0.1:$RPS/tls"
secret_file = "$T/tls.secret"
ca_file = "ca/root.pem"

[[alerts.webhooks]]
name = "tls-system"
url = "https://127.0.0.1:$RPS/tls-system"
secret_file = "$T/tls-system.secret"
TOML
ok "receivers on ports $RP (HTTP) and $RPS (HTTPS)"

# count PATH KIND SERIAL [STATUS]: deliveries to PATH of that kind for that serial.
count() {
  python3 - "$T/recv.log" "$@" <<'PY'
import json, sys
log, path, kind, serial = sys.argv[1:5]
status = int(sys.argv[5]) if len(sys.argv) > 5 else None
n = 0
for line in open(log):
    r = json.loads(line)
    b = r["body"] or {}
    if r["path"] == path and b.get("kind") == kind and b.get("serial", "").lstrip("0") == serial.lstrip("0").upper() \
            and (status is None or r["status"] == status):
        n += 1
print(n)
PY
}
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local limit=$1 what=$2 i
  shift 2
  for i in $(seq $((limit * 10))); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  fail "$what (within ${limit}s); receiver log:$(printf '\n%s' "$(cut -c1-300 "$T/recv.log")")$(printf '\n%s' "$(tail -20 "$SERVE_LOG")")"
}
delivered() { [[ $(count "$1" "$2" "$3" 204) -ge 1 ]]; }

step "herald serve: the 30-day alert reaches each webhook once, signed"
serve_start "$D"
wait_for 20 "ops got the expiry alert for $WEB" delivered /ops expiry "$WEB"
wait_for 20 "flaky got it on the third attempt" delivered /flaky expiry "$WEB"
[[ $(count /ops expiry "$WEB") == 1 ]] || fail "ops: expected one delivery, got $(count /ops expiry "$WEB")"
[[ $(count /flaky expiry "$WEB") == 3 ]] || fail "flaky: expected 3 attempts, got $(count /flaky expiry "$WEB")"
python3 - "$T/recv.log" <<'PY' || fail "a delivery was not signed correctly"
import json, sys
bad = [json.loads(l) for l in open(sys.argv[1]) if not json.loads(l)["sig_ok"]]
assert not bad, bad
PY
ok "ops once, flaky after two failures, every signature (over timestamp.body) verified"

step "HTTPS webhooks: ca_file trusts Herald's CA; without it the system store refuses the receiver"
wait_for 20 "the https webhook with ca_file got the expiry alert" delivered /tls expiry "$WEB"
[[ $(count /tls expiry "$WEB") == 1 ]] || fail "tls: expected one delivery, got $(count /tls expiry "$WEB")"
tls_system_dead() { "$HERALD" alert list --dir "$D" --dead-letters --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if any(x["target"] == "tls-system" and x["attempts"] == 3 for x in d) else 1)'; }
wait_for 20 "a dead letter for the https webhook without ca_file" tls_system_dead
[[ $(count /tls-system expiry "$WEB") == 0 ]] || fail "the receiver was reached without ca_file"
"$HERALD" alert list --dir "$D" --dead-letters --json | python3 -c '
import json, sys
d = [x for x in json.load(sys.stdin) if x["target"] == "tls-system"]
assert "certif" in d[0]["last_error"].lower() or "verif" in d[0]["last_error"].lower(), d' ||
  fail "the tls-system dead letter does not name the certificate failure: $("$HERALD" alert list --dir "$D" --dead-letters)"
ok "delivered over HTTPS with ca_file = ca/root.pem; refused (dead letter) with the system store"

step "the receiver that always fails: a dead letter"
dead_listed() { "$HERALD" alert list --dir "$D" --dead-letters --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if any(x["target"] == "dead" and x["attempts"] == 3 for x in d) else 1)'; }
wait_for 20 "a dead letter for the webhook 'dead'" dead_listed
[[ $(count /dead expiry "$WEB") == 3 ]] || fail "dead: expected 3 attempts, got $(count /dead expiry "$WEB")"
"$HERALD" alert list --dir "$D" --dead-letters | grep -q "HTTP 500" || fail "alert list --dead-letters does not show the last error"
ok "3 attempts, then listed with its last error"

step "the silenced owner got nothing"
[[ $(count /ops expiry "$QUIET") == 0 ]] || fail "team=quiet was silenced but got an alert"
ok "no alert for $QUIET"

step "the partner's certificate is revoked (CLI): a signed notice to the partner only"
"$HERALD" revoke --dir "$D" "$PARTNER" --reason keyCompromise --no-crl >/dev/null || fail "herald revoke failed"
wait_for 20 "the partner got the revocation notice" delivered /partner revocation "$PARTNER"
[[ $(count /ops revocation "$PARTNER") == 0 ]] || fail "the ops webhook got a partner notice"
[[ $(count /partner expiry "$WEB") == 0 ]] || fail "the partner webhook got an expiry alert"
ok "revocation notice for $PARTNER delivered to partner=acme"

step "the partner heard of each CA certificate once, with its PEM"
python3 - "$T/recv.log" "$D/ca" <<'PY' || fail "CA certificate notices are wrong"
import json, sys
log, ca = sys.argv[1:]
got = [json.loads(l) for l in open(log)]
notes = [r["body"] for r in got if r["path"] == "/partner" and (r["body"] or {}).get("kind") == "ca_certificate"]
assert sorted(n["level"] for n in notes) == ["intermediate", "issuing", "root"], notes
for n in notes:
    assert n["pem"].strip() == open(f"{ca}/{n['level']}.pem").read().strip(), n["level"]
assert not [r for r in got if r["path"] != "/partner" and (r["body"] or {}).get("kind") == "ca_certificate"]
PY
ok "root, intermediate and issuing announced to partner=acme only"

step "restart: nothing is sent again"
serve_stop
[[ $SERVE_RC == 0 ]] || fail "herald serve exited with $SERVE_RC"
before=$(wc -l <"$T/recv.log")
serve_start "$D"
sleep 4
after=$(wc -l <"$T/recv.log")
[[ $before == "$after" ]] || fail "deliveries after the restart:$(printf '\n%s' "$(tail -n +$((before + 1)) "$T/recv.log")")"
grep -q "expiry serial=" "$T/serve.1.log" || fail "no alert line in the log"
for n in ops flaky dead partner; do
  if grep -qF "$(cat "$T/$n.secret")" "$T"/serve.*.log; then fail "a webhook secret is in the log"; fi
done
"$HERALD" alert list --dir "$D" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert any(a["target"] == "ops" and a["result"] == "delivered" for a in d), d
assert any(a["target"] == "dead" and a["result"] == "dead_letter" for a in d), d' || fail "alert list is missing records"
serve_stop
ok "no new delivery after the restart; the log has the alert line and no secret"

step "SIGHUP with retries pending: carried over; only a removed webhook's retry is a dead letter"
RELOAD=$(herald_issue "$T/reload.json" --dir "$D" --profile server --cn reload.internal --ttl 10d --owner team=reload --out-dir "$T/reload")
touch "$T/hold"
write_alerts() {  # write_alerts WITH_GONE: [alerts] with the webhooks hold (and dead-gone)
  python3 - "$D/herald.toml" "$1" "$RP" "$T" <<'PY'
import sys
path, with_gone, rp, t = sys.argv[1:]
text = open(path).read()
text = text[:text.index("\n[alerts]\n")]
text += f"""
[alerts]
days = [30]
lifetime_percent = 0
interval = "1s"
retry_initial = "2s"
retry_max = "2s"
max_attempts = 15
timeout = "5s"

[[alerts.webhooks]]
name = "hold"
url = "http://127.0.0.1:{rp}/hold"
secret_file = "{t}/hold.secret"
"""
if with_gone == "1":
    text += f"""
[[alerts.webhooks]]
name = "gone"
url = "http://127.0.0.1:{rp}/dead-gone"
secret_file = "{t}/dead-gone.secret"
"""
open(path, "w").write(text)
PY
}
write_alerts 1
serve_start "$D"
attempted() { [[ $(count "$1" expiry "$RELOAD") -ge 1 ]]; }
wait_for 20 "hold saw a first (failing) attempt" attempted /hold
wait_for 20 "gone saw a first (failing) attempt" attempted /dead-gone
write_alerts 0
kill -HUP "$SERVE_PID"
reloaded() { grep -q "SIGHUP: configuration and offline CRLs reloaded" "$SERVE_LOG"; }
wait_for 20 "the reload" reloaded
gone_before=$(count /dead-gone expiry "$RELOAD")
rm -f "$T/hold"
wait_for 20 "the pending retry reached hold after the reload" delivered /hold expiry "$RELOAD"
python3 - "$T/recv.log" "$RELOAD" <<'PY' || fail "the delivery after the reload is not a continued retry"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ok = [r for r in rows if r["path"] == "/hold" and r["status"] == 204
      and r["body"]["serial"].lstrip("0") == sys.argv[2].lstrip("0").upper()]
assert len(ok) == 1 and int(ok[0]["attempt"]) >= 2 and ok[0]["sig_ok"], ok
PY
gone_dead() { "$HERALD" alert list --dir "$D" --dead-letters --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if any(x["target"] == "gone" and "removed from the configuration" in x["last_error"] for x in d) else 1)'; }
wait_for 10 "a dead letter for the removed webhook 'gone'" gone_dead
"$HERALD" alert list --dir "$D" --dead-letters --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert not [x for x in d if x["target"] == "hold"], d' || fail "the kept webhook's retry was dead-lettered"
sleep 3
[[ $(count /dead-gone expiry "$RELOAD") == "$gone_before" ]] || fail "the removed webhook was dialled after the reload"
serve_stop
[[ $SERVE_RC == 0 ]] || fail "herald serve exited with $SERVE_RC"
ok "hold's retry continued after SIGHUP (attempt >= 2, delivered once); gone's became a dead letter"
