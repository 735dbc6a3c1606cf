#!/usr/bin/env python3
"""The peers of Vigil's Tier-2 models, on the same data files the Swift benchmark reads (issue 4 §7).

  peers.py generate --out DIR [--rows 1000000] [--features 8] [--outliers 0.01] [--seed 7]
      writes dataset (a): X.f64 (row-major float64, little-endian), y.u8 (1 = outlier), meta.json
      (dataset (b), Vigil's feature rows of the real sp500-daily bars, is written in the same format by
      `ModelPeers build-sp500`, so both sides read identical rows)
  peers.py run --data DIR [--trees 100] [--rounds 200]
      scikit-learn IsolationForest (n_jobs=1) and xgboost (tree_method=hist, nthread=1) on that data;
      prints one JSON object: fit seconds, score/predict rows per second, ROC-AUC, PR-AUC (average precision).

Splits (in meta.json): the first 60 % of rows train, the next 20 % validate (xgboost early stopping), the last 20 %
test. Isolation Forest fits on the training rows (unsupervised) and is scored on the test rows.
"""
import argparse, json, os, sys, time

import numpy as np


def generate(a):
    rng = np.random.default_rng(a.seed)
    n, d = a.rows, a.features
    X = rng.standard_normal((n, d))
    # Correlated inliers (a common factor), so the problem is not trivially axis-aligned.
    X[:, 1] = 0.6 * X[:, 0] + 0.8 * X[:, 1]
    y = (rng.random(n) < a.outliers).astype(np.uint8)
    k = int(y.sum())
    # Outliers: a random subset of features pushed 3-6 sigma out, with random signs.
    push = rng.uniform(3, 6, (k, d)) * rng.choice([-1.0, 1.0], (k, d)) * (rng.random((k, d)) < 0.5)
    push[np.arange(k), rng.integers(0, d, k)] = rng.uniform(3, 6, k)  # at least one feature each
    X[y == 1] += push
    os.makedirs(a.out, exist_ok=True)
    X.astype("<f8").tofile(os.path.join(a.out, "X.f64"))
    y.tofile(os.path.join(a.out, "y.u8"))
    meta = {"rows": n, "features": d, "seed": a.seed, "outliers": int(k), "train": int(0.6 * n), "validation": int(0.2 * n),
            "name": f"synthetic {n} x {d}, {a.outliers:.0%} outliers, seed {a.seed}"}
    json.dump(meta, open(os.path.join(a.out, "meta.json"), "w"))
    print(json.dumps(meta))


def load(path):
    meta = json.load(open(os.path.join(path, "meta.json")))
    X = np.fromfile(os.path.join(path, "X.f64"), dtype="<f8").reshape(meta["rows"], meta["features"])
    y = np.fromfile(os.path.join(path, "y.u8"), dtype=np.uint8)
    return meta, X, y


def run(a):
    from sklearn.ensemble import IsolationForest
    from sklearn.metrics import average_precision_score, roc_auc_score
    import sklearn
    import xgboost as xgb

    meta, X, y = load(a.data)
    tr, va = meta["train"], meta["validation"]
    Xtr, ytr = X[:tr], y[:tr]
    Xva, yva = X[tr:tr + va], y[tr:tr + va]
    Xte, yte = X[tr + va:], y[tr + va:]
    out = {"dataset": meta.get("name", a.data), "sklearn": sklearn.__version__, "xgboost": xgb.__version__,
           "numpy": np.__version__, "test_rows": int(len(yte))}

    t = time.perf_counter()
    forest = IsolationForest(n_estimators=a.trees, max_samples=256, n_jobs=1, random_state=0).fit(Xtr)
    fit = time.perf_counter() - t
    t = time.perf_counter()
    scores = -forest.score_samples(Xte)  # higher = more anomalous, as Vigil's
    score = time.perf_counter() - t
    out["isolation_forest"] = {"fit_seconds": fit, "fit_rows_per_second": len(Xtr) / fit, "score_rows_per_second": len(Xte) / score,
                               "roc_auc": float(roc_auc_score(yte, scores)), "pr_auc": float(average_precision_score(yte, scores))}

    params = {"tree_method": "hist", "nthread": 1, "objective": "binary:logistic", "eval_metric": "logloss", "max_depth": 6,
              "eta": 0.1, "min_child_weight": 1, "lambda": 1, "max_bin": 256, "seed": 0}
    dtr = xgb.DMatrix(Xtr, label=ytr, nthread=1)
    dva = xgb.DMatrix(Xva, label=yva, nthread=1)
    t = time.perf_counter()
    booster = xgb.train(params, dtr, num_boost_round=a.rounds, evals=[(dva, "validation")], early_stopping_rounds=20, verbose_eval=False)
    fit = time.perf_counter() - t
    dte = xgb.DMatrix(Xte, nthread=1)
    t = time.perf_counter()
    p = booster.predict(dte, iteration_range=(0, booster.best_iteration + 1))
    predict = time.perf_counter() - t
    out["gradient_boosted_trees"] = {"fit_seconds": fit, "rounds": booster.best_iteration + 1,
                                     "predict_rows_per_second": len(Xte) / predict, "roc_auc": float(roc_auc_score(yte, p)),
                                     "pr_auc": float(average_precision_score(yte, p))}
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--out", required=True)
    g.add_argument("--rows", type=int, default=1_000_000)
    g.add_argument("--features", type=int, default=8)
    g.add_argument("--outliers", type=float, default=0.01)
    g.add_argument("--seed", type=int, default=7)
    r = sub.add_parser("run")
    r.add_argument("--data", required=True)
    r.add_argument("--trees", type=int, default=100)
    r.add_argument("--rounds", type=int, default=200)
    a = ap.parse_args()
    generate(a) if a.command == "generate" else run(a)


if __name__ == "__main__":
    sys.exit(main())
