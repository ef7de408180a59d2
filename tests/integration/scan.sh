#!/usr/bin/env bash
# `herald scan` against listeners on 127.0.0.1 (nothing else is contacted):
# nginx with a Herald-issued certificate and its chain (valid), and
# `openssl s_server` with an expired certificate (foreign), a self-signed one
# (foreign), a Herald-issued one for another host, and a Herald-issued one
# sent without its intermediates; plus a closed port. Checks each problem is
# reported as its kind, confirms every rejection with `openssl verify` on the
# chain Herald recorded, checks foreign certificates are recorded as
# discovered, that a second scan keeps first_seen and moves last_seen, and
# what `herald list --deployed/--foreign/--not-seen-since` show.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$IT_DIR/serve_lib.sh"
need_tool openssl python3 nginx

D="$T/pki"
"$HERALD" ca init --dir "$D" >/dev/null 2>&1 || fail "ca init failed"
ROOT="$D/ca/root.pem"

step "certificates"
"$HERALD" issue --dir "$D" --profile server --cn localhost --san ip:127.0.0.1 --out-dir "$T/good" >/dev/null 2>&1 || fail "issue good"
"$HERALD" issue --dir "$D" --profile server --cn wrong.internal --out-dir "$T/wrong" >/dev/null 2>&1 || fail "issue wrong"
"$HERALD" issue --dir "$D" --profile server --cn localhost --san ip:127.0.0.1 --out-dir "$T/noint" >/dev/null 2>&1 || fail "issue noint"
split_pem "$T/wrong/chain.pem" "$T/wc"
cat "$T/wc.2.pem" "$T/wc.3.pem" >"$T/inter.pem"
# Self-signed, for 127.0.0.1.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/self.key" \
  -out "$T/self.pem" -subj /CN=self.example -addext subjectAltName=IP:127.0.0.1 -days 30 2>/dev/null
# Expired, from a CA of its own (pyca, which sets any validity).
python3 - "$T" <<'PY'
import datetime, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
t = sys.argv[1]
now = datetime.datetime.now(datetime.timezone.utc)
ca_key = ec.generate_private_key(ec.SECP256R1())
ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Old Foreign CA")])
ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
      .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
      .not_valid_before(now - datetime.timedelta(days=400)).not_valid_after(now + datetime.timedelta(days=400))
      .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
      .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
      .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
      .sign(ca_key, hashes.SHA256()))
