#!/usr/bin/env bash
# Proves `herald agent --acme` (src/acme_client/, src/agent/acme_source.cc),
# an RFC 8555 client, against Herald's own ACME server and against pebble:
#  1. Herald (an ACME provisioner issuing 2-minute certificates): the agent
#     obtains a certificate over http-01 with its standalone listener (up only
#     during validation), account key created 0600; nginx serves the
#     certificate while the agent, as a daemon, renews it over ACME and
#     reloads nginx; a client opening new connections sees >= 3 certificates
#     (>= 2 renewals) with zero failed handshakes, each verified by openssl;
#     nginx's log shows the reloads; a provisioner requiring External
#     Account Binding is refused without one and served with one (and the
#     account found again once the binding key is spent);
#  2. pebble: dns-01 through a hook script that sets and clears the TXT
#     record with pebble-challtestsrv's management API, then http-01 webroot
#     (a plain web server on pebble's http-01 port serving the webroot): each
#     certificate matches its key and chains to pebble's root; the hook ran
#     present and cleanup for each name, the webroot is empty afterwards;
#  3. ARI (RFC 9773): the agent logs the window Herald suggests for each
#     certificate (the same as GET renewal-info/<certID> answers) and renews
#     inside it;
#  4. bad input: an unreachable directory, a name the ACME provisioner
#     refuses (rejectedIdentifier), a challenge the CA cannot validate
#     (connection): a clear error naming the identifier and the problem
#     type, the files untouched, the http-01 listener closed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$IT_DIR/serve_lib.sh"
need_tool openssl curl python3 nginx pebble pebble-challtestsrv

T_START=$(now_us)

# files_sum DIR: one checksum over the agent's files in DIR.
files_sum() { cat "$1"/cert.pem "$1"/key.pem "$1"/chain.pem | sha256sum | cut -d' ' -f1; }
# order_time LOG: the duration of the last ACME order in an agent log ("(0.128 s)").
order_time() { grep -oE 'ACME order .* valid, certificate .* \(([0-9.]+ s)\)' "$1" | tail -1 | sed -E 's/.*\(([0-9.]+ s)\)$/\1/'; }
# cert_matches_key CERT KEY
cert_matches_key() {
  [[ $(openssl x509 -in "$1" -noout -pubkey) == "$(openssl pkey -in "$2" -pubout)" ]] || fail "$1 does not match $2"
}
sans_of() { openssl x509 -in "$1" -noout -ext subjectAltName | tail -n +2 | tr -d ' ' | tr , '\n' | sort | paste -sd,; }

# ---------------------------------------------------------------- 1. Herald

step "1. Herald with an ACME provisioner issuing 2-minute certificates (challtestsrv as the validator's DNS)"
serve_init "$T/pki"
challtestsrv_start
alloc_port H01
python3 - "$D/herald.toml" <<'EOF' || fail "cannot edit herald.toml"
import sys
p = sys.argv[1]
s = open(p).read()
old = 'name = "acme"\ntype = "acme"\nprofiles = ["server"]\n'
assert old in s, "no acme provisioner"
s = s.replace(old, old + 'ttl = "2m"\n')
s += '\n[[provisioners]]\nname = "narrow"\ntype = "acme"\nallowed_dns = ["*.allowed.test"]\nallow_ip = false\n'
s += '\n[[provisioners]]\nname = "partners"\ntype = "acme"\nrequire_eab = true\n'
open(p, "w").write(s)
EOF
serve_start "$D" --acme-http01-port "$H01" --acme-dns-resolver "127.0.0.1:$DNS_PORT"
DIR_URL="$API/acme/acme/directory"
ok "ACME directory $DIR_URL; the validator dials http-01 on 127.0.0.1:$H01"

W="$T/w"
mkdir -p "$W"
AGENT=(agent --acme "$DIR_URL" --trust "$ROOT" --acme-http-listen "127.0.0.1:$H01" --acme-email ops@example.test
  --profile server --cn web.example.test --san ip:127.0.0.1 --cert "$W/cert.pem" --key "$W/key.pem" --chain "$W/chain.pem")

