#!/usr/bin/env bash
# One `herald agent` managing N certificates (default 1,000) with short
# lifetimes (default 10 minutes) against a local `herald serve` (release
# build): the agent's CPU (share of one core) and resident memory, sampled
# every 5 s for DURATION seconds (default 720: the first issuance of all of
# them, then every one renewed at ~2/3 of its lifetime), and the renewals
# it made. Usage: N=1000 TTL=10m DURATION=720 [AGENT_EXTRA='revocation_check = "off"'] bench/agent_scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/build/release/src/cli/herald
[[ -x $bin ]] || { echo "build first: cmake --preset release && cmake --build --preset release --target herald" >&2; exit 1; }
N=${N:-1000} TTL=${TTL:-10m} DURATION=${DURATION:-720}
T=$(mktemp -d /tmp/herald-agent-scale.XXXXXX)
D=$T/data
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
SP=$(port) HP=$(port) MP=$(port)

echo "# $(date -u +%FT%TZ) $(openssl version | cut -d' ' -f1-2), $(nproc) cores; N=$N TTL=$TTL DURATION=${DURATION}s ${AGENT_EXTRA:-}"
"$bin" ca init --dir "$D" >/dev/null 2>&1
sed -i 's/^issuance_rate_per_second = .*/issuance_rate_per_second = 1000000/' "$D/herald.toml"
"$bin" token add --dir "$D" --provisioner admin >"$T/token" 2>/dev/null
"$bin" serve --dir "$D" --listen "127.0.0.1:$SP" --http-listen "127.0.0.1:$HP" >"$T/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$HP/readyz" >/dev/null && break; sleep 0.1; done

mkdir -p "$T/certs"
{
  echo "server = \"https://127.0.0.1:$SP\""
  echo "trust = \"$D/ca/root.pem\""
  echo "token_file = \"$T/token\""
  echo "metrics_listen = \"127.0.0.1:$MP\""
  [[ -n ${AGENT_EXTRA:-} ]] && echo "$AGENT_EXTRA"
  for i in $(seq 1 "$N"); do
    echo "[[certificate]]"
    echo "profile = \"server\""
    echo "cn = \"svc$i.internal\""
    echo "ttl = \"$TTL\""
    echo "cert = \"$T/certs/svc$i.pem\""
    echo "key = \"$T/certs/svc$i.key\""
  done
} >"$T/agent.toml"

"$bin" agent --config "$T/agent.toml" >"$T/agent.log" 2>&1 &
AGENT=$!
pids+=($AGENT)
tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$AGENT/stat"; }
rss_kib() { awk '/^VmRSS/{print $2}' "/proc/$AGENT/status"; }

start=$(date +%s.%N)
t0=$(cpu_ticks)
samples=0 rss_sum=0 rss_max=0
first_all=""
while :; do
  sleep 5
  kill -0 "$AGENT" 2>/dev/null || { echo "the agent died:"; tail -20 "$T/agent.log"; exit 1; }
  now=$(date +%s.%N)
  el=$(python3 -c "print(int($now - $start))")
  r=$(rss_kib)
  samples=$((samples + 1)) rss_sum=$((rss_sum + r))
  ((r > rss_max)) && rss_max=$r
  have=$(ls "$T/certs" | grep -c '\.pem$' || true)
  if [[ -z $first_all && $have -ge $N ]]; then
    first_all=$el
    t_first=$(cpu_ticks)
    echo "all $N certificates first obtained after ${el}s; agent CPU so far $(python3 -c "print(round(($t_first - $t0) / $tck, 1))") s"
  fi
  ((el >= DURATION)) && break
done
t1=$(cpu_ticks)
end=$(date +%s.%N)
metrics=$(curl -sf "http://127.0.0.1:$MP/metrics" || true)
ok=$(echo "$metrics" | awk '/^herald_agent_renewals_total/ && /result="success"/ {s += $2} END {print s + 0}')
bad=$(echo "$metrics" | awk '/^herald_agent_renewals_total/ && /result="failure"/ {s += $2} END {print s + 0}')
python3 - "$t0" "$t1" "$tck" "$start" "$end" "$rss_sum" "$samples" "$rss_max" "${t_first:-$t1}" "${first_all:-0}" "$ok" "$bad" "$N" <<'PY'
import sys
t0, t1, tck, start, end, rss_sum, samples, rss_max, t_first, first_all, ok, bad, n = sys.argv[1:]
t0, t1, tck, t_first = int(t0), int(t1), int(tck), int(t_first)
wall = float(end) - float(start)
print(f"wall {wall:.0f} s; agent CPU {(t1 - t0) / tck:.1f} s = {100 * (t1 - t0) / tck / wall:.2f} % of one core on average")
steady = wall - float(first_all)
if steady > 0:
    print(f"after the first issuance of all {n}: {(t1 - t_first) / tck:.1f} s CPU in {steady:.0f} s = "
          f"{100 * (t1 - t_first) / tck / steady:.2f} % of one core")
print(f"resident memory: average {int(rss_sum) / int(samples) / 1024:.1f} MiB, peak {int(rss_max) / 1024:.1f} MiB ({samples} samples)")
print(f"renewals (metrics): {ok} succeeded, {bad} failed (the first issuance of each certificate counts as one)")
PY
