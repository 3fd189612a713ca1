"""Finite-difference gradient checks in float64 on every backend: each layer's and each loss'
backward rule against central differences of its forward math."""

import numpy as np
import pytest

import xpnet
from helpers import assert_param_grads_match, host, numerical_grad
from xpnet.losses import LOSSES
from xpnet.nn import ACTIVATIONS, Context, Dense

RTOL, ATOL = 1e-6, 1e-8  # float64 central differences with eps = 1e-6


def _ctx(backend, training=True):
    return Context(backend.xp, backend.device, training, None)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_gradient(name, backend):
    rng = np.random.default_rng(0)
    x0 = rng.normal(size=(3, 4)) * 2
    x0[np.abs(x0) < 1e-3] = 0.5  # keep clear of ReLU's kink
    w = rng.normal(size=(3, 4))  # random projection makes the output scalar
    layer = xpnet.get_activation(name)
    wb = backend.asarray(w, "float64")

    def f(x):
        y, _, _ = layer.forward({}, {}, x, _ctx(backend))
        return backend.xp.sum(y * wb)

    y, _, bp = layer.forward({}, {}, backend.asarray(x0, "float64"), _ctx(backend))
    dx, _ = bp(wb)
    np.testing.assert_allclose(host(dx), numerical_grad(f, x0.copy(), backend), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("bias", [True, False])
def test_dense_gradient(bias, backend):
    rng = np.random.default_rng(1)
    layer = Dense(3, 2, bias=bias)
    params, _, _ = layer.build(3, rng=xpnet.HostRandom(0), backend=backend, dtype=backend.dtype("float64"))
    x0 = rng.normal(size=(5, 3))
    w = backend.asarray(rng.normal(size=(5, 2)), "float64")
    host_params = {k: host(v) for k, v in params.items()}

    def f_of(name):
        def f(value):
            p = dict(params, **{name: value})
            y, _, _ = layer.forward(p, {}, backend.asarray(x0, "float64"), _ctx(backend))
            return backend.xp.sum(y * w)

        return f

    y, _, bp = layer.forward(params, {}, backend.asarray(x0, "float64"), _ctx(backend))
    dx, grads = bp(w)
    assert set(grads) == ({"W", "b"} if bias else {"W"})
    for name in grads:
        np.testing.assert_allclose(
            host(grads[name]),
            numerical_grad(f_of(name), host_params[name].copy(), backend),
            rtol=RTOL,
            atol=ATOL,
            err_msg=name,
        )

    def fx(x):
        yy, _, _ = layer.forward(params, {}, x, _ctx(backend))
        return backend.xp.sum(yy * w)

    np.testing.assert_allclose(host(dx), numerical_grad(fx, x0.copy(), backend), rtol=RTOL, atol=ATOL)


def _targets(name, rng, n, k):
    if name in ("bce", "bce_logits"):
        return (rng.random((n, k)) > 0.5).astype(float)
    if name in ("softmax_cross_entropy", "cross_entropy"):
        return np.eye(k)[rng.integers(0, k, n)]
    return rng.normal(size=(n, k))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_gradient(name, backend):
    rng = np.random.default_rng(2)
    n, k = 4, 3
    out0 = rng.random((n, k)) * 0.8 + 0.1 if name == "bce" else rng.normal(size=(n, k))
    y = backend.asarray(_targets(name, rng, n, k), "float64")
    loss = xpnet.get_loss(name)
    value, dout = loss(backend.asarray(out0, "float64"), y)
    assert value.shape == ()
    np.testing.assert_allclose(
        host(dout), numerical_grad(lambda o: loss(o, y)[0], out0.copy(), backend), rtol=RTOL, atol=ATOL
    )


def test_softmax_ce_integer_labels_match_one_hot(backend):
    rng = np.random.default_rng(3)
    z = backend.asarray(rng.normal(size=(5, 4)), "float64")
    labels = rng.integers(0, 4, 5)
    loss = xpnet.get_loss("softmax_cross_entropy")
    v1, g1 = loss(z, backend.asarray(labels, None))
    v2, g2 = loss(z, backend.asarray(np.eye(4)[labels], "float64"))
    np.testing.assert_allclose(host(v1), host(v2), rtol=1e-12)
    np.testing.assert_allclose(host(g1), host(g2), rtol=1e-12)


def test_whole_network_gradient(backend):
    rng = np.random.default_rng(4)
    model = xpnet.Sequential(
        [Dense(3, 5), xpnet.Tanh(), Dense(5, 4), xpnet.Sigmoid(), Dense(4, 2)], seed=3, backend=backend, dtype="float64"
    )
    x = backend.asarray(rng.normal(size=(6, 3)), "float64")
    y = backend.asarray(rng.integers(0, 2, 6), None)
    loss = xpnet.get_loss("softmax_cross_entropy")
    out, _, bp = model.forward(x, training=True)
    _, dout = loss(out, y)
    _, grads = bp(dout)
    assert_param_grads_match(model, grads, lambda: loss(model.forward(x)[0], y)[0], backend, rtol=RTOL, atol=ATOL)