step "1. herald agent --acme --once: the first certificate over http-01 (standalone listener)"
"$HERALD" "${AGENT[@]}" --once 2>"$T/once.log" || fail "agent --acme --once failed:$(printf '\n%s' "$(cat "$T/once.log")")"
cat "$T/once.log" | sed 's/^/   | /'
grep -q 'authorization for dns:web.example.test is valid (http-01)' "$T/once.log" || fail "no valid http-01 authorization for dns:web.example.test in the log"
grep -q 'authorization for ip:127.0.0.1 is valid (http-01)' "$T/once.log" || fail "no valid http-01 authorization for ip:127.0.0.1 in the log"
[[ $(stat -c %a "$W/herald-acme-account.key") == 600 ]] || fail "the account key is mode $(stat -c %a "$W/herald-acme-account.key"), not 600"
[[ $(stat -c %a "$W/key.pem") == 600 ]] || fail "key.pem is mode $(stat -c %a "$W/key.pem")"
cert_matches_key "$W/cert.pem" "$W/key.pem"
openssl verify -x509_strict -CAfile "$ROOT" -untrusted "$W/chain.pem" -purpose sslserver -verify_hostname web.example.test \
  "$W/cert.pem" >/dev/null || fail "openssl rejects the ACME certificate for web.example.test"
openssl verify -x509_strict -CAfile "$ROOT" -untrusted "$W/chain.pem" -purpose sslserver -verify_ip 127.0.0.1 \
  "$W/cert.pem" >/dev/null || fail "openssl rejects the ACME certificate for 127.0.0.1"
[[ $(sans_of "$W/cert.pem") == "DNS:web.example.test,IPAddress:127.0.0.1" ]] || fail "SANs: $(sans_of "$W/cert.pem")"
FIRST=$(cert_serial "$W/cert.pem")
"$HERALD" show --dir "$D" "$FIRST" --json >"$T/show.json" || fail "herald show $FIRST"
[[ $(json_get "$T/show.json" 'd["owner"].get("provisioner", "")') == acme ]] || fail "not issued by the acme provisioner: $(cat "$T/show.json")"
curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$H01/" && fail "the http-01 listener is still up after the order"
HERALD_ORDER=$(order_time "$T/once.log")
ok "serial $FIRST (dns:web.example.test, ip:127.0.0.1) from provisioner acme, account key 0600, listener down again; order took $HERALD_ORDER"

step "1. again with the same account key: the account is found again, nothing due"
"$HERALD" "${AGENT[@]}" --once 2>"$T/once2.log" || fail "second --once failed: $(cat "$T/once2.log")"
[[ $(cert_serial "$W/cert.pem") == "$FIRST" || $(grep -c 'ACME order' "$T/once2.log") -ge 1 ]] || fail "files changed without an order"
ok "$(grep -c 'ACME order .* valid' "$T/once2.log" || true) order(s) in the second run (the ARI window may already have opened)"

