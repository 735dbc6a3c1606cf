#!/usr/bin/env bash
# Collector load (issue 3 §11): throughput of a real `vigil-collector serve` driven by `vigil loadgen` (real protobuf
# batches over loopback HTTP, every ack checked), with the collector's memory and CPU. `blackhole` measures receive →
# decode → dedupe → partition with nothing stored (§11 a); sqlite and postgres the durable end to end (§11 b).
#
# Usage: Benchmarks/collector-load.sh [--stores "blackhole sqlite postgres"] [--agents 2] [--batches 50] [--bars-per-batch 10000]
#            [--symbols 100] [--warmup 2] [--gzip "off on"] [--rounds 1] [--port 18480] [--perf] [--keep] [--no-build]
#   stores: blackhole (store.kind blackhole: dedupe marks only, nothing written), sqlite (data dir on the real disk: $VIGIL_LOAD_DIR, default /var/tmp), postgres (scripts/postgres.sh start;
#           a fresh schema bench_<random>, dropped afterwards unless --keep), sqlite-tmpfs (/dev/shm: the store's fsyncs
#           cost nothing, for the receive-path analysis).
#   --rounds N: N loadgen runs per gzip setting against the same collector and store (how throughput changes as the
#           store grows; each round adds agents × (batches + warm-up) × bars rows).
#   --perf: also `perf record` the collector during each gzip-off run and print its top symbols (needs perf).
# Builds vigil-collector and vigil in release (scratch path .build-bench, ignored by git) unless --no-build.
# Prints one line per run and, at the end, one summary line per store and gzip setting. Exits 1 when any request failed.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
stores="blackhole sqlite postgres"
agents=2
batches=50
bars=10000
symbols=100
warmup=2
gzips="off on"
rounds=1
port=18480
perf=0
keep=0
build=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --stores) stores="$2"; shift 2 ;;
        --agents) agents="$2"; shift 2 ;;
        --batches) batches="$2"; shift 2 ;;
        --bars-per-batch) bars="$2"; shift 2 ;;
        --symbols) symbols="$2"; shift 2 ;;
        --warmup) warmup="$2"; shift 2 ;;
        --gzip) gzips="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --port) port="$2"; shift 2 ;;
        --perf) perf=1; shift ;;
        --keep) keep=1; shift ;;
        --no-build) build=0; shift ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
command -v jq >/dev/null || { echo "collector-load.sh needs jq" >&2; exit 1; }
command -v curl >/dev/null || { echo "collector-load.sh needs curl" >&2; exit 1; }

bin="$repo/.build-bench/release"
if [[ $build -eq 1 ]]; then
    echo "building vigil-collector and vigil (release, scratch path .build-bench) ..."
    (cd "$repo" && swift build -c release --product vigil-collector --scratch-path "$repo/.build-bench" 2>&1 | tail -1)
    (cd "$repo" && swift build -c release --product vigil --scratch-path "$repo/.build-bench" 2>&1 | tail -1)
fi
[[ -x "$bin/vigil-collector" && -x "$bin/vigil" ]] || { echo "no binaries in $bin (run without --no-build)" >&2; exit 1; }

disk_parent="${VIGIL_LOAD_DIR:-/var/tmp}"
work="$(mktemp -d "$disk_parent/vigil-collector-load.XXXXXX")"
collector_pid=""
sampler_pid=""
schemas=()
pg_url=""
cleanup() {
    [[ -n "$sampler_pid" ]] && kill "$sampler_pid" 2>/dev/null || true
    if [[ -n "$collector_pid" ]] && kill -0 "$collector_pid" 2>/dev/null; then
        kill -KILL "$collector_pid" 2>/dev/null || true
        wait "$collector_pid" 2>/dev/null || true
    fi
    if [[ $keep -eq 0 ]]; then
        rm -rf "$work" "/dev/shm/$(basename "$work")"
        for schema in "${schemas[@]}"; do
            psql "$pg_url" -qtAc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || echo "could not drop schema $schema" >&2
        done
    else
        echo "kept: $work ${schemas[*]}"
    fi
}
trap cleanup EXIT

