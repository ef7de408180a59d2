#!/usr/bin/env bash
# Proves the revocation push feed of `herald serve` (GET /v1/revocations),
# driven with curl over mutual TLS:
#  - only a client certificate of this CA, valid and not revoked, may read
#    it: none (even with an admin token) -> 401, a revoked one -> 401;
#  - `since` absent starts from now (an empty page, next = newest id), a
#    `since` beyond the inventory's history answers reset, garbage is a 400;
#  - a long poll with nothing newer waits for `wait` seconds and then gets an
#    empty page with the same next;
#  - a long poll is answered within 1 s of a revocation through the REST API
#    and within 1.5 s of a `herald revoke` in another process (both measured
#    and printed), with the certificate's serial, state and reason; a hold
#    and its release show as on-hold and valid;
#  - long polls are bounded per client certificate and in all (429 with
#    Retry-After beyond), a client that hangs up frees its slot at once;
#  - a graceful stop answers a waiting poll 503 and still ends promptly.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$IT_DIR/serve_lib.sh"
need_tool openssl curl python3

step "ca init, feed caps 3 in all and 2 per client certificate, start herald serve"
serve_init "$T/pki"
set_server_option "$D" feed_max_waiters 3
set_server_option "$D" feed_max_waiters_per_client 2
ADMIN_TOKEN=$(new_token "$D" admin)
API_TOKEN=$ADMIN_TOKEN
serve_start "$D"
ok "serving https://127.0.0.1:$HTTPS_PORT"

step "issue two client certificates (feed readers) and four server certificates (to revoke)"
for name in reader other; do
  make_csr "$name" "$name" "DNS:$name.internal"
  api POST "/v1/sign?profile=client" -H 'Content-Type: application/pkcs10' --data-binary @"$T/$name.csr"
  expect_status 201 "sign client $name"
  save_issued "$name" >"$T/$name.serial"
done
for name in v1 v2 v3 v4; do
  make_csr "$name" "$name.internal" "DNS:$name.internal"
  api POST "/v1/sign?profile=server" -H 'Content-Type: application/pkcs10' --data-binary @"$T/$name.csr"
  expect_status 201 "sign server $name"
  save_issued "$name" >"$T/$name.serial"
done
V1=$(cat "$T/v1.serial") V2=$(cat "$T/v2.serial") V3=$(cat "$T/v3.serial") V4=$(cat "$T/v4.serial")
OTHER=$(cat "$T/other.serial")
ok "readers $(cat "$T/reader.serial"), $OTHER; victims $V1 $V2 $V3 $V4"

