"""Benchmark 1: the seeds' three-layer network (3-4-1, sigmoid, full batch, float64, 60000
iterations): xpnet through its public API against the seed's raw NumPy loop.

Three contenders, run side by side: the seed's loop exactly as published, xpnet's generic
`train_step`, and xpnet's fast step (`make_train_step`, path "numpy"). Before timing, the
fast step's final weights are checked bit for bit against the raw loop's.
"""

from __future__ import annotations

import numpy as np

from common import best_of_each, row, xpnet_step

X = [[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]]
Y = [[0], [1], [1], [0]]


def raw_numpy(iterations: int):
    """The seed program (iamtrask's "11 lines"), only renamed."""
    X_, y = np.array(X, dtype=float), np.array(Y, dtype=float)
    # the seed program's legacy global generator, as published: the reference to reproduce
    np.random.seed(1)  # noqa: NPY002
    syn0 = 2 * np.random.random((3, 4)) - 1  # noqa: NPY002
    syn1 = 2 * np.random.random((4, 1)) - 1  # noqa: NPY002
    for _ in range(iterations):
        l1 = 1 / (1 + np.exp(-(np.dot(X_, syn0))))
        l2 = 1 / (1 + np.exp(-(np.dot(l1, syn1))))
        l2_delta = (y - l2) * (l2 * (1 - l2))
        l1_delta = l2_delta.dot(syn1.T) * (l1 * (1 - l1))
        syn1 += l1.T.dot(l2_delta)
        syn0 += X_.T.dot(l1_delta)
    return [syn0, syn1]


def xpnet_run(iterations: int, fast: bool):
    from xpnet import backend
    from xpnet.losses import HalfSSE
    from xpnet.optim import sgd
    from xpnet.trask.common import trask_network

    b = backend.get_backend("numpy")
    X_, y = b.asarray(X, "float64"), b.asarray(Y, "float64")
    model, loss, opt = trask_network([3, 4, 1], b), HalfSSE(), sgd(1.0)
    step = xpnet_step(model, loss, opt, fast)
    state = step.init_state()
    for _ in range(iterations):
        _, _, state = step(X_, y, state)
    return [np.asarray(model.params["0.W"]), np.asarray(model.params["2.W"])]


def run(quick: bool, reps: int) -> list[dict]:
    iterations = 500 if quick else 60000
    ref = raw_numpy(iterations)
    for fast in (False, True):
        got = xpnet_run(iterations, fast)
        same = all(np.array_equal(a, b) for a, b in zip(ref, got, strict=True))
        if not same:  # the published digits depend on this
            raise AssertionError(f"seed network: xpnet (fast={fast}) weights differ from the raw loop's")
    t = best_of_each(
        {
            "raw": lambda: raw_numpy(iterations),
            "generic": lambda: xpnet_run(iterations, False),
            "fast": lambda: xpnet_run(iterations, True),
        },
        reps,
    )
    t_raw, t_gen, t_fast = t["raw"], t["generic"], t["fast"]
    cfg = f"3-4-1 sigmoid, float64, {iterations} iterations"
    # target: at most 1.3x the raw loop's time, i.e. at least 1/1.3 of its speed
    return [
        row(
            "seed three-layer",
            cfg,
            "seconds",
            t_fast,
            t_raw,
            "raw NumPy loop",
            1 / 1.3,
            False,
            path="fast step",
            weights_equal="bit-identical",
        ),
        row(
            "seed three-layer",
            cfg,
            "seconds",
            t_gen,
            t_raw,
            "raw NumPy loop",
            None,
            False,
            path="generic step",
            weights_equal="bit-identical",
        ),
    ]
