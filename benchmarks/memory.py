"""Benchmark 4: peak memory of a training run and its growth across epochs.

Runs in a fresh subprocess (`python benchmarks/memory.py --child ...`) so that nothing the
other benchmarks allocated counts. tracemalloc sees NumPy's array allocations. The budget the
issue sets: dataset + parameters + optimizer state + twice one batch's activations; what the
interpreter and imports hold before the data exists is the baseline and is subtracted.
"""

from __future__ import annotations

import json
import subprocess
import sys

from common import ROOT, row, xpnet_step

SIZES = [784, 512, 512, 10]


def child(n: int, epochs: int, batch: int, fast: bool, opt_name: str = "sgd") -> dict:
    import tracemalloc

    import numpy as np

    tracemalloc.start()
    from xpnet import mlp
    from xpnet.losses import SoftmaxCrossEntropy
    from xpnet.optim import adam, sgd

    def one_step(sizes):  # a tiny run first, so that lazy imports are not counted as the run's
        model = mlp(sizes, activation="relu", backend="numpy", dtype="float32", seed=0)
        loss, opt = SoftmaxCrossEntropy(), (adam(1e-3) if opt_name == "adam" else sgd(0.01))
        return model, loss, opt, xpnet_step(model, loss, opt, fast)

    model0, _, opt0, step0 = one_step([4, 3, 2])
    step0(np.ones((2, 4), np.float32), np.zeros(2, np.int64), step0.init_state())
    del step0, model0
    base = tracemalloc.get_traced_memory()[0]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], n, dtype=np.int64)
    model, loss, opt, step = one_step(SIZES)
    state = step.init_state()  # owned by the fast step from the start: never copied
    from xpnet.tree import tree_flatten

    opt_bytes = sum(v.nbytes for v in tree_flatten(state)[0].values() if hasattr(v, "nbytes"))
    after_epoch = []
    tracemalloc.reset_peak()
    for _ in range(epochs):
        for a in range(0, n, batch):
            _, _, state = step(X[a : a + batch, ...], y[a : a + batch], state)
        after_epoch.append(tracemalloc.get_traced_memory()[0] - base)
    peak = tracemalloc.get_traced_memory()[1] - base
    params = sum(v.nbytes for v in model.params.values())
    acts = batch * sum(SIZES) * 4  # the input batch and every layer's output, float32
    return {
        "peak": peak,
        "after_epoch": after_epoch,
        "dataset": X.nbytes + y.nbytes,
        "params": params,
        "opt_state": opt_bytes,
        "activations_per_batch": acts,
    }


def measure(n: int, epochs: int, batch: int, fast: bool, opt_name: str = "sgd") -> dict:
    cmd = [sys.executable, __file__, "--child", str(n), str(epochs), str(batch), str(int(fast)), opt_name]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool, reps: int) -> list[dict]:
    n, epochs, batch = (1024, 2, 128) if quick else (20000, 3, 128)
    rows = []
    for fast, opt_name in ((True, "sgd"), (False, "sgd"), (True, "adam")):
        m = measure(n, epochs, batch, fast, opt_name)
        budget = m["dataset"] + m["params"] + m["opt_state"] + 2 * m["activations_per_batch"]
        growth = m["after_epoch"][-1] - m["after_epoch"][0]
        path = "fast step" if fast else "generic step"
        cfg = f"{'-'.join(map(str, SIZES))}, batch {batch}, {opt_name}, {n} samples, {epochs} epochs"
        # ratio = budget / peak: at least 1 means within budget
        rows.append(
            row(
                "peak memory",
                cfg,
                "MiB",
                m["peak"] / 2**20,
                budget / 2**20,
                "budget: data + params + opt state + 2 batches' activations",
                1.0,
                False,
                path=path,
                growth_bytes_across_epochs=growth,
                **m,
            )
        )
    return rows


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    sys.path.insert(0, str(ROOT / "src"))
    n_, epochs_, batch_, compiled_ = map(int, sys.argv[2:6])
    print(json.dumps(child(n_, epochs_, batch_, bool(compiled_), sys.argv[6])))
