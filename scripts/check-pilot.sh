#!/usr/bin/env bash
# The collector's acceptance check (issue 3): `vigil pilot` on 500 S&P 500 symbols — two agents replaying real daily
# bars over loopback HTTP into a collector on the embedded store — must find every documented event, store every bar
# once and reject nothing. Uses the build the tests made (debug) to keep CI short. Skips when ../shared/data is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${VIGIL_SHARED_DATA:-../shared/data}
if [ ! -d "$data/sp500-daily" ]; then echo "check-pilot: $data not found, skipped"; exit 0; fi
swift build --product vigil 2>&1 | grep -E "error|Build" || true
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.build/debug/vigil pilot --source "replay:$data/sp500-daily" --symbols 500 --events "$data/events-dev.csv" \
    --data-dir "$work/pilot" --json > "$work/report.json"
python3 - "$work/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
e = r["events"]
print(f"pilot: {r['bars']} bars at {r['bars_per_second']:.0f} bars/s, {r['detections']['total']} detections, "
      f"{r['alerts']['total']} alerts ({r['market_wide_alerts']} market-wide); events {e['hits']}/{e['events']}, "
      f"{e['flags_per_symbol_month']:.2f} flags/symbol-month; duplicates {r['duplicates']}, rejected {r['rejected']}")
ok = e["recall"] == 1.0 and r["rejected"] == 0 and r["bars"] > 600000 and e["flags_per_symbol_month"] <= 1.0
for m in e["missed"]: print("  missed:", m)
sys.exit(0 if ok else 1)
PY
