"""Seed 002: one 3 -> 1 sigmoid neuron, 10000 iterations, then a prediction for [1, 0, 0]."""

from .common import fit_trask, float64_arrays, fmt, to_numpy, trask_network, weights

INPUTS = [[0, 0, 1], [1, 1, 1], [1, 0, 1], [0, 1, 1]]
TARGETS = [[0], [1], [1], [0]]


def run(backend=None):
    b, X, y = float64_arrays(backend, INPUTS, TARGETS)
    model = trask_network([3, 1], b)
    start = weights(model)
    out = fit_trask(model, X, y, 10000)
    prediction = model.predict(b.asarray([[1, 0, 0]], "float64"))
    return {
        "backend": b.name,
        "start_weights": start,
        "outputs": to_numpy(out).tolist(),
        "weights": weights(model),
        "prediction": float(to_numpy(prediction)[0, 0]),
        "_model": model,
    }


def report(r):
    import numpy as np

    return "\n".join(
        [
            "Random starting synaptic weights: ",
            fmt(np.asarray(r["start_weights"][0])),
            "New synaptic weights after training: ",
            fmt(np.asarray(r["weights"][0])),
            "Considering new situation [1, 0, 0] -> ?: ",
            fmt(np.asarray([r["prediction"]])),
        ]
    )
