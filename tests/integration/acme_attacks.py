# The ACME attacks of issue 9 (items 3, 7, 8, 13), each performed against a
# running `herald serve` with real validation; run by acme_attacks.sh:
#   acme_attacks.py main       SSRF through http-01 redirects, echoed bodies,
#                              metadata identifiers, finalize with the account
#                              key, identifiers per order, pending orders per
#                              account, validation fairness (a tarpit), purge
#   acme_attacks.py accounts   newAccount flood from one address
# Environment: ACME_DIRECTORY, ACME_ROOT, ACME_DB, ACME_OUT, H01 (the http-01
# port the validator dials), MAX_IDS, MAX_PENDING, NEW_ACCOUNTS, TIMEOUT_S.
# A refusal must be an RFC 8555 problem that changed nothing in the store
# (accounts, orders, authorizations, certificates); defects (the run goes on)
# land in $ACME_OUT/defects.PHASE.
import base64, hashlib, http.client, http.server, ipaddress, json, os, socket, ssl
import subprocess, sys, threading, time, urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.x509.oid import NameOID

PHASE = sys.argv[1]
OUT = os.environ["ACME_OUT"]
DB = os.environ["ACME_DB"]
DIRECTORY = os.environ["ACME_DIRECTORY"]
CTX = ssl.create_default_context(cafile=os.environ["ACME_ROOT"])
H01 = int(os.environ.get("H01", "0"))
MAX_IDS = int(os.environ.get("MAX_IDS", "10"))
MAX_PENDING = int(os.environ.get("MAX_PENDING", "5"))
NEW_ACCOUNTS = int(os.environ.get("NEW_ACCOUNTS", "3"))
TIMEOUT_S = float(os.environ.get("TIMEOUT_S", "2"))
ERR = "urn:ietf:params:acme:error:"
DEFECTS = []
SECRET = "INTERNAL-SECRET-7f3a9c"


def ok(msg):
    print("   ok: " + msg, flush=True)


