"""What Trask's seed programs share: their toy data, network, loop and printing."""

from __future__ import annotations

import numpy as np  # host-side printing only

from ..backend import get_backend, to_numpy
from ..nn import Dense, Sequential, Sigmoid
from ..nn.losses import HalfSSE
from ..optim import sgd
from ..training import make_train_step

X_SEED = [[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]]


def trask_network(sizes, backend):
    """Dense layers without bias, the seed programs' plain sigmoid, uniform(-1, 1) weights drawn from
    NumPy's legacy RandomState(1) layer by layer, float64."""
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [Dense(a, b, bias=False, init="trask_uniform"), Sigmoid(stable=False)]
    return Sequential(layers, seed=1, legacy_rng=True, dtype="float64", backend=backend)


def fit_trask(model, X, y, iterations, on_iteration=None):
    """The seed programs' loop: full batch, learning rate 1, half the sum of squared errors.
    Returns the outputs of the last iteration, computed before its update."""
    loss, opt = HalfSSE(), sgd(1.0)
    state = opt.init(model.params)
    step = make_train_step(model, loss, opt)
    out = None
    for j in range(iterations):
        _, out, state = step(X, y, state)
        if on_iteration is not None:
            on_iteration(j, out)
    return out


def float64_arrays(backend, X=X_SEED, y=None):
    """(Backend, X, y): the seeds' inputs and targets as float64 arrays on `backend`."""
    b = get_backend(backend)
    return b, b.asarray(X, "float64"), b.asarray(y, "float64")


def fmt(x) -> str:
    """An array as Python 2's NumPy printed it (the seeds' published output)."""
    return np.array2string(np.asarray(to_numpy(x)), legacy="1.13")


def weights(model):
    return [to_numpy(model.params[k]).tolist() for k in sorted(model.params, key=lambda k: int(k.split(".")[0]))]
