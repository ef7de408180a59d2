#!/usr/bin/env bash
# Two `herald serve` nodes on one PostgreSQL behind haproxy (issue #13), all
# on 127.0.0.1, started here:
#  - issuance through the load balancer lands on both nodes (each node's
#    /metrics counts its own);
#  - kill -9 of one node under concurrent issuance: clients retry through the
#    load balancer; every certificate a client received is in the inventory,
#    no serial twice;
#  - a revocation through one node reaches the other node's OCSP (time
#    printed) and both nodes' CRLs: one node (the holder of the store's
#    lease) signs the CRL, every node serves it, so its number never goes
#    back from one node to the other;
#  - an ACME client (lego, http-01) through the load balancer, whose requests
#    alternate between the nodes: nonces issued by one node are good on the
#    other, the order made on one is validated and finalized through both;
#  - kill -9 of the lease holder: the other node takes the CRL signing over
#    (time printed) and a revocation made through it reaches its CRL.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$IT_DIR/serve_lib.sh"
source "$IT_DIR/pg_lib.sh"
need_tool openssl curl python3 runuser haproxy lego pebble-challtestsrv

step "PostgreSQL, one hierarchy on it, two nodes (copies of the data directory), haproxy"
pg_start
pg_create_db herald "pw-$(openssl rand -hex 8)"
alloc_port LB_HTTPS
alloc_port LB_HTTP
alloc_port A_HTTPS
alloc_port A_HTTP
alloc_port B_HTTPS
alloc_port B_HTTP
alloc_port H01
LB_API="https://127.0.0.1:$LB_HTTPS" LB_PUB="http://127.0.0.1:$LB_HTTP"
"$HERALD" ca init --dir "$T/a" --base-url "$LB_PUB" --store "$PG_URL" --store-password-file "$T/herald.pass" \
  >"$T/init.log" 2>&1 || fail "ca init failed: $(cat "$T/init.log")"
sed -i 's/^issuance_rate_per_second = .*/issuance_rate_per_second = 100000/' "$T/a/herald.toml"
API_TOKEN=$(new_token "$T/a" admin)
cp -a "$T/a" "$T/b"
D="$T/a" ROOT="$T/a/ca/root.pem" ISSUING="$T/a/ca/issuing.pem"
cat "$ROOT" "$T/a/ca/intermediate.pem" >"$T/root+intermediate.pem"
challtestsrv_start
ACME_FLAGS=(--acme-http01-port "$H01" --acme-dns-resolver "127.0.0.1:$DNS_PORT")
start_node() {  # NAME HTTPS HTTP: sets NODE_PID
  HTTPS_PORT=$2 HTTP_PORT=$3 PUB="http://127.0.0.1:$3"
  serve_start "$T/$1" "${ACME_FLAGS[@]}"
  NODE_PID=$SERVE_PID
  cp "$SERVE_LOG" "$T/$1.start.log"
}
start_node a "$A_HTTPS" "$A_HTTP"
A_PID=$NODE_PID
start_node b "$B_HTTPS" "$B_HTTP"
B_PID=$NODE_PID
alloc_port LB_ACME
# For the ACME frontend haproxy terminates TLS (a certificate of this CA) and
# picks a node per request (http-server-close): a client's requests, even on
# one kept-alive connection, alternate between the nodes.
"$HERALD" issue --dir "$T/a" --profile server --cn 127.0.0.1 --out-dir "$T/lbcert" >/dev/null 2>&1 ||
  fail "cannot issue haproxy's certificate"
cat "$T/lbcert/cert.pem" "$T/lbcert/chain.pem" "$T/lbcert/key.pem" >"$T/lb.pem"
cat >"$T/haproxy.cfg" <<CFG
global
  maxconn 2000
defaults
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  retries 3
  option redispatch
frontend api
  bind 127.0.0.1:$LB_HTTPS
  mode tcp
  default_backend nodes_https
backend nodes_https
  mode tcp
  balance roundrobin
  option httpchk GET /readyz
  server a 127.0.0.1:$A_HTTPS check port $A_HTTP inter 300ms fall 2 rise 2
  server b 127.0.0.1:$B_HTTPS check port $B_HTTP inter 300ms fall 2 rise 2
frontend pub
  bind 127.0.0.1:$LB_HTTP
  mode http
  default_backend nodes_http
backend nodes_http
  mode http
  balance roundrobin
  option httpchk GET /readyz
  server a 127.0.0.1:$A_HTTP check inter 300ms fall 2 rise 2
  server b 127.0.0.1:$B_HTTP check inter 300ms fall 2 rise 2
frontend acme
  bind 127.0.0.1:$LB_ACME ssl crt $T/lb.pem
  mode http
  option http-server-close
  default_backend nodes_acme