# feed QUERY [NAME]: GET /v1/revocations with NAME's client certificate
# (default reader) and no token.
feed() {
  local who=${2:-reader} saved=$API_TOKEN
  API_TOKEN=""
  api GET "/v1/revocations$1" --cert "$T/$who.pem" --key "$T/$who.key"
  API_TOKEN=$saved
}
# page_check EXPR WHAT: a Python expression over d (the last answer, JSON).
page_check() {
  python3 - "$T/.api.body" "$1" <<'EOF' || fail "$2: $(head -c 2000 "$T/.api.body")"
import json, sys
d = json.load(open(sys.argv[1]))
assert eval(sys.argv[2]), sys.argv[2]
EOF
}
# long_poll NAME QUERY [WHO]: the request in the background; its status goes
# to $T/NAME.code, its body to $T/NAME.body, and the wall-clock time (us) it
# ended to $T/NAME.done. LP_PID is the subshell.
long_poll() {
  local name=$1 query=$2 who=${3:-reader}
  rm -f "$T/$name.code" "$T/$name.body" "$T/$name.done"
  (
    curl -sS --max-time 90 --cacert "$ROOT" --cert "$T/$who.pem" --key "$T/$who.key" \
      -o "$T/$name.body" -w '%{http_code}' "$API/v1/revocations$query" >"$T/$name.code" 2>"$T/$name.err" || true
    now_us >"$T/$name.done"
  ) &
  LP_PID=$!
  bg_track "$LP_PID"
}
# metric NAME: the sample's value from /metrics ("" if absent).
metric() {
  curl -s --max-time 10 "$PUB/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}
# wait_waiting N: until herald_feed_waiting is N (10 s).
wait_waiting() {
  local i v
  for i in $(seq 200); do
    v=$(metric herald_feed_waiting)
    [[ $v == "$1" ]] && return 0
    sleep 0.05
  done
  fail "herald_feed_waiting is '$v', expected $1"
}
# wait_done NAME LIMIT_S: until the background poll NAME ended.
wait_done() {
  local i
  for i in $(seq $(($2 * 20))); do
    [[ -s $T/$1.done ]] && return 0
    sleep 0.05
  done
  fail "the long poll $1 did not end within $2 s"
}

step "authentication: a client certificate of this CA, nothing else"
API_TOKEN=""
api GET "/v1/revocations"
expect_problem 401 unauthenticated "no client certificate"
API_TOKEN=$ADMIN_TOKEN
api GET "/v1/revocations"
expect_problem 401 unauthenticated "an admin token but no client certificate"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/stranger.key" \
  -subj "/CN=stranger" -days 1 -out "$T/stranger.pem" 2>/dev/null
API_TOKEN=""
api GET "/v1/revocations" --cert "$T/stranger.pem" --key "$T/stranger.key"
if [[ $HTTP_STATUS != 000 ]]; then expect_problem 401 unauthenticated "a self-signed client certificate"; fi
ok "a self-signed client certificate: refused (HTTP $HTTP_STATUS)"
API_TOKEN=$ADMIN_TOKEN

step "since: absent starts from now, beyond the history resets, garbage is refused"
feed ""
expect_status 200 "since absent"
page_check 'd["revocations"] == [] and isinstance(d["next"], int) and "reset" not in d' "since absent"
N0=$(json_get "$T/.api.body" 'd["next"]')
ok "since absent: empty page, next $N0"
feed "?since=$((N0 + 1000))"
expect_status 200 "since beyond"
page_check "d == {'revocations': [], 'next': $N0, 'reset': True}" "since beyond the history"
ok "since=$((N0 + 1000)): reset, next $N0"
for q in "?since=abc" "?since=-1" "?since=1&wait=soon"; do
  feed "$q"
  expect_problem 400 invalid-argument "GET /v1/revocations$q"
done
feed "?since=$N0"
expect_status 200 "since=newest, wait absent"
page_check "d == {'revocations': [], 'next': $N0}" "since=newest answers at once"

step "a long poll with nothing newer ends after its wait with an empty page and the same next"
t0=$(now_us)
feed "?since=$N0&wait=2"
t1=$(now_us)
expect_status 200 "wait=2"
page_check "d == {'revocations': [], 'next': $N0}" "wait=2"
echo "   measured: wait=2 answered after $(secs $((t1 - t0))) s"
((t1 - t0 >= 1800000 && t1 - t0 < 4000000)) || fail "wait=2 answered after $(secs $((t1 - t0))) s"
ok "empty page after the wait"

step "REST revocation -> a waiting poll gets it within 1 s"
long_poll rest "?since=$N0&wait=30"
wait_waiting 1
t0=$(now_us)
api POST /v1/revoke -H 'Content-Type: application/json' --data-binary "{\"serial\":\"$V1\",\"reason\":\"keyCompromise\"}"
t_api=$(now_us)
expect_status 200 "revoke $V1"
wait_done rest 10
t1=$(cat "$T/rest.done")
[[ $(cat "$T/rest.code") == 200 ]] || fail "the poll got HTTP $(cat "$T/rest.code"): $(cat "$T/rest.body" "$T/rest.err")"
cp "$T/rest.body" "$T/.api.body"
page_check "len(d['revocations']) == 1 and d['revocations'][0]['serial'] == '$V1' and d['revocations'][0]['status'] == 'revoked' and d['revocations'][0]['reason'] == 'keyCompromise' and d['revocations'][0]['id'] > $N0 and d['next'] == d['revocations'][0]['id'] and d['revocations'][0]['revoked_at'].endswith('Z')" "the woken page"
N1=$(json_get "$T/.api.body" 'd["next"]')
REST_MS=$(((t1 - t0) / 1000))
echo "   measured: REST revoke -> long poll answered in $REST_MS ms (the revoke call itself took $(((t_api - t0) / 1000)) ms)"
((REST_MS < 1000)) || fail "the poll was answered $REST_MS ms after the REST revocation (limit 1000 ms)"
ok "the waiting poll got $V1 (revoked, keyCompromise), next $N1"

step "herald revoke (CLI, another process) -> a waiting poll gets it within 1.5 s"
long_poll cli "?since=$N1&wait=30"
wait_waiting 1
t0=$(now_us)
"$HERALD" revoke --dir "$D" "$V2" --reason superseded >"$T/revoke.log" 2>&1 || fail "herald revoke failed: $(cat "$T/revoke.log")"
t_cli=$(now_us)
wait_done cli 10
t1=$(cat "$T/cli.done")
[[ $(cat "$T/cli.code") == 200 ]] || fail "the poll got HTTP $(cat "$T/cli.code"): $(cat "$T/cli.body" "$T/cli.err")"
cp "$T/cli.body" "$T/.api.body"
page_check "[(r['serial'], r['status'], r['reason']) for r in d['revocations']] == [('$V2', 'revoked', 'superseded')] and d['next'] > $N1" "the woken page"
N2=$(json_get "$T/.api.body" 'd["next"]')
CLI_MS=$(((t1 - t0) / 1000))
echo "   measured: herald revoke started -> long poll answered in $CLI_MS ms (the CLI process ran $(((t_cli - t0) / 1000)) ms in all: it commits the revocation, then re-signs the CRL)"
((CLI_MS < 1500)) || fail "the poll was answered $CLI_MS ms after herald revoke started (limit 1500 ms)"
ok "the waiting poll got $V2 (revoked, superseded), next $N2"

step "hold (REST) and release (CLI): on-hold, then valid, in order"
api POST /v1/revoke -H 'Content-Type: application/json' --data-binary "{\"serial\":\"$V3\",\"reason\":\"certificateHold\"}"
expect_status 200 "hold $V3"
feed "?since=$N2"
expect_status 200 "after the hold"
page_check "[(r['serial'], r['status'], r['reason']) for r in d['revocations']] == [('$V3', 'on-hold', 'certificateHold')]" "hold"
"$HERALD" revoke --dir "$D" "$V3" --reason removeFromCRL >/dev/null 2>&1 || fail "herald revoke --reason removeFromCRL failed"
feed "?since=$N2&wait=5"
expect_status 200 "after the release"
page_check "[(r['serial'], r['status']) for r in d['revocations']] == [('$V3', 'valid'), ('$V3', 'valid')] and 'reason' not in d['revocations'][1] and d['revocations'][0]['id'] < d['revocations'][1]['id']" "release"
N3=$(json_get "$T/.api.body" 'd["next"]')
ok "two changes of $V3, each with its state now (valid), next $N3"

step "bounds: 2 waiting polls per client certificate, 3 in all; 429 beyond; a hang-up frees its slot"
# a1 is curl itself, so that it can be hung up on (kill by its pid).
curl -sS --max-time 90 --cacert "$ROOT" --cert "$T/reader.pem" --key "$T/reader.key" -o /dev/null \
  "$API/v1/revocations?since=$N3&wait=30" 2>/dev/null &
A1=$!
bg_track "$A1"
long_poll a2 "?since=$N3&wait=30"
wait_waiting 2
feed "?since=$N3&wait=30"
expect_problem 429 rate-limited "a third poll of the same client certificate"
grep -qi '^retry-after:' < <(curl -sS -D - -o /dev/null --max-time 10 --cacert "$ROOT" --cert "$T/reader.pem" --key "$T/reader.key" "$API/v1/revocations?since=$N3&wait=30") ||
  fail "the 429 has no Retry-After"
long_poll b1 "?since=$N3&wait=30" other
wait_waiting 3
feed "?since=$N3&wait=30" other
expect_problem 429 rate-limited "a fourth poll in all (feed_max_waiters 3)"
# Hang up one of reader's polls: its slot is free again at once.
kill -TERM "$A1" 2>/dev/null || true
wait "$A1" 2>/dev/null || true
wait_waiting 2
long_poll a3 "?since=$N3&wait=30"
wait_waiting 3
ok "429 per client and in all (with Retry-After); a hang-up freed its slot"
# One revocation answers all three.
api POST /v1/revoke -H 'Content-Type: application/json' --data-binary "{\"serial\":\"$V4\",\"reason\":\"cessationOfOperation\"}"
expect_status 200 "revoke $V4"
for n in a2 b1 a3; do
  wait_done "$n" 10
  [[ $(cat "$T/$n.code") == 200 ]] || fail "poll $n got HTTP $(cat "$T/$n.code")"
  cp "$T/$n.body" "$T/.api.body"
  page_check "[r['serial'] for r in d['revocations']] == ['$V4']" "poll $n"
done
wait_waiting 0
N4=$(json_get "$T/.api.body" 'd["next"]')
ok "one revocation answered the three waiting polls"

step "a revoked client certificate is refused"
api POST /v1/revoke -H 'Content-Type: application/json' --data-binary "{\"serial\":\"$OTHER\",\"reason\":\"keyCompromise\"}"
expect_status 200 "revoke the client certificate $OTHER"
feed "?since=$N4" other
expect_problem 401 unauthenticated "the revoked client certificate $OTHER"

step "metrics"
for r in events empty start reset unauthenticated rate-limited invalid cancelled; do
  v=$(metric "herald_feed_responses_total{result=\"$r\"}")
  [[ -n $v && $v != 0 ]] || fail "herald_feed_responses_total{result=\"$r\"} is '$v'"
done
ok "herald_feed_waiting and herald_feed_responses_total{result} count what happened"

step "graceful stop with a waiting poll: it gets 503 and the server ends"
feed ""
N5=$(json_get "$T/.api.body" 'd["next"]')
long_poll stop "?since=$N5&wait=60"
wait_waiting 1
t0=$(now_us)
serve_stop 20
t1=$(now_us)
[[ $SERVE_RC == 0 ]] || fail "herald serve exit status $SERVE_RC after SIGTERM"
wait_done stop 10
[[ $(cat "$T/stop.code") == 503 ]] || fail "the waiting poll got HTTP $(cat "$T/stop.code") at stop, expected 503"
echo "   measured: stopped in $(secs $((t1 - t0))) s with a poll waiting"
((t1 - t0 < 5000000)) || fail "stopping took $(secs $((t1 - t0))) s"
ok "503 for the waiting poll, exit 0"

step "PASS serve_feed (REST revoke -> poll ${REST_MS} ms, herald revoke -> poll ${CLI_MS} ms)"
