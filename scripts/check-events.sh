#!/usr/bin/env bash
# The agent's acceptance check: backtest sp500-daily at default settings and score it against events-dev.csv
# (recall 1.0 and fewer than one flag per symbol-month). Skips with a message when ../shared/data is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${VIGIL_SHARED_DATA:-../shared/data}
if [ ! -d "$data/sp500-daily" ]; then echo "check-events: $data not found, skipped"; exit 0; fi
swift build -c release --product vigil-agent 2>&1 | grep -E "error|Build" || true
out=$(mktemp)
trap 'rm -f "$out"' EXIT
.build/release/vigil-agent backtest --input "$data/sp500-daily" --output "$out"
python3 "$data/../tools/events_eval.py" "$out" "$data/events-dev.csv" --min-recall 1.0 --max-rate 1.0
