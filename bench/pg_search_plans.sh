#!/usr/bin/env bash
# PostgreSQL: the dashboard's listing and count statements at N certificates,
# as the store adapter builds and plans them (list_filter_sql.h, issue #14),
# run by the test binary (store_postgres_test's disabled SearchPlansBench:
# the same C++ the adapter calls, so this cannot drift from it; unprepared,
# as the adapter runs them). The last 3 of 8 runs each and their median:
# the time through the connection (client side: the plan's bounded counts,
# then the statement) and the server's EXPLAIN ANALYZE (TIMING OFF)
# execution time of both. SQL=1 prints each statement. BEFORE=1 also times
# the statements the adapter sent before (as of f0c8a45, hard-coded below;
# EXPLAIN ANALYZE, 3 runs) on the same fill.
# Usage: N=1000000 bench/pg_search_plans.sh (needs the PostgreSQL server
# binaries and a built build/dev, or HERALD_PG_TEST=path/to/store_postgres_test).
set -euo pipefail
cd /work/main
source bench/pg_lib.sh
N=${N:-1000000}
trap 'pg_stop' EXIT
pg_start -c shared_buffers=512MB
_pg_psql -c "CREATE DATABASE h"
P() { _pg_as "$PG_BIN/psql" -h "$PGD" -p "$PGPORT" -U postgres -v ON_ERROR_STOP=1 -q -d h "$@"; }
TEST_BIN=${HERALD_PG_TEST:-build/dev/src/store/postgres/store_postgres_test}
[[ -x $TEST_BIN ]] || { echo "no $TEST_BIN (build store_postgres_test)" >&2; exit 1; }
for f in src/store/postgres/migrations/*.sql; do cp "$f" "$PGD/m.sql"; chmod a+r "$PGD/m.sql"; P -f "$PGD/m.sql"; done
NOW=$(date +%s)
start=$(date +%s)
P <<SQL
CREATE TEMP TABLE fill AS SELECT i, upper(md5(i::text || random()::text)) AS serial,
  $NOW - 30 * 86400 + (random() * 395 * 86400)::bigint AS not_after FROM generate_series(1, $N) i;
INSERT INTO certificates SELECT serial, '01', 'CN=host-' || i || '.internal', 'host-' || i || '.internal',
  '["dns:host-' || i || '.team-' || (i % 50) || '.internal","dns:host-' || i || '.internal"]',
  'CN=Issuing', not_after - 90 * 86400, not_after, 'ec-p256', 256, 'ecdsa-with-SHA256', '["serverAuth"]',
  CASE i % 3 WHEN 0 THEN 'server' WHEN 1 THEN 'client' ELSE 'spiffe' END, md5(i::text) || md5(serial),
  '{"provisioner":"admin","team":"t' || (i % 50) || '"}', CASE WHEN i % 10 = 0 THEN 'revoked' ELSE 'valid' END,
  NULL, NULL, $NOW - i * 30, '\x3000'::bytea FROM fill;
INSERT INTO cert_names SELECT name, serial FROM (
  SELECT 'host-' || i || '.team-' || (i % 50) || '.internal' AS name, serial FROM fill
  UNION ALL SELECT 'team-' || (i % 50) || '.internal', serial FROM fill
  UNION ALL SELECT 'internal', serial FROM fill
  UNION ALL SELECT 'host-' || i || '.internal', serial FROM fill) x;
INSERT INTO cert_labels SELECT 'provisioner', 'admin', serial FROM fill
  UNION ALL SELECT 'team', 't' || (i % 50), serial FROM fill;
SQL
P -c "VACUUM ANALYZE"
echo "filled $N in $(( $(date +%s) - start )) s"
q() {
  local label=$1 sql=$2 best=""
  for _ in 1 2 3; do
    t=$(P -c "EXPLAIN (ANALYZE, FORMAT JSON) $sql" -At | python3 -c 'import json,sys;print(json.load(sys.stdin)[0]["Execution Time"])')
    best="$best $t"
  done
  echo "$label:$best ms"
}
echo "machine: $(uptime)"
HERALD_PG_BENCH_SQL=${SQL:-} HERALD_PG_BENCH_NOW=$NOW HERALD_PG_BENCH_CONNINFO="host=$PGD port=$PGPORT user=postgres dbname=h" \
  "$TEST_BIN" --gtest_also_run_disabled_tests --gtest_filter='PostgresStore.DISABLED_SearchPlansBench' |
  grep -v '^\[\|^Running main\|^Note: Google Test filter'
[[ -n ${BEFORE:-} ]] || exit 0
echo "before (f0c8a45's statements, server ms):"
COLS="serial, issuer_serial, subject, common_name, sans, issuer, not_before, not_after, key_algorithm, key_bits, signature_algorithm, eku, profile, fingerprint_sha256, owner, status, revoked_at, revocation_reason, issued_at, der"
L="ORDER BY not_after ASC, serial ASC LIMIT 26"
q "san exact" "SELECT $COLS FROM certificates WHERE true AND serial IN (SELECT serial FROM cert_names WHERE name >= 'host-4242.internal' AND name < 'host-4242.internam') $L"
q "san prefix host-42" "SELECT $COLS FROM certificates WHERE true AND serial IN (SELECT serial FROM cert_names WHERE name >= 'host-42' AND name < 'host-43') $L"
q "san suffix team-7" "SELECT $COLS FROM certificates WHERE true AND serial IN (SELECT serial FROM cert_names WHERE name >= 'team-7.internal' AND name < 'team-7.internam') $L"
q "san internal (all)" "SELECT $COLS FROM certificates WHERE true AND serial IN (SELECT serial FROM cert_names WHERE name >= 'internal' AND name < 'internam') $L"
q "san nothing count" "SELECT count(*) FROM certificates WHERE true AND serial IN (SELECT serial FROM cert_names WHERE name >= 'nothing.example' AND name < 'nothing.examplf')"
q "san team-7 count" "SELECT count(*) FROM certificates WHERE true AND serial IN (SELECT serial FROM cert_names WHERE name >= 'team-7.internal' AND name < 'team-7.internam')"
q "profile list" "SELECT $COLS FROM certificates WHERE true AND profile = 'client' $L"
q "profile count" "SELECT count(*) FROM certificates WHERE true AND profile = 'client'"
q "owner list" "SELECT $COLS FROM certificates WHERE true AND EXISTS (SELECT 1 FROM cert_labels WHERE key = 'team' AND value = 't7' AND cert_labels.serial = certificates.serial) $L"
q "owner count" "SELECT count(*) FROM certificates WHERE true AND EXISTS (SELECT 1 FROM cert_labels WHERE key = 'team' AND value = 't7' AND cert_labels.serial = certificates.serial)"
q "owner 2 labels count" "SELECT count(*) FROM certificates WHERE true AND EXISTS (SELECT 1 FROM cert_labels WHERE key = 'provisioner' AND value = 'admin' AND cert_labels.serial = certificates.serial) AND EXISTS (SELECT 1 FROM cert_labels WHERE key = 'team' AND value = 't7' AND cert_labels.serial = certificates.serial)"
T7="EXISTS (SELECT 1 FROM cert_labels WHERE key = 'team' AND value = 't7' AND cert_labels.serial = certificates.serial)"
ADMIN="EXISTS (SELECT 1 FROM cert_labels WHERE key = 'provisioner' AND value = 'admin' AND cert_labels.serial = certificates.serial)"
q "page, no filter" "SELECT $COLS FROM certificates WHERE true $L"
q "count, no filter" "SELECT count(*) FROM certificates WHERE true"
q "san exact count" "SELECT count(*) FROM certificates WHERE true AND serial IN (SELECT serial FROM cert_names WHERE name >= 'host-4242.internal' AND name < 'host-4242.internam')"
q "san prefix host-42 count" "SELECT count(*) FROM certificates WHERE true AND serial IN (SELECT serial FROM cert_names WHERE name >= 'host-42' AND name < 'host-43')"
q "san internal (all) count" "SELECT count(*) FROM certificates WHERE true AND serial IN (SELECT serial FROM cert_names WHERE name >= 'internal' AND name < 'internam')"
q "owner 2 labels list" "SELECT $COLS FROM certificates WHERE true AND $ADMIN AND $T7 $L"
q "owner + profile list" "SELECT $COLS FROM certificates WHERE true AND profile = 'client' AND $T7 $L"
q "owner + profile count" "SELECT count(*) FROM certificates WHERE true AND profile = 'client' AND $T7"
# The walk tried in a3455dc and reverted (f0c8a45): the probes as per-row subplans
# (EXISTS ... OFFSET 0), to see whether a page stops early: it does not.
q "walk: san prefix host-42" "SELECT $COLS FROM certificates WHERE true AND EXISTS (SELECT 1 FROM cert_names WHERE cert_names.serial = certificates.serial AND name >= 'host-42' AND name < 'host-43' OFFSET 0) $L"
q "walk: san suffix team-7" "SELECT $COLS FROM certificates WHERE true AND EXISTS (SELECT 1 FROM cert_names WHERE cert_names.serial = certificates.serial AND name >= 'team-7.internal' AND name < 'team-7.internam' OFFSET 0) $L"
q "walk: san internal (all)" "SELECT $COLS FROM certificates WHERE true AND EXISTS (SELECT 1 FROM cert_names WHERE cert_names.serial = certificates.serial AND name >= 'internal' AND name < 'internam' OFFSET 0) $L"
q "walk: owner list" "SELECT $COLS FROM certificates WHERE true AND EXISTS (SELECT 1 FROM cert_labels WHERE key = 'team' AND value = 't7' AND cert_labels.serial = certificates.serial OFFSET 0) $L"
