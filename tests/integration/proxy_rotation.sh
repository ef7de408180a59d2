#!/usr/bin/env bash
# Proves `herald proxy` rotates its own certificate without an outage:
#  - under continuous load (one loop of new TLS connections with openssl
#    s_client that records the served serial, one loop of new mTLS requests
#    with curl), the proxy's certificate and key are replaced three times by
#    rewriting the files with rename(2), as the renewal agent does (no
#    signal): each time the served certificate changes (new serial, verified
#    for 127.0.0.1 against the root), with zero failed handshakes or
#    requests;
#  - a broken certificate file (garbage), then a certificate with a key that
#    does not match, are refused with a log line and
#    herald_proxy_reloads_total{result="refused"}, and the old certificate
#    keeps being served (no failure in the loops); a good pair after them is
#    loaded;
#  - the certificate's OCSP status is stapled (openssl s_client -status) at
#    start and for each new certificate within seconds;
#  - SIGHUP reloads (log line, reloads_total{result="success"} + 1);
#  - the trust bundle rewritten while serving: a partner's client is
#    accepted once its root is added, refused once it is removed;
#  - SIGTERM while a response is streaming: the stream completes (bytes and
#    SHA-256 checked), new connections are refused, the proxy exits 0.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$IT_DIR/serve_lib.sh"
source "$IT_DIR/proxy_lib.sh"
need_tool openssl curl python3

step "ca init, herald serve, the echo backend, certificates"
serve_init "$T/pki"
serve_start "$D"
backend_start be
BE=$BE_PORT
issue_client alice --dir "$D" --profile client --cn alice --san dns:alice.internal
for k in 0 1 2 3 4 5; do
  issue_client "px$k" --dir "$D" --profile server --cn localhost --san ip:127.0.0.1
done
W="$T/proxy-files"
mkdir -p "$W"
cp "$T/c/px0/cert.pem" "$T/c/px0/key.pem" "$T/c/px0/chain.pem" "$W/"
cp "$ROOT" "$W/trust.pem"
# A partner's hierarchy whose CRLs an HTTP server publishes.
alloc_port PARTNER_PORT
"$HERALD" ca init --dir "$T/partner" --org Partner --base-url "http://127.0.0.1:$PARTNER_PORT" >"$T/partner.log" 2>&1 ||
  fail "ca init (partner): $(cat "$T/partner.log")"
issue_client partner --dir "$T/partner" --profile client --cn partner-app --san dns:app.partner.internal
python3 -m http.server --bind 127.0.0.1 --directory "$T/partner" "$PARTNER_PORT" >"$T/partner-http.log" 2>&1 &
bg_track $!
ok "serve $API, backend :$BE, 6 server certificates for the proxy"

# install_pair SRC_DIR [KEY_FROM_DIR]: the renewal agent's way: each file
# written beside its target and renamed over it (key first, then the chain,
# then the certificate).
install_pair() {
  local src=$1 keysrc=${2:-$1} f
  for f in key chain cert; do
    if [[ $f == key ]]; then cp "$keysrc/key.pem" "$W/key.pem.new"; else cp "$src/$f.pem" "$W/$f.pem.new"; fi
    mv -f "$W/$f.pem.new" "$W/$f.pem"
  done
}

served_serial() {
  local out
  out=$(openssl s_client -connect "127.0.0.1:$P" -CAfile "$ROOT" -verify_return_error -verify_ip 127.0.0.1 </dev/null 2>/dev/null) ||
    return 1
  norm_serial "$(openssl x509 -noout -serial <<<"$out" | cut -d= -f2)"
}

step "herald proxy on the files, with the CA's revocation feed"
alloc_port P
alloc_port A
proxy_start px "$A" --listen "127.0.0.1:$P" --backend "127.0.0.1:$BE" --cert "$W/cert.pem" --key "$W/key.pem" \
  --chain "$W/chain.pem" --trust "$W/trust.pem" --ca-feed "$API" --admin-listen "127.0.0.1:$A" --threads 2 \
  --crl-url "http://127.0.0.1:$PARTNER_PORT/crl/issuing.crl" --crl-url "http://127.0.0.1:$PARTNER_PORT/crl/intermediate.crl" \
  --crl-url "http://127.0.0.1:$PARTNER_PORT/crl/root.crl"
