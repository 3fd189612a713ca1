"""Losses: values and gradients against hand-worked numbers, against torch's losses, and
stability at |z| = 1000 in float32 with warnings as errors."""

import math

import numpy as np
import pytest
from test_activations import no_float_warnings

import xpnet
from helpers import host

TOL = {"float32": dict(rtol=1e-6, atol=1e-7), "float64": dict(rtol=1e-14, atol=1e-15)}
LN3 = math.log(3.0)

# name -> (outputs, targets, value, gradient), worked by hand in the comments
HAND = {
    # diff = out - y = [1, 0, -2, 3]; 0.5 * (1 + 0 + 4 + 9) = 7; gradient = diff
    "half_sse": ([[1, 2], [3, 4]], [[0, 2], [5, 1]], 7.0, [[1, 0], [-2, 3]]),
    # 14 / 4 elements = 3.5; gradient = 2 * diff / 4
    "mse": ([[1, 2], [3, 4]], [[0, 2], [5, 1]], 3.5, [[0.5, 0], [-1, 1.5]]),
    # -(log 0.8 + log(1 - 0.25)) / 2; gradient (p - y) / (p (1 - p) n): -0.2 / 0.32, 0.25 / 0.375
    "bce": ([[0.8], [0.25]], [[1], [0]], -(math.log(0.8) + math.log(0.75)) / 2, [[-0.625], [2 / 3]]),
    # sigmoid(0) = 0.5, sigmoid(ln 3) = 0.75: (-log 0.5 - log 0.25) / 2 = 1.5 ln 2;
    # gradient (p - y) / 2 = (0.5 - 1) / 2, (0.75 - 0) / 2
    "bce_logits": ([[0.0], [LN3]], [[1], [0]], 1.5 * math.log(2.0), [[-0.25], [0.375]]),
    # softmax([0, ln 3]) = [1/4, 3/4], softmax([ln 2, 0]) = [2/3, 1/3]; labels 1 and 0:
    # (-log 3/4 - log 2/3) / 2; gradient (p - onehot) / 2
    "softmax_cross_entropy": (
        [[0.0, LN3], [math.log(2.0), 0.0]],
        [[0, 1], [1, 0]],
        -(math.log(0.75) + math.log(2 / 3)) / 2,
        [[0.125, -0.125], [-1 / 6, 1 / 6]],
    ),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(HAND))
def test_loss_hand_worked(name, dtype, backend):
    out, y, value, grad = HAND[name]
    v, g = xpnet.get_loss(name)(backend.asarray(out, dtype), backend.asarray(y, dtype))
    assert v.shape == () and str(v.dtype).endswith(dtype) and str(g.dtype).endswith(dtype)
    np.testing.assert_allclose(host(v), value, **TOL[dtype])
    np.testing.assert_allclose(host(g), grad, **TOL[dtype])


def test_softmax_cross_entropy_integer_labels_hand_worked(backend):
    out, _, value, grad = HAND["softmax_cross_entropy"]
    v, g = xpnet.get_loss("cross_entropy")(backend.asarray(out, "float64"), backend.asarray([1, 0], None))
    np.testing.assert_allclose(host(v), value, rtol=1e-14)
    np.testing.assert_allclose(host(g), grad, rtol=1e-14)


def _torch_reference(name, z, y):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    yt = torch.tensor(y)
    fn = {
        "half_sse": lambda: 0.5 * F.mse_loss(zt, yt, reduction="sum"),
        "mse": lambda: F.mse_loss(zt, yt),
        "bce": lambda: F.binary_cross_entropy(zt, yt),
        "bce_logits": lambda: F.binary_cross_entropy_with_logits(zt, yt),
        "softmax_cross_entropy": lambda: F.cross_entropy(zt, yt),  # yt: labels or probabilities
    }[name]
    value = fn()
    value.backward()
    return value.item(), zt.grad.numpy()


@pytest.mark.parametrize("labels", [False, True], ids=["dense-targets", "integer-labels"])
@pytest.mark.parametrize("name", sorted(HAND))
def test_loss_matches_torch(name, labels, backend):
    if labels and name != "softmax_cross_entropy":
        pytest.skip("integer labels only for softmax cross-entropy")
    rng = np.random.default_rng(5)
    z = rng.random((6, 3)) * 0.9 + 0.05 if name == "bce" else rng.normal(size=(6, 3)) * 3
    if name == "softmax_cross_entropy":
        y = rng.integers(0, 3, 6) if labels else rng.dirichlet(np.ones(3), 6)  # soft targets too
    elif name in ("bce", "bce_logits"):
        y = rng.random((6, 3))
    else:
        y = rng.normal(size=(6, 3))
    want_v, want_g = _torch_reference(name, z, y)
    v, g = xpnet.get_loss(name)(backend.asarray(z, "float64"), backend.asarray(y, None if labels else "float64"))
    np.testing.assert_allclose(host(v), want_v, rtol=1e-12)
    np.testing.assert_allclose(host(g), want_g, rtol=1e-12, atol=1e-15)


# z = +-1000: the exact losses are 0 where the logit agrees with the target and 1000 (BCE) or
# 2000 (softmax, the logit gap) where it disagrees.
STABILITY = {
    "bce_logits": ([[1000.0, -1000.0, 1000.0, -1000.0]], [[1, 0, 0, 1]], 500.0),
    "softmax_cross_entropy": ([[1000.0, -1000.0], [-1000.0, 1000.0]], [[1, 0], [1, 0]], 1000.0),
    "bce": ([[1.0, 0.0, 1.0, 0.0]], [[1, 0, 1, 0]], 0.0),  # probabilities that are exactly 0 or 1
    "mse": ([[1000.0, -1000.0]], [[-1000.0, 1000.0]], 4e6),
}


@pytest.mark.parametrize("name", sorted(STABILITY))
def test_loss_is_stable_at_1000_float32(name, backend):
    z, y, value = STABILITY[name]
    with no_float_warnings():
        v, g = xpnet.get_loss(name)(backend.asarray(z, "float32"), backend.asarray(y, "float32"))
    assert np.all(np.isfinite(host(g)))
    np.testing.assert_allclose(host(v), value, rtol=1e-6, atol=1e-6)


def test_loss_shape_mismatch_and_unknown_name(backend):
    with pytest.raises(xpnet.ShapeError, match="mse: outputs have shape \\(2, 1\\) but targets have shape \\(2, 2\\)"):
        xpnet.get_loss("mse")(backend.asarray([[1.0], [2.0]], "float64"), backend.asarray([[1.0, 2.0]] * 2, "float64"))
    with pytest.raises(xpnet.ConfigError, match="loss: unknown name 'hinge'.*mse"):
        xpnet.get_loss("hinge")
