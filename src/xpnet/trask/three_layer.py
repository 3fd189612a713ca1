"""Seeds 000/003 part 2, the "11 lines": a 3 -> 4 -> 1 network learning XOR of two columns,
60000 iterations, printing the mean absolute error every 10000."""

from .common import X_SEED, fit_trask, float64_arrays, fmt, to_numpy, trask_network, weights

TARGETS = [[0], [1], [1], [0]]


def run(backend=None, iterations=60000):
    b, X, y = float64_arrays(backend, X_SEED, TARGETS)
    xp = b.xp
    model = trask_network([3, 4, 1], b)
    errors = []

    def on_iteration(j, out):
        if j % 10000 == 0:
            # mean |y - l2|, computed from the outputs before this iteration's update
            errors.append(float(to_numpy(xp.mean(xp.abs(y - out)))))

    out = fit_trask(model, X, y, iterations, on_iteration)
    return {
        "backend": b.name,
        "errors": errors,
        "outputs": to_numpy(out).tolist(),
        "weights": weights(model),
        "_model": model,
    }


def report(r):
    import numpy as np

    # Python 2's str() of a float64 printed 12 significant digits
    lines = [f"Error:{e:.12g}" for e in r["errors"]]
    return "\n".join(lines + ["Output After Training:", fmt(np.asarray(r["outputs"]))])
