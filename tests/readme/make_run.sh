#!/usr/bin/env bash
# Proves the README's run command works: `make run` (deps, release build,
# demo) on a fresh data directory, then again on the existing one.
set -euo pipefail
src=${1:?source directory}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/herald-make-run.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export HERALD_HOME="$tmp/data"

echo "== make run (fresh data directory)"
make -C "$src" run >"$tmp/first.log" 2>&1 || { cat "$tmp/first.log"; exit 1; }
tail -n 12 "$tmp/first.log"
grep -q "initialising a demo one" "$tmp/first.log"
[[ -f $HERALD_HOME/herald.db && -f $HERALD_HOME/ca/root.pem && -d $HERALD_HOME/trust ]]

echo "== make run (existing data directory)"
make -C "$src" run >"$tmp/second.log" 2>&1 || { cat "$tmp/second.log"; exit 1; }
grep -q "Using the existing hierarchy" "$tmp/second.log"

# 3 CAs + 2 leaves per run.
count=$("$src/build/release/src/cli/herald" list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
echo "inventory holds $count certificates"
[[ $count == 7 ]]
echo "1 passed, 0 failed"
