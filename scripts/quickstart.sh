#!/usr/bin/env bash
# The README's first command: installs what is missing, then runs the pilot — a collector on the embedded store and
# agents over loopback HTTP — on the seeded synthetic market (100 symbols with labelled anomalies), and, when
# ../shared/data is present, on 500 S&P 500 symbols scored against the documented events.
#   scripts/quickstart.sh [extra vigil pilot options]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
echo "== building vigil (release; the first build takes a few minutes)"
swift build -c release --product vigil 2>&1 | grep -E "error|Compiling vigil|Build" || true
echo "== pilot: synthetic market (100 symbols, labelled anomalies) -> agent -> collector (SQLite)"
swift run -c release vigil pilot --data-dir ./data/pilot-synthetic --export out/pilot-synthetic "$@"
data=../shared/data
if [ -d "$data/sp500-daily" ]; then
    echo "== pilot: S&P 500 daily bars (500 symbols, 2 agents) scored against $data/events-dev.csv"
    swift run -c release vigil pilot --source "replay:$data/sp500-daily" --symbols 500 --events "$data/events-dev.csv" \
        --data-dir ./data/pilot-sp500 --export out/pilot-sp500 --top 5 "$@"
else
    echo "(../shared/data not found: skipping the S&P 500 pilot)"
fi
