#!/usr/bin/env bash
# Proves that /metrics of `herald serve` is valid Prometheus exposition
# (`promtool check metrics`) carrying the documented families with their
# labels, that counters count what happened (one more sign = +1), and that
# SIGTERM stops the server with exit 0 within 5 s even while clients hold
# idle connections open.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$IT_DIR/serve_lib.sh"
need_tool openssl curl python3 sqlite3 promtool

step "ca init, start herald serve"
serve_init "$T/pki"
API_TOKEN=$(new_token "$D" admin)
serve_start "$D"
ok "serving https://127.0.0.1:$HTTPS_PORT and http://127.0.0.1:$HTTP_PORT"

step "traffic: signs (server, client with ttl 2d), a revocation, OCSP queries, errors"
make_csr web web.internal "DNS:web.internal"
sign_json "$T/web.csr" server >"$T/web.json"
api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/web.json"
expect_status 201 "sign server"
WEB=$(save_issued web)
make_csr short short.internal "DNS:short.internal"
api POST "/v1/sign?profile=client&ttl=2d" -H 'Content-Type: application/pkcs10' --data-binary @"$T/short.csr"
expect_status 201 "sign client ttl=2d"
SHORT=$(save_issued short)
make_csr gone gone.internal "DNS:gone.internal"
sign_json "$T/gone.csr" server >"$T/gone.json"
api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/gone.json"
expect_status 201 "sign server (to revoke)"
GONE=$(save_issued gone)
api POST /v1/revoke -H 'Content-Type: application/json' --data-binary "{\"serial\":\"$GONE\",\"reason\":\"keyCompromise\"}"
expect_status 200 "revoke"
ocsp_query "$T/web.pem" -no_nonce
grep -q ': good$' <<<"$OCSP_OUT" || fail "OCSP: $OCSP_OUT"
ocsp_query "$T/web.pem"
grep -q ': good$' <<<"$OCSP_OUT" || fail "OCSP with nonce: $OCSP_OUT"
curl -sS -o /dev/null -X POST -H 'Content-Type: application/ocsp-request' --data-binary garbage "$PUB/ocsp"
make_csr google www.google.com "DNS:www.google.com"
sign_json "$T/google.csr" server >"$T/google.json"
api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/google.json"
expect_problem 403 policy-violation "CSR outside policy"
SAVED=$API_TOKEN
API_TOKEN=""
api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/web.json"
expect_problem 401 unauthenticated "no token"
API_TOKEN=$SAVED
ok "server $WEB, client $SHORT (2d), revoked $GONE, 2 OCSP good, 1 malformed, 2 API errors"

step "GET /metrics passes promtool check metrics"
curl -sS --fail --max-time 30 -D "$T/metrics.headers" -o "$T/metrics.txt" "$PUB/metrics" || fail "GET /metrics failed"
grep -qi '^Content-Type: text/plain; version=0.0.4' "$T/metrics.headers" || fail "/metrics content type: $(grep -i content-type "$T/metrics.headers")"
rc=0
promtool check metrics <"$T/metrics.txt" >"$T/promtool.out" 2>&1 || rc=$?
[[ $rc == 0 ]] || fail "promtool check metrics exited $rc:$(printf '\n%s' "$(cat "$T/promtool.out")")"
ok "promtool: exit 0 ($(grep -c '' "$T/metrics.txt") lines)$( [[ -s $T/promtool.out ]] && printf '; said: %s' "$(head -3 "$T/promtool.out")")"
# Over HTTPS too.
curl -sS --fail --max-time 30 --cacert "$ROOT" -o "$T/metrics.https.txt" "$API/metrics" || fail "GET /metrics over HTTPS failed"
promtool check metrics <"$T/metrics.https.txt" >/dev/null 2>&1 || fail "promtool rejects /metrics over HTTPS"

