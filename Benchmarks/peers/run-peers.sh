#!/usr/bin/env bash
# Tier-2 models against the peers users would pick instead (issue 4 §7), in one command on the same data:
# scikit-learn IsolationForest (n_jobs=1) and xgboost (hist, nthread=1), installed with pip into Benchmarks/.venv,
# against Vigil's Isolation Forest and gradient-boosted trees (release build, single thread).
#   Benchmarks/peers/run-peers.sh [--rows 1000000] [--features 8] [--seed 7] [--trees 100] [--rounds 200]
# Prints both JSON results and a table of ratios (Vigil / peer for rows per second, peer / Vigil for fit time).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bench="$(cd "$here/.." && pwd)"
rows=1000000; features=8; seed=7; trees=100; rounds=200
while [ $# -gt 0 ]; do
    case "$1" in
        --rows) rows="$2"; shift 2 ;;
        --features) features="$2"; shift 2 ;;
        --seed) seed="$2"; shift 2 ;;
        --trees) trees="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
venv="$bench/.venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
# Pinned so the comparison is repeatable; xgboost-cpu is xgboost without the CUDA libraries.
"$venv/bin/pip" install -q "numpy==2.4.6" "scikit-learn==1.9.1" "xgboost-cpu==3.2.0"
data="$(mktemp -d)"
trap 'rm -rf "$data"' EXIT
"$venv/bin/python" "$here/peers.py" generate --out "$data" --rows "$rows" --features "$features" --seed "$seed" > /dev/null
echo "== building ModelPeers (release)"
(cd "$bench" && swift build -c release --product ModelPeers 2>&1 | grep -E "error|Compiling ModelPeers|Build" || true)
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load $(cut -d' ' -f1-3 /proc/loadavg)"
peer=$("$venv/bin/python" "$here/peers.py" run --data "$data" --trees "$trees" --rounds "$rounds")
vigil=$("$bench/.build/release/ModelPeers" --data "$data" --trees "$trees" --rounds "$rounds")
echo "peers: $peer"
echo "vigil: $vigil"
python3 - "$peer" "$vigil" <<'PY'
import json, sys
p, v = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"\n{p['dataset']}: scikit-learn {p['sklearn']}, xgboost {p['xgboost']}")
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
print(f"{'Isolation Forest ROC-AUC':34} {vi['roc_auc']:12.4f} {pi['roc_auc']:12.4f} {vi['roc_auc'] - pi['roc_auc']:+7.4f}")
print(f"{'Boosted trees ROC-AUC':34} {vg['roc_auc']:12.4f} {pg['roc_auc']:12.4f} {vg['roc_auc'] - pg['roc_auc']:+7.4f}")
print(f"{'Boosted trees rounds (early stop)':34} {vg['rounds']:12d} {pg['rounds']:12d}")
PY