backend nodes_acme
  mode http
  balance roundrobin
  http-reuse never
  option httpchk GET /readyz
  server a 127.0.0.1:$A_HTTPS ssl verify required ca-file $ROOT check port $A_HTTP inter 300ms fall 2 rise 2
  server b 127.0.0.1:$B_HTTPS ssl verify required ca-file $ROOT check port $B_HTTP inter 300ms fall 2 rise 2
CFG
haproxy -f "$T/haproxy.cfg" -db >"$T/haproxy.log" 2>&1 &
bg_track $!
for _ in $(seq 50); do curl -sf --max-time 2 "$LB_PUB/healthz" >/dev/null && break; sleep 0.1; done
curl -sf --max-time 2 "$LB_PUB/healthz" >/dev/null || fail "haproxy does not answer: $(cat "$T/haproxy.log")"
ok "PostgreSQL :$PG_PORT; node a :$A_HTTPS/:$A_HTTP, node b :$B_HTTPS/:$B_HTTP; haproxy :$LB_HTTPS (TLS passed through) /:$LB_HTTP"

make_csr lb lb.internal "DNS:lb.internal"
openssl req -in "$T/lb.csr" -outform DER -out "$T/lb.der"
# sign_lb OUT: one issuance through the load balancer (a new connection each
# time, so round robin alternates); prints the HTTP status.
sign_lb() {
  curl -s -o "$1" -w '%{http_code}' --max-time 15 --cacert "$ROOT" -H "Authorization: Bearer $API_TOKEN" \
    -H 'Content-Type: application/pkcs10' --data-binary @"$T/lb.der" "$LB_API/v1/sign?profile=server" || true
}
issued_on() {  # HTTP_PORT: certificates this node issued (its /metrics)
  curl -s "http://127.0.0.1:$1/metrics" | awk '/^herald_certificates_issued_total\{.*result="ok"/{s+=$2} END{print s+0}'
}

step "issuance through the load balancer lands on both nodes"
a0=$(issued_on "$A_HTTP") b0=$(issued_on "$B_HTTP")
for i in $(seq 20); do
  [[ $(sign_lb "$T/one.json") == 201 ]] || fail "issuance $i through haproxy: $(cat "$T/one.json")"
done
a1=$(issued_on "$A_HTTP") b1=$(issued_on "$B_HTTP")
(( a1 - a0 > 0 && b1 - b0 > 0 && a1 - a0 + b1 - b0 == 20 )) ||
  fail "20 issuances: node a counted $((a1 - a0)), node b $((b1 - b0))"
ok "20 certificates: $((a1 - a0)) on node a, $((b1 - b0)) on node b"

step "kill -9 of node a under concurrent issuance: clients retry, nothing lost, no serial twice"
worker() {  # N OUTFILE: N certificates, each retried until it is issued (at most 40 tries)
  local n=$1 out=$2 i try code
  : >"$out"
  for i in $(seq "$n"); do
    for try in $(seq 40); do
      code=$(sign_lb "$out.body")
      if [[ $code == 201 ]]; then
        python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
open(sys.argv[2] + "/" + d["serial"].upper() + ".pem", "w").write(d["certificate"])
print(d["serial"])' "$out.body" "$T/pem" >>"$out"
        break
      fi
      echo "$code" >>"$out.errors"
      sleep 0.1
    done
  done
}
wpids=()
mkdir -p "$T/pem"
for w in 1 2 3 4; do
  worker 15 "$T/w$w.serials" &
  wpids+=($!)
done
sleep 1
kill -KILL "$A_PID"
t_kill=$(now_us)
for p in "${wpids[@]}"; do wait "$p"; done
total=$(cat "$T"/w?.serials | wc -l)
errors=$({ cat "$T"/w?.serials.errors 2>/dev/null || true; } | wc -l)
(( total == 60 )) || fail "the clients got $total certificates of 60"
dups=$(cat "$T"/w?.serials | sort | uniq -d | wc -l)
(( dups == 0 )) || fail "$dups serials were handed out twice"
"$HERALD" list --dir "$T/b" --json >"$T/list.json"
missing=$(python3 - "$T/list.json" "$T"/w?.serials <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
rows = d if isinstance(d, list) else d.get("certificates", [])
have = {r["serial"].upper() for r in rows}
want = {l.strip().upper() for f in sys.argv[2:] for l in open(f) if l.strip()}
print(len(want - have))
PY
)
(( missing == 0 )) || fail "$missing certificates the clients received are not in the inventory"
ok "60 certificates to 4 clients across the kill ($errors failed attempts retried), all 60 in the inventory, no serial twice"

