"""The same seed gives identical initial weights on every backend, and K training steps give the
same weights and losses within 1e-10 relative in float64 and 1e-4 in float32."""

import numpy as np
import pytest
from conftest import RTOL

import xpnet
from helpers import host
from xpnet.losses import get_loss
from xpnet.optim import sgd


def _model(backend, dtype):
    return xpnet.Sequential([xpnet.Dense(4, 8), xpnet.Tanh(), xpnet.Dense(8, 3)], seed=7, backend=backend, dtype=dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_initial_weights_identical(backend, dtype):
    ref = _model("numpy", dtype)
    got = _model(backend, dtype)
    for k in ref.params:
        np.testing.assert_array_equal(host(got.params[k]), host(ref.params[k]), err_msg=k)


def _train(backend, dtype, steps=20):
    rng = np.random.default_rng(0)
    X, labels = rng.normal(size=(16, 4)), rng.integers(0, 3, 16)
    model = _model(backend, dtype)
    b = model.backend
    x, y = b.asarray(X, dtype), b.asarray(labels, None)
    loss, opt = get_loss("softmax_cross_entropy"), sgd(0.5)
    state = opt.init(model.params)
    losses = []
    for _ in range(steps):
        value, _, state = xpnet.train_step(model, loss, opt, state, x, y)
        losses.append(value)
    return {k: host(v) for k, v in model.params.items()}, np.array([float(host(v)) for v in losses])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_training_steps_agree(backend, dtype):
    ref_w, ref_l = _train("numpy", dtype)
    w, losses = _train(backend, dtype)
    np.testing.assert_allclose(losses, ref_l, rtol=RTOL[dtype])
    for k in ref_w:
        np.testing.assert_allclose(
            w[k], ref_w[k], rtol=RTOL[dtype], atol=RTOL[dtype] * np.abs(ref_w[k]).max(), err_msg=k
        )
    assert ref_l[-1] < ref_l[0]
