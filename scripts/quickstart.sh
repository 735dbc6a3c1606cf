#!/usr/bin/env bash
# The README's first command: sets up what is missing, builds the agent (release) and runs it end to end on the
# embedded defaults — the seeded synthetic market with labelled anomalies — then, when ../shared/data is present,
# backtests five years of S&P 500 daily bars and scores them against the documented events.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
echo "== building vigil-agent (release; the first build takes a few minutes)"
swift build -c release --product vigil-agent 2>&1 | grep -E "error|warning: unre|Compiling vigil|Build" || true
agent=.build/release/vigil-agent
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

echo "== live agent: synthetic market (100 symbols x 500 ticks, as fast as possible) -> Tier-1 -> spool -> shipper"
python3 scripts/dev-sink.py "$work/port" & sleep 0.5
port=$(cat "$work/port")
cat > "$work/agent.yaml" <<YAML
agent: {id: quickstart, data_dir: $work/data}
collector: {url: "http://127.0.0.1:$port"}
admin: {listen: "127.0.0.1:0"}
logging: {format: json, level: info}
feeds:
  - {type: synthetic, symbols: 100, tick_rate: 0, max_ticks: 500, interval_seconds: 86400, seed: 42, labels_path: $work/labels.csv}
YAML
start=$(date +%s.%N)
"$agent" run --config "$work/agent.yaml" --exit-when-drained 2> "$work/agent.log"
end=$(date +%s.%N)
python3 - "$work" "$port" "$start" "$end" <<'PY'
import json, sys, urllib.request
work, port, start, end = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
stats = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/"))
labels = sum(1 for _ in open(f"{work}/labels.csv")) - 1
logs = [json.loads(line) for line in open(f"{work}/agent.log") if line.startswith("{")]
stop = next(l for l in logs if l["msg"] == "Shipper stopped.")
print(f"agent: {stop['shipper.bars_acked']} bars in {stop['shipper.batches_acked']} batches acknowledged "
      f"({stats['bytes']/1e6:.1f} MB protobuf, {stats['gzip_bytes']/1e6:.1f} MB on the wire), {labels} injected anomalies, "
      f"{end-start:.2f} s; spool left with {stop['spool.pending']} batches")
PY

data=../shared/data
if [ -d "$data/sp500-daily" ]; then
    echo "== backtest: sp500-daily (505 symbols, 619,040 bars) with the same normalizer and detectors"
    "$agent" backtest --input "$data/sp500-daily" --output "$work/backtest.csv"
    python3 ../shared/tools/events_eval.py "$work/backtest.csv" "$data/events-dev.csv" | tail -1
    mkdir -p out && cp "$work/backtest.csv" out/backtest-sp500.csv && echo "scores written to out/backtest-sp500.csv"
else
    echo "(../shared/data not found: skipping the S&P 500 backtest)"
fi