step "node a back; a revocation through node a reaches node b's OCSP and both CRLs"
HTTPS_PORT=$A_HTTPS HTTP_PORT=$A_HTTP PUB="http://127.0.0.1:$A_HTTP"
serve_start "$T/a" "${ACME_FLAGS[@]}"
A_PID=$SERVE_PID
crl_number() {  # HTTP_PORT
  curl -sf "http://127.0.0.1:$1/crl/issuing.crl" -o "$T/n.crl" && openssl crl -inform DER -in "$T/n.crl" -noout -crlnumber | sed 's/^crlNumber=//'
}
numbers=()
for serial_file in w1 w2; do
  victim=$(head -1 "$T/$serial_file.serials")
  curl -sf --cacert "$ROOT" -H "Authorization: Bearer $API_TOKEN" -H 'Content-Type: application/json' \
    --data-binary "{\"serial\":\"$victim\",\"reason\":\"keyCompromise\"}" "https://127.0.0.1:$A_HTTPS/v1/revoke" >/dev/null ||
    fail "revoke $victim through node a"
  t0=$(now_us)
  cp "$T/pem/${victim^^}.pem" "$T/victim.pem"
  openssl x509 -in "$T/victim.pem" -noout 2>/dev/null || fail "cannot get the PEM of $victim"
  seen=""
  for _ in $(seq 100); do
    out=$(openssl ocsp -url "http://127.0.0.1:$B_HTTP/ocsp" -issuer "$ISSUING" -cert "$T/victim.pem" \
      -CAfile "$T/root+intermediate.pem" -no_nonce 2>&1 || true)
    if grep -q ': revoked' <<<"$out"; then seen=$(secs $(($(now_us) - t0))); break; fi
    sleep 0.05
  done
  [[ -n $seen ]] || fail "node b's OCSP does not say revoked within 5 s:$(printf '\n%s' "$out")"
  grep -q '^Response verify OK' <<<"$out" || fail "node b's OCSP answer does not verify"
  # The CRL signer may be the node killed above: its lease (10 s, renewed
  # every 2 s) must run out before another node signs, so allow 15 s.
  t_crl=$(now_us)
  for port in "$A_HTTP" "$B_HTTP"; do
    for _ in $(seq 150); do
      curl -sf "http://127.0.0.1:$port/crl/issuing.crl" -o "$T/c.crl"
      openssl crl -inform DER -in "$T/c.crl" -noout -text | grep -q "Serial Number: ${victim^^}" && break
      sleep 0.1
    done
    openssl crl -inform DER -in "$T/c.crl" -noout -text | grep -q "Serial Number: ${victim^^}" ||
      fail "the CRL of the node on :$port does not list $victim within 15 s"
    numbers+=("$(crl_number "$port")")
  done
  ok "revoked $victim through node a: node b's OCSP said revoked $seen s later; both CRLs list it $(secs $(($(now_us) - t_crl))) s after that"
done
python3 - "${numbers[@]}" <<'PY' || fail "the CRL number went back from one fetch to the next: ${numbers[*]}"
import sys
n = [int(x, 16) for x in sys.argv[1:]]
# One node signs, every node serves what it published: in fetch order (a, b,
# a, b) the number never goes back, and the second revocation made a new CRL.
assert all(a <= b for a, b in zip(n, n[1:])) and n[2] > n[1], n
PY
ok "CRL numbers in fetch order (a, b, a, b): ${numbers[*]} (never back; one CRL per change, signed by one node)"

step "lego (http-01) through the load balancer: requests alternate between the nodes"
acme_on() {  # HTTP_PORT: ACME requests this node answered (its /metrics)
  curl -s "http://127.0.0.1:$1/metrics" | awk '/^herald_http_requests_total\{.*route="acme"/{s+=$2} END{print s+0}'
}
a0=$(acme_on "$A_HTTP") b0=$(acme_on "$B_HTTP")
export LEGO_CA_CERTIFICATES="$ROOT"
lego --server "https://127.0.0.1:$LB_ACME/acme/acme/directory" --accept-tos --email e@example.com --path "$T/lego" \
  --key-type ec256 --domains cluster.example.test --http --http.port "127.0.0.1:$H01" run >"$T/lego.log" 2>&1 ||
  fail "lego through haproxy failed:$(printf '\n%s' "$(tail -20 "$T/lego.log")")"
