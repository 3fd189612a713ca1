"""Sample weights in the losses and the training loop, and scikit-learn's alpha (a penalty
scaled by the batch's weight): integer weights equal repeated rows, weights of 1 equal no
weights, a zero weight equals leaving the row out, and gradients equal finite differences; on
every backend."""

import numpy as np
import pytest

import xpnet
from helpers import host, numerical_grad
from train_helpers import blobs, small_model, weights
from xpnet.errors import DataError, ShapeError
from xpnet.optim import batch_scaled_l2, l2, sgd

TOL = {"float32": dict(rtol=2e-5, atol=1e-6), "float64": dict(rtol=1e-12, atol=1e-14)}
LOSSES = ["half_sse", "mse", "half_mse", "poisson", "bce", "bce_logits", "softmax_cross_entropy"]
W = [2.0, 0.0, 1.0, 3.0]  # row 1 left out, rows 0 and 3 repeated


def _data(name, rng):
    out = rng.normal(size=(4, 3))
    if name == "bce":
        out = 1 / (1 + np.exp(-out))
    y = rng.uniform(size=(4, 3)) if name in ("bce", "bce_logits", "poisson") else rng.normal(size=(4, 3))
    if name == "softmax_cross_entropy":
        y = np.eye(3)[rng.integers(0, 3, 4)]
    return out, y


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", LOSSES)
def test_integer_weights_equal_repeated_rows(name, dtype, backend):
    out, y = _data(name, np.random.default_rng(0))
    loss = xpnet.get_loss(name)
    rows = np.repeat(np.arange(4), np.array(W, dtype=int))
    v, g = loss(backend.asarray(out, dtype), backend.asarray(y, dtype), backend.asarray(W, dtype))
    v_rep, g_rep = loss(backend.asarray(out[rows], dtype), backend.asarray(y[rows], dtype))
    np.testing.assert_allclose(host(v), host(v_rep), **TOL[dtype])
    # a repeated row's gradient is the sum of its copies' gradients; the left-out row's is 0
    summed = np.zeros_like(out)
    np.add.at(summed, rows, host(g_rep))
    np.testing.assert_allclose(host(g), summed, **TOL[dtype])
    ones_v, ones_g = loss(backend.asarray(out, dtype), backend.asarray(y, dtype), backend.asarray(np.ones(4), dtype))
    plain_v, plain_g = loss(backend.asarray(out, dtype), backend.asarray(y, dtype))
    np.testing.assert_allclose(host(ones_v), host(plain_v), **TOL[dtype])
    np.testing.assert_allclose(host(ones_g), host(plain_g), **TOL[dtype])


@pytest.mark.parametrize("name", LOSSES)
def test_weighted_gradient_equals_finite_differences(name, backend):
    out, y = _data(name, np.random.default_rng(1))
    if name == "bce":
        out = np.clip(out, 0.05, 0.95)
    loss = xpnet.get_loss(name)
    yb, wb = backend.asarray(y, "float64"), backend.asarray([0.5, 2.0, 0.0, 1.5], "float64")
    _, g = loss(backend.asarray(out, "float64"), yb, wb)
    numeric = numerical_grad(lambda o: loss(o, yb, wb)[0], out.copy(), backend)
    np.testing.assert_allclose(host(g), numeric, rtol=1e-6, atol=1e-8)


def test_integer_labels_weighted(backend):
    z = np.random.default_rng(2).normal(size=(4, 3))
    labels = np.array([0, 2, 1, 2])
    loss = xpnet.get_loss("softmax_cross_entropy")
    v, g = loss(backend.asarray(z, "float64"), backend.asarray(labels), backend.asarray(W, "float64"))
    v1, g1 = loss(
        backend.asarray(z, "float64"), backend.asarray(np.eye(3)[labels], "float64"), backend.asarray(W, "float64")
    )
    np.testing.assert_allclose(host(v), host(v1), rtol=1e-14)
    np.testing.assert_allclose(host(g), host(g1), rtol=1e-14)


def test_poisson_needs_non_negative_targets(numpy_backend):
    X, y = blobs(n=8)
    model = xpnet.mlp([4, 3, 1], backend=numpy_backend, seed=0)
    with pytest.raises(DataError, match="y: poisson needs non-negative targets"):
        xpnet.fit(model, X, y - 1.0, loss="poisson", epochs=1)


def test_zero_total_weight_gives_zero(backend):
    loss = xpnet.get_loss("mse")
    v, g = loss(
        backend.asarray(np.ones((2, 1)), "float64"),
        backend.asarray(np.zeros((2, 1)), "float64"),
        backend.asarray([0.0, 0.0], "float64"),
    )
    assert host(v) == 0 and not host(g).any()


