"""CuPy's fused kernels (fast/cupy_kernels.py): each reference formula equals the generic layer,
loss or optimizer bit for bit on every backend (CI), and on a GPU each compiled kernel equals its
reference (skipped without CuPy and a CUDA device)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import host
from xpnet.fast import cupy_kernels as CK
from xpnet.losses import SoftmaxCrossEntropy
from xpnet.nn import Dense, ReLU, Sigmoid, Tanh
from xpnet.nn.layer import Context
from xpnet.optim import adam, sgd

N, N_IN, K = 6, 5, 4
ACTS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid}


def _arrays(backend, seed=0):
    rng = np.random.default_rng(seed)
    a = {
        "x": rng.standard_normal((N, N_IN)),
        "W": rng.standard_normal((N_IN, K)),
        "b": rng.standard_normal(K),
        "dy": rng.standard_normal((N, K)),
    }
    out = {k: backend.asarray(v, "float32") for k, v in a.items()}
    out["labels"] = backend.xp.asarray(rng.integers(0, K, N).astype(np.int64), device=backend.device)
    return out


def _eq(a, b, name):
    np.testing.assert_array_equal(host(a), host(b), err_msg=name)


@pytest.mark.parametrize("act", sorted(ACTS))
def test_bias_activation_and_its_backward_references_equal_the_layers(backend, act):
    a = _arrays(backend)
    ctx = Context(backend.xp, backend.device, True)
    dense = Dense(N_IN, K)
    z, _, _ = dense.forward({"W": a["W"], "b": a["b"]}, {}, a["x"], ctx)
    y, _, bp = ACTS[act]().forward({}, {}, z, ctx)
    dz, _ = bp(a["dy"])
    z_nobias = a["x"] @ a["W"]
    got = CK.REFERENCES[f"bias_{act}"](z_nobias, a["b"], xp=backend.xp)
    if act == "relu":
        got, slope = got
        _eq(CK.REFERENCES["relu_backward"](a["dy"], slope, xp=backend.xp), dz, "relu_backward")
    else:
        _eq(CK.REFERENCES[f"{act}_backward"](a["dy"], got, xp=backend.xp), dz, f"{act}_backward")
    _eq(got, y, f"bias_{act}")


def test_softmax_ce_grad_reference_equals_the_loss(backend):
    a = _arrays(backend)
    z = a["dy"] * 3.0
    _, dout = SoftmaxCrossEntropy()(z, a["labels"])
    m, s = CK.row_stats(z, xp=backend.xp)
    _eq(CK.REFERENCES["softmax_ce_grad"](z, m, s, a["labels"], K, N, xp=backend.xp), dout, "softmax_ce_grad")


def _opt_steps(backend, opt, n_steps=4):
    """The generic optimizer's parameters after n_steps of fixed gradients, and those gradients."""
    rng = np.random.default_rng(3)
    p = {"w": backend.asarray(rng.standard_normal((3, 4)), "float32")}
    gs = [backend.asarray(rng.standard_normal((3, 4)), "float32") for _ in range(n_steps)]
    state = opt.init(p)
    params = dict(p)
    for g in gs:
        updates, state = opt.update({"w": g}, state, params)
        params = {"w": params["w"] + updates["w"]}
    return p["w"], gs, params["w"]


@pytest.mark.parametrize("mu", [0.0, 0.9], ids=["sgd", "momentum"])
def test_sgd_references_equal_the_optimizer(backend, mu):
    lr = 0.05
    p, gs, expected = _opt_steps(backend, sgd(lr, momentum=mu))
    b = backend.xp.zeros_like(p)
    for g in gs:
        if mu:
            p, b = CK.REFERENCES["sgd_momentum_update"](g, mu, -lr, p, b, xp=backend.xp)
        else:
            p = CK.REFERENCES["sgd_update"](g, -lr, p, xp=backend.xp)
    _eq(p, expected, "sgd")