key = ec.generate_private_key(ec.SECP256R1())
leaf = (x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expired.example")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=100)).not_valid_after(now - datetime.timedelta(days=10))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256()))
open(f"{t}/expired-ca.pem", "wb").write(ca.public_bytes(serialization.Encoding.PEM))
open(f"{t}/expired.pem", "wb").write(leaf.public_bytes(serialization.Encoding.PEM))
open(f"{t}/expired.key", "wb").write(key.private_bytes(serialization.Encoding.PEM,
     serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
PY
ok "issued by Herald: good, wrong-host, no-intermediate; self-signed and expired made with openssl/pyca"

wait_port() {
  for _ in $(seq 100); do
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  fail "nothing listening on 127.0.0.1:$1"
}
# tls_server NAME CERT KEY [s_server args...]: serves until the test ends.
tls_server() {
  local name=$1 cert=$2 key=$3 port
  shift 3
  port=$(free_port)
  openssl s_server -accept "127.0.0.1:$port" -cert "$cert" -key "$key" -quiet "$@" \
    </dev/null >"$T/$name.server.log" 2>&1 &
  bg_track $!
  eval "PID_$name=$!"
  eval "PORT_$name=$port"
  wait_port "$port"
}

step "listeners on 127.0.0.1"
nginx_tls_start "$T/good/chain.pem" "$T/good/key.pem"  # serve_lib.sh
PORT_nginx=$NGINX_PORT
tls_server expired "$T/expired.pem" "$T/expired.key" -cert_chain "$T/expired-ca.pem"
tls_server self "$T/self.pem" "$T/self.key"
tls_server wrong "$T/wrong/cert.pem" "$T/wrong/key.pem" -cert_chain "$T/inter.pem"
tls_server noint "$T/noint/cert.pem" "$T/noint/key.pem"
PORT_closed=$(free_port)
# shellcheck disable=SC2154
ok "nginx :$PORT_nginx, expired :$PORT_expired, self-signed :$PORT_self, wrong-host :$PORT_wrong, no-intermediate :$PORT_noint, closed :$PORT_closed"

# A file of targets: comments, a blank line, and the closed port.
cat >"$T/targets.txt" <<TGT
# the estate
127.0.0.1:$PORT_expired
127.0.0.1:$PORT_self   # self-signed

127.0.0.1:$PORT_closed
TGT

step "first scan (JSON)"
"$HERALD" scan --dir "$D" "127.0.0.1:$PORT_nginx" "127.0.0.1:$PORT_wrong" "127.0.0.1:$PORT_noint" \
  --file "$T/targets.txt" --timeout 5s --concurrency 4 --json >"$T/scan1.json" 2>"$T/scan1.err" \
  || fail "scan 1 failed: $(cat "$T/scan1.err")"
python3 - "$T/scan1.json" "$PORT_nginx" "$PORT_expired" "$PORT_self" "$PORT_wrong" "$PORT_noint" "$PORT_closed" <<'PY' || fail "scan 1 report: $(cat "$T/scan1.json")"
import json, sys
d = json.load(open(sys.argv[1]))
nginx, expired, self_, wrong, noint, closed = sys.argv[2:]
by = {r["endpoint"]: r for r in d["results"]}
def r(p): return by["127.0.0.1:" + p]
def codes(p): return [x["code"] for x in r(p)["problems"]]
assert d["targets"] == 6 and d["probes"] == 6, d
assert d["reachable"] == 5 and d["tls"] == 5, d
assert d["certificates"] == {"herald": 3, "foreign": 2}, d["certificates"]
assert r(nginx)["valid"] and codes(nginx) == [] and not r(nginx)["foreign"], r(nginx)
assert "expired" in codes(expired) and r(expired)["foreign"], r(expired)
assert codes(self_)[0] == "self_signed" and r(self_)["foreign"], r(self_)
assert "hostname_mismatch" in codes(wrong) and not r(wrong)["foreign"], r(wrong)
assert "missing_issuer" in codes(noint) and not r(noint)["foreign"], r(noint)
assert not r(closed)["reachable"] and "connect" in r(closed)["error"], r(closed)
for k in ("expired", "self_signed", "hostname_mismatch", "missing_issuer"):
    assert d["problems"].get(k, 0) >= 1, (k, d["problems"])
print("   problems:", d["problems"])
PY
ok "valid nginx; expired, self_signed, hostname_mismatch, missing_issuer each on its server; closed port unreachable"

step "each rejection confirmed by openssl verify on the chain Herald recorded"
"$HERALD" list --dir "$D" --not-seen-since "$(( $(date +%s) + 3600 ))" --json >"$T/deps1.json" || fail "list --not-seen-since"
# confirm PORT HOST WANT_RC OPENSSL_ERROR_REGEX
confirm() {
  local port=$1 want=$2 regex=$3 rc=0 out
  python3 - "$T/deps1.json" "127.0.0.1:$port" "$T/c.$port" <<'PY'
import json, re, sys
rows = [r for r in json.load(open(sys.argv[1])) if r["endpoint"] == sys.argv[2]]
assert len(rows) == 1, rows
blocks = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n", rows[0]["chain_pem"], re.S)
open(sys.argv[3] + ".leaf.pem", "w").write(blocks[0])
open(sys.argv[3] + ".rest.pem", "w").write("".join(blocks[1:]) or "")
PY
  local untrusted=()
  [[ -s $T/c.$port.rest.pem ]] && untrusted=(-untrusted "$T/c.$port.rest.pem")
  out=$(openssl verify -x509_strict -CAfile "$ROOT" "${untrusted[@]}" -purpose sslserver \
    -verify_ip 127.0.0.1 "$T/c.$port.leaf.pem" 2>&1) || rc=$?
  [[ $rc == "$want" ]] || fail "openssl verify exited $rc for :$port, expected $want: $out"
  grep -qE -- "$regex" <<<"$out" || fail "openssl verify for :$port does not say /$regex/: $out"
  ok "openssl agrees for :$port: $(grep -oE -- "$regex" <<<"$out" | head -1)"
}
confirm "$PORT_nginx" 0 ': OK'
confirm "$PORT_expired" 2 'certificate has expired|unable to get local issuer|self-signed certificate in certificate chain'
# The expiry alone, with the foreign CA trusted: openssl reports it too.
EXP_OUT=$(openssl verify -CAfile "$T/expired-ca.pem" "$T/c.$PORT_expired.leaf.pem" 2>&1 || true)
grep -q 'certificate has expired' <<<"$EXP_OUT" || fail "openssl does not see the expired certificate as expired: $EXP_OUT"
ok "openssl, trusting the foreign CA, says: certificate has expired"
confirm "$PORT_self" 2 'self-signed certificate'
confirm "$PORT_wrong" 2 'IP address mismatch'
confirm "$PORT_noint" 2 'unable to get local issuer certificate'

step "foreign certificates are recorded as discovered"
"$HERALD" list --dir "$D" --foreign --json >"$T/foreign.json" || fail "list --foreign"
python3 - "$T/foreign.json" "$(fingerprint "$T/self.pem")" "$(fingerprint "$T/expired.pem")" <<'PY' || fail "foreign: $(cat "$T/foreign.json")"
import json, sys
d = json.load(open(sys.argv[1]))
fps = sorted(c["fingerprint_sha256"] for c in d)
assert fps == sorted(sys.argv[2:4]), (fps, sys.argv[2:4])
exp = [c for c in d if c["fingerprint_sha256"] == sys.argv[3]][0]
assert exp["status"] == "expired" and exp["issuer"].endswith("Old Foreign CA"), exp
PY
"$HERALD" list --dir "$D" --foreign >"$T/foreign.txt"
grep -q "2 foreign certificates" "$T/foreign.txt" || fail "list --foreign text: $(cat "$T/foreign.txt")"
ok "2 discovered certificates (self-signed, expired), with their fingerprints"

step "list --deployed: Herald's certificates, with where"
"$HERALD" list --dir "$D" --deployed >"$T/deployed.txt"
cat "$T/deployed.txt"
GOOD_SERIAL=$(cert_serial "$T/good/cert.pem")
grep -qi "^0*$GOOD_SERIAL *127.0.0.1:$PORT_nginx .* -$" "$T/deployed.txt" || fail "the nginx deployment is missing"
grep -q "127.0.0.1:$PORT_wrong .*hostname_mismatch" "$T/deployed.txt" || fail "the wrong-host deployment is missing"
grep -q "3 deployments" "$T/deployed.txt" || fail "expected 3 of Herald's deployments"
grep -q "127.0.0.1:$PORT_self" "$T/deployed.txt" && fail "a foreign certificate listed under --deployed"
ok "3 deployments of Herald's certificates"

step "second scan: first_seen kept, last_seen moved; a server gone stays stale"
sleep 2.1
kill "$PID_self"
T2=$(date -u +%s)
sleep 1.1
"$HERALD" scan --dir "$D" "127.0.0.1:$PORT_nginx" "127.0.0.1:$PORT_wrong" "127.0.0.1:$PORT_noint" \
  --file "$T/targets.txt" >"$T/scan2.txt" 2>"$T/scan2.err" || fail "scan 2 failed: $(cat "$T/scan2.err")"
cat "$T/scan2.txt"
grep -q "127.0.0.1:$PORT_self: unreachable" "$T/scan2.txt" || fail "the stopped server is not unreachable"
grep -q "certificates found: 4 (Herald's 3, foreign 1)" "$T/scan2.txt" || fail "scan 2 summary"
grep -q "scan: 6/6 probes done" "$T/scan2.err" || fail "no plain progress lines without a terminal: $(cat "$T/scan2.err")"
"$HERALD" list --dir "$D" --not-seen-since "$(( $(date +%s) + 3600 ))" --json >"$T/deps2.json"
python3 - "$T/deps1.json" "$T/deps2.json" "127.0.0.1:$PORT_self" <<'PY' || fail "first/last seen"
import json, sys
a = {r["endpoint"]: r for r in json.load(open(sys.argv[1]))}
b = {r["endpoint"]: r for r in json.load(open(sys.argv[2]))}
assert a.keys() == b.keys() and len(a) == 5, (a.keys(), b.keys())
for ep in a:
    assert a[ep]["first_seen"] == b[ep]["first_seen"], ep
    if ep == sys.argv[3]:
        assert a[ep]["last_seen"] == b[ep]["last_seen"], ep
    else:
        assert b[ep]["last_seen"] > a[ep]["last_seen"], (ep, a[ep]["last_seen"], b[ep]["last_seen"])
PY
ok "first_seen unchanged on all 5, last_seen later on the 4 still up"
"$HERALD" list --dir "$D" --not-seen-since "$T2" >"$T/stale.txt"
cat "$T/stale.txt"
grep -q "127.0.0.1:$PORT_self .*self_signed" "$T/stale.txt" || fail "--not-seen-since does not show the stopped server"
grep -q "^1 deployment" "$T/stale.txt" || fail "--not-seen-since shows more than the stopped server"
"$HERALD" list --dir "$D" --not-seen-since 1h --deployed | grep -q "^0 deployments" || fail "--not-seen-since 1h --deployed"
ok "--not-seen-since lists only the deployment not seen again"

step "a target by name sends its name as SNI; --sni sends the names given"
"$HERALD" scan --dir "$D" "localhost:$PORT_nginx" --json >"$T/scan3.json" 2>/dev/null || fail "scan by name"
"$HERALD" scan --dir "$D" "127.0.0.1:$PORT_nginx" --sni localhost --sni db.internal --json >"$T/scan4.json" 2>/dev/null || fail "scan --sni"
python3 - "$T/scan3.json" "$T/scan4.json" <<'PY' || fail "SNI: $(cat "$T/scan3.json" "$T/scan4.json")"
import json, sys
a = json.load(open(sys.argv[1]))["results"]
assert len(a) == 1 and a[0]["sni"] == "localhost" and a[0]["valid"], a
b = {r["sni"]: r for r in json.load(open(sys.argv[2]))["results"]}
assert b.keys() == {"localhost", "db.internal"}, b.keys()
assert b["localhost"]["valid"], b["localhost"]
assert [p["code"] for p in b["db.internal"]["problems"]] == ["hostname_mismatch"], b["db.internal"]
PY
"$HERALD" list --dir "$D" --deployed >"$T/deployed2.txt"
grep -q "127.0.0.1:$PORT_nginx .* db.internal .*hostname_mismatch" "$T/deployed2.txt" || fail "the db.internal deployment: $(cat "$T/deployed2.txt")"
ok "localhost sent as SNI and valid; --sni db.internal recorded as its own deployment with hostname_mismatch"

step "bad input: a clear error, nothing contacted or changed"
before=$(sqlite3 "$D/herald.db" 'select count(*) from deployments' 2>/dev/null || echo skip)
expect_fail "$HERALD" scan --dir "$D" 10.0.0.0/8:443
err_mentions "at most 65536" "a range above the cap"
expect_fail "$HERALD" scan --dir "$D" "::1:443"
err_mentions "brackets" "an unbracketed IPv6 address"
expect_fail "$HERALD" scan --dir "$D" 127.0.0.1:70000
err_mentions "port" "a bad port"
expect_fail "$HERALD" scan --dir "$D" 127.0.0.1:443 --timeout 0s
err_mentions "timeout" "a zero timeout"
expect_fail "$HERALD" scan --dir "$D"
err_mentions "give targets" "no target"
expect_fail "$HERALD" scan --dir "$T/nowhere" "127.0.0.1:$PORT_nginx"
expect_fail "$HERALD" list --dir "$D" --deployed --foreign
expect_fail "$HERALD" list --dir "$D" --not-seen-since yesterday
expect_fail "$HERALD" list --dir "$D" --limit 0
err_mentions "at least 1" "a zero --limit"
"$HERALD" list --dir "$D" --limit 2 >"$T/limited.txt" || fail "list --limit 2 failed"
grep -q "^2 certificates (--limit reached)$" "$T/limited.txt" && (($(wc -l <"$T/limited.txt") == 4)) ||
  fail "list --limit 2 did not stop at 2: $(cat "$T/limited.txt")"
"$HERALD" list --dir "$D" --json --limit 1 | python3 -c 'import json,sys; assert len(json.load(sys.stdin)) == 1' ||
  fail "list --json --limit 1 is not a one-element JSON array"
after=$(sqlite3 "$D/herald.db" 'select count(*) from deployments' 2>/dev/null || echo skip)
[[ $before == "$after" ]] || fail "bad input changed the deployments ($before -> $after)"

echo
echo "PASS: scan"
