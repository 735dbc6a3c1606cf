#!/usr/bin/env bash
# Tier-2 models against the peers users would pick instead (issue 4 §7), in one command on the same data:
# scikit-learn IsolationForest (n_jobs=1) and xgboost (hist, nthread=1), installed with pip into Benchmarks/.venv,
# against Vigil's Isolation Forest and gradient-boosted trees (release build, single thread), on two data sets:
#   (a) synthetic: 1M x 8 rows, ~1 % outliers (peers.py generate);
#   (b) sp500-daily: Vigil's feature rows built from the real daily bars in ../shared/data/sp500-daily (or
#       $VIGIL_SHARED_DATA/sp500-daily) with seeded, labelled injected anomalies (ModelPeers build-sp500; the rule is in
#       Benchmarks/ModelPeers/SP500Features.swift). Skipped with a message when the data is absent.
#   Benchmarks/peers/run-peers.sh [--rows 1000000] [--features 8] [--seed 7] [--sp500-seed 11] [--trees 100] [--rounds 200]
# Prints both JSON results per data set and a table of ratios (Vigil / peer for rows per second and for 1 / fit time).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bench="$(cd "$here/.." && pwd)"
repo="$(cd "$bench/.." && pwd)"
rows=1000000; features=8; seed=7; sp500_seed=11; trees=100; rounds=200
while [ $# -gt 0 ]; do
    case "$1" in
        --rows) rows="$2"; shift 2 ;;
        --features) features="$2"; shift 2 ;;
        --seed) seed="$2"; shift 2 ;;
        --sp500-seed) sp500_seed="$2"; shift 2 ;;
        --trees) trees="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
started=$(date +%s)
echo "started $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
venv="$bench/.venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
# Pinned so the comparison is repeatable; xgboost-cpu is xgboost without the CUDA libraries.
"$venv/bin/pip" install -q "numpy==2.4.6" "scikit-learn==1.9.1" "xgboost-cpu==3.2.0"
data="$(mktemp -d)"
trap 'rm -rf "$data"' EXIT
echo "== building ModelPeers (release)"
if ! (cd "$bench" && swift build -c release --product ModelPeers > "$data/build.log" 2>&1); then
    cat "$data/build.log" >&2
    exit 1
fi
grep -E "Compiling ModelPeers|Build" "$data/build.log" || true
modelpeers="$bench/.build/release/ModelPeers"
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load $(cut -d' ' -f1-3 /proc/loadavg)"

# Both sides on one data directory, then the table.
compare() {
    local dir="$1" peer vigil
    peer=$("$venv/bin/python" "$here/peers.py" run --data "$dir" --trees "$trees" --rounds "$rounds")
    vigil=$("$modelpeers" --data "$dir" --trees "$trees" --rounds "$rounds")
    echo "peers: $peer"
    echo "vigil: $vigil"
    python3 - "$peer" "$vigil" "$(cat "$dir/meta.json")" <<'PY'
import json, sys
p, v, meta = (json.loads(a) for a in sys.argv[1:4])
test = meta["rows"] - meta["train"] - meta["validation"]
print(f"\n{p['dataset']}: train {meta['train']}, validation {meta['validation']}, test {test} rows; "
      f"scikit-learn {p['sklearn']}, xgboost {p['xgboost']}")
rows = []
pi, vi = p["isolation_forest"], v["isolation_forest"]
rows.append(("Isolation Forest fit (rows/s)", vi["fit_rows_per_second"], pi["fit_rows_per_second"]))
rows.append(("Isolation Forest score (rows/s)", vi["score_rows_per_second"], pi["score_rows_per_second"]))
pg, vg = p["gradient_boosted_trees"], v["gradient_boosted_trees"]
rows.append(("Boosted trees training (1/s)", 1 / vg["fit_seconds"], 1 / pg["fit_seconds"]))
rows.append(("Boosted trees predict (rows/s)", vg["predict_rows_per_second"], pg["predict_rows_per_second"]))
print(f"{'':34} {'vigil':>12} {'peer':>12} {'ratio':>7}")
for name, a, b in rows:
    print(f"{name:34} {a:12.4g} {b:12.4g} {a / b:7.2f}x")
for label, key in (("ROC-AUC", "roc_auc"), ("PR-AUC", "pr_auc")):
    print(f"{'Isolation Forest ' + label:34} {vi[key]:12.4f} {pi[key]:12.4f} {vi[key] - pi[key]:+7.4f}")
    print(f"{'Boosted trees ' + label:34} {vg[key]:12.4f} {pg[key]:12.4f} {vg[key] - pg[key]:+7.4f}")
print(f"{'Boosted trees rounds (early stop)':34} {vg['rounds']:12d} {pg['rounds']:12d}")
print(f"{'Boosted trees s/round':34} {vg['fit_seconds'] / vg['rounds']:12.4f} {pg['fit_seconds'] / pg['rounds']:12.4f} "
      f"{(pg['fit_seconds'] / pg['rounds']) / (vg['fit_seconds'] / vg['rounds']):7.2f}x")
PY
}

echo
echo "== (a) synthetic"
"$venv/bin/python" "$here/peers.py" generate --out "$data/a" --rows "$rows" --features "$features" --seed "$seed" > /dev/null
compare "$data/a"

echo
echo "== (b) sp500-daily"
shared="${VIGIL_SHARED_DATA:-$repo/../shared/data}"
if [ -d "$shared/sp500-daily" ]; then
    "$modelpeers" build-sp500 --data "$shared/sp500-daily" --out "$data/b" --seed "$sp500_seed" > /dev/null
    python3 - "$data/b/meta.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
s = m["source"]
print(f"{s['symbols']} symbols, {s['bars_read']} bars, {s['dead_lettered']} dead-lettered; injected {s['injected_spikes']} spikes, "
      f"{s['injected_gaps']} gaps, {s['injected_volume_surges']} volume surges; FeatureSet v{m['feature_set_version']} "
      f"({m['features']} features); train {s['first_date']}.., validation {s['validation_from']}.., test {s['test_from']}..{s['last_date']}")
PY
    compare "$data/b"
else
    echo "skipped: $shared/sp500-daily is absent (set VIGIL_SHARED_DATA to the folder holding sp500-daily)"
fi
echo
echo "finished $(date -u '+%Y-%m-%d %H:%M:%S UTC') after $(( $(date +%s) - started )) s, load $(cut -d' ' -f1-3 /proc/loadavg)"
