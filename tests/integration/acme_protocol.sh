#!/usr/bin/env bash
# The ACME server (RFC 8555) at the protocol level, without an ACME client:
# an embedded Python program builds every JWS itself (flattened JSON, ES256
# with raw r||s, jwk / kid headers, nonces from newNonce or Replay-Nonce) so
# that it can also send what no client would: forged signatures, replayed
# nonces, wrong URLs, bad base64url, refused algorithms, other accounts' kids
# and resources, oversized bodies. Every refusal must be an RFC 8555 problem
# document (status, Content-Type application/problem+json, exact
# urn:ietf:params:acme:error:* type) that changed nothing in the store (row
# counts and contents of acme_accounts / acme_orders / acme_authzs, and the
# certificates' serials and statuses, before and after).
#
# Challenges are not dialled: [acme] insecure_skip_validation = true makes a
# challenge valid when it is POSTed.
#
#   1. happy path: directory, newNonce, newAccount (+ same key, onlyReturnExisting),
#      newOrder (dns + ip, RFC 8738), authz, challenge, finalize, PEM chain
#      (openssl verify), `herald list` owner label, ARI (RFC 9773) + "replaces"
#   2. refusals: JWS envelope, nonces, accounts and their isolation, orders,
#      finalize, identifiers, deactivation, keyChange, revokeCert
#   3. after a restart with orders_per_account_per_hour = 3: rate limit,
#      nonces do not survive a restart, the JWS layer's own 64 KiB cap
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$IT_DIR/serve_lib.sh"
need_tool openssl curl python3 sqlite3
python3 -c 'import cryptography' 2>/dev/null || need_tool python3-cryptography

# set_acme_option DIR KEY VALUE: replace or append `KEY = VALUE` in [acme].
set_acme_option() {
  python3 - "$1/herald.toml" "$2" "$3" <<'EOF' || fail "cannot set acme.$2 in $1/herald.toml"
import re, sys
path, key, value = sys.argv[1:]
text = open(path).read()
head, sep, tail = text.partition("\n[acme]\n")
assert sep, "no [acme] table"
m = re.search(r"(?m)^\[", tail)
body, rest = (tail[:m.start()], tail[m.start():]) if m else (tail, "")
new, n = re.subn(r"(?m)^" + re.escape(key) + r"\s*=.*$", key + " = " + value, body, count=1)
if n == 0:
    new = body.rstrip("\n") + "\n" + key + " = " + value + "\n"
open(path, "w").write(head + sep + new + rest)
EOF
}

cat >"$T/acme_proto.py" <<'PYEOF'
# ACME protocol checks; run by acme_protocol.sh: acme_proto.py PHASE
# (happy | negative | ratelimit). State between phases in $ACME_OUT/state.json;
# defects (expectation not met, the run goes on) in $ACME_OUT/defects.PHASE.
import base64, datetime, hashlib, hmac, http.client, ipaddress, json, os, secrets, ssl
import subprocess, sys, time, urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.x509.oid import NameOID

PHASE = sys.argv[1]
OUT = os.environ["ACME_OUT"]
DB = os.environ["ACME_DB"]
DIRECTORY = os.environ["ACME_DIRECTORY"]
CTX = ssl.create_default_context(cafile=os.environ["ACME_ROOT"])
STATE_FILE = os.path.join(OUT, "state.json")
ERR = "urn:ietf:params:acme:error:"
DEFECTS = []


def ok(msg):
    print("   ok: " + msg, flush=True)


def note(msg):
    print("   NOTE: " + msg, flush=True)


