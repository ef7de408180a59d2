#!/usr/bin/env bash
# Proves the log of `herald serve` (docs/operations.md, "Logs"):
#  - with --log-file every line is one JSON object (time, level, msg);
#  - one line per API and ACME request: request_id (the one the response's
#    X-Request-Id carried; a client's own valid X-Request-Id is kept, an
#    invalid one replaced), method, route, path without the query, status,
#    duration_ms, remote; the sign line names the provisioner and the serial
#    issued, the revoke line the serial revoked; a failing request is logged
#    with its status;
#  - no line holds the API token, the issuing passphrase, "PRIVATE KEY" or
#    the Authorization header;
#  - a request refused by the HTTP layer before any handler (a 413 body over
#    max_body_bytes) carries X-Request-Id too (the client's own, else a fresh
#    one) and is one "request refused" line with that id, its status and
#    method and path, and no header value or body;
#  - an ACME account's requests name it, newAccount included (the account
#    created, and the one found for a key that has one); an http-01 validation against a
#    closed port is one line (identifier, type, address dialled, invalid and
#    the problem);
#  - after the file is renamed, SIGHUP opens a new one and the next request's
#    line lands there.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$IT_DIR/serve_lib.sh"
need_tool openssl curl python3

step "ca init; start herald serve with --log-file"
serve_init "$T/pki"
TOKEN=$(new_token "$D" admin)
LOG="$T/herald.log"
CLOSED_PORT=$(free_port)  # nothing listens: the http-01 validation fails at once
serve_start "$D" --log-file "$LOG" --log-level info --acme-http01-port "$CLOSED_PORT"
ok "serving (pid $SERVE_PID), log in $LOG"

# hdr_id FILE: the X-Request-Id header of a curl -D dump.
hdr_id() { tr -d '\r' <"$1" | awk -F': ' 'tolower($1)=="x-request-id"{print $2}' | tail -1; }

step "sign with a bearer token; the response carries X-Request-Id"
API_TOKEN=$TOKEN
make_csr web web.internal "DNS:web.internal"
sign_json "$T/web.csr" server >"$T/web.json"
api POST "/v1/sign?trace=1" -H 'Content-Type: application/json' --data-binary @"$T/web.json" -D "$T/sign.h"
expect_status 201 "sign"
SERIAL=$(save_issued web)
SIGN_ID=$(hdr_id "$T/sign.h")
[[ $SIGN_ID =~ ^[0-9a-f]{16}$ ]] || fail "X-Request-Id '$SIGN_ID' is not 16 hex characters"
ok "serial $SERIAL, request id $SIGN_ID"

step "revoke it with a client-chosen request id; a failing request; an invalid request id"
api POST /v1/revoke -H 'Content-Type: application/json' -H 'X-Request-Id: client-req.42_A' \
  --data-binary "{\"serial\":\"$SERIAL\",\"reason\":\"keyCompromise\"}" -D "$T/revoke.h"
expect_status 200 "revoke"
[[ $(hdr_id "$T/revoke.h") == client-req.42_A ]] || fail "the client's X-Request-Id was not echoed: $(cat "$T/revoke.h")"
api GET /v1/certs/00ff00ff -D "$T/missing.h"
expect_status 404 "unknown serial"
MISSING_ID=$(hdr_id "$T/missing.h")
API_TOKEN=""
api POST /v1/sign -H 'Content-Type: application/json' -H 'Authorization: Bearer hrld_wrongtoken' \
  -H 'X-Request-Id: bad id with spaces' --data-binary @"$T/web.json" -D "$T/bad.h"
expect_status 401 "wrong token"
BAD_ID=$(hdr_id "$T/bad.h")
[[ $BAD_ID =~ ^[0-9a-f]{16}$ ]] || fail "an invalid X-Request-Id was not replaced: '$BAD_ID'"
http_req GET "$API/acme/acme/directory" --cacert "$ROOT" -D "$T/acme.h"
expect_status 200 "ACME directory"
ACME_ID=$(hdr_id "$T/acme.h")
http_req GET "$PUB/healthz" -D "$T/health.h"
[[ -n $(hdr_id "$T/health.h") ]] || fail "no X-Request-Id on /healthz"
ok "revoke, 404, 401 and an ACME directory request made"

step "a body over max_body_bytes is refused 413 by the HTTP layer, with a request id"
head -c $((80 * 1024)) /dev/zero | tr '\0' 'z' >"$T/big.body"  # the default limit: 64 KiB
API_TOKEN=$TOKEN
api POST "/v1/sign?big=1" -H 'Content-Type: application/json' -H 'X-Request-Id: too-big.1' \
  --data-binary @"$T/big.body" -D "$T/big.h"
expect_status 413 "an 80 KiB body"
[[ $(hdr_id "$T/big.h") == too-big.1 ]] || fail "the 413 does not carry the client's X-Request-Id: $(cat "$T/big.h")"
api POST /v1/sign -H 'Content-Type: application/json' --data-binary @"$T/big.body" -D "$T/big2.h"
expect_status 413 "an 80 KiB body without a request id"
BIG_ID=$(hdr_id "$T/big2.h")
[[ $BIG_ID =~ ^[0-9a-f]{16}$ ]] || fail "the 413 without a client id has X-Request-Id '$BIG_ID': $(cat "$T/big2.h")"
ok "413 with X-Request-Id too-big.1 (the client's) and $BIG_ID (fresh)"