hz=$(getconf CLK_TCK)
field_kb() { awk -v key="$1:" '$1 == key { print $2 }' "/proc/$2/status"; }
# utime + stime of one process, in clock ticks (fields 14 and 15 of /proc/PID/stat; the name may contain spaces).
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
# utime + stime of every process named postgres (the server and its backends), in clock ticks.
pg_ticks() {
    local total=0 f v
    for f in /proc/[0-9]*/stat; do
        [[ "$(cut -d' ' -f2 "$f" 2>/dev/null)" == "(postgres)" ]] || continue
        v=$(sed 's/.*) //' "$f" 2>/dev/null | awk '{ print $12 + $13 }') || true
        total=$(( total + ${v:-0} ))
    done
    echo "$total"
}

echo "machine: $(nproc) cores | $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') |" \
    "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM | load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "load: $agents agents × $batches batches × $bars bars ($symbols symbols), warm-up $warmup per agent, gzip: $gzips"
echo "work dir: $work ($(stat -f -c %T "$work"))"

summaries=()
failed=0
for store in $stores; do
    data="$work/$store"
    case "$store" in
        sqlite)
            store_yaml="  kind: sqlite"
            ;;
        sqlite-tmpfs)
            data="/dev/shm/$(basename "$work")/$store"
            store_yaml="  kind: sqlite"
            ;;
        postgres)
            pg_url="$("$repo/scripts/postgres.sh" start)"
            schema="bench_$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')"
            schemas+=("$schema")
            export VIGIL_BENCH_POSTGRES_URL="$pg_url"
            store_yaml=$'  kind: postgres\n  postgres_url_env: VIGIL_BENCH_POSTGRES_URL\n  postgres_schema: '"$schema"
            ;;
        blackhole)
            # Receive -> decode -> dedupe -> partition with nothing stored (issue 3 §11 a).
            store_yaml="  kind: blackhole"
            ;;
        *) echo "unknown store $store (blackhole, sqlite, sqlite-tmpfs, postgres)" >&2; exit 2 ;;
    esac
    mkdir -p "$data"
    cat > "$data/collector.yaml" <<EOF
collector:
  id: load-bench
  data_dir: $data
server:
  listen: 127.0.0.1:$port
store:
$store_yaml
logging:
  level: warning