def die(msg):
    print("FAIL: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def defect(msg):
    print("   DEFECT: " + msg, flush=True)
    DEFECTS.append(msg.replace("\n", " | "))


def b64u(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def b64u_json(obj):
    return b64u(json.dumps(obj).encode())


def parse_time(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


# ------------------------------------------------------------------ keys and JWS

class Key:
    def __init__(self, priv=None):
        self.priv = priv or ec.generate_private_key(ec.SECP256R1())
        n = self.priv.public_key().public_numbers()
        self.jwk = {"crv": "P-256", "kty": "EC",
                    "x": b64u(n.x.to_bytes(32, "big")), "y": b64u(n.y.to_bytes(32, "big"))}

    def sign(self, data):  # ES256, raw r||s (RFC 7518 §3.4)
        r, s = utils.decode_dss_signature(self.priv.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def sign_der(self, data):  # the classic client bug: a DER ECDSA signature
        return self.priv.sign(data, ec.ECDSA(hashes.SHA256()))

    def pem(self):
        return self.priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()).decode()

    @staticmethod
    def load(pem):
        return Key(serialization.load_pem_private_key(pem.encode(), None))


def jws(key, url, payload, nonce, kid=None, header=None, drop=(), alg="ES256", signer=None):
    """A flattened JWS body (dict). payload None = POST-as-GET, bytes = raw, else JSON."""
    h = {"alg": alg, "nonce": nonce, "url": url}
    if kid:
        h["kid"] = kid
    else:
        h["jwk"] = key.jwk
    h.update(header or {})
    for k in drop:
        h.pop(k, None)
    p = b64u_json(h)
    if payload is None:
        pl = ""
    elif isinstance(payload, bytes):
        pl = b64u(payload)
    else:
        pl = b64u_json(payload)
    sig = (signer or key.sign)(f"{p}.{pl}".encode())
    return {"protected": p, "payload": pl, "signature": b64u(sig)}


# ------------------------------------------------------------------ HTTP

class Resp:
    def __init__(self, method, url, status, headers, body, sent):
        self.method, self.url, self.status, self.headers, self.body = method, url, status, headers, body
        self.sent = sent

    def h(self, name):
        return self.headers.get(name)

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def describe(self):
        path = urllib.parse.urlsplit(self.url).path
        body = self.body[:600].decode("utf-8", "replace")
        return f"{self.method} {path} -> HTTP {self.status} [{self.h('content-type')}] {body}"


def request(method, url, body=None, ctype=None, headers=None):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPSConnection(u.hostname, u.port, context=CTX, timeout=60)
    hdrs = dict(headers or {})
    if ctype:
        hdrs["Content-Type"] = ctype
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    try:
        conn.request(method, u.path + ("?" + u.query if u.query else ""), body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        headers = {k.lower(): v for k, v in r.getheaders()}
        return Resp(method, url, r.status, headers, data, body)
    finally:
        conn.close()


class Acme:
    def __init__(self):
        r = request("GET", DIRECTORY)
        if r.status != 200:
            die("directory: " + r.describe())
        self.dir = r.json()
        self.nonce = None

    def fresh_nonce(self):
        r = request("HEAD", self.dir["newNonce"])
        n = r.h("replay-nonce")
        if r.status != 200 or not n:
            die("HEAD newNonce gave no nonce: " + r.describe())
        return n

    def take_nonce(self):
        n, self.nonce = self.nonce, None
        return n or self.fresh_nonce()

    def send(self, url, body, ctype="application/jose+json"):
        r = request("POST", url, body, ctype)
        if r.h("replay-nonce"):
            self.nonce = r.h("replay-nonce")
        return r

    def post(self, url, payload, key, kid=None, **kw):
        return self.send(url, jws(key, url, payload, self.take_nonce(), kid=kid, **kw))


class Account:
    def __init__(self, key, kid):
        self.key, self.kid = key, kid

    @property
    def id(self):
        return self.kid.rsplit("/", 1)[1]

    def post(self, acme, url, payload=None, **kw):
        return acme.post(url, payload, self.key, kid=self.kid, **kw)


def new_account(acme, key=None, contact=("mailto:ops@example.internal",)):
    key = key or Key()
    r = acme.post(acme.dir["newAccount"], {"termsOfServiceAgreed": True, "contact": list(contact)}, key)
    if r.status != 201 or not r.h("location"):
        die("newAccount: " + r.describe())
    return Account(key, r.h("location"))


# ------------------------------------------------------------------ store snapshots

def sql(query):
    for attempt in range(20):  # the server may hold the write lock for a moment
        p = subprocess.run(["sqlite3", "-cmd", ".timeout 5000", f"file:{DB}?mode=rw", query],
                           capture_output=True, text=True)
        if p.returncode == 0:
            return p.stdout
        time.sleep(0.1)
    die(f"sqlite3 {query!r}: {p.stderr.strip()}")


def snapshot():
    """Row counts and contents, read in one statement (one read transaction)."""
    acme = ("acme_accounts", "acme_orders", "acme_authzs")
    parts = [f"'n_{t}', (select count(*) from {t})" for t in acme + ("certificates",)]
    # What the per-identifier rate limit counts.
    parts.append("'n_acme_order_identifiers', (select count(*) from acme_order_identifiers)")
    parts += [f"'{t}', (select json_group_array(json_array(id, data)) from {t})" for t in acme]
    parts.append("'certificates', (select json_group_array(json_array(serial, "
                 "status || ' ' || ifnull(revocation_reason, ''))) from certificates)")
    doc = json.loads(sql("select json_object(" + ", ".join(parts) + ")"))
    return {"counts": {t: doc["n_" + t] for t in acme + ("certificates", "acme_order_identifiers")},
            "rows": {t: dict(json.loads(doc[t]) if isinstance(doc[t], str) else doc[t])
                     for t in acme + ("certificates",)}}


def diff(before, after):
    out = []
    for t, n in before["counts"].items():
        if after["counts"][t] != n:
            out.append(f"{t}: {n} -> {after['counts'][t]} rows")
    for t, rows in before["rows"].items():
        for k, v in after["rows"][t].items():
            if k in rows and rows[k] != v:
                out.append(f"{t} {k} changed: {rows[k][:300]} -> {v[:300]}")
    return out


def expect_unchanged(before, what):
    d = diff(before, snapshot())
    if d:
        defect(f"{what}: the store changed: " + "; ".join(d))
        return False
    return True


def expect_problem(r, status, types, what, before=None, check_nonce=True):
    """r is an RFC 8555 problem: HTTP status (int or tuple), type(s) (the part after
    urn:ietf:params:acme:error:, or a full URN), and (with before) nothing changed."""
    statuses = status if isinstance(status, tuple) else (status,)
    types = types if isinstance(types, tuple) else (types,)
    full = tuple(t if ":" in t else ERR + t for t in types)
    bad = []
    if r.status not in statuses:
        bad.append(f"HTTP {r.status}, expected {'/'.join(map(str, statuses))}")
    ct = (r.h("content-type") or "").split(";")[0].strip()
    if ct != "application/problem+json":
        bad.append(f"Content-Type {ct!r}, expected application/problem+json")
    doc = r.json()
    if not isinstance(doc, dict):
        bad.append("body is not a JSON object")
        doc = {}
    elif doc.get("type") not in full:
        bad.append(f"type {doc.get('type')!r}, expected {' or '.join(full)}")
    if doc and doc.get("status") not in (None, r.status):
        bad.append(f"problem status {doc.get('status')} differs from HTTP {r.status}")
    if check_nonce and r.method == "POST" and not r.h("replay-nonce"):
        bad.append("no Replay-Nonce on the error (RFC 8555 §6.5)")
    if bad:
        defect(f"{what}: " + "; ".join(bad) + f"\n      {r.describe()}")
    else:
        ok(f"{what} -> {r.status} {doc.get('type', '').replace(ERR, '')} ({doc.get('detail', '')[:110]})")
    if before is not None:
        expect_unchanged(before, what)
    return doc


def expect_status(r, status, what):
    if r.status != status:
        defect(f"{what}: HTTP {r.status}, expected {status}\n      {r.describe()}")
        return False
    return True


def need_status(r, status, what):
    if r.status != status:
        die(f"{what}: expected HTTP {status}: {r.describe()}")
    return r.json()


# ------------------------------------------------------------------ helpers

def make_csr(names, key=None):
    """A CSR for DNS names and IPs (strings); CN = the first DNS name."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    sans, cn = [], None
    for n in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
            cn = cn or n
    b = x509.CertificateSigningRequestBuilder()
    b = b.subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else []))
    b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    csr = b.sign(key, hashes.SHA256())
    return key, b64u(csr.public_bytes(serialization.Encoding.DER))


def cert_id(cert):
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    n = cert.serial_number
    return b64u(aki) + "." + b64u(n.to_bytes(n.bit_length() // 8 + 1, "big"))


def new_order(acme, acct, idents, what, **extra):
    payload = {"identifiers": [{"type": t, "value": v} for t, v in idents]}
    payload.update(extra)
    r = acct.post(acme, acme.dir["newOrder"], payload)
    if r.status != 201 or not r.h("location"):
        die(f"{what}: newOrder: {r.describe()}")
    return r.h("location"), r.json()


def validate_all(acme, acct, order):
    """POSTs {} to each authorization's http-01 challenge (valid at once)."""
    for az in order["authorizations"]:
        a = need_status(acct.post(acme, az), 200, "authz POST-as-GET")
        if a["status"] == "valid":
            continue
        ch = next(c for c in a["challenges"] if c["type"] == "http-01")
        c = need_status(acct.post(acme, ch["url"], {}), 200, "challenge POST {}")
        if c.get("status") != "valid":
            die(f"challenge did not become valid with insecure_skip_validation: {c}")


def load_state():
    s = json.load(open(STATE_FILE))
    s["A"] = Account(Key.load(s["A_key"]), s["A_kid"])
    return s


def save_state(s):
    out = {k: v for k, v in s.items() if not isinstance(v, Account)}
    json.dump(out, open(STATE_FILE, "w"), indent=1)


# ================================================================== 1. happy path

def phase_happy():
    print("== 1. happy path", flush=True)
    r = request("GET", DIRECTORY)
    d = need_status(r, 200, "directory")
    missing = [k for k in ("newNonce", "newAccount", "newOrder", "revokeCert", "keyChange", "renewalInfo")
               if not isinstance(d.get(k), str)]
    if missing or not str(r.h("content-type")).startswith("application/json"):
        defect(f"directory lacks {missing} or is not application/json: {r.describe()}")
    else:
        ok("directory lists newNonce, newAccount, newOrder, revokeCert, keyChange, renewalInfo")
    acme = Acme()

    r = request("HEAD", acme.dir["newNonce"])
    if r.status == 200 and r.h("replay-nonce") and "no-store" in (r.h("cache-control") or ""):
        ok(f"HEAD newNonce -> 200, Replay-Nonce, Cache-Control: {r.h('cache-control')}")
    else:
        defect(f"HEAD newNonce: want 200 + Replay-Nonce + Cache-Control no-store (RFC 8555 §7.2): "
               f"{r.describe()} headers {r.headers}")
    r = request("GET", acme.dir["newNonce"])
    if r.status == 204 and r.h("replay-nonce"):
        ok("GET newNonce -> 204 with Replay-Nonce")
    else:
        defect(f"GET newNonce: want 204 + Replay-Nonce (RFC 8555 §7.2): {r.describe()}")

    before = snapshot()
    key_a = Key()
    r = acme.post(acme.dir["newAccount"],
                  {"termsOfServiceAgreed": True, "contact": ["mailto:ops@example.internal"]}, key_a)
    acct = need_status(r, 201, "newAccount")
    loc = r.h("location")
    if not loc or not loc.startswith(DIRECTORY.rsplit("/", 1)[0] + "/acct/"):
        die(f"newAccount: no account URL in Location: {r.headers}")
    if acct.get("status") != "valid" or not r.h("replay-nonce"):
        defect(f"newAccount answer: status {acct.get('status')}, Replay-Nonce {r.h('replay-nonce')}")
    after = snapshot()
    if after["counts"]["acme_accounts"] != before["counts"]["acme_accounts"] + 1:
        defect("newAccount did not add exactly one acme_accounts row")
    ok(f"newAccount -> 201, Location {urllib.parse.urlsplit(loc).path}")
    A = Account(key_a, loc)

    before = snapshot()
    r = acme.post(acme.dir["newAccount"], {"termsOfServiceAgreed": True}, key_a)
    if r.status == 200 and r.h("location") == loc:
        ok("newAccount with the same key -> 200, the same Location")
    else:
        defect(f"newAccount with an existing key: want 200 + the same Location (RFC 8555 §7.3.1): {r.describe()}")
    expect_unchanged(before, "newAccount with an existing key")
    r = acme.post(acme.dir["newAccount"], {"onlyReturnExisting": True}, Key())
    expect_problem(r, 400, "accountDoesNotExist", "onlyReturnExisting with an unknown key", before)
    r = acme.post(acme.dir["newAccount"], {"onlyReturnExisting": True}, key_a)
    if r.status == 200 and r.h("location") == loc:
        ok("onlyReturnExisting with the account's key -> 200, its Location")
    else:
        defect(f"onlyReturnExisting with a known key: {r.describe()}")

    # newOrder: one DNS and one IP identifier (RFC 8738).
    before = snapshot()
    r = A.post(acme, acme.dir["newOrder"], {"identifiers": [
        {"type": "dns", "value": "web.acme.internal"}, {"type": "ip", "value": "10.20.30.40"}]})
    order = need_status(r, 201, "newOrder dns + ip")
    order_url = r.h("location")
    if not order_url:
        die("newOrder: no Location")
    got = sorted((i["type"], i["value"]) for i in order["identifiers"])
    if got != [("dns", "web.acme.internal"), ("ip", "10.20.30.40")] or order["status"] != "pending" \
            or len(order["authorizations"]) != 2 or not order.get("finalize"):
        defect(f"newOrder answer: {order}")
    after = snapshot()
    if (after["counts"]["acme_orders"], after["counts"]["acme_authzs"]) != \
            (before["counts"]["acme_orders"] + 1, before["counts"]["acme_authzs"] + 2):
        defect(f"newOrder: orders/authzs rows {before['counts']} -> {after['counts']}")
    ok(f"newOrder (dns web.acme.internal, ip 10.20.30.40) -> 201, pending, 2 authorizations")

    for az in order["authorizations"]:
        a = need_status(A.post(acme, az), 200, "authz POST-as-GET")
        ident = a["identifier"]
        types = sorted(c["type"] for c in a["challenges"])
        want = ["http-01", "tls-alpn-01"] if ident["type"] == "ip" else ["dns-01", "http-01", "tls-alpn-01"]
        if a["status"] != "pending" or types != want or not all(c.get("token") for c in a["challenges"]):
            defect(f"authz {ident}: status {a['status']}, challenges {types} (want {want} with tokens)")
        ch = next(c for c in a["challenges"] if c["type"] == "http-01")
        r = A.post(acme, ch["url"], {})
        c = need_status(r, 200, "challenge POST {}")
        if c.get("status") != "valid":
            defect(f"challenge {ident['value']}: status {c.get('status')} with insecure_skip_validation")
        if f'<{az}>;rel="up"' not in (r.h("link") or ""):
            defect(f"challenge answer has no Link rel=up to its authorization: {r.h('link')}")
        a = need_status(A.post(acme, az), 200, "authz POST-as-GET")
        if a["status"] != "valid":
            defect(f"authz {ident['value']} is {a['status']} after its challenge became valid")
        ok(f"authz {ident['type']} {ident['value']}: challenges {types}; http-01 POST {{}} -> valid")

    o = need_status(A.post(acme, order_url), 200, "order POST-as-GET")
    if o["status"] != "ready":
        die(f"order is {o['status']}, not ready, after its authorizations became valid")
    ok("order -> ready")

    before = snapshot()
    leaf_key, csr = make_csr(["web.acme.internal", "10.20.30.40"])
    r = A.post(acme, o["finalize"], {"csr": csr})
    fin = need_status(r, 200, "finalize")
    if fin.get("status") != "valid" or not fin.get("certificate"):
        die(f"finalize: order not valid with a certificate URL: {fin}")
    after = snapshot()
    if after["counts"]["certificates"] != before["counts"]["certificates"] + 1:
        defect(f"finalize: certificates {before['counts']['certificates']} -> {after['counts']['certificates']}")
    ok("finalize with a CSR for exactly the identifiers -> order valid")

    r = A.post(acme, fin["certificate"])
    need_status(r, 200, "certificate download")
    ct = (r.h("content-type") or "").split(";")[0]
    if ct != "application/pem-certificate-chain":
        defect(f"certificate download Content-Type {ct!r}, expected application/pem-certificate-chain")
    pem = r.body.decode()
    blocks = [b + "-----END CERTIFICATE-----\n" for b in pem.split("-----END CERTIFICATE-----")[:-1]]
    blocks = [b.lstrip("\n") for b in blocks]
    if len(blocks) < 2:
        die(f"certificate download has {len(blocks)} certificates: {pem[:300]}")
    open(os.path.join(OUT, "acme.leaf.pem"), "w").write(blocks[0])
    open(os.path.join(OUT, "acme.intermediates.pem"), "w").write("".join(blocks[1:]))
    open(os.path.join(OUT, "acme.leaf.key"), "w").write(Key(leaf_key).pem())
    cert = x509.load_pem_x509_certificate(blocks[0].encode())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    got = sorted([("dns", n) for n in sans.get_values_for_type(x509.DNSName)] +
                 [("ip", str(i)) for i in sans.get_values_for_type(x509.IPAddress)])
    if got != [("dns", "web.acme.internal"), ("ip", "10.20.30.40")]:
        defect(f"certificate SANs {got}")
    if cert.public_key().public_numbers() != leaf_key.public_key().public_numbers():
        defect("certificate key is not the CSR's key")
    ok(f"certificate download -> 200 {ct}, {len(blocks)} certificates, SANs {got}")

    # ARI (RFC 9773)
    cid = cert_id(cert)
    r = request("GET", acme.dir["renewalInfo"] + "/" + cid)
    ri = need_status(r, 200, "renewalInfo")
    try:
        start, end = (parse_time(ri["suggestedWindow"][k]) for k in ("start", "end"))
        good = start < end and start > datetime.datetime.fromtimestamp(0, datetime.timezone.utc)
    except (KeyError, TypeError, ValueError) as e:
        good, start, end = False, e, None
    if not good or not r.h("retry-after"):
        defect(f"renewalInfo: want suggestedWindow start < end and Retry-After: {r.describe()} {r.headers}")
    else:
        ok(f"renewalInfo/{cid[:20]}... -> 200 window {ri['suggestedWindow']['start']} .. "
           f"{ri['suggestedWindow']['end']}, Retry-After {r.h('retry-after')}")
    bogus = cid.split(".")[0] + "." + b64u(secrets.token_bytes(15))
    expect_problem(request("GET", acme.dir["renewalInfo"] + "/" + bogus), 404, "malformed",
                   "renewalInfo for an unknown serial")
    expect_problem(request("GET", acme.dir["renewalInfo"] + "/not-a-cert-id"), 400, "malformed",
                   "renewalInfo for a malformed certID")

    r = A.post(acme, acme.dir["newOrder"], {"identifiers": [
        {"type": "dns", "value": "web.acme.internal"}, {"type": "ip", "value": "10.20.30.40"}],
        "replaces": cid})
    ro = need_status(r, 201, "newOrder with replaces")
    if ro.get("replaces") != cid:
        defect(f"newOrder with replaces: the order does not echo it: {ro}")
    else:
        ok("newOrder with \"replaces\" = the certID -> 201, the order echoes replaces")

    save_state({"A_key": key_a.pem(), "A_kid": loc, "order1": order_url, "order1_finalize": o["finalize"],
                "cert_url": fin["certificate"], "cert_pem": blocks[0], "cert_id": cid,
                "serial": format(cert.serial_number, "X"), "pending_order": r.h("location"),
                "pending_order_json": ro})
    with open(os.path.join(OUT, "acme.account_id"), "w") as f:
        f.write(A.id)


# ================================================================== 2. refusals

def phase_negative():
    s = load_state()
    A = s["A"]
    acme = Acme()
    B = new_account(acme, contact=("mailto:b@example.internal",))
    new_order_url = acme.dir["newOrder"]
    order_payload = {"identifiers": [{"type": "dns", "value": "neg.acme.internal"}]}

    print("\n== 2a. the JWS envelope", flush=True)
    before = snapshot()
    body = jws(A.key, new_order_url, order_payload, acme.take_nonce(), kid=A.kid)
    sig = bytearray(base64.urlsafe_b64decode(body["signature"] + "=="))
    sig[10] ^= 0x01
    body["signature"] = b64u(bytes(sig))
    expect_problem(acme.send(new_order_url, body), 403, "unauthorized",
                   "newOrder whose signature has a flipped byte", before)

    body = jws(A.key, acme.dir["newAccount"], order_payload, acme.take_nonce(), kid=A.kid)
    expect_problem(acme.send(new_order_url, body), 403, "unauthorized",
                   "JWS url (newAccount) differs from the request URL (newOrder)", before)
    body = jws(A.key, new_order_url + "?x=1", order_payload, acme.take_nonce(), kid=A.kid)
    expect_problem(acme.send(new_order_url, body), 403, "unauthorized",
                   "JWS url with a query the request does not have", before)

    # Nonces.
    n = acme.take_nonce()
    r = acme.send(A.kid, jws(A.key, A.kid, None, n, kid=A.kid))
    need_status(r, 200, "account POST-as-GET")
    body = jws(A.key, new_order_url, order_payload, n, kid=A.kid)
    r = acme.send(new_order_url, body)
    expect_problem(r, 400, "badNonce", "newOrder with a nonce already consumed (replay)", before)
    fresh = r.h("replay-nonce")
    r = acme.send(new_order_url, jws(A.key, new_order_url, order_payload, fresh, kid=A.kid))
    if r.status == 201:
        ok("retry with the Replay-Nonce of the badNonce answer -> 201")
        neg_order_url, neg_order = r.h("location"), r.json()
    else:
        defect(f"retry with the badNonce answer's Replay-Nonce: {r.describe()}")
        neg_order_url, neg_order = new_order(acme, A, [("dns", "neg.acme.internal")], "retry order")
    before = snapshot()
    r = acme.send(new_order_url, jws(A.key, new_order_url, order_payload, b64u(secrets.token_bytes(16)), kid=A.kid))
    expect_problem(r, 400, "badNonce", "a nonce this server never issued", before)
    r = acme.send(new_order_url, jws(A.key, new_order_url, order_payload, fresh, kid=A.kid))
    expect_problem(r, 400, "badNonce", "the badNonce answer's nonce used a second time", before)
    r = acme.send(new_order_url, jws(A.key, new_order_url, order_payload, None, kid=A.kid, drop=("nonce",)))
    expect_problem(r, 400, ("badNonce", "malformed"), "no nonce in the protected header", before)

    # Base64url: padding and the standard alphabet are not base64url (RFC 8555 §6.1, RFC 7515 §2).
    body = jws(A.key, new_order_url, order_payload, acme.take_nonce(), kid=A.kid)
    body["protected"] += "=" * (-len(body["protected"]) % 4 or 4)
    expect_problem(acme.send(new_order_url, body), 400, "malformed", "\"protected\" with '=' padding", before)
    body = jws(A.key, new_order_url, order_payload, acme.take_nonce(), kid=A.kid)
    body["signature"] = "+" + body["signature"][1:]
    expect_problem(acme.send(new_order_url, body), 400, "malformed", "\"signature\" with a '+'", before)
    body = jws(A.key, new_order_url, order_payload, acme.take_nonce(), kid=A.kid)
    body["signature"] = body["signature"][:-2] + "/" + body["signature"][-1:]
    expect_problem(acme.send(new_order_url, body), 400, "malformed", "\"signature\" with a '/'", before)
    body = jws(A.key, new_order_url, order_payload, acme.take_nonce(), kid=A.kid)
    body["payload"] += "=="
    expect_problem(acme.send(new_order_url, body), 400, "malformed", "\"payload\" with '==' padding", before)
    body = jws(A.key, new_order_url, order_payload, acme.take_nonce(), kid=A.kid)
    body["header"] = {"kid": A.kid}
    expect_problem(acme.send(new_order_url, body), 400, "malformed", "an unprotected \"header\" member", before)
    r = acme.send(new_order_url, b'{"protected": "e30", "payload": ')
    expect_problem(r, 400, "malformed", "a body that is not JSON", before)
    body = jws(A.key, new_order_url, order_payload, acme.take_nonce(), kid=A.kid, signer=A.key.sign_der)
    expect_problem(acme.send(new_order_url, body), 400, "malformed",
                   "an ES256 signature in DER instead of raw r||s", before)

    # Algorithms (RFC 8555 §6.2: badSignatureAlgorithm with an "algorithms" list).
    for alg, signer in (("none", lambda data: b"\0" * 8),
                        ("HS256", lambda data: hmac.new(b"k" * 32, data, hashlib.sha256).digest()),
                        ("RS1", lambda data: b"\1" * 256)):
        body = jws(A.key, new_order_url, order_payload, acme.take_nonce(), kid=A.kid, alg=alg, signer=signer)
        doc = expect_problem(acme.send(new_order_url, body), 400, "badSignatureAlgorithm",
                             f"alg {alg}", before)
        algs = doc.get("algorithms")
        if not isinstance(algs, list) or "ES256" not in algs:
            defect(f"alg {alg}: the badSignatureAlgorithm problem has no \"algorithms\" list with ES256 "
                   f"(RFC 8555 §6.2 MUST): {doc}")
    body = jws(A.key, new_order_url, order_payload, acme.take_nonce(), kid=A.kid, alg="none")
    body["signature"] = ""  # an Unsecured JWS (RFC 7515 §A.5) has an empty signature
    r = acme.send(new_order_url, body)
    doc = expect_problem(r, 400, ("badSignatureAlgorithm", "malformed"),
                         "alg none with the empty signature of an Unsecured JWS", before)
    if doc.get("type") == ERR + "malformed":
        note("alg none with an empty signature is refused as malformed (\"signature\" is empty), "
             "not badSignatureAlgorithm: parse_jws_request checks the signature before the alg")
    body = jws(A.key, new_order_url, order_payload, acme.take_nonce(), kid=A.kid, alg="ES384")
    expect_problem(acme.send(new_order_url, body), 400, ("badSignatureAlgorithm",),
                   "alg ES384 with a P-256 account key", before)

    body = jws(A.key, new_order_url, order_payload, acme.take_nonce(), kid=A.kid, header={"jwk": A.key.jwk})
    expect_problem(acme.send(new_order_url, body), 400, "malformed", "both jwk and kid", before)
    body = jws(A.key, new_order_url, order_payload, acme.take_nonce(), kid=A.kid, header={"crit": ["exp"], "exp": 1})
    expect_problem(acme.send(new_order_url, body), 400, "malformed", "a crit header", before)
    body = jws(A.key, new_order_url, order_payload, acme.take_nonce())
    expect_problem(acme.send(new_order_url, body), 400, "malformed", "newOrder signed with jwk, not kid", before)
    body = jws(A.key, acme.dir["newAccount"], {"termsOfServiceAgreed": True}, acme.take_nonce(), kid=A.kid)
    expect_problem(acme.send(acme.dir["newAccount"], body), 400, "malformed", "newAccount signed with kid", before)

    body = jws(A.key, new_order_url, order_payload, acme.take_nonce(), kid=A.kid)
    r = acme.send(new_order_url, body, ctype="application/json")
    expect_problem(r, 415, "malformed", "Content-Type application/json", before)
    for url, what in ((acme.dir["newAccount"], "newAccount"), (new_order_url, "newOrder"),
                      (s["order1"], "an order"), (s["cert_url"], "a certificate")):
        r = request("GET", url)
        expect_problem(r, 405, "malformed", f"GET on {what} (POST-only)", before)
        if "POST" not in (r.h("allow") or ""):
            defect(f"405 for GET {what} has no Allow: POST header: {r.headers}")

    # Over 64 KiB: refused by the HTTP layer (413, its own problem type) with the default
    # server.max_body_bytes; phase 3 raises that and checks the JWS layer's own cap.
    big = dict(order_payload, pad="A" * (70 * 1024))
    body = jws(A.key, new_order_url, big, acme.take_nonce(), kid=A.kid)
    try:
        r = acme.send(new_order_url, body)
        doc = expect_problem(r, (413, 400), ("malformed", "urn:herald:problem:request-too-large"),
                             f"a {len(json.dumps(body)) // 1024} KiB request", before, check_nonce=False)
    except (ConnectionError, http.client.HTTPException) as e:
        defect(f"a 70 KiB request: the connection broke instead of a problem answer: {e!r}")
        expect_unchanged(before, "a 70 KiB request")

    print("\n== 2b. accounts and their isolation", flush=True)
    before = snapshot()
    r = acme.post(B.kid, {"contact": ["mailto:evil@example.internal"]}, A.key, kid=B.kid)
    expect_problem(r, 403, "unauthorized", "account update with B's kid signed by A's key", before)
    r = acme.post(new_order_url, order_payload, A.key, kid=B.kid)
    expect_problem(r, 403, "unauthorized", "newOrder with B's kid signed by A's key", before)
    r = acme.post(new_order_url, order_payload, A.key, kid=A.kid.rsplit("/", 1)[0] + "/" + b64u(secrets.token_bytes(16)))
    expect_problem(r, 400, "accountDoesNotExist", "newOrder with the kid of no account", before)

    pend = s["pending_order_json"]
    pend_authz = pend["authorizations"][0]
    pend_chall = need_status(A.post(acme, pend_authz), 200, "authz of the pending order")["challenges"][0]["url"]
    base = DIRECTORY.rsplit("/", 1)[0]
    nobody = b64u(secrets.token_bytes(16))
    docs = {}
    for url, payload, what in ((s["order1"], None, "A's order"),
                               (base + "/order/" + nobody, None, "an order that does not exist"),
                               (pend_authz, None, "A's authorization"),
                               (base + "/authz/" + nobody, None, "an authorization that does not exist"),
                               (pend_chall, {}, "A's pending challenge, POST {}"),
                               (pend["finalize"], {"csr": make_csr(["web.acme.internal", "10.20.30.40"])[1]},
                                "finalize A's order"),
                               (s["cert_url"], None, "A's certificate")):
        docs[what] = expect_problem(B.post(acme, url, payload), 404, "malformed", f"B asks for {what}", before)
    a_pend = need_status(A.post(acme, pend_authz), 200, "authz of the pending order")
    if a_pend["status"] != "pending":
        defect(f"B's POST to A's challenge changed A's authorization: {a_pend['status']}")
    expect_problem(B.post(acme, A.kid), 403, "unauthorized", "B reads A's account", before)
    expect_problem(B.post(acme, A.kid, {"status": "deactivated"}), 403, "unauthorized",
                   "B deactivates A's account", before)
    expect_problem(B.post(acme, A.kid + "/orders"), 403, "unauthorized", "B lists A's orders", before)
    cert_der = x509.load_pem_x509_certificate(s["cert_pem"].encode()).public_bytes(serialization.Encoding.DER)
    expect_problem(B.post(acme, acme.dir["revokeCert"], {"certificate": b64u(cert_der)}), 403, "unauthorized",
                   "B revokes A's certificate (kid)", before)

    print("\n== 2c. orders, finalize, identifiers", flush=True)
    expect_problem(A.post(acme, pend["finalize"], {"csr": make_csr(["web.acme.internal", "10.20.30.40"])[1]}),
                   403, "orderNotReady", "finalize a pending order", before)
    validate_all(acme, A, neg_order)
    o = need_status(A.post(acme, neg_order_url), 200, "order")
    if o["status"] != "ready":
        die(f"the neg order is {o['status']}, not ready")
    before = snapshot()
    for names, what in ((["neg.acme.internal", "extra.acme.internal"], "an extra DNS name"),
                        (["neg.acme.internal", "10.1.1.1"], "an extra IP"),
                        (["other.acme.internal"], "another name instead")):
        expect_problem(A.post(acme, o["finalize"], {"csr": make_csr(names)[1]}), 400, "badCSR",
                       f"finalize with a CSR naming {what}", before)
    expect_problem(A.post(acme, o["finalize"], {"csr": "AAAA"}), 400, "badCSR",
                   "finalize with a CSR that is not DER", before)
    expect_problem(A.post(acme, o["finalize"], {"csr": "not base64url!"}), 400, ("badCSR", "malformed"),
                   "finalize with a csr that is not base64url", before)
    o2 = need_status(A.post(acme, neg_order_url), 200, "order")
    if o2["status"] != "ready":
        defect(f"the order is {o2['status']} after refused finalize requests, not ready")
    for ids, typ, what in (([{"type": "email", "value": "a@example.internal"}], "unsupportedIdentifier",
                            "an email identifier"),
                           ([{"type": "dns", "value": "ok.acme.internal"}, {"type": "email", "value": "a@b.c"}],
                            "unsupportedIdentifier", "a dns and an email identifier"),
                           ([{"type": "dns", "value": "bad..name.internal"}], "rejectedIdentifier",
                            "DNS name bad..name.internal"),
                           ([{"type": "dns", "value": "ex ample.internal"}], "rejectedIdentifier",
                            "DNS name with a space"),
                           ([{"type": "dns", "value": "-lead.internal"}], "rejectedIdentifier",
                            "DNS label with a leading hyphen"),
                           ([{"type": "dns", "value": "a" * 64 + ".internal"}], "rejectedIdentifier",
                            "DNS label of 64 characters"),
                           ([{"type": "ip", "value": "10.0.0.256"}], "rejectedIdentifier", "IP 10.0.0.256")):
        expect_problem(A.post(acme, new_order_url, {"identifiers": ids}), 400, typ, f"newOrder for {what}", before)
    expect_problem(A.post(acme, new_order_url, {"identifiers": []}), 400, "malformed",
                   "newOrder with no identifiers", before)
    expect_problem(A.post(acme, new_order_url, {"identifiers": [{"type": "dns"}]}), 400, "malformed",
                   "newOrder with an identifier without value", before)

    print("\n== 2d. deactivation", flush=True)
    Dd = new_account(acme, contact=("mailto:d@example.internal",))
    before = snapshot()
    r = Dd.post(acme, Dd.kid, {"status": "deactivated"})
    if not expect_status(r, 200, "deactivate an account") or (r.json() or {}).get("status") != "deactivated":
        defect(f"deactivation answer: {r.describe()}")
    else:
        ok("account POST {\"status\": \"deactivated\"} -> 200 deactivated")
    after = snapshot()
    changed = diff(before, after)
    if len(changed) != 1 or Dd.id not in changed[0] or \
            json.loads(after["rows"]["acme_accounts"][Dd.id])["status"] != "deactivated":
        defect(f"deactivation changed {changed}")
    before = after
    # RFC 8555 §7.3.6: "If a server receives a POST or POST-as-GET from a deactivated
    # account, it MUST return an error response with status code 401 (Unauthorized)
    # and type urn:ietf:params:acme:error:unauthorized."
    expect_problem(Dd.post(acme, Dd.kid), 401, "unauthorized", "POST-as-GET from a deactivated account", before)
    expect_problem(Dd.post(acme, new_order_url, order_payload), 401, "unauthorized",
                   "newOrder from a deactivated account", before)
    expect_problem(Dd.post(acme, Dd.kid, {"status": "valid"}), 401, "unauthorized",
                   "reactivation attempt", before)
    expect_problem(acme.post(acme.dir["newAccount"], {"onlyReturnExisting": True}, Dd.key), 401, "unauthorized",
                   "newAccount onlyReturnExisting with a deactivated account's key", before)

    # An authorization (RFC 8555 §7.5.2): deactivating it invalidates its order,
    # in one transaction; a second deactivation is refused and changes nothing.
    Z = new_account(acme, contact=("mailto:z@example.internal",))
    z_url, z_order = new_order(acme, Z, [("dns", "z1.acme.internal"), ("dns", "z2.acme.internal")],
                               "order with two authorizations")
    az = z_order["authorizations"][0]
    r = Z.post(acme, az, {"status": "deactivated"})
    if not expect_status(r, 200, "deactivate a pending authorization") or \
            (r.json() or {}).get("status") != "deactivated":
        defect(f"authorization deactivation answer: {r.describe()}")
    o = need_status(Z.post(acme, z_url), 200, "order POST-as-GET after deactivating its authorization")
    if o.get("status") != "invalid":
        defect(f"the order is {o.get('status')} after one of its authorizations was deactivated, not invalid")
    else:
        ok("authorization deactivated -> its order is invalid")
    before = snapshot()
    expect_problem(Z.post(acme, az, {"status": "deactivated"}), 400, "malformed",
                   "deactivating a deactivated authorization", before)
    expect_problem(Z.post(acme, az, {"status": "valid"}), 400, "malformed",
                   "an authorization POST asking for another status", before)
    expect_problem(A.post(acme, z_order["authorizations"][1], {"status": "deactivated"}), 404, "malformed",
                   "another account deactivating Z's authorization", before)

    print("\n== 2e. keyChange (RFC 8555 §7.3.5)", flush=True)
    K = new_account(acme, contact=("mailto:k@example.internal",))
    new_key = Key()
    kc = acme.dir["keyChange"]

    def key_change(inner_key=new_key, inner_url=kc, account=None, old=None, inner_nonce=None,
                   inner_signer=None, inner_jwk=None):
        hdr = {"alg": "ES256", "jwk": inner_jwk or inner_key.jwk, "url": inner_url}
        if inner_nonce:
            hdr["nonce"] = inner_nonce
        p = b64u_json(hdr)
        pl = b64u_json({"account": account or K.kid, "oldKey": old or K.key.jwk})
        sig = (inner_signer or inner_key.sign)(f"{p}.{pl}".encode())
        inner = {"protected": p, "payload": pl, "signature": b64u(sig)}
        return K.post(acme, kc, inner)

    before = snapshot()
    expect_problem(key_change(inner_nonce=acme.fresh_nonce()), 400, "malformed", "inner JWS with a nonce", before)
    expect_problem(key_change(inner_url=acme.dir["newAccount"]), 400, ("malformed", "unauthorized"),
                   "inner JWS url differs from the outer one", before)
    expect_problem(key_change(old=Key().jwk), 403, "unauthorized", "oldKey is not the account's key", before)
    expect_problem(key_change(account=B.kid), 403, "unauthorized", "\"account\" is another account", before)
    expect_problem(key_change(inner_signer=Key().sign), 403, "unauthorized",
                   "inner JWS not signed by its jwk", before)
    r = key_change(inner_key=B.key)
    expect_problem(r, 409, "malformed", "new key already used by account B", before)
    if r.h("location") != B.kid:
        defect(f"keyChange to B's key: 409 without B's account URL in Location (RFC 8555 §7.3.5): {r.headers}")
    r = key_change()
    if expect_status(r, 200, "keyChange"):
        ok("keyChange -> 200")
    after = snapshot()
    changed = diff(before, after)
    if len(changed) != 1 or K.id not in changed[0] or \
            json.loads(after["rows"]["acme_accounts"][K.id])["jwk"] != new_key.jwk:
        defect(f"keyChange changed {changed}")
    before = after
    expect_problem(K.post(acme, K.kid), 403, "unauthorized", "the old key after keyChange", before)
    r = acme.post(K.kid, None, new_key, kid=K.kid)
    if expect_status(r, 200, "the new key after keyChange"):
        ok("the new key after keyChange -> 200")
    r = acme.post(acme.dir["newAccount"], {"onlyReturnExisting": True}, new_key)
    if r.status == 200 and r.h("location") == K.kid:
        ok("onlyReturnExisting with the new key -> 200, the account's URL")
    else:
        defect(f"onlyReturnExisting with the new key: {r.describe()}")
    expect_problem(acme.post(acme.dir["newAccount"], {"onlyReturnExisting": True}, K.key), 400,
                   "accountDoesNotExist", "onlyReturnExisting with the old key", before)

    print("\n== 2f. revokeCert (RFC 8555 §7.6)", flush=True)
    cert_key = Key.load(open(os.path.join(OUT, "acme.leaf.key")).read())
    rv = acme.dir["revokeCert"]
    cert_b64 = b64u(cert_der)
    before = snapshot()
    expect_problem(acme.post(rv, {"certificate": cert_b64, "reason": 2}, cert_key), 400, "badRevocationReason",
                   "revokeCert with reason 2 (cACompromise)", before)
    expect_problem(acme.post(rv, {"certificate": cert_b64, "reason": 7}, cert_key), 400, "badRevocationReason",
                   "revokeCert with reason 7 (unassigned)", before)
    expect_problem(acme.post(rv, {"certificate": cert_b64}, Key()), 403, "unauthorized",
                   "revokeCert signed by a key that is not the certificate's", before)
    r = acme.post(rv, {"certificate": cert_b64, "reason": 4}, cert_key)
    if expect_status(r, 200, "revokeCert signed by the certificate's key"):
        ok("revokeCert signed by the certificate's own key (jwk) -> 200")
    after = snapshot()
    changed = diff(before, after)
    serial = s["serial"].lstrip("0")
    rows = {k.lstrip("0").upper(): v for k, v in after["rows"]["certificates"].items()}
    if len(changed) != 1 or rows.get(serial.upper()) != "revoked 4":
        defect(f"revokeCert changed {changed}; the certificate's row: {rows.get(serial.upper())}")
    before = after
    expect_problem(acme.post(rv, {"certificate": cert_b64}, cert_key), 400, "alreadyRevoked",
                   "revokeCert a second time (certificate key)", before)
    expect_problem(A.post(acme, rv, {"certificate": cert_b64}), 400, "alreadyRevoked",
                   "revokeCert a second time (the account)", before)
    r = request("GET", acme.dir["renewalInfo"] + "/" + s["cert_id"])
    ri = r.json() or {}
    try:
        end = parse_time(ri["suggestedWindow"]["end"])
        if end <= datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5):
            ok("renewalInfo of the revoked certificate suggests renewing now")
        else:
            defect(f"renewalInfo of a revoked certificate suggests a window ending {end}")
    except (KeyError, TypeError, ValueError):
        defect(f"renewalInfo of the revoked certificate: {r.describe()}")

    s["last_nonce"] = acme.take_nonce()
    save_state(s)


# ================================================================== 3. rate limit (second start)

def phase_ratelimit():
    s = load_state()
    A = s["A"]
    acme = Acme()
    url = acme.dir["newOrder"]
    print("== 3. after a restart with orders_per_account_per_hour = 3", flush=True)
    before = snapshot()
    body = jws(A.key, url, {"identifiers": [{"type": "dns", "value": "x.acme.internal"}]}, s["last_nonce"], kid=A.kid)
    r = acme.send(url, body)
    expect_problem(r, 400, "badNonce", "a nonce issued before the restart", before)
    r = acme.send(url, jws(A.key, url, {"identifiers": [{"type": "dns", "value": "x.acme.internal"}]},
                           r.h("replay-nonce"), kid=A.kid))
    doc = expect_problem(r, 429, "rateLimited", "account A (3 orders this hour) after the restart", before)
    if not r.h("retry-after"):
        defect("429 rateLimited without Retry-After")

    big = {"identifiers": [{"type": "dns", "value": "x.acme.internal"}], "pad": "A" * (70 * 1024)}
    expect_problem(A.post(acme, url, big), 400, "malformed",
                   "a 94 KiB JWS (server.max_body_bytes = 1 MiB): the JWS layer's 64 KiB cap", before)

    R = new_account(acme, contact=("mailto:r@example.internal",))
    for i in range(3):
        new_order(acme, R, [("dns", f"rl{i}.acme.internal")], f"order {i + 1} of 3")
    ok("3 orders -> 201")
    before = snapshot()
    r = R.post(acme, url, {"identifiers": [{"type": "dns", "value": "rl3.acme.internal"}]})
    expect_problem(r, 429, "rateLimited", "the 4th newOrder within the hour", before)
    ra = r.h("retry-after")
    if not ra or not ra.isdigit() or int(ra) <= 0:
        defect(f"429 rateLimited: Retry-After {ra!r}, expected a positive number of seconds")
    else:
        ok(f"Retry-After: {ra}")
    # Other requests of the account still work.
    need_status(R.post(acme, R.kid), 200, "account POST-as-GET while rate limited")

    # orders_per_identifier_per_hour = 2 counts every account's orders, in the store.
    Q = [new_account(acme, contact=(f"mailto:q{i}@example.internal",)) for i in range(3)]
    for i in range(2):
        new_order(acme, Q[i], [("dns", "shared.acme.internal")], f"account Q{i + 1}: shared.acme.internal")
    before = snapshot()
    r = Q[2].post(acme, url, {"identifiers": [{"type": "dns", "value": "shared.acme.internal"}]})
    doc = expect_problem(r, 429, "rateLimited", "a 3rd order for shared.acme.internal, from a 3rd account", before)
    ra = r.h("retry-after")
    if "shared.acme.internal" not in doc.get("detail", ""):
        defect(f"the per-identifier refusal does not name the identifier: {doc}")
    elif not ra or not ra.isdigit() or not 0 < int(ra) <= 3600:
        defect(f"per-identifier 429: Retry-After {ra!r}, expected 1..3600 seconds")
    else:
        ok(f"per-identifier limit: {doc['detail']} (Retry-After: {ra})")
    new_order(acme, Q[2], [("dns", "other.acme.internal")], "account Q3, another identifier")


{"happy": phase_happy, "negative": phase_negative, "ratelimit": phase_ratelimit}[PHASE]()
with open(os.path.join(OUT, "defects." + PHASE), "w") as f:
    f.write("".join(d + "\n" for d in DEFECTS))
PYEOF

# run_phase PHASE: the Python program's phase; its defects join the run's.
run_phase() {
  ACME_OUT="$T" ACME_DB="$D/herald.db" ACME_ROOT="$ROOT" ACME_DIRECTORY="$API/acme/acme/directory" \
    python3 "$T/acme_proto.py" "$1" || fail "acme_proto.py $1 stopped (see above)"
  local line
  while IFS= read -r line; do
    [[ -n $line ]] && DEFECTS+=("$line")
  done <"$T/defects.$1"
  kill -0 "$SERVE_PID" 2>/dev/null || fail "herald serve is gone after phase $1:$(printf '\n%s' "$(tail -20 "$SERVE_LOG")")"
}

T0=$(now_us)
step "a hierarchy and the server, challenges valid when POSTed"
serve_init "$T/d"
D="$T/d"
set_acme_option "$D" insecure_skip_validation true
serve_start "$D"

run_phase happy

step "the ACME certificate: openssl verify, herald list"
openssl verify -x509_strict -CAfile "$ROOT" -untrusted "$T/acme.intermediates.pem" -purpose sslserver \
  -verify_hostname web.acme.internal "$T/acme.leaf.pem" >/dev/null ||
  fail "openssl verify rejects the ACME certificate"
openssl verify -x509_strict -CAfile "$ROOT" -untrusted "$T/acme.intermediates.pem" -purpose sslserver \
  -verify_ip 10.20.30.40 "$T/acme.leaf.pem" >/dev/null ||
  fail "openssl verify rejects the ACME certificate for 10.20.30.40"
ok "openssl verify -CAfile root -untrusted chain: OK (web.acme.internal, 10.20.30.40)"
acct_id=$(cat "$T/acme.account_id")
serial=$(cert_serial "$T/acme.leaf.pem")
"$HERALD" list --dir "$D" --owner "acme_account=$acct_id" --json >"$T/list.json" || fail "herald list failed"
python3 - "$T/list.json" "$serial" "$acct_id" <<'EOF' || fail "herald list does not show the ACME certificate with owner acme_account=$acct_id: $(head -c 2000 "$T/list.json")"
import json, sys
rows, serial, acct = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
norm = lambda s: s.replace(":", "").upper().lstrip("0")
hits = [r for r in rows if norm(str(r.get("serial", ""))) == serial]
assert len(hits) == 1, f"{len(hits)} rows for {serial}"
owner = hits[0].get("owner") or {}
assert owner.get("acme_account") == acct, owner
print(f"   ok: herald list --owner acme_account={acct}: {serial}, owner {owner}")
EOF

run_phase negative

step "restart with orders_per_account_per_hour = 3, orders_per_identifier_per_hour = 2 and server.max_body_bytes = 1 MiB"
serve_stop
[[ $SERVE_RC == 0 ]] || fail "herald serve exited $SERVE_RC on SIGTERM"
set_acme_option "$D" orders_per_account_per_hour 3
set_acme_option "$D" orders_per_identifier_per_hour 2
set_server_option "$D" max_body_bytes 1048576
serve_start "$D"

run_phase ratelimit

serve_stop
[[ $SERVE_RC == 0 ]] || fail "herald serve exited $SERVE_RC on SIGTERM"
if grep -qE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$T"/serve.*.log; then
  fail "sanitizer report in the server log:$(printf '\n%s' "$(grep -hE -A20 'AddressSanitizer|runtime error:|LeakSanitizer' "$T"/serve.*.log | head -60)")"
fi
end_defects
step "PASS acme_protocol ($(secs $(($(now_us) - T0))) s)"
