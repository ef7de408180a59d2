#!/usr/bin/env bash
# Benchmarks of `herald serve` (release build), with the peer in the same run:
#   1. OCSP responses/s: Herald (pre-signed answers) vs `openssl ocsp -index`
#      serving the same certificate, same DER request, loaded with ab.
#      openssl ocsp binds every interface and stalls on connections that send
#      no request (openssl#23934): it runs in its own network namespace and
#      is loaded with ab, which sends a request on every connection.
#   2. Issuance over HTTPS with keep-alive, N concurrent clients (ab -k).
#   3. Revocation to visible: revoke (API, and CLI in another process), then
#      poll OCSP until it says revoked.
# Usage: bench/serve_bench.sh   (results go to stdout; docs/benchmarks.md records them)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/build/release/src/cli/herald
[[ -x $bin ]] || { echo "build first: make build-release" >&2; exit 1; }
T=$(mktemp -d /tmp/herald-bench.XXXXXX)
D=$T/data
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
SP=$(port) HP=$(port)

echo "# $(date -u +%FT%TZ) $(openssl version | cut -d' ' -f1-2), $(nproc) cores"
"$bin" ca init --dir "$D" --base-url "http://127.0.0.1:$HP" >/dev/null 2>&1
sed -i 's/^issuance_rate_per_second = .*/issuance_rate_per_second = 1000000/' "$D/herald.toml"
"$bin" issue --dir "$D" --profile server --cn bench.internal --out-dir "$T/leaf" >/dev/null
TOKEN=$("$bin" token add --dir "$D" --provisioner admin 2>/dev/null)
"$bin" serve --dir "$D" --listen "127.0.0.1:$SP" --http-listen "127.0.0.1:$HP" >"$T/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$HP/readyz" >/dev/null && break; sleep 0.1; done

openssl ocsp -issuer "$D/ca/issuing.pem" -cert "$T/leaf/cert.pem" -no_nonce -reqout "$T/req.der" >/dev/null 2>&1
ab_rate() { grep -E '^Requests per second' | awk '{print $4}'; }

echo
echo "## 1. OCSP, fixed DER request (SHA-1 CertID, no nonce)"
warm=$(ab -q -k -c 8 -n 20000 -p "$T/req.der" -T application/ocsp-request "http://127.0.0.1:$HP/ocsp" | ab_rate)
for c in 1 8 32; do
  r=$(ab -q -k -c $c -n 200000 -p "$T/req.der" -T application/ocsp-request "http://127.0.0.1:$HP/ocsp" 2>&1 | ab_rate)
  echo "herald  keep-alive  c=$c   $r responses/s"
done
r=$(ab -q -c 8 -n 50000 -p "$T/req.der" -T application/ocsp-request "http://127.0.0.1:$HP/ocsp" 2>&1 | ab_rate)
echo "herald  new conn    c=8   $r responses/s"
# ab is one thread and saturates first; wrk (2 threads) loads Herald harder.
cat >"$T/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/ocsp-request"
local f = io.open("$T/req.der", "rb"); wrk.body = f:read("*a"); f:close()
LUA
for c in 8 64; do
  r=$(wrk -t2 -c$c -d10s -s "$T/post.lua" "http://127.0.0.1:$HP/ocsp" 2>&1 | awk '/^Requests\/sec/{print $2}')
  echo "herald  wrk -t2     c=$c  $r responses/s"
done

