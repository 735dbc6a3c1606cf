#!/usr/bin/env bash
# Agent footprint (issue section 9): resident memory of a real `vigil-agent run` with a synthetic feed of N symbols
# (goal: ≤ 25 MB) and its start-up time to the first `/readyz` 200 (admin port).
#
# Usage: Benchmarks/footprint.sh [--symbols 500] [--seconds 30] [--runs 3] [--binary PATH] [--no-build]
# Builds `vigil-agent` in release (scratch path .build-bench in the repo, ignored by git) unless --binary or --no-build.
# The collector URL points at a loopback port nothing listens on: the shipper retries with backoff and batches stay
# in the spool, as during a collector outage (the state the agent must survive, and where its memory could grow).
# Prints one line per sample and a summary; exits non-zero when the agent does not become ready.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
symbols=500
seconds=30
runs=3
binary=""
build=1
port=19464
while [[ $# -gt 0 ]]; do
    case "$1" in
        --symbols) symbols="$2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --binary) binary="$2"; build=0; shift 2 ;;
        --no-build) build=0; shift ;;
        --port) port="$2"; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

if [[ -z "$binary" ]]; then
    binary="$repo/.build-bench/release/vigil-agent"
    if [[ $build -eq 1 ]]; then
        echo "building vigil-agent (release, scratch path .build-bench) ..."
        (cd "$repo" && swift build -c release --product vigil-agent --scratch-path "$repo/.build-bench" 2>&1 | tail -1)
    fi
fi
[[ -x "$binary" ]] || { echo "no vigil-agent binary at $binary" >&2; exit 1; }

work="$(mktemp -d /tmp/vigil-footprint.XXXXXX)"
agent_pid=""
cleanup() {
    if [[ -n "$agent_pid" ]] && kill -0 "$agent_pid" 2>/dev/null; then
        kill -KILL "$agent_pid" 2>/dev/null || true
        wait "$agent_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/agent.yaml" <<EOF
agent:
  id: footprint-bench
  data_dir: $work/data
collector:
  url: http://127.0.0.1:9
  timeout_seconds: 1
  initial_backoff_ms: 1000
  max_backoff_ms: 5000
spool:
  fsync: interval
feeds:
  - type: synthetic
    name: synthetic
    seed: 42
    symbols: $symbols
    interval_seconds: 60
    tick_rate: 10
    anomaly_rate: 0.002
admin:
  listen: 127.0.0.1:$port
logging:
  level: warning
EOF

now_ns() { date +%s%N; }
field_kb() { awk -v key="$1:" '$1 == key { print $2 }' "/proc/$2/status"; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "config: synthetic feed, $symbols symbols, 1-minute bars, 10 ticks/s ($((symbols * 10)) bars/s), fsync interval, collector down"
echo "binary: $binary ($(du -h "$binary" | cut -f1))"

rss_all=()
hwm_all=()
ready_all=()
for run in $(seq 1 "$runs"); do
    rm -rf "$work/data"
    start=$(now_ns)
    "$binary" run --config "$work/agent.yaml" > "$work/agent.log" 2>&1 &
    agent_pid=$!
    ready_ms=""
    for _ in $(seq 1 2000); do
        if ! kill -0 "$agent_pid" 2>/dev/null; then break; fi
        if curl -m 1 -fs -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; then
            ready_ms=$(( ($(now_ns) - start) / 1000000 ))
            break
        fi
        sleep 0.005
    done
    if [[ -z "$ready_ms" ]]; then
        echo "run $run: agent did not become ready; its log:" >&2
        tail -20 "$work/agent.log" >&2
        exit 1
    fi
    rss_at_ready=$(field_kb VmRSS "$agent_pid")
    peak_rss=0
    for _ in $(seq 1 "$seconds"); do
        sleep 1
        kill -0 "$agent_pid" 2>/dev/null || { echo "run $run: agent exited early" >&2; tail -20 "$work/agent.log" >&2; exit 1; }
        rss=$(field_kb VmRSS "$agent_pid")
        (( rss > peak_rss )) && peak_rss=$rss
    done
    hwm=$(field_kb VmHWM "$agent_pid")
    anon=$(field_kb RssAnon "$agent_pid")
    file=$(field_kb RssFile "$agent_pid")
    libs=$(awk '$6 ~ /\.so/ { print $6 }' "/proc/$agent_pid/maps" | sort -u | xargs -r -n1 basename | tr '\n' ' ')
    bars=$(curl -m 2 -fs "http://127.0.0.1:$port/metrics" 2>/dev/null | awk '/^vigil_agent_bars_processed_total/ { s += $2 } END { print s + 0 }')
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    stop_start=$(now_ns)
    kill -TERM "$agent_pid"
    stopped=""
    for _ in $(seq 1 200); do
        if ! kill -0 "$agent_pid" 2>/dev/null; then stopped=1; break; fi
        sleep 0.05
    done
    if [[ -z "$stopped" ]]; then
        shutdown="did NOT exit within 10 s of SIGTERM (killed)"
        kill -KILL "$agent_pid" 2>/dev/null || true
    else
        shutdown="exited $(( ($(now_ns) - stop_start) / 1000000 )) ms after SIGTERM"
    fi
    wait "$agent_pid" 2>/dev/null || true
    agent_pid=""
    printf 'run %d: ready after %d ms | VmRSS at ready %.1f MB, max VmRSS over %ds %.1f MB, VmHWM %.1f MB (anon %.1f + file-backed %.1f) | bars processed %s | load avg %s | %s\n' \
        "$run" "$ready_ms" "$(echo "$rss_at_ready/1024" | bc -l)" "$seconds" "$(echo "$peak_rss/1024" | bc -l)" \
        "$(echo "$hwm/1024" | bc -l)" "$(echo "$anon/1024" | bc -l)" "$(echo "$file/1024" | bc -l)" "$bars" "$load" "$shutdown"
    [[ $run -eq 1 ]] && echo "       shared libraries mapped: $libs"
    rss_all+=("$peak_rss")
    hwm_all+=("$hwm")
    ready_all+=("$ready_ms")
done

median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
printf 'summary (%d runs, median): start-up to /readyz 200 %d ms; max VmRSS %.1f MB; VmHWM %.1f MB (goal <= 25 MB)\n' \
    "$runs" "$(median "${ready_all[@]}")" "$(echo "$(median "${rss_all[@]}")/1024" | bc -l)" "$(echo "$(median "${hwm_all[@]}")/1024" | bc -l)"