def _fit(backend, X, y, **kw):
    model = small_model(backend)
    xpnet.fit(model, X, y, optimizer=sgd(0.1), epochs=5, batch_size=None, shuffle=False, seed=0, **kw)
    return weights(model)


def test_fit_with_integer_weights_equals_repeated_rows(backend):
    X, y = blobs(n=12)
    w = np.arange(12) % 3  # 0, 1 or 2 copies of each row
    rows = np.repeat(np.arange(12), w)
    penalty = batch_scaled_l2(0.5)
    got = _fit(backend, X, y, sample_weight=w, penalty=penalty)
    want = _fit(backend, X[rows], y[rows], penalty=penalty)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-11, atol=1e-13, err_msg=k)


def test_fit_weighted_history_and_validation(backend):
    X, y = blobs(n=40)
    w = np.where(np.arange(40) % 2 == 0, 3.0, 1.0)
    model = small_model(backend)
    hist = xpnet.fit(model, X, y, epochs=2, batch_size=8, sample_weight=w, validation_split=0.25, seed=0)
    assert len(hist.history["val_loss"]) == 2 and all(np.isfinite(hist.history["loss"]))


def test_batch_scaled_l2_is_l2_over_the_batch_size(backend):
    """On full, unweighted batches scikit-learn's alpha is l2(alpha / batch size)."""
    X, y = blobs(n=16)
    a = small_model(backend)
    xpnet.fit(a, X, y, optimizer=sgd(0.1), epochs=3, batch_size=None, shuffle=False, penalty=batch_scaled_l2(0.8))
    b = small_model(backend)
    xpnet.fit(b, X, y, optimizer=xpnet.optim.chain(l2(0.8 / 16), sgd(0.1)), epochs=3, batch_size=None, shuffle=False)
    for k, v in weights(a).items():
        np.testing.assert_allclose(v, weights(b)[k], rtol=1e-12, atol=1e-14, err_msg=k)


def test_penalty_value_and_gradient(backend):
    """alpha/2 * sum(W**2) / S on the weights only, its gradient alpha * W / S."""
    model = small_model(backend)
    grads = {k: backend.xp.zeros_like(p) for k, p in model.params.items()}
    value, out = batch_scaled_l2(0.3)(model.params, grads, backend.asarray(4.0, "float64"))
    w2 = sum(float(np.sum(host(p) ** 2)) for k, p in model.params.items() if k.endswith(".W"))
    np.testing.assert_allclose(host(value), 0.5 * 0.3 * w2 / 4.0, rtol=1e-12)
    for k, p in model.params.items():
        np.testing.assert_allclose(host(out[k]), 0.3 * host(p) / 4.0 if k.endswith(".W") else 0.0, rtol=1e-12)


@pytest.mark.parametrize(
    "w, error, match",
    [
        ([1.0, -1.0, 1.0, 1.0], DataError, "non-negative"),
        ([1.0, np.nan, 1.0, 1.0], DataError, "NaN"),
        ([0.0, 0.0, 0.0, 0.0], DataError, "every weight is zero"),
        ([1.0, 1.0], ShapeError, r"shape \(4,\)"),
    ],
)
def test_bad_weights_refused(w, error, match, numpy_backend):
    X, y = blobs(n=4)
    with pytest.raises(error, match=f"sample_weight: .*{match}"):
        xpnet.fit(small_model(numpy_backend), X, y, epochs=1, sample_weight=w)


def test_weighted_steps_take_the_generic_path(numpy_backend):
    from xpnet.training import make_train_step

    model = small_model(numpy_backend)
    loss = xpnet.get_loss("softmax_cross_entropy")
    step = make_train_step(model, loss, sgd(0.1))
    state = step.init_state()
    X, y = blobs(n=8)
    step(X, y, state)
    assert step.path == step.last_path == "numpy"
    step(X, y, state, weights=np.ones(8))
    assert step.last_path == "generic"
    assert make_train_step(model, loss, sgd(0.1), penalty=batch_scaled_l2(1.0)).path == "generic"


@pytest.mark.parametrize("name", ["mse", "softmax_cross_entropy"])
def test_a_loss_refuses_weights_of_another_shape(name, backend):
    # one weight per row, as a vector: a column or a vector of another length is a ShapeError
    loss = xpnet.get_loss(name)
    out = backend.asarray(np.zeros((4, 3)), "float64")
    y = backend.asarray(np.zeros((4, 3)), "float64")
    for bad in (np.ones(3), np.ones((4, 1))):
        with pytest.raises(ShapeError, match=r"weights: expected one weight per row \(4,\)"):
            loss(out, y, backend.asarray(bad, "float64"))
