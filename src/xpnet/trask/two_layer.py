"""Seeds 000/003 part 1: a 3 -> 1 sigmoid layer learning the first input column."""

from .common import X_SEED, fit_trask, float64_arrays, fmt, to_numpy, trask_network, weights

TARGETS = [[0], [0], [1], [1]]


def run(backend=None):
    b, X, y = float64_arrays(backend, X_SEED, TARGETS)
    model = trask_network([3, 1], b)
    out = fit_trask(model, X, y, 10000)
    return {"backend": b.name, "outputs": to_numpy(out).tolist(), "weights": weights(model), "_model": model}


def report(r):
    import numpy as np

    return "Output After Training:\n" + fmt(np.asarray(r["outputs"]))
