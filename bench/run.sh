#!/usr/bin/env bash
# Runs the issuance benchmarks (release build) and prints the table that
# docs/benchmarks.md records. Usage: bench/run.sh [extra google-benchmark flags]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/release/bench/issuance_bench
[[ -x $bin ]] || { echo "build first: cmake --preset release && cmake --build --preset release" >&2; exit 1; }
echo "# $(date -u +%FT%TZ) $(openssl version) $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
"$bin" --benchmark_min_time=2 --benchmark_repetitions=3 --benchmark_report_aggregates_only=true "$@"