[[ $(served_serial) == "$(cat "$T/c/px0/serial")" ]] || fail "the proxy does not serve px0"
ok "serving px0 ($(cat "$T/c/px0/serial")) on :$P"

# staple_serial: the serial of the certificate the stapled OCSP answer is
# about ("" when none is stapled), if it says good.
staple_serial() {
  local out
  out=$(openssl s_client -connect "127.0.0.1:$P" -status -CAfile "$ROOT" </dev/null 2>/dev/null) || return 0
  grep -q 'OCSP Response Status: successful' <<<"$out" && grep -q 'Cert Status: good' <<<"$out" || return 0
  norm_serial "$(sed -n 's/^ *Serial Number: *//p' <<<"$out" | head -1)"
}
wait_staple() { # SERIAL WHAT
  local i
  for i in $(seq 100); do
    [[ $(staple_serial) == "$1" ]] && return 0
    sleep 0.1
  done
  fail "$2: no stapled OCSP answer (good) for $1 10 s on (s_client -status)"
}
wait_staple "$(cat "$T/c/px0/serial")" "start"
ok "px0's OCSP status (good) is stapled"

step "continuous load: new TLS connections (s_client) and new mTLS requests (curl) in two loops"
rm -f "$T/stop"
(
  set +e
  while [[ ! -e $T/stop ]]; do
    if out=$(openssl s_client -connect "127.0.0.1:$P" -CAfile "$ROOT" -verify_return_error -verify_ip 127.0.0.1 \
      -cert "$T/c/alice/cert.pem" -key "$T/c/alice/key.pem" -cert_chain "$T/c/alice/ca.pem" </dev/null 2>"$T/hs.err") &&
      grep -q 'Verify return code: 0 (ok)' <<<"$out"; then
      echo "ok $(norm_serial "$(openssl x509 -noout -serial <<<"$out" | cut -d= -f2)")"
    else
      echo "FAIL $(head -3 "$T/hs.err" | tr '\n' ' ')"
    fi
  done >"$T/hs.log"
) &
HS_PID=$!
bg_track "$HS_PID"
(
  set +e
  while [[ ! -e $T/stop ]]; do
    code=$(curl -sS --max-time 20 -o /dev/null -w '%{http_code}' --cacert "$T/pki/ca/root.pem" --cert "$T/c/alice/full.pem" \
      --key "$T/c/alice/key.pem" "https://127.0.0.1:$P/echo" 2>"$T/curl.err")
    if [[ $code == 200 ]]; then echo ok; else echo "FAIL $code $(head -2 "$T/curl.err" | tr '\n' ' ')"; fi
  done >"$T/req.log"
) &
REQ_PID=$!
bg_track "$REQ_PID"
sleep 2
(($(grep -c '^ok' "$T/hs.log" || true) > 0 && $(grep -c '^ok' "$T/req.log" || true) > 0)) ||
  fail "the load loops do not get through: $(tail -3 "$T/hs.log" "$T/req.log")"
ok "$(grep -c '^ok' "$T/hs.log") handshakes, $(grep -c '^ok' "$T/req.log") requests in 2 s"

# wait_served SERIAL WHAT: the load loop sees SERIAL within 10 s.
wait_served() {
  local i
  for i in $(seq 100); do
    tail -n 5 "$T/hs.log" | grep -q "^ok $1\$" && return 0
    sleep 0.1
  done
  fail "$2: $1 not served 10 s on:$(printf '\n%s' "$(tail -5 "$T/px.log")")"
}
reloads() { metric "$A" "herald_proxy_reloads_total{route=\"default\",result=\"$1\"}"; }

step "three rotations by renaming new files over the old ones (no signal)"
for k in 1 2 3; do
  s0=$(reloads success)
  t0=$(now_us)
  install_pair "$T/c/px$k"
  wait_served "$(cat "$T/c/px$k/serial")" "rotation $k"
  echo "   rotation $k: px$k ($(cat "$T/c/px$k/serial")) served $(secs $(($(now_us) - t0))) s after the rename"
  (($(reloads success) > s0)) || fail "rotation $k: reloads_total{result=success} did not grow"
  wait_staple "$(cat "$T/c/px$k/serial")" "rotation $k"
  sleep 1