def die(msg):
    print("FAIL: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def defect(msg):
    print("   DEFECT: " + msg, flush=True)
    DEFECTS.append(msg.replace("\n", " | "))


def b64u(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


# ------------------------------------------------------------------ JWS client

class Key:
    def __init__(self):
        self.priv = ec.generate_private_key(ec.SECP256R1())
        n = self.priv.public_key().public_numbers()
        self.jwk = {"crv": "P-256", "kty": "EC",
                    "x": b64u(n.x.to_bytes(32, "big")), "y": b64u(n.y.to_bytes(32, "big"))}

    def sign(self, data):
        r, s = utils.decode_dss_signature(self.priv.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def thumbprint(self):
        canon = json.dumps({k: self.jwk[k] for k in ("crv", "kty", "x", "y")},
                           separators=(",", ":"), sort_keys=True)
        return b64u(hashlib.sha256(canon.encode()).digest())


class Resp:
    def __init__(self, method, url, status, headers, body):
        self.method, self.url, self.status, self.headers, self.body = method, url, status, headers, body

    def h(self, name):
        return self.headers.get(name)

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def describe(self):
        return (f"{self.method} {urllib.parse.urlsplit(self.url).path} -> HTTP {self.status} "
                f"{self.body[:500].decode('utf-8', 'replace')}")


def request(method, url, body=None, ctype=None):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPSConnection(u.hostname, u.port, context=CTX, timeout=60)
    hdrs = {"Content-Type": ctype} if ctype else {}
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    try:
        conn.request(method, u.path, body=body, headers=hdrs)
        r = conn.getresponse()
        return Resp(method, url, r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


class Acme:
    def __init__(self):
        r = request("GET", DIRECTORY)
        if r.status != 200:
            die("directory: " + r.describe())
        self.dir = r.json()
        self.nonce = None

    def post(self, url, payload, key, kid=None):
        nonce, self.nonce = self.nonce, None
        if not nonce:
            nonce = request("HEAD", self.dir["newNonce"]).h("replay-nonce")
        h = {"alg": "ES256", "nonce": nonce, "url": url}
        if kid:
            h["kid"] = kid
        else:
            h["jwk"] = key.jwk
        p = b64u(json.dumps(h).encode())
        pl = "" if payload is None else b64u(json.dumps(payload).encode())
        body = {"protected": p, "payload": pl, "signature": b64u(key.sign(f"{p}.{pl}".encode()))}
        r = request("POST", url, body, "application/jose+json")
        if r.h("replay-nonce"):
            self.nonce = r.h("replay-nonce")
        if r.status == 400 and (r.json() or {}).get("type") == ERR + "badNonce":
            return self.post(url, payload, key, kid)
        return r


class Account:
    def __init__(self, acme, key, kid):
        self.acme, self.key, self.kid = acme, key, kid

    @property
    def id(self):
        return self.kid.rsplit("/", 1)[1]

    def post(self, url, payload=None):
        return self.acme.post(url, payload, self.key, kid=self.kid)

    def key_authorization(self, token):
        return token + "." + self.key.thumbprint()


def new_account(acme, key=None):
    key = key or Key()
    r = acme.post(acme.dir["newAccount"], {"termsOfServiceAgreed": True}, key)
    if r.status != 201 or not r.h("location"):
        die("newAccount: " + r.describe())
    return Account(acme, key, r.h("location"))


def new_order(acct, idents, what):
    r = acct.post(acct.acme.dir["newOrder"],
                  {"identifiers": [{"type": t, "value": v} for t, v in idents]})
    if r.status != 201 or not r.h("location"):
        die(f"{what}: newOrder: {r.describe()}")
    return r.h("location"), r.json()


def need(r, status, what):
    if r.status != status:
        die(f"{what}: expected HTTP {status}: {r.describe()}")
    return r.json()


def make_csr(names, key=None):
    key = key or ec.generate_private_key(ec.SECP256R1())
    sans = []
    for n in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    b = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
    b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b64u(b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))


# ------------------------------------------------------------------ store snapshots

def sql(query):
    for _ in range(20):
        p = subprocess.run(["sqlite3", "-cmd", ".timeout 5000", f"file:{DB}?mode=rw", query],
                           capture_output=True, text=True)
        if p.returncode == 0:
            return p.stdout
        time.sleep(0.1)
    die(f"sqlite3 {query!r}: {p.stderr.strip()}")


TABLES = ("acme_accounts", "acme_orders", "acme_authzs")


def snapshot():
    parts = [f"'n_{t}', (select count(*) from {t})" for t in TABLES + ("certificates",)]
    parts += [f"'{t}', (select json_group_array(json_array(id, data)) from {t})" for t in TABLES]
    doc = json.loads(sql("select json_object(" + ", ".join(parts) + ")"))
    return {"counts": {t: doc["n_" + t] for t in TABLES + ("certificates",)},
            "rows": {t: dict(json.loads(doc[t]) if isinstance(doc[t], str) else doc[t]) for t in TABLES}}


def expect_unchanged(before, what):
    after = snapshot()
    d = [f"{t}: {n} -> {after['counts'][t]} rows" for t, n in before["counts"].items()
         if after["counts"][t] != n]
    for t, rows in before["rows"].items():
        d += [f"{t} {k} changed" for k, v in after["rows"][t].items() if k in rows and rows[k] != v]
    if d:
        defect(f"{what}: the store changed: " + "; ".join(d))


def expect_problem(r, status, types, what, before=None, detail_has=()):
    types = types if isinstance(types, tuple) else (types,)
    doc = r.json() if isinstance(r.json(), dict) else {}
    bad = []
    if r.status != status:
        bad.append(f"HTTP {r.status}, expected {status}")
    if (r.h("content-type") or "").split(";")[0] != "application/problem+json":
        bad.append(f"Content-Type {r.h('content-type')!r}")
    if doc.get("type") not in tuple(ERR + t for t in types):
        bad.append(f"type {doc.get('type')!r}, expected {'/'.join(types)}")
    for text in detail_has:
        if text not in doc.get("detail", ""):
            bad.append(f"the detail does not say {text!r}")
    if bad:
        defect(f"{what}: " + "; ".join(bad) + f"\n      {r.describe()}")
    else:
        ok(f"{what} -> {r.status} {doc['type'].replace(ERR, '')} ({doc.get('detail', '')[:150]})")
    if before is not None:
        expect_unchanged(before, what)
    return doc


def still_serves(acme, acct, what):
    r = request("GET", DIRECTORY)
    r2 = acct.post(acct.kid)
    if r.status != 200 or r2.status != 200:
        defect(f"after {what} the server does not serve: {r.describe()} / {r2.describe()}")
    else:
        ok(f"after {what}: directory 200, account POST-as-GET 200")


# ------------------------------------------------------------------ peers the validator dials

class Routes(http.server.BaseHTTPRequestHandler):
    table = {}  # path -> (status, headers, body)
    hits = []

    def do_GET(self):
        self.hits.append((self.server.server_address[0], self.path))
        status, headers, body = self.table.get(self.path, (404, {}, b"not found"))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class Internal(Routes):
    """Stands for an internal service (metadata, admin) on another loopback address."""
    table, hits = {}, []

    def do_GET(self):
        self.hits.append((self.server.server_address[0], self.path))
        body = (SECRET + " aws_secret_access_key=AKIA...").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(addr, handler):
    srv = http.server.ThreadingHTTPServer((addr, H01), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


class Tarpit:
    """Accepts on ADDR:H01 and never answers; counts connections held at once."""

    def __init__(self, addrs):
        self.lock = threading.Lock()
        self.open = 0
        self.max_open = 0
        self.accepted = 0
        for a in addrs:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((a, H01))
            s.listen(64)
            threading.Thread(target=self.accept_loop, args=(s,), daemon=True).start()

    def accept_loop(self, s):
        while True:
            c, _ = s.accept()
            with self.lock:
                self.accepted += 1
                self.open += 1
                self.max_open = max(self.max_open, self.open)
            threading.Thread(target=self.hold, args=(c,), daemon=True).start()

    def hold(self, c):
        c.settimeout(60)
        try:
            while c.recv(4096):  # read the request, answer nothing, until the validator gives up
                pass
        except OSError:
            pass
        with self.lock:
            self.open -= 1
        c.close()


def challenge(acct, authz_url, kind="http-01"):
    a = need(acct.post(authz_url), 200, "authz POST-as-GET")
    ch = next(c for c in a["challenges"] if c["type"] == kind)
    return a, ch


def wait_authz(acct, authz_url, seconds):
    """Polls until the authorization is no longer pending; returns it (or the last seen)."""
    end = time.time() + seconds
    while True:
        a = need(acct.post(authz_url), 200, "authz poll")
        if a["status"] != "pending" or time.time() > end:
            return a
        time.sleep(0.1)


def http01_order(acct, ip, route, what):
    """An order for `ip`; `route(token, key_authorization)` -> (status, headers, body) is what
    the responder on 127.0.0.1 answers; the http-01 challenge is started."""
    order_url, order = new_order(acct, [("ip", ip)], what)
    authz_url = order["authorizations"][0]
    _, ch = challenge(acct, authz_url)
    Routes.table["/.well-known/acme-challenge/" + ch["token"]] = route(
        ch["token"], acct.key_authorization(ch["token"]))
    need(acct.post(ch["url"], {}), 200, f"{what}: challenge POST")
    return order_url, authz_url


# ================================================================== main

def phase_main():
    acme = Acme()
    serve("127.0.0.1", Routes)
    serve("127.0.0.2", Internal)

    print("== 13. finalize with a CSR carrying the account's own key", flush=True)
    G = new_account(acme)
    order_url, authz_url = http01_order(
        G, "127.0.0.1", lambda t, ka: (200, {}, ka.encode()), "account G")
    a = wait_authz(G, authz_url, 4 * TIMEOUT_S + 10)
    if a["status"] != "valid":
        die(f"http-01 against the local responder did not validate: {a}")
    order = need(G.post(order_url), 200, "order G")
    if order["status"] != "ready":
        die(f"order G is {order['status']}, expected ready")
    before = snapshot()
    r = G.post(order["finalize"], {"csr": make_csr(["127.0.0.1"], G.key.priv)})
    expect_problem(r, 400, "badCSR", "finalize with a CSR whose key is the account key", before,
                   detail_has=("account",))
    order = need(G.post(order_url), 200, "order G after the refusal")
    if order["status"] != "ready":
        defect(f"the order is {order['status']} after the refused finalize, expected still ready")
    r = G.post(order["finalize"], {"csr": make_csr(["127.0.0.1"])})
    if r.status != 200 or (r.json() or {}).get("status") != "valid":
        defect(f"finalize with a fresh key after the refusal: {r.describe()}")
    else:
        ok("finalize with a fresh key afterwards -> 200 valid")
    still_serves(acme, G, "the account-key CSR")

    print("== 3. http-01 as an SSRF reflector", flush=True)
    E = new_account(acme)
    _, authz_url = http01_order(
        E, "127.0.0.1",
        lambda t, ka: (302, {"Location": f"http://127.0.0.2:{H01}/latest/meta-data/iam"}, b""),
        "account E (redirect to 127.0.0.2)")
    a = wait_authz(E, authz_url, 4 * TIMEOUT_S + 10)
    ch = next(c for c in a["challenges"] if c["type"] == "http-01")
    detail = (ch.get("error") or {}).get("detail", "")
    if a["status"] != "invalid" or ch["status"] != "invalid":
        defect(f"a redirect to another loopback address: authorization {a['status']}, challenge {ch}")
    elif SECRET in detail:
        defect(f"the challenge error echoes the internal service's answer: {detail}")
    elif Internal.hits:
        defect(f"the validator followed the redirect to 127.0.0.2: {Internal.hits} ({detail})")
    else:
        ok(f"redirect to 127.0.0.2 (not the identifier's address) refused without dialling it: "
           f"{ch['error']['type'].replace(ERR, '')}: {detail}")

    F = new_account(acme)
    _, authz_url = http01_order(
        F, "127.0.0.1", lambda t, ka: (200, {}, (SECRET + " not the key authorization").encode()),
        "account F (a wrong body)")
    a = wait_authz(F, authz_url, 4 * TIMEOUT_S + 10)
    ch = next(c for c in a["challenges"] if c["type"] == "http-01")
    detail = (ch.get("error") or {}).get("detail", "")
    if ch["status"] != "invalid":
        defect(f"a wrong body: challenge {ch}")
    elif SECRET in detail:
        defect(f"the challenge error echoes the response body: {detail}")
    elif "bytes" not in detail:
        defect(f"the challenge error does not say how long the body was: {detail}")
    else:
        ok(f"a wrong body is not echoed: {detail}")
    for status in (404, 500):
        _, authz_url = http01_order(
            F, "127.0.0.1", lambda t, ka: (status, {}, (SECRET + " error page").encode()),
            f"account F (HTTP {status} with a body)")
        a = wait_authz(F, authz_url, 4 * TIMEOUT_S + 10)
        ch = next(c for c in a["challenges"] if c["type"] == "http-01")
        detail = (ch.get("error") or {}).get("detail", "")
        if ch["status"] != "invalid" or SECRET in detail:
            defect(f"HTTP {status}: the challenge error echoes the body or is not invalid: {ch}")
        else:
            ok(f"HTTP {status} body not echoed: {detail}")

    for ip in ("169.254.169.254", "::ffff:169.254.169.254", "fe80::1"):
        before = snapshot()
        r = F.post(acme.dir["newOrder"], {"identifiers": [{"type": "ip", "value": ip}]})
        expect_problem(r, 400, "rejectedIdentifier", f"newOrder for {ip} (a metadata / link-local "
                       "address)", before)
    still_serves(acme, F, "the SSRF attempts")

    print("== 7. identifiers per order", flush=True)
    H = new_account(acme)
    before = snapshot()
    ids = [{"type": "dns", "value": f"n{i}.attack.internal"} for i in range(MAX_IDS + 1)]
    r = H.post(acme.dir["newOrder"], {"identifiers": ids})
    expect_problem(r, 400, ("rejectedIdentifier", "malformed"),
                   f"newOrder with {MAX_IDS + 1} identifiers (limit {MAX_IDS})", before,
                   detail_has=(str(MAX_IDS),))
    new_order(H, [(i["type"], i["value"]) for i in ids[:MAX_IDS]], f"{MAX_IDS} identifiers")
    ok(f"newOrder with {MAX_IDS} identifiers -> 201")

    print("== 8. pending orders per account", flush=True)
    # H has one pending order already.
    orders = []
    for i in range(MAX_PENDING - 1):
        orders.append(new_order(H, [("dns", f"p{i}.attack.internal")], f"pending order {i + 2}"))
    ok(f"{MAX_PENDING} pending orders -> 201")
    before = snapshot()
    r = H.post(acme.dir["newOrder"], {"identifiers": [{"type": "dns", "value": "over.attack.internal"}]})
    expect_problem(r, 429, "rateLimited", f"pending order {MAX_PENDING + 1} (limit {MAX_PENDING})",
                   before, detail_has=("pending",))
    ra = r.h("retry-after")
    if not ra or not ra.isdigit() or int(ra) <= 0:
        defect(f"429 without a positive Retry-After: {ra!r}")
    # Deactivating an authorization ends its order: room for one more.
    need(H.post(orders[0][1]["authorizations"][0], {"status": "deactivated"}), 200, "deactivate")
    r = H.post(acme.dir["newOrder"], {"identifiers": [{"type": "dns", "value": "over.attack.internal"}]})
    if r.status != 201:
        defect(f"after an order became invalid, a new order is still refused: {r.describe()}")
    else:
        ok("one order invalid (authorization deactivated) -> the next newOrder is accepted")
    still_serves(acme, H, "the pending-order flood")

    print("== 7. validation fairness: one account's tarpits do not starve another's", flush=True)
    n_tarpit = 8
    addrs = [f"127.0.0.{3 + i}" for i in range(n_tarpit)]
    pit = Tarpit(addrs)
    A = new_account(acme)
    _, order_a = new_order(A, [("ip", a) for a in addrs], "account A (tarpits)")
    a_challenges = []
    for az in order_a["authorizations"]:
        _, ch = challenge(A, az)
        a_challenges.append((az, ch))
    t0 = time.time()
    for _, ch in a_challenges:
        need(A.post(ch["url"], {}), 200, "tarpit challenge POST")
    B = new_account(acme)
    t1 = time.time()
    _, authz_b = http01_order(B, "127.0.0.1", lambda t, ka: (200, {}, ka.encode()), "account B")
    a = wait_authz(B, authz_b, n_tarpit * TIMEOUT_S + 10)
    t_b = time.time() - t1
    pending_a = sum(1 for az, _ in a_challenges if need(A.post(az), 200, "poll A")["status"] == "pending")
    print(f"   account B's http-01 became {a['status']} {t_b:.2f} s after its POST; account A: "
          f"{pending_a} of {n_tarpit} still pending, tarpit connections at once: {pit.max_open}, "
          f"{time.time() - t0:.1f} s after A's POSTs", flush=True)
    if a["status"] != "valid":
        defect(f"account B's challenge is {a['status']}")
    elif pending_a == 0:
        defect(f"account B was validated only after all {n_tarpit} of account A's tarpit challenges "
               f"({t_b:.1f} s): one FIFO for every account")
    else:
        ok(f"account B valid in {t_b:.2f} s while {pending_a} of A's tarpit challenges still wait")
    if pit.max_open > 2:
        defect(f"account A held {pit.max_open} validations at once (expected at most 2)")
    else:
        ok(f"account A never had more than {pit.max_open} validations in flight")
    still_serves(acme, B, "the tarpit")

    print("== 8. expired orders and authorizations are purged", flush=True)
    # Aged copies of G's order (created 3 days ago, expired 2 days ago), as a flood would leave them.
    now = int(time.time())
    oid = G.kid  # any; the copies take G's account
    src = sql(f"select id from acme_orders where account_id = '{G.id}' limit 1").strip()
    for i in range(3):
        sql(f"""
insert into acme_orders (id, account_id, data, created_at)
  select 'aged{i}', account_id, json_set(data, '$.expires_unix', {now - 2 * 86400},
                                         '$.status', 'pending'), {now - 3 * 86400}
  from acme_orders where id = '{src}';
insert into acme_authzs (id, order_id, data)
  select 'agedauthz{i}', 'aged{i}', json_set(data, '$.expires_unix', {now - 2 * 86400})
  from acme_authzs where order_id = '{src}' limit 1;
insert into acme_order_identifiers (identifier, order_id, created_at)
  values ('ip:127.0.0.1', 'aged{i}', {now - 3 * 86400});""")
    before_n = int(sql("select count(*) from acme_orders").strip())
    end = time.time() + 25
    left = 3
    while time.time() < end:
        left = int(sql("select (select count(*) from acme_orders where id like 'aged%') + "
                       "(select count(*) from acme_authzs where id like 'agedauthz%') + "
                       "(select count(*) from acme_order_identifiers where order_id like 'aged%')").strip())
        if left == 0:
            break
        time.sleep(0.5)
    after_n = int(sql("select count(*) from acme_orders").strip())
    if left:
        defect(f"3 orders expired two days ago (with their authorizations) are still in the store "
               f"after 25 s ({left} rows)")
    elif after_n != before_n - 3:
        defect(f"the purge removed {before_n - after_n} orders, expected exactly the 3 aged ones")
    else:
        ok(f"the 3 expired orders, their authorizations and identifiers were purged; the "
           f"{after_n} live orders stay")
    still_serves(acme, G, "the purge")
    _ = oid


# ================================================================== accounts (second start)

def phase_accounts():
    acme = Acme()
    print(f"== 8. newAccount flood from one address (limit {NEW_ACCOUNTS} per hour)", flush=True)
    made = [new_account(acme) for _ in range(NEW_ACCOUNTS)]
    ok(f"{NEW_ACCOUNTS} new accounts -> 201")
    before = snapshot()
    r = acme.post(acme.dir["newAccount"], {"termsOfServiceAgreed": True}, Key())
    expect_problem(r, 429, "rateLimited", f"new account {NEW_ACCOUNTS + 1} from 127.0.0.1", before)
    ra = r.h("retry-after")
    if not ra or not ra.isdigit() or int(ra) <= 0:
        defect(f"429 without a positive Retry-After: {ra!r}")
    else:
        ok(f"Retry-After: {ra}")
    # An existing account's key still finds its account (nothing is created).
    r = acme.post(acme.dir["newAccount"], {"termsOfServiceAgreed": True}, made[0].key)
    if r.status != 200 or r.h("location") != made[0].kid:
        defect(f"newAccount with an existing key while limited: {r.describe()}")
    else:
        ok("newAccount with an existing account's key -> 200 (not limited)")
    still_serves(acme, made[0], "the account flood")


{"main": phase_main, "accounts": phase_accounts}[PHASE]()
with open(os.path.join(OUT, "defects." + PHASE), "w") as f:
    f.write("".join(d + "\n" for d in DEFECTS))
