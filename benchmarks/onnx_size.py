"""The size of xpnet's ONNX export against skl2onnx's for the same model: scikit-learn's
StandardScaler + MLPClassifier (64-64-10, ReLU, softmax) on digits, and xpnet's predictor holding
exactly those weights and statistics (Dense, ReLU, Dense; softmax; standardisation), so that both
graphs compute the same function. Both are run with onnxruntime on the digits rows and must agree
with scikit-learn's predict_proba before anything is counted.

    python benchmarks/onnx_size.py [--out FILE.md]

Needs xpnet[onnx] and skl2onnx (not an xpnet dependency: install it where you run this).
Counts: nodes of the top-level graph, nodes with the If subgraphs, initializers, file bytes.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import xpnet  # noqa: E402
from xpnet.export.onnx import run_onnx  # noqa: E402
from xpnet.export.onnx_graph import graph_counts  # noqa: E402


def sklearn_model(X, y):
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(64,), max_iter=200, random_state=0)).fit(
        X, y
    )


def xpnet_twin(pipe, dtype: str) -> xpnet.Predictor:
    """An xpnet predictor with the pipeline's scaler statistics and MLP weights."""
    scaler, mlp = pipe[0], pipe[1]
    sizes = [mlp.coefs_[0].shape[0], *(c.shape[1] for c in mlp.coefs_)]
    model = xpnet.mlp(sizes, activation="relu", backend="numpy", dtype=dtype)
    for i, (W, b) in enumerate(zip(mlp.coefs_, mlp.intercepts_, strict=True)):
        model.params[f"{2 * i}.W"] = np.asarray(W, dtype=dtype)  # Dense layers sit at 0, 2, ...
        model.params[f"{2 * i}.b"] = np.asarray(b, dtype=dtype)
    scaler_stats = xpnet.nn.Standardizer(scaler.mean_, scaler.scale_)
    return xpnet.Predictor(
        model, loss="softmax_cross_entropy", standardizer=scaler_stats, classes=[int(c) for c in mlp.classes_]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the table to this markdown file")
    args = parser.parse_args()
    try:
        import onnx
        from skl2onnx import to_onnx
    except ImportError as exc:
        print(f"onnx_size: needs skl2onnx and xpnet[onnx] ({exc})", file=sys.stderr)
        return 2
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    pipe = sklearn_model(X, y)
    reference = pipe.predict_proba(X)
    rows = []
    tmp = Path("onnx_size.tmp.onnx")
    for dtype, np_dtype in (("float32", np.float32), ("float64", np.float64)):
        sk = to_onnx(pipe, X[:1].astype(np_dtype), options={"zipmap": False}, target_opset=21)
        sk_bytes = sk.SerializeToString()
        got = run_onnx(sk_bytes, X)
        sk_diff = float(np.max(np.abs(got["probabilities"] - reference)))
        rows.append(("skl2onnx " + dtype, graph_counts(sk), len(sk_bytes), sk_diff))
        try:
            report = xpnet.export_onnx(xpnet_twin(pipe, dtype), tmp, overwrite=True)
            proto = onnx.load(tmp)
        finally:
            tmp.unlink(missing_ok=True)
        got = run_onnx(proto, X)
        xp_diff = float(np.max(np.abs(got["probabilities"] - reference)))
        rows.append(("xpnet " + dtype, graph_counts(proto), report["bytes"], xp_diff))
    lines = [
        f"ONNX export of StandardScaler + MLPClassifier(64,) on digits, {datetime.date.today()}: "
        f"skl2onnx {__import__('skl2onnx').__version__}, ndonnx {__import__('ndonnx').__version__}, "
        f"onnx {onnx.__version__}",
        "",
        "| exporter | nodes | nodes with subgraphs | initializers | bytes | max abs diff vs sklearn predict_proba |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, counts, size, diff in rows:
        n, total, init = counts["nodes"], counts["nodes_total"], counts["initializers"]
        lines.append(f"| {name} | {n} | {total} | {init} | {size:,} | {diff:.2g} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