step "ACME: an account, an order for 127.0.0.1, its http-01 challenge (port $CLOSED_PORT closed)"
cat >"$T/acme_min.py" <<'PYEOF'
# Minimal ACME client for serve_logs.sh: account, order for 127.0.0.1, http-01 started.
import base64, json, os, ssl, sys, time, urllib.request
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

DIRECTORY, ROOT, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
CTX = ssl.create_default_context(cafile=ROOT)
b64u = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")
priv = ec.generate_private_key(ec.SECP256R1())
n = priv.public_key().public_numbers()
jwk = {"crv": "P-256", "kty": "EC", "x": b64u(n.x.to_bytes(32, "big")), "y": b64u(n.y.to_bytes(32, "big"))}

def req(url, data=None, method=None):
    r = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        r.add_header("Content-Type", "application/jose+json")
    try:
        resp = urllib.request.urlopen(r, context=CTX, timeout=30)
    except urllib.error.HTTPError as e:
        resp = e
    return resp.status, dict(resp.headers), resp.read()

st, h, body = req(DIRECTORY)
d = json.loads(body)
nonce = req(d["newNonce"], method="HEAD")[1]["Replay-Nonce"]

def post(url, payload, kid=None):
    global nonce
    hdr = {"alg": "ES256", "nonce": nonce, "url": url}
    if kid: hdr["kid"] = kid
    else: hdr["jwk"] = jwk
    p = b64u(json.dumps(hdr).encode())
    pl = "" if payload is None else b64u(json.dumps(payload).encode())
    r, s = utils.decode_dss_signature(priv.sign(f"{p}.{pl}".encode(), ec.ECDSA(hashes.SHA256())))
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    st, h, body = req(url, json.dumps({"protected": p, "payload": pl, "signature": b64u(sig)}).encode())
    nonce = h.get("Replay-Nonce", nonce)
    return st, h, body

st, h, body = post(d["newAccount"], {"termsOfServiceAgreed": True})
assert st == 201, (st, body)
kid = h["Location"]
# The same key again: the existing account (200), as a client that lost its kid would.
st, h, body = post(d["newAccount"], {"onlyReturnExisting": True})
assert st == 200 and h["Location"] == kid, (st, h, body)
st, h, body = post(d["newOrder"], {"identifiers": [{"type": "ip", "value": "127.0.0.1"}]}, kid)
assert st == 201, (st, body)
order = json.loads(body)
st, h, body = post(order["authorizations"][0], None, kid)
authz = json.loads(body)
ch = [c for c in authz["challenges"] if c["type"] == "http-01"][0]
st, h, body = post(ch["url"], {}, kid)
assert st == 200, (st, body)
for _ in range(100):
    st, h, body = post(ch["url"], None, kid)
    c = json.loads(body)
    if c["status"] in ("valid", "invalid"):
        break
    time.sleep(0.2)
json.dump({"account": kid.rsplit("/", 1)[1], "challenge": c["status"]}, open(OUT, "w"))
print(f"   ok: ACME account {kid.rsplit('/', 1)[1]}, http-01 for 127.0.0.1 {c['status']}")
PYEOF
python3 "$T/acme_min.py" "$API/acme/acme/directory" "$ROOT" "$T/acme.json" || fail "the ACME exchange failed"

step "every line is JSON; the request lines say what happened; no secret anywhere"
# Lines are written when the handler returns (the response may arrive first);
# the CRL after a revocation by the next tick (200 ms).
for _ in $(seq 50); do grep -q '"crl signed".*"entries":[1-9]' "$LOG" && break; sleep 0.1; done
python3 - "$LOG" "$SIGN_ID" "$SERIAL" "$MISSING_ID" "$BAD_ID" "$ACME_ID" "$T/acme.json" "$CLOSED_PORT" "$BIG_ID" <<'PYEOF' || fail "log check failed:$(printf '\n%s' "$(tail -20 "$LOG")")"
import json, sys
path, sign_id, serial, missing_id, bad_id, acme_id, acme_json, closed_port, big_id = sys.argv[1:]
lines = open(path, encoding="utf-8").read().splitlines()
assert lines, "empty log"
objs = []
for n, l in enumerate(lines, 1):
    o = json.loads(l)  # raises on a line that is not JSON
    assert isinstance(o, dict), f"line {n} is not an object"
    for k in ("time", "level", "msg"):
        assert k in o, f"line {n} has no {k}: {l}"
    assert o["level"] in ("debug", "info", "warn", "error"), l
    assert len(l.encode()) <= 8192, f"line {n} is longer than 8 KiB"
    objs.append(o)