cert="$T/lego/certificates/cluster.example.test.crt"
openssl x509 -in "$cert" -noout -ext subjectAltName | grep -q 'DNS:cluster.example.test' || fail "lego's certificate lacks its name"
a1=$(acme_on "$A_HTTP") b1=$(acme_on "$B_HTTP")
(( a1 > a0 && b1 > b0 )) || fail "lego's requests did not reach both nodes (a: $((a1 - a0)), b: $((b1 - b0)))"
ok "lego got a certificate for cluster.example.test: $((a1 - a0)) ACME requests answered by node a, $((b1 - b0)) by node b (nonces of one node spent on the other, the order shared)"

holder_of() { curl -s "http://127.0.0.1:$1/metrics" | awk '/^herald_singleton_holder /{print $2}'; }
step "kill -9 of the node that signs the CRL, restarted at once: it takes its lease back at start"
# A node's lease identity is its host and listen address, stable across
# restarts: a restarted signer does not leave the cluster without one for the
# rest of the lease (10 s).
if [[ $(holder_of "$A_HTTP") == 1 ]]; then
  kill -KILL "$A_PID"; wait "$A_PID" 2>/dev/null || true
  t0=$(now_us); start_node a "$A_HTTPS" "$A_HTTP"; A_PID=$NODE_PID; back_http=$A_HTTP other_http=$B_HTTP
else
  kill -KILL "$B_PID"; wait "$B_PID" 2>/dev/null || true
  t0=$(now_us); start_node b "$B_HTTPS" "$B_HTTP"; B_PID=$NODE_PID; back_http=$B_HTTP other_http=$A_HTTP
fi
[[ $(holder_of "$back_http") == 1 ]] ||
  fail "the restarted signer does not hold the lease after its start (the lease still names its previous run?)"
[[ $(holder_of "$other_http") == 0 ]] || fail "both nodes say they hold the lease after the restart"
ok "the signer restarted and held its lease again when ready, $(secs $(($(now_us) - t0))) s after the kill"

step "kill -9 of the node that signs the CRL: the other takes over"
if [[ $(holder_of "$A_HTTP") == 1 ]]; then
  dead=a dead_pid=$A_PID live_https=$B_HTTPS live_http=$B_HTTP
else
  dead=b dead_pid=$B_PID live_https=$A_HTTPS live_http=$A_HTTP
fi
[[ $(holder_of "$live_http") == 0 ]] || fail "both nodes say they hold the lease"
kill -KILL "$dead_pid"
t0=$(now_us)
victim=$(head -1 "$T/w3.serials")
curl -sf --cacert "$ROOT" -H "Authorization: Bearer $API_TOKEN" -H 'Content-Type: application/json' \
  --data-binary "{\"serial\":\"$victim\",\"reason\":\"superseded\"}" "https://127.0.0.1:$live_https/v1/revoke" >/dev/null ||
  fail "revoke $victim through the surviving node"
listed=""
for _ in $(seq 300); do
  curl -sf "http://127.0.0.1:$live_http/crl/issuing.crl" -o "$T/t.crl" &&
    openssl crl -inform DER -in "$T/t.crl" -noout -text | grep -q "Serial Number: ${victim^^}" && {
    listed=$(secs $(($(now_us) - t0)))
    break
  }
  sleep 0.1
done
[[ -n $listed ]] || fail "the surviving node's CRL does not list $victim 30 s after the holder died"
[[ $(holder_of "$live_http") == 1 ]] || fail "the surviving node does not hold the lease"
ok "node $dead (the signer) killed; the survivor took the lease and its CRL listed a new revocation $listed s later (lease: 10 s)"

step "the issuing CA revoked (CLI, another process): the surviving node refuses to issue within a second"
issuing_serial=$(openssl x509 -in "$ISSUING" -noout -serial | cut -d= -f2)
"$HERALD" revoke --dir "$T/$([[ $dead == a ]] && echo b || echo a)" "$issuing_serial" --reason cessationOfOperation --no-crl --yes \
  >"$T/ca-revoke.log" 2>&1 || fail "herald revoke of the issuing CA failed: $(cat "$T/ca-revoke.log")"
t0=$(now_us)
refused=""
for _ in $(seq 100); do
  code=$(curl -s -o "$T/after.json" -w '%{http_code}' --max-time 10 --cacert "$ROOT" -H "Authorization: Bearer $API_TOKEN" \
    -H 'Content-Type: application/pkcs10' --data-binary @"$T/lb.der" "https://127.0.0.1:$live_https/v1/sign?profile=server")
  if [[ $code == 409 ]] && grep -q 'is revoked' "$T/after.json"; then refused=$(secs $(($(now_us) - t0))); break; fi
  sleep 0.05
done
[[ -n $refused ]] || fail "the node still issues under a revoked issuing CA: HTTP $code $(cat "$T/after.json")"
ok "issuance refused $refused s after the issuing CA's revocation (409: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["detail"][:60])' "$T/after.json")...)"
