#!/usr/bin/env python3
"""A webhook receiver for tests/integration/alerts.sh, on 127.0.0.1.

usage: webhook_receiver.py PORT_FILE LOG SECRETS_JSON [CERT KEY]

SECRETS_JSON maps a path ("/ops") to the HMAC secret its deliveries are
signed with. Each request is checked as docs/operations.md tells a
receiver to: X-Herald-Timestamp is unix seconds within 5 minutes of now,
and X-Herald-Signature is "sha256=" + hex HMAC-SHA256 of
timestamp + "." + body, compared in constant time. Each request is appended
to LOG as one JSON line: path, delivery key, attempt, whether the signature
verified, the status answered, and the body. With CERT and KEY (PEM) it
serves HTTPS. Paths behave as follows:
  /flaky*   fails (503) the first two attempts of each delivery
  /dead*    always fails (500)
  /hold*    fails (503) while the file named by $WEBHOOK_HOLD_FILE exists
  other     204
"""
import hashlib
import hmac
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port_file, log_path, secrets_path = sys.argv[1:4]
tls_files = sys.argv[4:6]
TOLERANCE = 300
HOLD_FILE = os.environ.get("WEBHOOK_HOLD_FILE", "/nonexistent")
SECRETS = json.load(open(secrets_path))
seen = {}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        secret = SECRETS.get(self.path, "").encode()
        ts = self.headers.get("X-Herald-Timestamp", "")
        fresh = ts.isdigit() and abs(time.time() - int(ts)) <= TOLERANCE
        want = "sha256=" + hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        got = self.headers.get("X-Herald-Signature", "")
        sig_ok = bool(secret) and fresh and hmac.compare_digest(want, got)
        key = self.headers.get("X-Herald-Delivery", "")
        with lock:
            count = seen.get((self.path, key), 0) + 1
            seen[(self.path, key)] = count
            if not sig_ok:
                status = 401
            elif self.path.startswith("/flaky") and count <= 2:
                status = 503
            elif self.path.startswith("/dead"):
                status = 500
            elif self.path.startswith("/hold") and os.path.exists(HOLD_FILE):
                status = 503
            else:
                status = 204
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
            with open(log_path, "a") as f:
                f.write(json.dumps({"path": self.path, "key": key,
                                    "attempt": self.headers.get("X-Herald-Attempt"),
                                    "timestamp": self.headers.get("X-Herald-Timestamp"),
                                    "sig_ok": sig_ok, "status": status,
                                    "body": payload}) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
if tls_files:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls_files[0], tls_files[1])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
