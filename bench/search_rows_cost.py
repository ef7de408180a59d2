#!/usr/bin/env python3
"""The insert cost of the search rows (migrations 15 and 18: keyed by name
or label, then issued_at, so a new certificate's rows append), at the size of a given
inventory: the statements SqliteInventory::insert_one runs for one
certificate (the row, its audit entry) without (A) and with (B) its
cert_names and cert_labels rows, A and B alternated in one run.
Usage: bench/search_rows_cost.py DB [ROUNDS] [N] [BATCH]   (BATCH certificates a
transaction; 1 = a commit (fsync) each, as one issuance at a time; ONLY=names
or ONLY=labels writes only those rows in B). DB: e.g. the inventory
bench/dashboard_bench.sh KEEP=1 leaves (its rows go into it)."""
import os, random, sqlite3, statistics, sys, time

db, rounds, n, batch = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 6, \
    int(sys.argv[3]) if len(sys.argv) > 3 else 2000, int(sys.argv[4]) if len(sys.argv) > 4 else 1
c = sqlite3.connect(db, isolation_level=None)
for p in ("journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON", "cache_size = -65536"):
    c.execute("PRAGMA " + p)
der = c.execute("SELECT der FROM certificates LIMIT 1").fetchone()[0]
cols = ("serial, issuer_serial, subject, common_name, sans, issuer, not_before, not_after, "
        "key_algorithm, key_bits, signature_algorithm, eku, profile, fingerprint_sha256, owner, "
        "status, revoked_at, revocation_reason, issued_at, der")
ins = f"INSERT INTO certificates ({cols}) VALUES ({','.join('?' * 20)})"
now = int(time.time())

def keys(name):
    out = [name] + [name[i + 1:] for i, ch in enumerate(name[:-1]) if ch in ".@/:"]
    return out

def one(search):
    mode = os.environ.get("ONLY", "")
    i = random.randrange(10**9)
    serial_bytes = os.urandom(16)  # the search rows' form (migration 19)
    serial = serial_bytes.hex().upper()
    names = [f"bench-{i}.team-{i % 50}.internal", f"bench-{i}.internal"]
    sans = '["' + '","'.join("dns:" + x for x in names) + '"]'
    owner = {"provisioner": "admin", "team": f"t{i % 50}"}
    na = now + random.randrange(365 * 86400)
    c.execute(ins, (serial, "01", "CN=" + names[0], names[0], sans, "CN=Issuing", now, na,
                    "ec-p256", 256, "ecdsa-with-SHA256", '["serverAuth"]', "server",
                    os.urandom(32), '{"provisioner":"admin","team":"t%d"}' % (i % 50),
                    "valid", None, None, now, der))
    if search:
        for k in (sorted({k for x in names for k in keys(x)}) if mode != "labels" else []):
            c.execute("INSERT INTO cert_names (name, issued_at, serial) VALUES (?, ?, ?)",
                      (k, now, serial_bytes))
        for k, v in (owner.items() if mode != "names" else []):
            c.execute("INSERT INTO cert_labels (key, value, issued_at, serial) VALUES (?, ?, ?, ?)",
                      (k, v, now, serial_bytes))
    c.execute("INSERT INTO audit_log (at, action, serial, detail) VALUES (?, 'issue', ?, ?)",
              (now, serial, '{"profile":"server"}'))

res = {False: [], True: []}
for r in range(rounds):
    for search in ((False, True) if r % 2 == 0 else (True, False)):
        t0 = time.perf_counter()
        for b in range(0, n, batch):
            c.execute("BEGIN IMMEDIATE")
            for _ in range(min(batch, n - b)):
                one(search)
            c.execute("COMMIT")
        res[search].append((time.perf_counter() - t0) / n * 1e6)
total = c.execute("SELECT count(*) FROM certificates").fetchone()[0]
print(f"{total} certificates, {n} inserts per arm and round, {batch} per transaction, {rounds} rounds")
for search, label in ((False, "A: row + audit"), (True, "B: + names/labels")):
    t = res[search]
    print(f"{label:22} us/cert median {statistics.median(t):8.1f}  min {min(t):8.1f}  max {max(t):8.1f}  "
          f"({', '.join(f'{x:.0f}' for x in t)})")
a, b = statistics.median(res[False]), statistics.median(res[True])
print(f"B - A: {b - a:+.1f} us/cert ({(b - a) / a * 100:+.1f} %)")