step "1. nginx on the agent's files; the agent as a daemon renewing over ACME and reloading nginx"
nginx_tls_start "$W/chain.pem" "$W/key.pem"
ok "nginx pid $NGINX_PID on 127.0.0.1:$NGINX_PORT"
"$HERALD" "${AGENT[@]}" --reload "$NGINX_RELOAD" --reload-timeout 20s 2>"$T/agent.log" &
AGENT_PID=$!
bg_track "$AGENT_PID"
handshake_loop 3 240 "$AGENT_PID" "$T/agent.log"
ok "$HANDSHAKES handshakes, $FAILED failed, ${#ORDER[@]} distinct certificates served"
((FAILED == 0)) || fail "$FAILED handshakes failed while the agent renewed over ACME:$(printf '\n%s' "$(cat "$T/agent.log")")"
((${#ORDER[@]} >= 3)) || fail "nginx's certificate changed only $((${#ORDER[@]} - 1)) times in 240 s:$(printf '\n%s' "$(cat "$T/agent.log")")"
for s in "${ORDER[@]}"; do
  openssl verify -x509_strict -CAfile "$ROOT" -untrusted "$ISSUING" -untrusted "$INTER" -purpose sslserver \
    -verify_ip 127.0.0.1 -attime "$(cat "$T/served.$s.time")" "$T/served.$s.pem" >/dev/null 2>&1 ||
    fail "served certificate $s does not verify at the time it was served"
done
ok "every served certificate verifies (openssl verify -x509_strict, sslserver, 127.0.0.1): ${ORDER[*]}"
orders=$(grep -c 'ACME order .* valid, certificate' "$T/agent.log" || true)
reloads=$(grep -c 'reload command: exit 0' "$T/agent.log" || true)
nginx_reloads=$(grep -c 'signal 1 (SIGHUP) received' "$NG/logs/error.log" || true)
((orders >= 2 && reloads >= orders && nginx_reloads >= 2)) ||
  fail "$orders ACME orders, $reloads reloads by the agent, $nginx_reloads SIGHUPs in nginx's log:$(printf '\n%s' "$(cat "$T/agent.log")")"
grep -q 'renewal failed' "$T/agent.log" && fail "a renewal failed:$(printf '\n%s' "$(cat "$T/agent.log")")"
ok "$orders ACME orders, $reloads reloads by the agent, $nginx_reloads SIGHUPs in nginx's log"

step "3. ARI: the agent renews inside the window Herald suggests (and the window is what renewal-info answers)"
python3 - "$T/once.log" "$T/once2.log" "$T/agent.log" <<'EOF' || fail "a renewal outside the suggested window:$(printf '\n%s' "$(cat "$T/agent.log")")"
import re, sys
from datetime import datetime
ts = lambda s: datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").timestamp()
windows, orders = {}, []
for path in sys.argv[1:]:
    for line in open(path):
        m = re.search(r"^herald agent: (\S+) .*the CA suggests renewing (\w+) between (\S+) and (\S+) \(ARI\); renewing at (\S+)", line)
        if m:
            windows[m[2]] = (ts(m[3]), ts(m[4]), ts(m[5]))
        m = re.search(r"^herald agent: (\S+) .*: renewed (\w+) -> (\w+)", line)
        if m and path == sys.argv[-1]:
            orders.append((ts(m[1]), m[2]))
checked = 0
for t, prev in orders:
    if prev not in windows:
        print(f"   {prev}: renewed without a window logged")
        sys.exit(1)
    start, end, at = windows[prev]
    ok = start <= t <= end + 2 and t >= at - 1
    print(f"   {prev}: window {start - t:+.0f} s .. {end - t:+.0f} s around the renewal, announced {at - t:+.0f} s: {'inside' if ok else 'OUTSIDE'}")
    if not ok:
        sys.exit(1)
    checked += 1
sys.exit(0 if checked >= 1 else 2)
EOF
# The logged window is Herald's answer to GET renewal-info/<certID> (computed here independently).
python3 - "$T/served.${ORDER[1]}.pem" "$DIR_URL" "$ROOT" "$T/agent.log" "${ORDER[1]}" <<'EOF' || fail "the logged window is not renewal-info's answer"
import base64, json, re, ssl, sys, urllib.request
from cryptography import x509
cert = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
n = cert.serial_number
serial = n.to_bytes(n.bit_length() // 8 + 1, "big")  # DER content octets (a leading 0 when the top bit is set)
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
ctx = ssl.create_default_context(cafile=sys.argv[3])
directory = json.load(urllib.request.urlopen(sys.argv[2], context=ctx))
answer = json.load(urllib.request.urlopen(directory["renewalInfo"] + "/" + b64(aki) + "." + b64(serial), context=ctx))
w = answer["suggestedWindow"]
logged = [l for l in open(sys.argv[4]) if re.search(f"the CA suggests renewing 0*{sys.argv[5]} between", l)]
want = f"between {w['start']} and {w['end']} (ARI)"
print("   renewal-info:", w["start"], "..", w["end"], "| logged:", "yes" if logged and want in logged[0] else "NO")
sys.exit(0 if logged and want in logged[0] else 1)
EOF
ok "each renewal inside the window of the certificate it replaced"

step "1. SIGTERM stops the agent cleanly"
kill -TERM "$AGENT_PID"
rc=0
wait "$AGENT_PID" || rc=$?
((rc == 0)) || fail "the agent exited $rc on SIGTERM"
cert_matches_key "$W/cert.pem" "$W/key.pem"
ok "exit 0, matching pair"

step "1. External Account Binding: a provisioner that requires it"
E="$T/eab"
mkdir -p "$E"
"$HERALD" acme eab add --dir "$D" --provisioner partners --json >"$T/eab.json" 2>/dev/null || fail "herald acme eab add"
json_get "$T/eab.json" 'd["hmac_key"]' >"$E/hmac.key"
chmod 600 "$E/hmac.key"
EAB=(agent --acme "$API/acme/partners/directory" --trust "$ROOT" --acme-http-listen "127.0.0.1:$H01"
  --acme-account-key "$E/account.key" --profile server --cn eab.example.test
  --cert "$E/cert.pem" --key "$E/key.pem" --chain "$E/chain.pem" --once)
rc=0
"$HERALD" "${EAB[@]}" 2>"$T/eab-none.log" || rc=$?
((rc != 0 && rc < 126)) || fail "no binding: exit $rc"
grep -q 'requires an External Account Binding' "$T/eab-none.log" || fail "no binding: $(cat "$T/eab-none.log")"
"$HERALD" "${EAB[@]}" --acme-eab-kid "$(json_get "$T/eab.json" 'd["kid"]')" --acme-eab-hmac-key-file "$E/hmac.key" \
  2>"$T/eab.log" || fail "with the binding:$(printf '\n%s' "$(cat "$T/eab.log")")"
cert_matches_key "$E/cert.pem" "$E/key.pem"
# The binding key is spent: the next order finds the account by its key alone.
rm "$E/cert.pem" "$E/key.pem" "$E/chain.pem"
"$HERALD" "${EAB[@]}" --acme-eab-kid "$(json_get "$T/eab.json" 'd["kid"]')" --acme-eab-hmac-key-file "$E/hmac.key" \
  2>"$T/eab2.log" || fail "again with the spent binding:$(printf '\n%s' "$(cat "$T/eab2.log")")"
cert_matches_key "$E/cert.pem" "$E/key.pem"
[[ $(grep -oE 'account https://[^)]*' "$T/eab.log") == "$(grep -oE 'account https://[^)]*' "$T/eab2.log")" ]] ||
  fail "the second order used another account"
ok "refused without a binding; with it, an account and a certificate; the same account again once the key is spent"

# ---------------------------------------------------------------- 4. bad input

step "4. bad input: a clear error, the files untouched"
SUM=$(files_sum "$W")
alloc_port DEAD_PORT
rc=0
"$HERALD" agent --acme "https://127.0.0.1:$DEAD_PORT/acme/acme/directory" --trust "$ROOT" --acme-http-listen "127.0.0.1:$H01" \
  --profile server --cn other.example.test --cert "$W/cert.pem" --key "$W/key.pem" --chain "$W/chain.pem" --once \
  2>"$T/dead.log" || rc=$?
((rc != 0 && rc < 126)) || fail "unreachable directory: exit $rc:$(printf '\n%s' "$(cat "$T/dead.log")")"
grep -qE "ACME directory https://127.0.0.1:$DEAD_PORT/acme/acme/directory unreachable: cannot connect" "$T/dead.log" ||
  fail "the error does not name the unreachable directory:$(printf '\n%s' "$(cat "$T/dead.log")")"
[[ $(files_sum "$W") == "$SUM" ]] || fail "the files changed after a failed renewal"
ok "unreachable directory (exit $rc): $(grep -oE 'ACME directory .*' "$T/dead.log" | head -1 | cut -c1-150)"
rc=0
"$HERALD" agent --acme "$API/acme/narrow/directory" --trust "$ROOT" --acme-http-listen "127.0.0.1:$H01" \
  --acme-account-key "$T/narrow-account.key" --profile server --cn bad.example.test \
  --cert "$W/cert.pem" --key "$W/key.pem" --chain "$W/chain.pem" --once 2>"$T/narrow.log" || rc=$?
((rc != 0 && rc < 126)) || fail "a refused name: exit $rc:$(printf '\n%s' "$(cat "$T/narrow.log")")"
grep -qE "newOrder for dns:bad\.example\.test refused \(HTTP 400\): urn:ietf:params:acme:error:rejectedIdentifier: .*bad\.example\.test" "$T/narrow.log" ||
  fail "the error does not name the identifier and the problem type:$(printf '\n%s' "$(cat "$T/narrow.log")")"
[[ $(files_sum "$W") == "$SUM" ]] || fail "the files changed after a refused order"
ok "refused name (exit $rc): $(grep -oE 'newOrder for .*' "$T/narrow.log" | head -1 | cut -c1-200)"

# The validator dials 127.0.0.1:$H01, where nothing listens (the agent's listener is elsewhere).
alloc_port WRONG_H01
rc=0
"$HERALD" agent --acme "$DIR_URL" --trust "$ROOT" --acme-http-listen "127.0.0.1:$WRONG_H01" \
  --profile server --cn unproven.example.test --cert "$W/cert.pem" --key "$W/key.pem" --chain "$W/chain.pem" --once \
  2>"$T/unproven.log" || rc=$?
((rc != 0 && rc < 126)) || fail "an unprovable name: exit $rc:$(printf '\n%s' "$(cat "$T/unproven.log")")"
grep -qE "authorization for dns:unproven\.example\.test is invalid: urn:ietf:params:acme:error:connection: .*127\.0\.0\.1:$H01" "$T/unproven.log" ||
  fail "the error does not name the identifier, the problem type and the address dialled:$(printf '\n%s' "$(cat "$T/unproven.log")")"
curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$WRONG_H01/" && fail "the http-01 listener is still up after a failed order"
[[ $(files_sum "$W") == "$SUM" ]] || fail "the files changed after a failed validation"
ok "failed validation (exit $rc): $(grep -oE 'authorization for .*' "$T/unproven.log" | head -1 | cut -c1-200)"

# ---------------------------------------------------------------- 2. pebble

step "2. pebble (its TLS certificate from Herald), challtestsrv as its DNS"
alloc_port PEBBLE_PORT
alloc_port PEBBLE_MGMT
alloc_port PEBBLE_HTTP
alloc_port PEBBLE_TLS
"$HERALD" issue --dir "$D" --profile server --cn 127.0.0.1 --out-dir "$T/pebble-tls" >/dev/null || fail "herald issue for pebble"
cat >"$T/pebble.json" <<EOF
{"pebble": {"listenAddress": "127.0.0.1:$PEBBLE_PORT", "managementListenAddress": "127.0.0.1:$PEBBLE_MGMT",
  "certificate": "$T/pebble-tls/chain.pem", "privateKey": "$T/pebble-tls/key.pem",
  "httpPort": $PEBBLE_HTTP, "tlsPort": $PEBBLE_TLS, "ocspResponderURL": "", "externalAccountBindingRequired": false}}
EOF
# No sleep before validating; no nonce refused on purpose (one badNonce retry is
# the client's rule, pebble's default 5 % would fail one order in ~30).
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 pebble -config "$T/pebble.json" -dnsserver "127.0.0.1:$DNS_PORT" >"$T/pebble.log" 2>&1 &
PEBBLE_PID=$!
bg_track "$PEBBLE_PID"
PEBBLE_DIR="https://127.0.0.1:$PEBBLE_PORT/dir"
for i in $(seq 100); do
  kill -0 "$PEBBLE_PID" 2>/dev/null || fail "pebble exited: $(cat "$T/pebble.log")"
  curl -sf -o /dev/null --max-time 2 --cacert "$ROOT" "$PEBBLE_DIR" && break
  ((i < 100)) || fail "pebble did not answer: $(cat "$T/pebble.log")"
  sleep 0.1
done
curl -sf --max-time 5 -k "https://127.0.0.1:$PEBBLE_MGMT/roots/0" >"$T/pebble-root.pem" || fail "pebble's root"
ok "pebble at $PEBBLE_DIR"

cat >"$T/txt-hook.sh" <<EOF
#!/bin/sh
# herald agent dns-01 hook: present|cleanup NAME VALUE -> challtestsrv's TXT records.
set -e
case "\$1" in
  present) curl -sSf -X POST -d "{\"host\":\"\$2.\",\"value\":\"\$3\"}" http://127.0.0.1:$MGMT_PORT/set-txt ;;
  cleanup) curl -sSf -X POST -d "{\"host\":\"\$2.\"}" http://127.0.0.1:$MGMT_PORT/clear-txt ;;
  *) exit 2 ;;
esac
echo "\$1 \$2" >>"$T/txt-hook.calls"
EOF
chmod +x "$T/txt-hook.sh"

# pebble_agent NAME DIR ARGS...: herald agent --once against pebble; checks the result.
pebble_agent() {
  local name=$1 dir=$2
  shift 2
  mkdir -p "$dir"
  "$HERALD" agent --acme "$PEBBLE_DIR" --trust "$ROOT" --acme-account-key "$T/pebble-account.key" \
    --profile server --cert "$dir/cert.pem" --key "$dir/key.pem" --chain "$dir/chain.pem" --once "$@" \
    2>"$T/$name.log" || fail "$name failed:$(printf '\n%s' "$(cat "$T/$name.log")")"
  cert_matches_key "$dir/cert.pem" "$dir/key.pem"
  # pebble's chain: leaf <- intermediate (chain.pem) <- the root from its management API.
  openssl verify -CAfile "$T/pebble-root.pem" -untrusted "$dir/chain.pem" -purpose sslserver "$dir/cert.pem" >/dev/null ||
    fail "$name: the certificate does not chain to pebble's root"
}

step "2. pebble, dns-01 through the hook (challtestsrv add-txt / clear-txt)"
pebble_agent pebble-dns "$T/pdns" --acme-challenge dns-01 --acme-dns-hook "$T/txt-hook.sh" \
  --cn dns.example.test --san dns:www.dns.example.test
[[ $(sans_of "$T/pdns/cert.pem") == "DNS:dns.example.test,DNS:www.dns.example.test" ]] || fail "SANs: $(sans_of "$T/pdns/cert.pem")"
for n in dns.example.test www.dns.example.test; do
  for v in present cleanup; do
    grep -qx "$v _acme-challenge.$n" "$T/txt-hook.calls" || fail "the hook did not run '$v _acme-challenge.$n': $(cat "$T/txt-hook.calls")"
  done
done
# pebble 2.4 offers no renewalInfo: then no ARI window, the agent's own schedule.
if curl -sf --max-time 5 --cacert "$ROOT" "$PEBBLE_DIR" | grep -q renewalInfo; then
  grep -q '(ARI)' "$T/pebble-dns.log" || fail "pebble offers renewalInfo, but no ARI window was logged"
else
  grep -q '(ARI)' "$T/pebble-dns.log" && fail "an ARI window was logged, but pebble offers no renewalInfo"
fi
PEBBLE_DNS=$(order_time "$T/pebble-dns.log")
ok "dns.example.test + www: issued by pebble, matches its key, hook present+cleanup for both names; order took $PEBBLE_DNS"

step "2. pebble, http-01 webroot (a plain web server on pebble's http-01 port serves the webroot)"
mkdir -p "$T/webroot"
python3 -m http.server --bind 127.0.0.1 --directory "$T/webroot" "$PEBBLE_HTTP" >"$T/webserver.log" 2>&1 &
bg_track $!
for i in $(seq 100); do
  curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PEBBLE_HTTP/" && break
  ((i < 100)) || fail "the webroot server did not start: $(cat "$T/webserver.log")"
  sleep 0.1
done
pebble_agent pebble-webroot "$T/pweb" --acme-challenge webroot --acme-webroot "$T/webroot" --cn webroot.example.test
grep -q 'GET /.well-known/acme-challenge/' "$T/webserver.log" || fail "pebble never fetched the token from the webroot"
[[ -z $(ls -A "$T/webroot/.well-known/acme-challenge") ]] || fail "tokens left in the webroot: $(ls "$T/webroot/.well-known/acme-challenge")"
PEBBLE_WEB=$(order_time "$T/pebble-webroot.log")
ok "webroot.example.test: issued by pebble, token served from the webroot and removed; order took $PEBBLE_WEB"

assert_healthy "the ACME agent runs"
step "PASS agent_acme ($(secs $(($(now_us) - T_START))) s; one order: Herald $HERALD_ORDER, pebble dns-01 $PEBBLE_DNS, pebble webroot $PEBBLE_WEB)"