EOF
    "$bin/vigil-collector" serve --config "$data/collector.yaml" > "$data/collector.log" 2>&1 &
    collector_pid=$!
    ready=""
    for _ in $(seq 1 600); do
        kill -0 "$collector_pid" 2>/dev/null || break
        if curl -m 1 -fs -o /dev/null "http://127.0.0.1:$port/readyz"; then ready=1; break; fi
        sleep 0.05
    done
    if [[ -z "$ready" ]]; then
        echo "$store: collector did not become ready; its log:" >&2
        tail -20 "$data/collector.log" >&2
        exit 1
    fi
    # Resident memory sampled every 100 ms while the load runs (VmHWM below is the kernel's own peak).
    ( peak=0; while kill -0 "$collector_pid" 2>/dev/null; do
          rss=$(field_kb VmRSS "$collector_pid" 2>/dev/null || echo 0); (( rss > peak )) && { peak=$rss; echo "$peak" > "$data/rss.peak"; }
          sleep 0.1
      done ) &
    sampler_pid=$!
    echo "$store: collector pid $collector_pid ready, VmRSS $(( $(field_kb VmRSS "$collector_pid") / 1024 )) MB, data in $data ($(stat -f -c %T "$data"))"

    for gz in $gzips; do
      for round in $(seq 1 "$rounds"); do
        flag=""
        [[ "$gz" == "on" ]] && flag="--gzip"
        perf_pid=""
        if [[ $perf -eq 1 && "$gz" == "off" && $round -eq 1 ]] && command -v perf >/dev/null; then
            perf record -F 999 -o "$data/perf.data" -p "$collector_pid" >/dev/null 2>&1 &
            perf_pid=$!
            sleep 0.5
        fi
        c0=$(cpu_ticks "$collector_pid"); p0=0
        [[ "$store" == "postgres" ]] && p0=$(pg_ticks)
        out="$data/loadgen-gzip-$gz-$round.json"
        status=0
        "$bin/vigil" loadgen --url "http://127.0.0.1:$port" --agents "$agents" --batches "$batches" --bars-per-batch "$bars" \
            --symbols "$symbols" --warmup "$warmup" $flag --json > "$out" || status=$?
        c1=$(cpu_ticks "$collector_pid"); p1=0
        [[ "$store" == "postgres" ]] && p1=$(pg_ticks)
        if [[ -n "$perf_pid" ]]; then
            kill -INT "$perf_pid" 2>/dev/null || true
            wait "$perf_pid" 2>/dev/null || true
        fi
        if ! jq -e . "$out" >/dev/null 2>&1; then
            echo "$store gzip $gz: loadgen failed (exit $status): $(cat "$out")" >&2
            failed=1
            continue
        fi
        [[ $status -eq 0 ]] || failed=1
        secs=$(jq -r .seconds "$out")
        # CPU over the whole loadgen run (warm-up included) divided by the timed bars: an upper bound per bar.
        total_bars=$(( agents * (batches + warmup) * bars ))
        col_cpu=$(echo "($c1 - $c0) / $hz" | bc -l)
        pg_cpu=$(echo "($p1 - $p0) / $hz" | bc -l)
        round_tag=""
        [[ $rounds -gt 1 ]] && round_tag="round=$round "
        [[ $rounds -gt 1 && "$store" != "postgres" ]] && round_tag="${round_tag}store_MB=$(du -sm "$data" | cut -f1) "
        line=$(jq -r --arg store "$store" --arg gz "$gz" --arg rt "$round_tag" --arg ccpu "$col_cpu" --arg pcpu "$pg_cpu" --arg tb "$total_bars" '
            "store=\($store) gzip=\($gz) \($rt)bars=\(.bars) seconds=\(.seconds * 1000 | round / 1000) "
            + "bars_per_s=\(.bars_per_second | round) requests_per_s=\(.requests_per_second * 10 | round / 10) "
            + "wire_MB_per_s=\(.wire_mb_per_second * 10 | round / 10) "
            + "latency_ms_p50=\(.latency_ms.p50 * 10 | round / 10) p90=\(.latency_ms.p90 * 10 | round / 10) "
            + "p99=\(.latency_ms.p99 * 10 | round / 10) max=\(.latency_ms.max * 10 | round / 10) "
            + "retries=\(.retries) errors=\(.errors) "
            + "collector_cpu_us_per_bar=\(($ccpu | tonumber) * 1e6 / ($tb | tonumber) * 100 | round / 100) "
            + (if ($pcpu | tonumber) > 0 then "postgres_cpu_us_per_bar=\(($pcpu | tonumber) * 1e6 / ($tb | tonumber) * 100 | round / 100) " else "" end)
            + "loadgen_cpu_s=\(.loadgen_cpu_seconds * 100 | round / 100)"' "$out")
        [[ "$(jq -r .errors "$out")" == "0" ]] || line="$line error_reasons=$(jq -c .error_reasons "$out")"
        echo "  $line"
        summaries+=("$line")
        if [[ -n "$perf_pid" && -f "$data/perf.data" ]]; then
            echo "  perf (collector, gzip off): top symbols by self time"
            perf report -i "$data/perf.data" --no-children --sort dso,symbol -g none --percent-limit 1 --stdio 2>/dev/null \
                | grep -E '^ +[0-9]' | head -30 | swift demangle --simplified | sed -E 's/[ -]+$//; s/^ +/    /'
        fi
      done
    done

    hwm=$(field_kb VmHWM "$collector_pid")
    anon=$(field_kb RssAnon "$collector_pid")
    peak=$(cat "$data/rss.peak" 2>/dev/null || echo 0)
    kill -TERM "$collector_pid"
    stop_start=$(date +%s%N)
    wait "$collector_pid" 2>/dev/null || true
    stopped_ms=$(( ($(date +%s%N) - stop_start) / 1000000 ))
    collector_pid=""
    kill "$sampler_pid" 2>/dev/null || true
    wait "$sampler_pid" 2>/dev/null || true
    sampler_pid=""
    db_size=$(du -sh "$data" 2>/dev/null | cut -f1)
    memory="collector VmHWM $(( hwm / 1024 )) MB (max sampled VmRSS $(( peak / 1024 )) MB, RssAnon at end $(( anon / 1024 )) MB); SIGTERM → exit ${stopped_ms} ms"
    [[ "$store" != "postgres" ]] && memory="$memory; data dir $db_size"
    echo "  $memory"
    for i in "${!summaries[@]}"; do
        [[ "${summaries[$i]}" == "store=$store "* && "${summaries[$i]}" != *VmHWM* ]] && summaries[$i]="${summaries[$i]} VmHWM_MB=$(( hwm / 1024 ))"
    done
done

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "summary:"
for line in "${summaries[@]}"; do echo "  $line"; done
exit $failed
