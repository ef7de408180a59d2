#!/usr/bin/env bash
# The dashboard's API at 1,000,000 certificates (issue #14): every page the
# dashboard loads, timed server side by curl (time_total over keep-alive-free
# HTTPS requests to 127.0.0.1, so TLS setup included), RUNS times each;
# prints the median and the max per page. Goal: every page under 200 ms.
#
# The inventory is filled directly in SQL (one INSERT ... SELECT over a
# recursive CTE in the sqlite3 shell, ~1 min), not through the issuance path:
# a throwaway `herald ca init`, then N rows into its certificates table and
# their audit-log rows, with Herald's own schema and indexes. The rows are
# shaped like Herald's: random 128-bit serials, notAfter spread from 30 days
# ago to 365 days ahead, issued one every 30 s back from now (at most 90
# days before notAfter), 10 % revoked (each with its 'revoke' audit entry),
# profiles server/client/spiffe, owner labels team=t0..t49, two DNS SANs
# each (host-N.team-M.internal and host-N.internal, M = N mod 50), and their
# search rows (migrations 15, 18 and 19: cert_names, 4 keys a certificate, the serial as bytes;
# cert_labels, 2 labels); every row carries the same real DER (the dashboard never
# parses it).
#
# The pages are those the dashboard requests: the inventory's total
# (count=1) for status filters, keyset paging (after=) for the next pages,
# the SAN search (exact, prefix, suffix, everything, nothing) and the totals
# with a profile, owner or SAN filter. A deep offset= re-reads what it skips
# (EXTRA=1 times it too).
#
# Usage: bench/dashboard_bench.sh   (release build; N=1000000 RUNS=7;
#        HERALD_BIN=path picks another herald binary; KEEP=1 keeps the
#        directory for another run: DIR=that-directory reuses its inventory)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${HERALD_BIN:-$PWD/build/release/src/cli/herald}
[[ -x $bin ]] || { echo "build first: make build-release" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "needs sqlite3" >&2; exit 1; }
N=${N:-1000000}
RUNS=${RUNS:-7}
T=${DIR:-$(mktemp -d /tmp/herald-dashbench.XXXXXX)}
pid=""
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  [[ ${KEEP:-0} == 1 || -n ${DIR:-} ]] || rm -rf "$T"
}
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
HTTPS=$(port)
HTTP=$(port)
D=$T/pki
DB=$D/inventory.db

