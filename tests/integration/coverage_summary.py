#!/usr/bin/env python3
"""Print (and with --check, enforce) what each validator checked.

usage: coverage_summary.py [--check] [--junit CTEST_JUNIT.xml] FILE_OR_DIR...

Reads the coverage files that lib.sh's must_accept / must_reject /
must_refuse_unsupported write (one per test, NAME.tsv; lines
VALIDATOR KEYTYPE LEAF_SHA256 accept|reject|unsupported WHAT) and prints, per
test and key type, how many distinct certificates each validator checked (and
how many checks that took), then the totals per key type over all tests.

--check (used by `make test`): fails (exit 1) unless every key type of
cross_validate.sh ran with exactly its pinned validators, each having checked
at least one certificate, and the validators pinned as not implementing a key
type refused it as such; and unless the tests that check REST- and
ACME-issued certificates with validate_issued (ISSUED_TESTS) did so with all
four validators.

--junit (used by `make test`): CTest's JUnit report of the run; fails unless
it lists tests and none of them was skipped (a skipped test, e.g. a missing
tool, is a failure of the README's test command).
"""
import collections
import os
import sys
import xml.etree.ElementTree as ET

VALIDATORS = ["openssl", "gnutls", "nss", "pyca"]
# Mirrors pinned_validators / unsupported_validators in lib.sh.
PINNED = {
    "ec-p256": VALIDATORS,
    "ec-p384": VALIDATORS,
    "rsa-2048": VALIDATORS,
    "rsa-3072": VALIDATORS,
    "rsa-4096": VALIDATORS,
    "ed25519": ["openssl", "gnutls"],
}
UNSUPPORTED = {"ed25519": ["nss", "pyca"]}
# Tests whose REST- or ACME-issued (ec-p256) certificates go through validate_issued.
ISSUED_TESTS = ["acme_clients", "serve_nginx", "serve_jwk", "serve_revocation"]


def load(paths):
    files = []
    for p in paths:
        if os.path.isdir(p):
            files += [os.path.join(p, f) for f in sorted(os.listdir(p)) if f.endswith(".tsv")]
        elif os.path.exists(p):
            files.append(p)
    data = {}
    for f in files:
        name = os.path.basename(f)[: -len(".tsv")]
        rows = []
        with open(f) as fh:
            for line in fh:
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= 4:
                    rows.append(parts)
        data[name] = rows
    return data


def tally(rows):
    """{keytype: {validator: (set(fingerprints checked), checks, unsupported)}}"""
    t = collections.defaultdict(lambda: collections.defaultdict(lambda: [set(), 0, 0]))
    for v, kt, fp, kind, *_ in rows:
        e = t[kt][v]
        if kind == "unsupported":
            e[2] += 1
        else:
            e[0].add(fp)
            e[1] += 1
    return t


def line(kt, per_v):
    order = VALIDATORS + sorted(v for v in per_v if v not in VALIDATORS)
    certs = " ".join(f"{v}={len(per_v[v][0])}" for v in order if v in per_v and per_v[v][1])
    checks = " ".join(f"{v}={per_v[v][1]}" for v in order if v in per_v and per_v[v][1])
    uns = [v for v in order if v in per_v and per_v[v][2]]
    s = f"validators: {certs or 'none'} certificates ({kt}; checks: {checks or 'none'})"
    if uns:
        s += f"; refused as not implementing {kt}: {' '.join(uns)}"
    return s


def check_junit(path):
    """0 if CTest ran tests and skipped none; prints the skipped ones."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"ctest report {path}: cannot read it: {e}", file=sys.stderr)
        return 1
    cases = root.iter("testcase")
    n, skipped = 0, []
    for c in cases:
        n += 1
        s = c.find("skipped")
        if s is not None or c.get("status") == "notrun":
            reason = (s.get("message") if s is not None else "") or ""
            out = c.findtext("system-out") or ""
            why = [l for l in out.splitlines() if "SKIP" in l]
            skipped.append(f"{c.get('name')}: {reason} {why[-1].strip() if why else ''}".rstrip())
    if n == 0:
        print(f"ctest report {path}: no tests", file=sys.stderr)
        return 1
    if skipped:
        print(f"FAIL: {len(skipped)} of {n} tests were skipped; in `make test` every tool is installed, so a skip is a failure:",
              file=sys.stderr)
        for s in skipped:
            print(f"  - {s}", file=sys.stderr)
        return 1
    print(f"ctest: {n} tests ran, none skipped")
    return 0


def main(argv):
    args = argv[1:]
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    junit_rc = 0
    if "--junit" in args:
        i = args.index("--junit")
        if i + 1 >= len(args):
            print(__doc__, file=sys.stderr)
            return 2
        junit_rc = check_junit(args[i + 1])
        del args[i : i + 2]
    paths = args
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    data = load(paths)
    if not data:
        print(f"coverage: no coverage files in {' '.join(paths)}", file=sys.stderr)
        return 1
    width = max(len(n) for n in data)
    print("Validator coverage: distinct Herald certificates each validator checked (through lib.sh's"
          " must_accept/must_reject), per test and key type")
    totals = collections.defaultdict(lambda: collections.defaultdict(lambda: [set(), 0, 0]))
    for name in sorted(data):
        t = tally(data[name])
        if not t:
            print(f"  {name:<{width}}  (no certificate checked through lib.sh's validators)")
        for kt in sorted(t):
            print(f"  {name:<{width}}  {line(kt, t[kt])}")
            for v, (fps, n, u) in t[kt].items():
                e = totals[kt][v]
                e[0] |= fps
                e[1] += n
                e[2] += u
    if len(data) > 1:
        print("All tests, per key type:")
        for kt in sorted(totals):
            print(f"  {line(kt, totals[kt])}")

    if not check:
        return junit_rc
    problems = []
    for kt, pinned in PINNED.items():
        name = f"cross_validate.{kt}"
        if name not in data:
            problems.append(f"{name}: no coverage file (did the test run?)")
            continue
        t = tally(data[name]).get(kt, {})
        for v in pinned:
            if v not in t or not t[v][0]:
                problems.append(f"{name}: pinned validator {v} checked no {kt} certificate")
        for v in UNSUPPORTED.get(kt, []):
            if v not in t or not t[v][2]:
                problems.append(f"{name}: {v} is pinned as not implementing {kt} but no refusal as such was recorded")
            elif t[v][0]:
                problems.append(f"{name}: {v} is pinned as not implementing {kt} yet accepted/rejected {kt} certificates")
        for v in t:
            if v not in pinned and v not in UNSUPPORTED.get(kt, []):
                problems.append(f"{name}: validator {v} is not pinned for {kt}")
    for name in ISSUED_TESTS:
        if name not in data:
            problems.append(f"{name}: no coverage file (did the test run?)")
            continue
        t = tally(data[name]).get("ec-p256", {})
        for v in VALIDATORS:
            if v not in t or not t[v][0]:
                problems.append(f"{name}: {v} checked none of its ec-p256 certificates")
    if problems:
        print("coverage: FAILED", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    print("coverage: every pinned validator checked every key type it is pinned for")
    return junit_rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
