#!/usr/bin/env python3
"""A backend for the `herald proxy` end-to-end tests (python3 stdlib only).

HTTP mode (default), HTTP/1.1 with keep-alive, one thread per connection:
  GET  /echo               JSON {"method", "path", "headers": [[name, value], ...]}
                           (the headers exactly as received, in order, names as sent)
  GET  /count              JSON {"requests": N, "connections": M}: requests other
                           than /count, and accepted connections, since start
  POST /upload             reads a body of any size (Content-Length or chunked) in
                           chunks, keeps none of it; JSON {"bytes": N, "sha256": hex}
  GET  /download?bytes=N[&seed=S][&delay_ms=D]
                           streams N reproducible pseudo-random bytes (Content-Length
                           N, 1 MiB writes, D ms pause between writes)
  GET  /download-sha?bytes=N[&seed=S]
                           JSON {"bytes": N, "sha256": hex} of what /download sends
TCP mode (--tcp): echoes every byte back until the client half-closes, then closes.
Relay mode (--relay HOST:PORT --block-file F): forwards GET and POST to that HTTP
server (for CRLs and OCSP), except paths listed in F (one a line, read at each
request), answered 503: a test can make one CRL unreachable and keep OCSP.

--count-file F: the counts are also written to F (JSON, atomically) after every
request and connection, so a test can read them without making a request.
--port-file F: the bound port is written there once listening (use --port 0).

`python3 echo_backend.py --gen N [--seed S]` writes the /download stream to stdout
(so a test can compute its SHA-256 itself).
"""

import argparse
import hashlib
import json
import os
import random
import socket
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

BLOCK = 1 << 20


class Counts:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.requests = 0
        self.connections = 0
        self.write()

    def add(self, requests=0, connections=0):
        with self.lock:
            self.requests += requests
            self.connections += connections
            self.write()

    def snapshot(self):
        with self.lock:
            return {"requests": self.requests, "connections": self.connections}

    def write(self):
        # lock held (or single-threaded in __init__)
        if not self.path:
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"requests": self.requests, "connections": self.connections}, f)
        os.replace(tmp, self.path)


def stream(n, seed):
    """The /download bytes: a 1 MiB block from the seed, rotated per chunk."""
    block = random.Random(seed).randbytes(BLOCK)
    k = 0
    while n > 0:
        r = (k * 7919) % BLOCK
        chunk = block[r:] + block[:r]
        take = min(n, BLOCK)
        yield chunk[:take]
        n -= take
        k += 1


def stream_sha(n, seed):
    h = hashlib.sha256()
    for c in stream(n, seed):
        h.update(c)
    return h.hexdigest()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "echo-backend/1"

    def setup(self):
        super().setup()
        self.server.counts.add(connections=1)

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("echo_backend: " + (fmt % args) + "\n")

    def send_json(self, obj, status=200):
        body = (json.dumps(obj) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def query(self):
        u = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(u.query).items()}
        return u.path, q

    def count(self, path):
        if path != "/count":
            self.server.counts.add(requests=1)

    def do_GET(self):
        path, q = self.query()
        self.count(path)
        if path == "/echo":
            self.send_json({"method": "GET", "path": self.path, "headers": [[k, v] for k, v in self.headers.items()]})
        elif path == "/count":
            self.send_json(self.server.counts.snapshot())
        elif path == "/download":
            n = int(q.get("bytes", "0"))
            seed = q.get("seed", "herald")
            delay = int(q.get("delay_ms", "0")) / 1000.0
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            ev = threading.Event()
            for c in stream(n, seed):
                self.wfile.write(c)
                if delay:
                    self.wfile.flush()
                    ev.wait(delay)
        elif path == "/download-sha":
            n = int(q.get("bytes", "0"))
            self.send_json({"bytes": n, "sha256": stream_sha(n, q.get("seed", "herald"))})
        else:
            self.send_json({"error": "not found", "path": self.path}, 404)

    def do_HEAD(self):
        path, _ = self.query()
        self.count(path)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def read_body(self):
        """Yields the request body in chunks: Content-Length or chunked."""
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise ConnectionError("EOF in chunk size")
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return
                left = size
                while left > 0:
                    c = self.rfile.read(min(left, BLOCK))
                    if not c:
                        raise ConnectionError("EOF in chunk")
                    left -= len(c)
                    yield c
                self.rfile.readline(8)  # CRLF after the chunk
        else:
            left = int(self.headers.get("Content-Length", "0"))
            while left > 0:
                c = self.rfile.read(min(left, BLOCK))
                if not c:
                    raise ConnectionError("EOF in body")
                left -= len(c)
                yield c

    def do_POST(self):
        path, _ = self.query()
        self.count(path)
        h = hashlib.sha256()
        n = 0
        for c in self.read_body():
            h.update(c)
            n += len(c)
        if path == "/upload":
            self.send_json({"bytes": n, "sha256": h.hexdigest()})
        elif path == "/echo":
            self.send_json({"method": "POST", "path": self.path, "bytes": n,
                            "headers": [[k, v] for k, v in self.headers.items()]})
        else:
            self.send_json({"error": "not found", "path": self.path}, 404)


class Relay(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("echo_backend relay: " + (fmt % args) + "\n")

    def blocked(self):
        try:
            with open(self.server.block_file) as f:
                return urlsplit(self.path).path in {l.strip() for l in f if l.strip()}
        except OSError:
            return False

    def relay(self, method):
        self.server.counts.add(requests=1)
        body = None
        if method == "POST":
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.blocked():
            status, ctype, data = 503, "text/plain", b"blocked by the test\n"
        else:
            import http.client
            host, port = self.server.target
            c = http.client.HTTPConnection(host, port, timeout=30)
            hdrs = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "accept")}
            c.request(method, self.path, body=body, headers=hdrs)
            r = c.getresponse()
            status, ctype, data = r.status, r.getheader("Content-Type", "application/octet-stream"), r.read()
            c.close()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.relay("GET")

    def do_POST(self):
        self.relay("POST")


class HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class TcpEcho(socketserver.BaseRequestHandler):
    def handle(self):
        self.server.counts.add(connections=1)
        s = self.request
        while True:
            b = s.recv(65536)
            if not b:
                break
            s.sendall(b)
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--tcp", action="store_true")
    ap.add_argument("--relay", help="HOST:PORT to forward to (relay mode)")
    ap.add_argument("--block-file", default="/dev/null")
    ap.add_argument("--count-file")
    ap.add_argument("--port-file")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--gen", type=int, help="write N bytes of the /download stream to stdout and exit")
    ap.add_argument("--seed", default="herald")
    a = ap.parse_args()
    if a.gen is not None:
        out = sys.stdout.buffer
        for c in stream(a.gen, a.seed):
            out.write(c)
        return
    counts = Counts(a.count_file)
    if a.relay:
        srv = HttpServer((a.host, a.port), Relay)
        h, _, p = a.relay.rpartition(":")
        srv.target = (h, int(p))
        srv.block_file = a.block_file
    else:
        srv = (TcpServer if a.tcp else HttpServer)((a.host, a.port), TcpEcho if a.tcp else Handler)
    srv.counts = counts
    srv.verbose = a.verbose
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(str(srv.server_address[1]))
        os.replace(a.port_file + ".tmp", a.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