step "the documented families, with their labels and values"
python3 - "$T/metrics.txt" <<'EOF' || fail "metrics content is wrong (see above)"
import re, sys
text = open(sys.argv[1]).read()
types, samples = {}, []
for line in text.splitlines():
    m = re.match(r"# TYPE (\S+) (\S+)$", line)
    if m:
        types[m.group(1)] = m.group(2)
        continue
    if not line or line.startswith("#"):
        continue
    m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)', line)
    assert m, f"unparsable sample line: {line!r}"
    labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
    samples.append((m.group(1), labels, float(m.group(3))))

def want_type(family, t):
    assert types.get(family) == t, f"# TYPE {family} {t} missing (have {types.get(family)})"
def find(name, **labels):
    return [v for n, l, v in samples if n == name and all(l.get(k) == x for k, x in labels.items())]
def need(name, at_least=1, **labels):
    vals = find(name, **labels)
    assert vals, f"no sample {name}{labels}"
    assert sum(vals) >= at_least, f"{name}{labels} = {sum(vals)}, expected >= {at_least}"
    print(f"   {name}{labels} = {sum(vals):g}")
errors = []
def check(f):
    try:
        f()
    except AssertionError as e:
        errors.append(str(e))
        print(f"   MISSING: {e}")

check(lambda: want_type("herald_certificates_issued_total", "counter"))
check(lambda: need("herald_certificates_issued_total", 2, profile="server", result="ok"))
check(lambda: need("herald_certificates_issued_total", 1, profile="client", result="ok"))
check(lambda: need("herald_certificates_issued_total", 1, result="error"))
check(lambda: want_type("herald_issuance_duration_seconds", "histogram"))
check(lambda: need("herald_issuance_duration_seconds_bucket", 2, profile="server", result="ok", le="+Inf"))
check(lambda: need("herald_issuance_duration_seconds_count", 2, profile="server", result="ok"))
check(lambda: need("herald_issuance_duration_seconds_sum", 0, profile="server", result="ok"))
check(lambda: want_type("herald_api_errors_total", "counter"))
check(lambda: need("herald_api_errors_total", 1, code="unauthenticated"))
check(lambda: need("herald_api_errors_total", 1, code="policy-violation"))
check(lambda: want_type("herald_ocsp_requests_total", "counter"))
check(lambda: need("herald_ocsp_requests_total", 2, status="good"))
check(lambda: need("herald_ocsp_requests_total", 1, status="malformed"))
check(lambda: want_type("herald_revocations_total", "counter"))
check(lambda: need("herald_revocations_total", 1, reason="keyCompromise"))
check(lambda: want_type("herald_certificates_expiring", "gauge"))
check(lambda: need("herald_certificates_expiring", 1, within="7d"))   # the 2-day client certificate
check(lambda: need("herald_certificates_expiring", 1, within="30d"))   # the same: Herald's own self-renewing TLS/OCSP certificates are not counted
check(lambda: want_type("herald_crl_age_seconds", "gauge"))
check(lambda: need("herald_crl_age_seconds", 0, ca="issuing"))
check(lambda: want_type("herald_signer_errors_total", "counter"))
check(lambda: want_type("herald_store_duration_seconds", "histogram"))
check(lambda: need("herald_store_duration_seconds_count", 1))
# Histogram buckets are cumulative and end at +Inf == _count.
for fam in [f for f, t in types.items() if t == "histogram"]:
    series = {}
    for n, l, v in samples:
        if n == fam + "_bucket":
            key = tuple(sorted((k, x) for k, x in l.items() if k != "le"))
            series.setdefault(key, []).append((float("inf") if l["le"] == "+Inf" else float(l["le"]), v))
    for key, b in series.items():
        b.sort()
        vals = [v for _, v in b]
        if vals != sorted(vals):
            errors.append(f"{fam}{dict(key)}: buckets not cumulative")
        count = find(fam + "_count", **dict(key))
        if b[-1][0] != float("inf") or not count or count[0] != b[-1][1]:
            errors.append(f"{fam}{dict(key)}: +Inf bucket != _count")
