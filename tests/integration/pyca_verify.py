#!/usr/bin/env python3
"""Verify a certificate chain with pyca/cryptography's X.509 path validator.

usage: pyca_verify.py ROOT CHAIN LEAF server|client [HOST|-] [EPOCH]

ROOT, CHAIN and LEAF are PEM files (CHAIN may hold several certificates or be
empty). HOST is a DNS name or an IP address, checked against the leaf's SANs
for a server certificate ("-" or "" = no host: only for client certificates).
EPOCH is the verification time in seconds since 1970 (default: now).
Exit 0: verified. Exit 1: rejected by the library's path validation
(cryptography.x509.verification.VerificationError), with the reason on
stderr. Exit 2: usage or I/O error. Exit 3: any other exception (a test error
or a library limitation, never taken as a rejection).
"""
import datetime
import ipaddress
import sys

from cryptography import x509
from cryptography.x509.verification import (
    DNSName,
    IPAddress,
    PolicyBuilder,
    Store,
    VerificationError,
)


def load_pems(path):
    with open(path, "rb") as f:
        data = f.read()
    if not data.strip():
        return []
    return x509.load_pem_x509_certificates(data)


def main(argv):
    if len(argv) < 5 or argv[4] not in ("server", "client"):
        print(__doc__, file=sys.stderr)
        return 2
    root_path, chain_path, leaf_path, kind = argv[1:5]
    host = argv[5] if len(argv) > 5 and argv[5] not in ("", "-") else None
    try:
        if len(argv) > 6 and argv[6]:
            when = datetime.datetime.fromtimestamp(int(argv[6]), datetime.timezone.utc)
        else:
            when = datetime.datetime.now(datetime.timezone.utc)
        roots = load_pems(root_path)
        chain = load_pems(chain_path)
        leaves = load_pems(leaf_path)
    except Exception as e:  # unreadable input is a test error, not a verdict
        print(f"pyca_verify: cannot load input: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    if not roots or not leaves:
        print("pyca_verify: no root or no leaf certificate", file=sys.stderr)
        return 2

    if kind == "server" and host is None:
        print("pyca_verify: a server verification needs a HOST", file=sys.stderr)
        return 2
    try:
        builder = PolicyBuilder().store(Store(roots)).time(when)
        if kind == "server":
            try:
                name = IPAddress(ipaddress.ip_address(host))
            except ValueError:
                name = DNSName(host)
            verifier = builder.build_server_verifier(name)
        else:
            verifier = builder.build_client_verifier()
    except Exception as e:  # setting up the verifier is not a verdict
        print(f"pyca_verify: cannot build the verifier: {type(e).__name__}: {e}", file=sys.stderr)
        return 3
    try:
        verifier.verify(leaves[0], chain)
    except VerificationError as e:  # the only rejection
        print(f"pyca rejected: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # anything else is a test error, not a verdict
        print(f"pyca_verify: error during verification: {type(e).__name__}: {e}", file=sys.stderr)
        return 3
    print("pyca: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
