"""Peak memory of xpnet's scikit-learn estimators on large data, against a budget.

Each case runs in a fresh subprocess: it imports everything, makes the data (X float64, n x 64,
integer labels or float targets) without temporaries, reads its resident memory (RSS), fits,
and reports the peak RSS of the process (VmHWM) minus the RSS before the fit: what fitting
added on top of the data the caller holds. The budget is what fitting may need besides the
caller's data: one working copy of X and y (the shuffled epoch), the parameters, the optimizer
state (Adam: 2 x parameters), a few batches' activations, and SLACK_MB for the allocator and
the first calls' caches.

    python benchmarks/estimator_memory.py                    # 400000 x 64, in well under a minute
    python benchmarks/estimator_memory.py --rows 2000000     # the 2e6 x 64 of issue 10
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
SLACK_MB = 64.0

CHILD = r"""
import json, sys, warnings
import numpy as np
sys.path.insert(0, {src!r})
from xpnet.sklearn import MLPClassifier, MLPRegressor

def status_mb(field):  # VmRSS now, VmHWM the peak: of this program only (ru_maxrss would
    with open("/proc/self/status") as f:  # include the parent's memory before exec)
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024

rows, features, hidden, kind, early = {rows}, {features}, {hidden}, {kind!r}, {early}
rng = np.random.default_rng(0)
X = rng.standard_normal((rows, features))  # float64, no temporary
y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0) if kind == "classifier" else X[:, 0].copy()
est_cls = MLPClassifier if kind == "classifier" else MLPRegressor
est = est_cls(hidden_layer_sizes=(hidden,), max_iter=2, random_state=0, early_stopping=early)
before = status_mb("VmRSS")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    est.fit(X, y)
peak = status_mb("VmHWM")
n_params = sum(int(np.prod(p.shape)) for p in est.model_.params.values())
print(json.dumps({{"before_mb": before, "peak_mb": peak, "data_mb": (X.nbytes + y.nbytes) / 2**20,
                  "params_mb": n_params * 8 / 2**20, "n_iter": est.n_iter_}}))
"""


def measure(rows: int, features: int, hidden: int, kind: str, early: bool) -> dict:
    code = CHILD.format(src=str(SRC), rows=rows, features=features, hidden=hidden, kind=kind, early=early)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"estimator_memory: the {kind} case failed:\n{proc.stderr[-3000:]}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    batch_mb = 4 * 200 * (features + hidden + 3) * 8 / 2**20  # a few batches' inputs and activations
    r["added_mb"] = r["peak_mb"] - r["before_mb"]
    r["budget_mb"] = r["data_mb"] + 3 * r["params_mb"] + batch_mb + SLACK_MB
    return r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=400_000)
    ap.add_argument("--features", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=100)
    args = ap.parse_args(argv)
    print(f"{'case':<34} {'data MB':>8} {'added MB':>9} {'budget MB':>10} {'added/data':>10}")
    ok = True
    for kind, early in (("classifier", False), ("classifier", True), ("regressor", False)):
        r = measure(args.rows, args.features, args.hidden, kind, early)
        name = f"{kind}{' early_stopping' if early else ''} {args.rows}x{args.features}"
        within = r["added_mb"] <= r["budget_mb"]
        ok &= within
        print(
            f"{name:<34} {r['data_mb']:8.1f} {r['added_mb']:9.1f} {r['budget_mb']:10.1f} "
            f"{r['added_mb'] / r['data_mb']:10.2f} {'ok' if within else 'OVER BUDGET'}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
