"""Helpers for the training-loop tests: small seeded data sets, a loss that records what it saw,
and host copies of a model's weights."""

from __future__ import annotations

import sys

import numpy as np

import xpnet
from helpers import host
from xpnet.losses import MSE


def blobs(n=40, n_features=4, n_classes=3, seed=0):
    """Gaussian clusters: X (n, n_features) float64 and integer labels (n,)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    centres = rng.normal(scale=2.0, size=(n_classes, n_features))
    return centres[labels] + rng.normal(size=(n, n_features)), labels


def small_model(backend, dtype="float64", sizes=(4, 8, 3), seed=1):
    return xpnet.mlp(list(sizes), activation="tanh", backend=backend, dtype=dtype, seed=seed)


def weights(model):
    """Host float64 copies of params and buffers, keyed like the model's dicts."""
    return {k: host(v) for k, v in {**model.params, **model.buffers}.items()}


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


class RecordingMSE(MSE):
    """MSE that records the first target column of every batch it sees (sample ids when y is
    the row index), so tests can see batch composition and order."""

    def __init__(self):
        self.seen = []

    def __call__(self, out, y, weights=None):
        self.seen.append(host(y)[:, 0].astype(int).tolist())
        return super().__call__(out, y, weights)


def count_host_transfers(monkeypatch, backend) -> list:
    """A list that records every device-to-host read from now on: xpnet's to_numpy/to_float and,
    on array-api-strict, every way an array can reach the host (__bool__, __float__, __dlpack__...)."""
    from xpnet.backend import host

    calls = []

    def count(owner, name):
        real = getattr(owner, name)
        monkeypatch.setattr(owner, name, lambda *a, _real=real: calls.append(name) or _real(*a))

    # every module that holds the function (the backend package re-exports it, Backend.to_host
    # and `from .backend import to_numpy` bind it by name): a copy anywhere is counted
    for name in ("to_numpy", "to_float"):
        real = getattr(host, name)
        for module in [m for n, m in sys.modules.items() if n == "xpnet" or n.startswith("xpnet.")]:
            if getattr(module, name, None) is real:
                count(module, name)
    if backend.name == "array_api_strict":
        from array_api_strict._array_object import Array

        for name in ("__bool__", "__float__", "__int__", "__index__", "__dlpack__", "__array__"):
            if hasattr(Array, name):
                count(Array, name)
    return calls
