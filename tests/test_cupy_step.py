"""CuPy's fused step (fast/cupy_step.py) equals the generic step: weights and optimizer state
bit for bit after several steps. In CI the step runs its reference kernels (the same formulas as
array-API operations) on every backend; on a GPU the CuPy case runs the compiled kernels."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import host
from xpnet import mlp
from xpnet.fast import cupy_step
from xpnet.losses import MSE, SoftmaxCrossEntropy
from xpnet.optim import adam, sgd
from xpnet.training import make_train_step
from xpnet.tree import tree_flatten

OPTS = {
    "sgd": lambda: sgd(0.1),
    "schedule": lambda: sgd(lambda t: 0.1 / (1 + t)),
    "momentum": lambda: sgd(0.05, momentum=0.9),
    "adam": lambda: adam(0.01),
}


def _kernels(backend):
    return None if backend.name == "cupy" else cupy_step.reference_kernels(backend.xp)


def _batches(backend, n_steps=4, n=9):
    rng = np.random.default_rng(11)
    return [
        (
            backend.asarray(rng.standard_normal((n, 7)), "float64"),
            backend.xp.asarray(rng.integers(0, 3, n), device=backend.device),
        )
        for _ in range(n_steps)
    ]


@pytest.mark.parametrize(
    "act, opt",
    [
        ("relu", "sgd"),
        ("relu", "schedule"),
        ("relu", "momentum"),
        ("relu", "adam"),
        ("tanh", "momentum"),
        ("sigmoid", "adam"),
    ],
)
def test_fused_step_equals_the_generic_step(backend, act, opt):
    def make():
        return mlp([7, 6, 5, 3], activation=act, backend=backend, dtype="float64", seed=4)

    gen, fused = make(), make()
    held = {k: host(v) for k, v in fused.params.items()}
    given = dict(fused.params)
    loss = SoftmaxCrossEntropy()
    g_step = make_train_step(gen, loss, OPTS[opt](), use_fast=False)
    f_step = cupy_step.build(fused, loss, OPTS[opt](), kernels=_kernels(backend))
    assert f_step is not None and f_step.in_place
    sg, sf = g_step.init_state(), f_step.init_state()
    for x, y in _batches(backend):
        vg, og, sg = g_step(x, y, sg)
        vf, of, sf = f_step.run(x, y, sf)
        np.testing.assert_array_equal(host(of), host(og))
        np.testing.assert_allclose(float(host(vf)), float(host(vg)), rtol=1e-12)  # the value's sum order differs
    for k in gen.params:
        np.testing.assert_array_equal(host(fused.params[k]), host(gen.params[k]), err_msg=k)
        np.testing.assert_array_equal(host(given[k]), held[k], err_msg=k)  # the caller's arrays: untouched
    leaves_g, spec_g = tree_flatten(sg)
    leaves_f, spec_f = tree_flatten(sf)
    assert spec_f == spec_g
    for k in leaves_g:
        np.testing.assert_array_equal(host(leaves_f[k]), host(leaves_g[k]), err_msg=k)


def test_what_it_does_not_take(numpy_backend):
    b, loss = numpy_backend, SoftmaxCrossEntropy()
    k = cupy_step.reference_kernels(b.xp)
    model = mlp([4, 3, 2], backend=b)
    assert cupy_step.build(model, MSE(), sgd(0.1), kernels=k) is None
    assert cupy_step.build(model, loss, sgd(0.1, momentum=0.9, nesterov=True), kernels=k) is None
    assert cupy_step.build(mlp([4, 3, 2], backend=b, bias=False), loss, sgd(0.1), kernels=k) is None
    assert cupy_step.build(mlp([4, 3, 2], backend=b, batchnorm=True), loss, sgd(0.1), kernels=k) is None
    assert cupy_step.build(mlp([4, 3, 2], backend=b, output="softmax"), loss, sgd(0.1), kernels=k) is None
    assert cupy_step.build(mlp([4, 3, 2], backend=b, activation="leaky_relu"), loss, sgd(0.1), kernels=k) is None
    step = cupy_step.build(model, loss, sgd(0.1), kernels=k)
    state = step.init_state()
    x = b.asarray(np.ones((2, 4)), "float32")
    onehot = b.asarray(np.eye(2), "float32")
    assert step.run(x, onehot, state) is None  # one-hot targets: the generic step
    assert step.run(x, b.xp.asarray([0, 1]), state, hook=lambda g: g) is None  # a hook: the generic step
    assert step.run(x, b.xp.asarray([0, 1]), state) is not None