reqs = [o for o in objs if o["msg"] == "request"]
by_id = {o["request_id"]: o for o in reqs}
norm = lambda s: s.lower().lstrip("0")
s = by_id.get(sign_id)
assert s, f"no line for request {sign_id}"
assert s["method"] == "POST" and s["path"] == "/v1/sign" and s["route"] == "api", s
assert s["status"] == 201 and s["provisioner"] == "admin", s
assert norm(s["serial"]) == norm(serial), s
assert isinstance(s["duration_ms"], (int, float)) and s["remote"].startswith("127.0.0.1"), s
r = by_id.get("client-req.42_A")
assert r and r["path"] == "/v1/revoke" and r["status"] == 200, r
assert norm(r["serial"]) == norm(serial) and r["provisioner"] == "admin", r
m = by_id.get(missing_id)
assert m and m["status"] == 404 and m["path"] == "/v1/certs/00ff00ff", m
b = by_id.get(bad_id)
assert b and b["status"] == 401 and "provisioner" not in b and "serial" not in b, b
a = by_id.get(acme_id)
assert a and a["route"] == "acme" and a["status"] == 200, a
# /healthz is high-volume: debug level, so not in an info log.
assert not any(o.get("route") == "health" for o in reqs), "a health request at info level"
acme = json.load(open(acme_json))
assert any(o.get("account") == acme["account"] and o["route"] == "acme" for o in reqs), \
    "no ACME request line names the account"
# newAccount: the created account (201), then the one found for the key (200).
na = [o for o in reqs if o["path"].endswith("/new-account") and o["method"] == "POST"]
assert [(o["status"], o.get("account")) for o in na] == \
    [(201, acme["account"]), (200, acme["account"])], na
# The HTTP layer's own refusals: one line each, the id the response carried.
refused = {o["request_id"]: o for o in objs if o["msg"] == "request refused"}
for rid in ("too-big.1", big_id):
    o = refused.get(rid)
    assert o, f"no 'request refused' line for {rid}: {list(refused)}"
    assert o["status"] == 413 and o["error"] == "request-too-large" and o["method"] == "POST", o
    assert o["path"] == "/v1/sign" and o["listener"] == "https" and o["remote"].startswith("127.0.0.1"), o
    assert o["level"] == "info" and rid not in by_id, o
v = [o for o in objs if o["msg"] == "acme validation"]
assert len(v) == 1, v
v = v[0]
assert v["identifier"] == "127.0.0.1" and v["challenge"] == "http-01" and v["outcome"] == "invalid", v
assert v["dialled"] == f"127.0.0.1:{closed_port}" and v["error"] == "connection" and v["detail"], v
assert v["level"] == "warn", v
# Background jobs: the CRL re-signed after the revocation, OCSP pre-signed after the issuance.
crls = [o for o in objs if o["msg"] == "crl signed"]
assert any(o["entries"] >= 1 and o["number"] >= 1 and "took_ms" in o for o in crls), crls
assert any(o["msg"] == "ocsp presigned" and o["count"] >= 1 for o in objs), "no ocsp presigned line"
print(f"   ok: {len(lines)} JSON lines, {len(reqs)} request lines, {len(crls)} CRL lines")
PYEOF
SECRETS=("$TOKEN" "Bearer $TOKEN" "hrld_wrongtoken" "PRIVATE KEY")
PASS=$(tr -d '\r\n' <"$D/secrets/issuing.pass")
[[ -n $PASS ]] && SECRETS+=("$PASS")
for s in "${SECRETS[@]}"; do
  if grep -qF -- "$s" "$LOG"; then fail "the log holds a secret (${s:0:12}...)"; fi
done
grep -qi 'bearer' "$LOG" && fail "the log holds an Authorization header value"
grep -q 'zzzzzzzz' "$LOG" && fail "the log holds the refused body"
ok "no token, passphrase, private key, Authorization header or refused body in the log"

step "logrotate: rename the file, SIGHUP, the next line lands in a new file"
mv "$LOG" "$LOG.1"
kill -HUP "$SERVE_PID"
for _ in $(seq 100); do [[ -f $LOG ]] && break; sleep 0.1; done
[[ -f $LOG ]] || fail "SIGHUP did not open a new log file"
http_req GET "$API/v1/ca/chain" --cacert "$ROOT" -H 'X-Request-Id: after-rotate' -o /dev/null
expect_status 200 "chain after rotation"
for _ in $(seq 50); do grep -q '"after-rotate"' "$LOG" && break; sleep 0.1; done
grep -q '"request_id":"after-rotate"' "$LOG" || fail "the request after SIGHUP is not in the new file: $(cat "$LOG")"
grep -q 'after-rotate' "$LOG.1" && fail "the request after SIGHUP went to the renamed file"
grep -q 'SIGHUP' "$LOG" || fail "the reload line is not in the new file"
python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$LOG" || fail "the new file is not JSON lines"
ok "new file opened on SIGHUP: $(wc -l <"$LOG") lines"

step "stop"
serve_stop
[[ $SERVE_RC == 0 ]] || fail "herald serve exited with '$SERVE_RC' on SIGTERM"
if grep -qE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$SERVE_LOG"; then
  fail "sanitizer report:$(printf '\n%s' "$(head -40 "$SERVE_LOG")")"
fi
ok "stopped cleanly"
