"""Gradient clipping (by value, by global norm), L1/L2 penalties and decoupled weight decay:
which parameters they select, and their values against hand-worked numbers and torch."""

import numpy as np
import pytest

import xpnet
from helpers import host
from xpnet.optim import add_decayed_weights, clip_by_global_norm, clip_by_value, l1, l2

PARAMS = {"0.W": [[2.0, -3.0]], "0.b": [1.0], "1.gamma": [1.0], "1.beta": [1.0], "2.W": [[-1.0, 0.0]]}


def _grads_after(transform, backend, params=PARAMS, grads=None, dtype="float64"):
    p = {k: backend.asarray(v, dtype) for k, v in params.items()}
    g = {k: backend.asarray(v, dtype) for k, v in (grads or {k: np.zeros_like(v) for k, v in params.items()}).items()}
    out, _ = transform.update(g, transform.init(p), p)
    return {k: host(v) for k, v in out.items()}


# zero gradients, so the result is the penalty's gradient alone; biases and gamma/beta excluded
PENALTIES = {
    "l2": (lambda **kw: l2(0.1, **kw), {"0.W": [[0.2, -0.3]], "2.W": [[-0.1, 0.0]]}),  # 0.1 * w
    "l1": (lambda **kw: l1(0.1, **kw), {"0.W": [[0.1, -0.1]], "2.W": [[-0.1, 0.0]]}),  # 0.1 * sign(w)
    "decay": (lambda **kw: add_decayed_weights(0.1, **kw), {"0.W": [[0.2, -0.3]], "2.W": [[-0.1, 0.0]]}),
}


@pytest.mark.parametrize("name", sorted(PENALTIES))
def test_penalty_skips_biases_and_batchnorm_by_default(name, backend):
    make, want = PENALTIES[name]
    got = _grads_after(make(), backend)
    for k in PARAMS:
        np.testing.assert_allclose(got[k], want.get(k, np.zeros_like(PARAMS[k])), rtol=1e-15, err_msg=k)


@pytest.mark.parametrize("name", sorted(PENALTIES))
def test_penalty_selects_layers_and_names(name, backend):
    make, want = PENALTIES[name]
    only_2 = _grads_after(make(layers=[2]), backend)
    np.testing.assert_allclose(only_2["2.W"], want["2.W"], rtol=1e-15)
    assert not only_2["0.W"].any()
    biases = _grads_after(make(include=lambda n: n.endswith(".b")), backend)
    assert biases["0.b"][0] == pytest.approx(0.1) and not biases["0.W"].any() and not biases["2.W"].any()


def test_penalty_adds_to_the_gradient(backend):
    grads = {k: np.ones_like(v) for k, v in PARAMS.items()}
    got = _grads_after(l2(0.5), backend, grads=grads)
    np.testing.assert_allclose(got["0.W"], [[1 + 0.5 * 2, 1 - 0.5 * 3]], rtol=1e-15)
    np.testing.assert_allclose(got["0.b"], [1.0], rtol=1e-15)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_clip_by_value(dtype, backend):
    g = {"w": [[-2.0, 0.3], [0.7, -0.1]]}
    got = _grads_after(clip_by_value(0.5), backend, params=g, grads=g, dtype=dtype)
    np.testing.assert_allclose(got["w"], [[-0.5, 0.3], [0.5, -0.1]], rtol=1e-7)


@pytest.mark.parametrize("dtype,rtol", [("float32", 1e-6), ("float64", 1e-15)])
def test_clip_by_global_norm(dtype, rtol, backend):
    g = {"a": [3.0, 0.0], "b": [[4.0]]}  # joint norm sqrt(9 + 16) = 5
    got = _grads_after(clip_by_global_norm(1.0), backend, params=g, grads=g, dtype=dtype)
    scale = 1.0 / (5.0 + 1e-6)  # torch's clip_grad_norm_ eps
    np.testing.assert_allclose(got["a"], [3 * scale, 0.0], rtol=rtol)
    np.testing.assert_allclose(got["b"], [[4 * scale]], rtol=rtol)
    below = _grads_after(clip_by_global_norm(10.0), backend, params=g, grads=g, dtype=dtype)
    np.testing.assert_array_equal(below["a"], [3.0, 0.0])  # under the limit: scale exactly 1


def test_clip_by_global_norm_keeps_dtype_and_device(backend):
    # the scale is a device scalar of the gradients' dtype: float32 stays float32, and strict's
    # device1 would raise if the scale were created on another device
    opt = clip_by_global_norm(1.0)
    g = {"w": backend.asarray([[30.0, 40.0]], "float32")}
    out, _ = opt.update(g, opt.init(g), g)
    assert out["w"].dtype == g["w"].dtype
    np.testing.assert_allclose(host(out["w"]), [[0.6, 0.8]], rtol=1e-6)


def test_clipping_matches_torch(backend):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    g = {"0.W": rng.normal(size=(4, 3)) * 5, "0.b": rng.normal(size=(3,)) * 5}
    for ours, theirs in [
        (clip_by_global_norm(2.0), lambda ps: torch.nn.utils.clip_grad_norm_(ps, 2.0)),
        (clip_by_value(0.7), lambda ps: torch.nn.utils.clip_grad_value_(ps, 0.7)),
    ]:
        ts = [torch.zeros(v.shape, dtype=torch.float64, requires_grad=True) for v in g.values()]
        for t, v in zip(ts, g.values(), strict=True):
            t.grad = torch.tensor(v)
        theirs(ts)
        got = _grads_after(ours, backend, params=g, grads=g)
        for t, k in zip(ts, g, strict=True):
            np.testing.assert_allclose(got[k], t.grad.numpy(), rtol=1e-12)


def test_penalty_without_params_is_a_config_error(backend):
    opt = l2(0.1)
    g = {"0.W": backend.asarray([[1.0]], "float64")}
    with pytest.raises(xpnet.ConfigError, match="l2: needs the parameters"):
        opt.update(g, opt.init(g), None)
