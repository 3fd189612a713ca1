"""Activations: values against closed forms, stability at |z| = 1000 in float32 (forward and
backward, warnings as errors), and every layer type rebuilt from its config()."""

import contextlib
import json
import warnings

import numpy as np
import pytest

import xpnet
from helpers import host
from xpnet.nn import ACTIVATIONS, Context, Dense

BIG = np.array([[-1000.0, -100.0, -1.0, 0.0, 1.0, 100.0, 1000.0]])


@contextlib.contextmanager
def no_float_warnings():
    """Any warning is an error, and so is NumPy's overflow, invalid value or division by zero.
    Underflow stays allowed: exp(-1000) rounding to 0 is the correct float32 answer and is what
    the stable forms rely on."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            yield


def _ctx(backend, training=False, rng=None):
    return Context(backend.xp, backend.device, training, rng)


STABLE = sorted(set(ACTIVATIONS) - {"trask_sigmoid"})


@pytest.mark.parametrize("name", STABLE)
def test_activation_is_stable_at_1000_float32(name, backend):
    layer = xpnet.get_activation(name)
    x = backend.asarray(BIG, "float32")
    with no_float_warnings():
        y, _, bp = layer.forward({}, {}, x, _ctx(backend))
        dx, _ = bp(backend.xp.ones_like(y))
    assert np.all(np.isfinite(host(y))) and np.all(np.isfinite(host(dx)))


EXPECTED = {  # closed forms on the host, float64
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "identity": lambda z: z,
    "softmax": lambda z: (
        np.exp(z - z.max(1, keepdims=True)) / np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("dtype,rtol", [("float32", 1e-6), ("float64", 1e-14)])
def test_activation_values(name, dtype, rtol, backend):
    z = np.array([[-30.0, -2.5, -0.1, 0.3, 4.0, 30.0]])
    with np.errstate(over="ignore"):
        want = EXPECTED[name](z)
    y, _, _ = xpnet.get_activation(name).forward({}, {}, backend.asarray(z, dtype), _ctx(backend))
    assert str(y.dtype).endswith(dtype)
    np.testing.assert_allclose(host(y), want, rtol=rtol, atol=1e-7 if dtype == "float32" else 1e-15)


def test_stable_sigmoid_limits_are_exact(backend):
    y, _, _ = xpnet.Sigmoid().forward({}, {}, backend.asarray(BIG, "float32"), _ctx(backend))
    h = host(y)[0]
    assert h[0] == 0.0 and h[-1] == 1.0 and h[3] == 0.5


def test_seed_sigmoid_stays_the_plain_formula(backend):
    # stable=False is the seeds' 1 / (1 + exp(-z)): identical digits to the seeds in float64
    z = np.linspace(-8, 8, 17).reshape(1, -1)
    y, _, _ = xpnet.get_activation("trask_sigmoid").forward({}, {}, backend.asarray(z, "float64"), _ctx(backend))
    np.testing.assert_array_equal(host(y), 1 / (1 + np.exp(-z)))
    assert xpnet.get_activation("trask_sigmoid").stable is False


def test_unknown_activation_lists_names():
    with pytest.raises(xpnet.ConfigError, match="activation: unknown name 'gelu'.*relu"):
        xpnet.get_activation("gelu")


@pytest.mark.parametrize("bad", [-0.1, 1.0, "x"])
def test_leaky_relu_rejects_bad_slope(bad):
    with pytest.raises(xpnet.ConfigError, match="negative_slope"):
        xpnet.LeakyReLU(bad)


LAYERS = [
    Dense(3, 4, bias=False, init="he_normal"),
    xpnet.Sigmoid(stable=False),
    xpnet.Tanh(),
    xpnet.ReLU(),
    xpnet.LeakyReLU(0.2),
    xpnet.Softmax(),
    xpnet.Identity(),
    xpnet.Dropout(0.25),
    xpnet.BatchNorm(4, momentum=0.3, eps=1e-3),
]


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: type(layer).__name__)
def test_layer_rebuilds_from_config(layer):
    config = json.loads(json.dumps(layer.config()))  # survives JSON, as in a checkpoint
    clone = type(layer)(**config)
    assert clone.config() == layer.config()
    assert repr(clone) == repr(layer)


def test_exp_layer_forward_and_backprop(backend):
    # Exp is the log link of the Poisson loss (not an activation between layers): y = exp(x) and
    # dx = dy * exp(x), checked against NumPy's exp on every backend (float64: to the last bits).
    from xpnet.nn.activations import Exp

    x_host = np.array([[-2.0, -0.5, 0.0], [0.25, 1.0, 3.0]])
    dy_host = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]])
    y, state, backprop = Exp().forward({}, {}, backend.asarray(x_host, "float64"), _ctx(backend, training=True))
    assert state == {}
    np.testing.assert_allclose(host(y), np.exp(x_host), rtol=1e-15)
    dx, grads = backprop(backend.asarray(dy_host, "float64"))
    assert grads == {}
    np.testing.assert_allclose(host(dx), dy_host * np.exp(x_host), rtol=1e-15)