# The peer: same certificate, signed by the issuing CA key directly.
serial=$(openssl x509 -in "$T/leaf/cert.pem" -noout -serial | cut -d= -f2)
expiry=$(date -u -d "$(openssl x509 -in "$T/leaf/cert.pem" -noout -enddate | cut -d= -f2)" +%y%m%d%H%M%SZ)
printf 'V\t%s\t\t%s\tunknown\t/CN=bench.internal\n' "$expiry" "$serial" >"$T/index.txt"
openssl pkey -in "$D/keys/issuing.key.pem" -passin "file:$D/secrets/issuing.pass" -out "$T/issuing.key"
for multi in 1 2; do
  unshare -n bash -c "
    ip link set lo up
    openssl ocsp -index '$T/index.txt' -port 9999 -rsigner '$D/ca/issuing.pem' -rkey '$T/issuing.key' \
      -CA '$D/ca/issuing.pem' $( [[ $multi -gt 1 ]] && echo "-multi $multi" ) -nrequest 100000000 >/dev/null 2>&1 &
    p=\$!
    sleep 1.5  # no connect probe: an empty connection stalls openssl ocsp 3.0 (openssl#23934)
    for c in 1 8; do
      r=\$(ab -q -c \$c -n 40000 -p '$T/req.der' -T application/ocsp-request http://127.0.0.1:9999/ 2>&1 | grep -E '^Requests per second' | awk '{print \$4}')
      echo \"openssl ocsp -multi $multi  c=\$c   \$r responses/s\"
    done
    # -multi workers outlive their parent and spin (openssl#23934): end them all.
    pkill -f '^openssl ocsp -index $T/index.txt' 2>/dev/null; wait 2>/dev/null
  "
done

echo
echo "## 2. Issuance over HTTPS, keep-alive (P-256 CSR, profile server, durable SQLite record)"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/k.pem" -subj /CN=load.internal \
  -outform DER -out "$T/csr.der" 2>/dev/null
for c in 1 4 16; do
  ab -k -c $c -n 5000 -p "$T/csr.der" -T application/pkcs10 -H "Authorization: Bearer $TOKEN" \
    "https://127.0.0.1:$SP/v1/sign?profile=server" >"$T/ab.txt" 2>&1
  rate=$(ab_rate <"$T/ab.txt")
  p50=$(awk '$1=="50%"{print $2}' "$T/ab.txt")
  p99=$(awk '$1=="99%"{print $2}' "$T/ab.txt")
  failed=$(awk '/^Failed requests/{print $3}' "$T/ab.txt")
  non2xx=$(awk '/^Non-2xx/{print $3}' "$T/ab.txt")
  echo "c=$c  $rate certs/s  p50 ${p50} ms  p99 ${p99} ms  failed=${failed} non-2xx=${non2xx:-0}"
done
echo "inventory rows: $(sqlite3 "$D/herald.db" 'select count(*) from certificates')"

echo
echo "## 3. Revocation to visible in OCSP (ms)"
python3 - "$bin" "$D" "$HP" "$SP" "$TOKEN" "$T" <<'PY'
import json, ssl, subprocess, sys, time, http.client, statistics
from cryptography import x509
from cryptography.x509 import ocsp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
bin_, D, hp, sp, token, T = sys.argv[1:]
issuer = x509.load_pem_x509_certificate(open(f"{D}/ca/issuing.pem", "rb").read())
ctx = ssl.create_default_context(cafile=f"{D}/ca/root.pem")
def sign():
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "rv.internal")])).sign(key, hashes.SHA256())
    c = http.client.HTTPSConnection("127.0.0.1", int(sp), context=ctx)
    c.request("POST", "/v1/sign?profile=server", csr.public_bytes(serialization.Encoding.DER),
              {"Authorization": f"Bearer {token}", "Content-Type": "application/pkcs10"})
    d = json.loads(c.getresponse().read())
    return x509.load_pem_x509_certificate(d["certificate"].encode())
def ocsp_status(cert, conn):
    req = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
    conn.request("POST", "/ocsp", req.public_bytes(serialization.Encoding.DER), {"Content-Type": "application/ocsp-request"})
    return ocsp.load_der_ocsp_response(conn.getresponse().read()).certificate_status
for how in ("api", "cli"):
    times = []
    for _ in range(10):
        cert = sign()
        conn = http.client.HTTPConnection("127.0.0.1", int(hp))
        assert ocsp_status(cert, conn) == ocsp.OCSPCertStatus.GOOD
        serial = format(cert.serial_number, "X")
        t0 = time.monotonic()
        if how == "api":
            c = http.client.HTTPSConnection("127.0.0.1", int(sp), context=ctx)
            c.request("POST", "/v1/revoke", json.dumps({"serial": serial, "reason": "keyCompromise"}),
                      {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            c.getresponse().read()
        else:
            subprocess.run([bin_, "revoke", "--dir", D, serial, "--reason", "keyCompromise", "--no-crl"], check=True,
                           stdout=subprocess.DEVNULL)
        while ocsp_status(cert, conn) != ocsp.OCSPCertStatus.REVOKED:
            pass
        times.append((time.monotonic() - t0) * 1000)
    print(f"revoke via {how}: median {statistics.median(times):.1f} ms, max {max(times):.1f} ms (10 runs; includes the revoke call)")
PY