if [[ ! -f $T/filled ]]; then
  "$bin" ca init --dir "$D" --base-url "http://127.0.0.1:$HTTP" >"$T/init.log" 2>&1
  "$bin" issue --dir "$D" --profile server --cn sample.internal --san dns:sample.internal \
    --out-dir "$T" >"$T/issue.log" 2>&1
  [[ -f $DB ]] || DB=$(ls "$D"/*.db | head -1)
  DER=$(sqlite3 "$DB" "SELECT hex(der) FROM certificates WHERE common_name = 'sample.internal'")
  ISSUER=$(sqlite3 "$DB" "SELECT issuer_serial FROM certificates WHERE common_name = 'sample.internal'")
  NOW=$(date +%s)
  echo "filling $N certificates into $DB ..."
  start=$(date +%s)
  sqlite3 "$DB" <<SQL
PRAGMA journal_mode = WAL;
PRAGMA synchronous = OFF;
PRAGMA cache_size = -262144;
BEGIN;
CREATE TEMP TABLE fill AS
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $N)
  SELECT i, hex(sb) AS serial, sb, not_after, min(not_after - 90 * 86400, $NOW - i * 30) AS issued, revoked FROM (
    SELECT i, randomblob(16) AS sb, $NOW - 30 * 86400 + abs(random()) % (395 * 86400) AS not_after,
           (i % 10 = 0) AS revoked FROM n);
INSERT INTO certificates (serial, issuer_serial, subject, common_name, sans, issuer, not_before, not_after,
  key_algorithm, key_bits, signature_algorithm, eku, profile, fingerprint_sha256, owner, status, revoked_at,
  revocation_reason, issued_at, der)
SELECT serial, '$ISSUER', 'CN=host-' || i || '.internal', 'host-' || i || '.internal',
  '["dns:host-' || i || '.team-' || (i % 50) || '.internal","dns:host-' || i || '.internal"]',
  'CN=Herald Issuing CA,O=Herald', issued, not_after,
  'ec-p256', 256, 'ecdsa-with-SHA256', '["serverAuth"]',
  CASE i % 3 WHEN 0 THEN 'server' WHEN 1 THEN 'client' ELSE 'spiffe' END,
  randomblob(32), '{"provisioner":"admin","team":"t' || (i % 50) || '"}',
  CASE WHEN revoked THEN 'revoked' ELSE 'valid' END,
  CASE WHEN revoked THEN $NOW - abs(random()) % (60 * 86400) END, CASE WHEN revoked THEN 1 END,
  issued, x'$DER'
FROM fill;
INSERT INTO cert_names (name, issued_at, serial)
  SELECT name, issued, sb FROM (
    SELECT 'host-' || i || '.team-' || (i % 50) || '.internal' AS name, issued, sb FROM fill
    UNION ALL SELECT 'team-' || (i % 50) || '.internal', issued, sb FROM fill
    UNION ALL SELECT 'internal', issued, sb FROM fill
    UNION ALL SELECT 'host-' || i || '.internal', issued, sb FROM fill)
  ORDER BY name, issued, sb;
INSERT INTO cert_labels (key, value, issued_at, serial)
  SELECT key, value, issued, sb FROM (
    SELECT 'provisioner' AS key, 'admin' AS value, issued, sb FROM fill
    UNION ALL SELECT 'team', 't' || (i % 50), issued, sb FROM fill)
  ORDER BY key, value, issued, sb;
INSERT INTO audit_log (at, action, serial, detail)
  SELECT issued, 'issue', serial, '{"profile":"server"}' FROM fill;
INSERT INTO audit_log (at, action, serial, detail)
  SELECT $NOW - 3600, 'revoke', serial, '{"reason":"keyCompromise"}' FROM fill WHERE revoked;
COMMIT;
ANALYZE;
SQL
  echo "filled in $(($(date +%s) - start)) s"
  touch "$T/filled"
fi
[[ -f $DB ]] || DB=$(ls "$D"/*.db | head -1)
TOKEN=$("$bin" token add --dir "$D" --provisioner admin 2>/dev/null)
"$bin" serve --dir "$D" --listen "127.0.0.1:$HTTPS" --http-listen "127.0.0.1:$HTTP" >"$T/serve.log" 2>&1 &
pid=$!
for _ in $(seq 600); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP/healthz") == 200 ]] && break
  sleep 0.2
done
H=https://127.0.0.1:$HTTPS
SERIAL=$(sqlite3 "$DB" "SELECT serial FROM certificates WHERE status = 'revoked' LIMIT 1 OFFSET $((N / 200))")
# A page halfway through the listing, by keyset (what the page's "next" sends).
MID=$(sqlite3 "$DB" "SELECT not_after || ':' || serial FROM certificates ORDER BY not_after, serial LIMIT 1 OFFSET $((N / 2))")
count=$(sqlite3 "$DB" "SELECT count(*) FROM certificates")
echo "inventory: $count certificates ($(du -h "$DB" | cut -f1)), herald: $bin"
pages=(
  "/v1/overview"
  "/v1/expiry-timeline?days=90"
  "/v1/expiry-timeline?days=365"
  "/v1/hierarchy"
  "/v1/alerts/recent"
  "/v1/certs?limit=25&count=1"
  "/v1/certs?limit=25&after=$MID"
  "/v1/certs?status=revoked&limit=25&count=1"
  "/v1/certs?status=expired&limit=25&count=1"
  "/v1/certs?status=valid&limit=25&after=$MID&count=1"
  "/v1/certs?profile=client&limit=25"
  "/v1/certs?profile=client&limit=25&count=1"
  "/v1/certs?owner=team%3Dt7&limit=25"
  "/v1/certs?owner=team%3Dt7&limit=25&count=1"
  "/v1/certs?owner=team%3Dt7,provisioner%3Dadmin&limit=25&count=1"
  "/v1/certs?profile=client&owner=team%3Dt7&limit=25&count=1"
  "/v1/certs?san=host-4242.internal&limit=25"
  "/v1/certs?san=host-4242.internal&limit=25&count=1"
  "/v1/certs?san=host-42&limit=25"
  "/v1/certs?san=host-42&limit=25&count=1"
  "/v1/certs?san=team-7.internal&limit=25"
  "/v1/certs?san=team-7.internal&limit=25&count=1"
  "/v1/certs?san=team-7.internal&limit=25&after=$MID"
  "/v1/certs?san=internal&limit=25"
  "/v1/certs?san=nothing.example&limit=25&count=1"
  "/v1/certs?san=team-7.internal&status=valid&limit=25"
  "/v1/certs/$SERIAL"
  "/ui/"
)
if [[ ${EXTRA:-0} == 1 ]]; then
  pages+=("/v1/certs?san=internal&limit=25&count=1" "/v1/certs?limit=25&offset=$((N / 2))")
fi
printf '%-72s %10s %10s\n' page "median ms" "max ms"
for p in "${pages[@]}"; do
  times=()
  for _ in $(seq "$RUNS"); do
    out=$(curl -sS -k -o "$T/page.json" -w '%{http_code} %{time_total}' -H "Authorization: Bearer $TOKEN" "$H$p")
    [[ ${out%% *} == 200 ]] || { echo "$p: HTTP ${out%% *}: $(head -c 300 "$T/page.json")" >&2; exit 1; }
    times+=("${out#* }")
  done
  python3 - "$p" "${times[@]}" <<'PY'
import statistics, sys
t = [float(x) * 1000 for x in sys.argv[2:]]
print(f"{sys.argv[1][:72]:<72} {statistics.median(t):10.1f} {max(t):10.1f}")
PY
done
