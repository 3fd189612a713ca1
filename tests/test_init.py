"""Initialisers: statistics on large shapes, zero biases, and the same draw for the same seed on
every backend."""

import math

import numpy as np
import pytest

import xpnet
from helpers import host
from xpnet.nn import Dense
from xpnet.nn.init import INITIALIZERS, get_initializer

FAN_IN, FAN_OUT = 400, 300  # 120,000 draws: sample moments within about 1% of the truth

# name -> (expected standard deviation, expected bounds or None for a normal)
STATS = {
    "trask_uniform": (1 / math.sqrt(3), 1.0),  # uniform on [-1, 1): variance 1/3
    "glorot_uniform": (math.sqrt(2 / (FAN_IN + FAN_OUT)), math.sqrt(6 / (FAN_IN + FAN_OUT))),
    "glorot_normal": (math.sqrt(2 / (FAN_IN + FAN_OUT)), None),
    "he_normal": (math.sqrt(2 / FAN_IN), None),
    "he_uniform": (math.sqrt(2 / FAN_IN), math.sqrt(6 / FAN_IN)),  # limit**2 / 3 = 2 / fan_in
}


@pytest.mark.parametrize("name", sorted(STATS))
def test_initializer_statistics(name, backend):
    std, limit = STATS[name]
    layer = Dense(FAN_IN, FAN_OUT, init=name)
    params, _, _ = layer.build(FAN_IN, rng=xpnet.HostRandom(0), backend=backend, dtype=backend.dtype("float32"))
    w = host(params["W"])
    assert w.shape == (FAN_IN, FAN_OUT)
    assert abs(w.mean()) < 4 * std / math.sqrt(w.size)  # 4 standard errors of the mean
    assert w.std() == pytest.approx(std, rel=0.01)
    if limit is not None:
        assert w.min() >= -limit and w.max() <= limit and w.max() > 0.99 * limit
    else:
        assert abs(np.mean(np.abs(w) > 2 * std) - 0.0455) < 0.005  # a normal's two-sigma tails
    np.testing.assert_array_equal(host(params["b"]), np.zeros(FAN_OUT))


@pytest.mark.parametrize("name", sorted(STATS))
def test_same_seed_same_weights_on_every_backend(name, backend, numpy_backend):
    def weights(b, seed):
        params, _, _ = Dense(5, 4, init=name).build(5, rng=xpnet.HostRandom(seed), backend=b, dtype=b.dtype("float64"))
        return host(params["W"])

    np.testing.assert_array_equal(weights(backend, 7), weights(numpy_backend, 7))
    assert (weights(backend, 8) != weights(backend, 7)).any()


def test_trask_uniform_is_the_seeds_formula():
    # the seeds: np.random.seed(1); syn0 = 2 * np.random.random((3, 4)) - 1
    want = 2 * np.random.RandomState(1).random_sample((3, 4)) - 1
    np.testing.assert_array_equal(
        get_initializer("trask_uniform")(xpnet.HostRandom(1, legacy=True), (3, 4), 3, 4), want
    )


def test_aliases_and_unknown_names():
    assert get_initializer("xavier_uniform") is get_initializer("glorot_uniform")
    assert get_initializer("xavier_normal") is get_initializer("glorot_normal")
    assert set(STATS) <= set(INITIALIZERS)
    with pytest.raises(xpnet.ConfigError, match="init: unknown initialiser 'orthogonal'.*he_normal"):
        Dense(2, 2, init="orthogonal")
    with pytest.raises(xpnet.ConfigError, match="n_out: expected an integer >= 1, got 0"):
        Dense(2, 0)
