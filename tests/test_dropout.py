"""Dropout: identity at evaluation, inverted scaling (mean preserved), the same mask on every
backend for a seed, backward through the forward's mask, and its errors."""

import numpy as np
import pytest

import xpnet
from helpers import host, numerical_grad
from xpnet.nn import Context, Dropout


def _ctx(backend, training, rng=None):
    return Context(backend.xp, backend.device, training, rng)


def test_eval_is_identity(backend):
    x = backend.asarray(np.arange(6.0).reshape(2, 3), "float32")
    y, _, bp = Dropout(0.5).forward({}, {}, x, _ctx(backend, False))
    assert y is x
    dy = backend.asarray(np.ones((2, 3)), "float32")
    assert bp(dy)[0] is dy and bp(dy)[1] == {}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_training_keeps_scaled_units_and_preserves_the_mean(dtype, backend):
    rate = 0.3
    x = backend.asarray(np.full((400, 50), 2.0), dtype)
    y, _, _ = Dropout(rate).forward({}, {}, x, _ctx(backend, True, xpnet.HostRandom(0)))
    assert str(y.dtype).endswith(dtype)
    h = host(y)
    # each unit is 0 or 2 / (1 - rate), and the mean stays 2 in expectation
    assert set(np.unique(h).round(5)) == {0.0, round(2 / (1 - rate), 5)}
    kept = (h > 0).mean()
    assert abs(kept - (1 - rate)) < 4 * np.sqrt(rate * (1 - rate) / h.size)  # 4 standard errors
    assert abs(h.mean() - 2.0) < 4 * 2 / (1 - rate) * np.sqrt(rate * (1 - rate) / h.size)


def test_same_seed_same_mask_on_every_backend(backend, numpy_backend):
    x = np.ones((8, 16))
    y, _, _ = Dropout(0.5).forward({}, {}, backend.asarray(x, "float32"), _ctx(backend, True, xpnet.HostRandom(42)))
    ref, _, _ = Dropout(0.5).forward(
        {}, {}, numpy_backend.asarray(x, "float32"), _ctx(numpy_backend, True, xpnet.HostRandom(42))
    )
    np.testing.assert_array_equal(host(y), host(ref))
    other, _, _ = Dropout(0.5).forward({}, {}, backend.asarray(x, "float32"), _ctx(backend, True, xpnet.HostRandom(43)))
    assert (host(other) != host(y)).any()  # and a different seed gives a different mask


def test_backward_uses_the_forward_mask(backend):
    # f(x) = sum(dropout(x) * w) with the mask fixed (a fresh generator with the same seed per call)
    rng = np.random.default_rng(1)
    x0, w = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    wb = backend.asarray(w, "float64")
    layer = Dropout(0.4)

    def f(x):
        return backend.xp.sum(layer.forward({}, {}, x, _ctx(backend, True, xpnet.HostRandom(9)))[0] * wb)

    y, _, bp = layer.forward({}, {}, backend.asarray(x0, "float64"), _ctx(backend, True, xpnet.HostRandom(9)))
    dx, grads = bp(wb)
    assert grads == {}
    np.testing.assert_allclose(host(dx), numerical_grad(f, x0.copy(), backend), rtol=1e-6, atol=1e-8)
    assert ((host(dx) == 0) == (host(y) == 0)).all()  # dropped units pass no gradient


def test_keep_mask_is_zero_one_in_dtype_on_device(backend):
    m = xpnet.HostRandom(0).keep_mask((3, 4), 0.5, xp=backend.xp, device=backend.device, dtype=backend.dtype("float32"))
    assert m.dtype == backend.dtype("float32") and m.shape == (3, 4)
    import array_api_compat

    assert array_api_compat.device(m) == backend.device
    assert set(np.unique(host(m))) <= {0.0, 1.0}


def test_training_without_rng_is_a_config_error(backend):
    with pytest.raises(xpnet.ConfigError, match="rng"):
        Dropout(0.5).forward({}, {}, backend.asarray([[1.0]], "float32"), _ctx(backend, True, None))


@pytest.mark.parametrize("rate", [-0.1, 1.0, float("nan"), "0.5"])
def test_bad_rate_is_a_config_error(rate):
    with pytest.raises(xpnet.ConfigError, match=r"rate: expected a finite number in \[0, 1\)"):
        Dropout(rate)