def test_adam_reference_equals_the_optimizer(backend):
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    p, gs, expected = _opt_steps(backend, adam(lr, b1, b2, eps))
    m, v = backend.xp.zeros_like(p), backend.xp.zeros_like(p)
    for t, g in enumerate(gs, start=1):
        # the host floats optim/transforms.py computes for step t
        consts = (b1, 1 - b1, b2, 1 - b2, 1 - b1**t, (1 - b2**t) ** 0.5, eps, -lr)
        p, m, v = CK.REFERENCES["adam_update"](g, *consts, p, m, v, xp=backend.xp)
    _eq(p, expected, "adam")


def test_every_kernel_has_a_reference():
    assert set(CK.SPECS) == set(CK.REFERENCES)
    for name, spec in CK.SPECS.items():
        assert spec.body.rstrip().endswith(";"), name


def test_kernels_equal_their_references_on_the_gpu():  # pragma: needs a GPU
    from xpnet import get_backend
    from xpnet.errors import BackendError

    try:
        b = get_backend("cupy")
    except BackendError as exc:
        pytest.skip(str(exc))
    xp = b.xp  # pragma: needs a GPU
    a = _arrays(b)  # pragma: needs a GPU
    z = a["x"] @ a["W"]  # pragma: needs a GPU
    for act in ACTS:  # pragma: needs a GPU
        ref = CK.REFERENCES[f"bias_{act}"](z, a["b"], xp=xp)
        got = CK.run(f"bias_{act}", z, a["b"])
        for r, g in zip(ref if act == "relu" else (ref,), got if act == "relu" else (got,), strict=True):
            np.testing.assert_allclose(host(g), host(r), rtol=1e-6, atol=1e-7, err_msg=act)
        y = ref[0] if act == "relu" else ref
        second = ref[1] if act == "relu" else y
        r = CK.REFERENCES[f"{act}_backward"](a["dy"], second, xp=xp)
        np.testing.assert_allclose(host(CK.run(f"{act}_backward", a["dy"], second)), host(r), rtol=1e-6, atol=1e-7)
    zz = a["dy"] * 3.0  # pragma: needs a GPU
    m, s = CK.row_stats(zz, xp=xp)  # pragma: needs a GPU
    ref = CK.REFERENCES["softmax_ce_grad"](zz, m, s, a["labels"], K, N, xp=xp)  # pragma: needs a GPU
    got = CK.run("softmax_ce_grad", zz, m, s, a["labels"], K, float(N))  # pragma: needs a GPU
    np.testing.assert_allclose(host(got), host(ref), rtol=1e-6, atol=1e-7)  # pragma: needs a GPU
    p, g = a["W"], a["W"] * 0.5  # pragma: needs a GPU
    pk, bk = xp.asarray(p, copy=True), xp.zeros_like(p)  # pragma: needs a GPU
    CK.run("sgd_momentum_update", g, 0.9, -0.05, pk, bk)  # pragma: needs a GPU
    pr, br = CK.REFERENCES["sgd_momentum_update"](g, 0.9, -0.05, p, xp.zeros_like(p), xp=xp)  # pragma: needs a GPU
    np.testing.assert_array_equal(host(pk), host(pr))  # pragma: needs a GPU
    np.testing.assert_array_equal(host(bk), host(br))  # pragma: needs a GPU
    consts = (0.9, 0.1, 0.999, 0.001, 0.1, 0.001**0.5, 1e-8, -0.01)  # pragma: needs a GPU
    pk, mk, vk = xp.asarray(p, copy=True), xp.zeros_like(p), xp.zeros_like(p)  # pragma: needs a GPU
    CK.run("adam_update", g, *consts, pk, mk, vk)  # pragma: needs a GPU
    pr, mr, vr = CK.REFERENCES["adam_update"](
        g, *consts, p, xp.zeros_like(p), xp.zeros_like(p), xp=xp
    )  # pragma: needs a GPU
    for got, ref in ((pk, pr), (mk, mr), (vk, vr)):  # pragma: needs a GPU
        np.testing.assert_allclose(host(got), host(ref), rtol=1e-6, atol=1e-9)