done
ROT_REFUSED=$(reloads refused)
ok "3 rotations, each new certificate's OCSP status stapled within seconds; reloads: $(reloads success) success, $ROT_REFUSED refused (a key renamed before its certificate may be seen alone)"

step "a broken certificate file is refused, the current certificate kept"
r0=$(reloads refused)
l0=$(grep -c 'new files refused, the current ones kept' "$T/px.log" || true)
printf 'this is not a certificate\n' >"$W/cert.pem.new"
mv -f "$W/cert.pem.new" "$W/cert.pem"
for i in $(seq 50); do (($(reloads refused) > r0)) && break; sleep 0.1; done
(($(reloads refused) > r0)) || fail "garbage cert.pem: no refused reload counted 5 s on"
(($(grep -c 'new files refused, the current ones kept' "$T/px.log" || true) > l0)) || fail "garbage cert.pem: no log line"
sleep 1.5
[[ $(served_serial) == "$(cat "$T/c/px3/serial")" ]] || fail "after a garbage cert.pem the proxy does not serve px3 any more"
ok "garbage: $(grep 'new files refused' "$T/px.log" | tail -1 | cut -c1-200)"

step "a certificate whose key does not match is refused, the current certificate kept"
r0=$(reloads refused)
install_pair "$T/c/px4" "$T/c/px5"
for i in $(seq 50); do (($(reloads refused) > r0)) && break; sleep 0.1; done
(($(reloads refused) > r0)) || fail "mismatched key: no refused reload counted 5 s on"
sleep 1.5
[[ $(served_serial) == "$(cat "$T/c/px3/serial")" ]] || fail "after a mismatched pair the proxy does not serve px3 any more"
ok "mismatch: $(grep 'new files refused' "$T/px.log" | tail -1 | cut -c1-200)"
install_pair "$T/c/px4"
wait_served "$(cat "$T/c/px4/serial")" "the good pair after the broken ones"
ok "a good pair (px4) afterwards is loaded and served"

step "SIGHUP reloads at once"
s0=$(reloads success)
kill -HUP "${PROXY_PID[px]}"
for i in $(seq 50); do (($(reloads success) > s0)) && break; sleep 0.1; done
(($(reloads success) > s0)) || fail "SIGHUP: reloads_total{result=success} did not grow"
grep -q 'SIGHUP: reloading' "$T/px.log" || fail "no SIGHUP line in the log"
kill -0 "${PROXY_PID[px]}" || fail "SIGHUP killed the proxy"
ok "SIGHUP: reloaded, still serving $(served_serial)"

step "the trust bundle rewritten while serving: a partner's root added, then removed"
pcurl "$P" partner /echo
expect_status 403 "the partner before its root is trusted"
[[ $(json_get "$T/.api.body" 'd.get("reason")') == unknown_ca ]] || fail "the partner before its root is trusted: $(body)"
cat "$ROOT" "$T/partner/ca/root.pem" >"$W/trust.pem.new"
mv -f "$W/trust.pem.new" "$W/trust.pem"
for i in $(seq 100); do
  pcurl "$P" partner /echo
  [[ $HTTP_STATUS == 200 ]] && break
  ((i < 100)) || fail "the partner is still refused 10 s after its root was added to the trust bundle: $(body)"
  sleep 0.1
done
ok "partner refused (unknown_ca), then accepted at poll $i (100 ms apart) after its root was added (no signal)"
cp "$ROOT" "$W/trust.pem.new"
mv -f "$W/trust.pem.new" "$W/trust.pem"
for i in $(seq 100); do
  pcurl "$P" partner /echo
  [[ $HTTP_STATUS == 403 ]] && break
  ((i < 100)) || fail "the partner is still accepted 10 s after its root was removed"
  sleep 0.1
done
[[ $(json_get "$T/.api.body" 'd.get("reason")') == unknown_ca ]] || fail "the partner after its root was removed: $(body)"
ok "partner refused again (unknown_ca) once its root was removed"