if errors:
    sys.exit(1)
EOF
ok "all families present"

step "counters count: one more server sign is exactly +1"
metric_value() { # FILE NAME LABELS-REGEX
  python3 - "$@" <<'EOF'
import re, sys
total = 0.0
for line in open(sys.argv[1]):
    if line.startswith(sys.argv[2] + "{") and re.search(sys.argv[3], line):
        total += float(line.rsplit(" ", 1)[1])
print(int(total))
EOF
}
before=$(metric_value "$T/metrics.txt" herald_certificates_issued_total 'profile="server",result="ok"')
make_csr web2 web2.internal "DNS:web2.internal"
sign_json "$T/web2.csr" server >"$T/web2.json"
api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/web2.json"
expect_status 201 "one more sign"
curl -sS --fail --max-time 30 -o "$T/metrics2.txt" "$PUB/metrics"
after=$(metric_value "$T/metrics2.txt" herald_certificates_issued_total 'profile="server",result="ok"')
((after == before + 1)) || fail "herald_certificates_issued_total{profile=server,result=ok}: $before -> $after after one sign"
promtool check metrics <"$T/metrics2.txt" >/dev/null 2>&1 || fail "promtool rejects the second scrape"
ok "herald_certificates_issued_total{profile=\"server\",result=\"ok\"}: $before -> $after"

step "gauges follow the inventory: revoking the 2-day certificate lowers herald_certificates_expiring{within=\"7d\"}"
exp_before=$(metric_value "$T/metrics2.txt" herald_certificates_expiring 'within="7d"')
api POST /v1/revoke -H 'Content-Type: application/json' --data-binary "{\"serial\":\"$SHORT\",\"reason\":\"superseded\"}"
expect_status 200 "revoke the 2-day certificate"
curl -sS --fail --max-time 30 -o "$T/metrics3.txt" "$PUB/metrics"
exp_after=$(metric_value "$T/metrics3.txt" herald_certificates_expiring 'within="7d"')
((exp_after == exp_before - 1)) || fail "herald_certificates_expiring{within=7d}: $exp_before -> $exp_after after revoking a 2-day certificate"
rev=$(metric_value "$T/metrics3.txt" herald_revocations_total 'reason="superseded"')
((rev == 1)) || fail "herald_revocations_total{reason=superseded} = $rev after one such revocation"
ok "expiring within 7d: $exp_before -> $exp_after; herald_revocations_total{reason=\"superseded\"} = 1"

step "SIGTERM with idle clients connected: exit 0 within 5 s"
# An idle keep-alive HTTP connection (one request answered) and a TCP
# connection to the HTTPS port that never starts its handshake.
python3 - "$HTTP_PORT" "$HTTPS_PORT" >"$T/idle.log" 2>&1 <<'EOF' &
import socket, sys, time
h = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
h.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
h.recv(65536)
s = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
print("idle connections open", flush=True)
time.sleep(120)
EOF
IDLE_PID=$!
bg_track "$IDLE_PID"
for i in $(seq 300); do
  grep -q 'idle connections open' "$T/idle.log" && break
  ((i < 300)) || fail "could not open the idle connections: $(cat "$T/idle.log")"
  sleep 0.1
done
t0=$(now_us)
serve_stop 5
took=$(secs $(($(now_us) - t0)))
[[ $SERVE_RC != timeout ]] || fail "herald serve was still running 5 s after SIGTERM (idle connections open)"
[[ $SERVE_RC == 0 ]] || fail "herald serve exited with $SERVE_RC on SIGTERM:$(printf '\n%s' "$(tail -30 "$SERVE_LOG")")"
grep -q 'herald serve: stopped' "$SERVE_LOG" || fail "no 'stopped' line in the server output"
ok "exit 0 after ${took} s"
kill "$IDLE_PID" 2>/dev/null || true

step "PASS serve_metrics"
