#!/usr/bin/env bash
# PostgreSQL: the store adapter's search queries (list_filter_sql.h, as of issue #14) at N
# certificates, by EXPLAIN ANALYZE (server-side execution time, 3 runs each).
# Usage: N=1000000 bench/pg_search_plans.sh (needs the PostgreSQL server binaries).
set -euo pipefail
cd /work/main
source bench/pg_lib.sh
N=${N:-1000000}
trap 'pg_stop' EXIT
pg_start -c shared_buffers=512MB
_pg_psql -c "CREATE DATABASE h"
P() { _pg_as "$PG_BIN/psql" -h "$PGD" -p "$PGPORT" -U postgres -v ON_ERROR_STOP=1 -q -d h "$@"; }
for f in src/store/postgres/migrations/000[1-8]_*.sql; do cp "$f" "$PGD/m.sql"; chmod a+r "$PGD/m.sql"; P -f "$PGD/m.sql"; done
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
ANALYZE;
SQL
echo "filled $N in $(( $(date +%s) - start )) s"
q() {
  local label=$1 sql=$2 best=""
  for _ in 1 2 3; do
    t=$(P -c "EXPLAIN (ANALYZE, FORMAT JSON) $sql" -At | python3 -c 'import json,sys;print(json.load(sys.stdin)[0]["Execution Time"])')
    best="$best $t"
  done
  echo "$label:$best ms"
}
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
# The walk tried in a3455dc and reverted (f0c8a45): the probes as per-row subplans
# (EXISTS ... OFFSET 0), to see whether a page stops early: it does not.
q "walk: san prefix host-42" "SELECT $COLS FROM certificates WHERE true AND EXISTS (SELECT 1 FROM cert_names WHERE cert_names.serial = certificates.serial AND name >= 'host-42' AND name < 'host-43' OFFSET 0) $L"
q "walk: san suffix team-7" "SELECT $COLS FROM certificates WHERE true AND EXISTS (SELECT 1 FROM cert_names WHERE cert_names.serial = certificates.serial AND name >= 'team-7.internal' AND name < 'team-7.internam' OFFSET 0) $L"
q "walk: san internal (all)" "SELECT $COLS FROM certificates WHERE true AND EXISTS (SELECT 1 FROM cert_names WHERE cert_names.serial = certificates.serial AND name >= 'internal' AND name < 'internam' OFFSET 0) $L"
q "walk: owner list" "SELECT $COLS FROM certificates WHERE true AND EXISTS (SELECT 1 FROM cert_labels WHERE key = 'team' AND value = 't7' AND cert_labels.serial = certificates.serial OFFSET 0) $L"