step "the load: zero failures through every rotation and refusal"
touch "$T/stop"
wait "$HS_PID" "$REQ_PID" || true
HS_OK=$(grep -c '^ok' "$T/hs.log" || true)
HS_FAIL=$(grep -c '^FAIL' "$T/hs.log" || true)
REQ_OK=$(grep -c '^ok' "$T/req.log" || true)
REQ_FAIL=$(grep -c '^FAIL' "$T/req.log" || true)
mapfile -t SERVED < <(awk '$1 == "ok" && $2 != last { print $2; last = $2 }' "$T/hs.log")
echo "   handshakes: $HS_OK ok, $HS_FAIL failed; requests: $REQ_OK ok, $REQ_FAIL failed"
echo "   served in order: ${SERVED[*]}"
((HS_FAIL == 0)) || fail "$HS_FAIL handshakes failed:$(printf '\n%s' "$(grep '^FAIL' "$T/hs.log" | head -5)")"
((REQ_FAIL == 0)) || fail "$REQ_FAIL requests failed:$(printf '\n%s' "$(grep '^FAIL' "$T/req.log" | head -5)")"
want=("$(cat "$T/c/px0/serial")" "$(cat "$T/c/px1/serial")" "$(cat "$T/c/px2/serial")" "$(cat "$T/c/px3/serial")" "$(cat "$T/c/px4/serial")")
[[ ${SERVED[*]} == "${want[*]}" ]] || fail "served serials ${SERVED[*]}, expected ${want[*]} (px5 never: it was only ever paired with the wrong key)"
for k in 1 2 3 4; do
  openssl verify -x509_strict -CAfile "$ROOT" -untrusted "$ISSUING" -untrusted "$INTER" -purpose sslserver -verify_ip 127.0.0.1 \
    "$T/c/px$k/cert.pem" >/dev/null || fail "px$k does not verify"
done
ok "5 certificates served in order px0..px4, 4 changes, no failure"

step "SIGTERM while a response streams: it completes, the proxy exits 0"
DL=$((24 * 1048576))
curl -sS --max-time 60 --cacert "$ROOT" --cert "$T/c/alice/full.pem" --key "$T/c/alice/key.pem" \
  "https://127.0.0.1:$P/download?bytes=$DL&delay_ms=100" -o "$T/dl.bin" 2>"$T/dl.err" &
DL_PID=$!
for i in $(seq 100); do [[ -s $T/dl.bin ]] && break; sleep 0.05; done
[[ -s $T/dl.bin ]] || fail "the slow download did not start"
t0=$(now_us)
kill -TERM "${PROXY_PID[px]}"
sleep 0.3
code=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' --cacert "$ROOT" --cert "$T/c/alice/full.pem" --key "$T/c/alice/key.pem" \
  "https://127.0.0.1:$P/echo" 2>/dev/null || true)
[[ $code == 000 ]] || fail "a new request after SIGTERM got HTTP $code (the listener should be closed)"
dl_rc=0
wait "$DL_PID" || dl_rc=$?
px_rc=0
wait "${PROXY_PID[px]}" || px_rc=$?
((dl_rc == 0)) || fail "the streaming download failed across SIGTERM (curl exit $dl_rc): $(cat "$T/dl.err")"
[[ $(stat -c %s "$T/dl.bin") == "$DL" ]] || fail "the download has $(stat -c %s "$T/dl.bin") bytes, expected $DL"
[[ $(sha256sum <"$T/dl.bin" | cut -d' ' -f1) == $(python3 "$BACKEND_PY" --gen "$DL" | sha256sum | cut -d' ' -f1) ]] ||
  fail "the download's SHA-256 differs from the backend's stream"
((px_rc == 0)) || fail "the proxy exited $px_rc on SIGTERM:$(printf '\n%s' "$(tail -5 "$T/px.log")")"
grep -q 'stopped' "$T/px.log" || fail "no 'stopped' line"
ok "24 MiB streamed over ~2.4 s completed (SHA-256 ok) across SIGTERM, new connections refused, exit 0 after $(secs $(($(now_us) - t0))) s"

step "PASS proxy_rotation"
