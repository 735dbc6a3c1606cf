#!/usr/bin/env bash
# Runs Vigil's benchmarks (ordo-one/benchmark) and prints the results with the machine they ran on.
#
# Usage: Benchmarks/run.sh [--filter REGEX] [--target DetectionBenchmarks|PipelineBenchmarks|CollectorBenchmarks] [--footprint]
#            [--collector-load] [-- ARGS...]
#   --filter REGEX   only benchmarks whose name contains a match (the tool's --filter must match the whole name;
#                    this wraps REGEX in .*...*), e.g. --filter "Tier-1" or --filter "hot path"
#   --target NAME    only one suite
#   --footprint      also run footprint.sh (real `vigil-agent run` with 500 symbols: RSS and start-up time)
#   --collector-load also run collector-load.sh (real `vigil-collector serve` on SQLite and PostgreSQL, driven by
#                    `vigil loadgen`: durable bars/s, latency percentiles, RSS); run it alone for its own options
#   -- ARGS...       anything else for `swift package benchmark` (e.g. `--format markdown`)
# Equivalent plain command, from this directory: swift package --disable-sandbox benchmark
# The whole run takes about 2-4 minutes on 2 cores (first build included: add ~3 minutes).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

args=()
footprint=0
collector_load=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --filter) args+=(--filter ".*$2.*"); shift 2 ;;
        --target) args+=(--target "$2"); shift 2 ;;
        --footprint) footprint=1; shift ;;
        --collector-load) collector_load=1; shift ;;
        --) shift; args+=("$@"); break ;;
        -h|--help) sed -n '2,14p' "$here/run.sh"; exit 0 ;;
        *) args+=("$1"); shift ;;
    esac
done

machine() {
    echo "machine: $(nproc) cores | $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') |" \
        "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM | $(swift --version 2>/dev/null | head -1)"
}
load() { echo "load average ($1): $(cut -d' ' -f1-3 /proc/loadavg)"; }

machine
load "before"
start=$(date +%s)
swift package --disable-sandbox benchmark --no-progress "${args[@]}"
load "after benchmarks"
if [[ $footprint -eq 1 ]]; then
    "$here/footprint.sh"
    load "after footprint"
fi
if [[ $collector_load -eq 1 ]]; then
    "$here/collector-load.sh"
    load "after collector load"
fi
echo "total: $(( $(date +%s) - start )) s"
