"""The generic step's in-place updates (training/inplace.py): the same numbers as the functional
step it replaced, bit for bit on every backend; no caller's array written; hooks' gradients left
alone; JAX (immutable arrays) still correct; one full-size allocation per weight per step."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import host
from xpnet import get_backend, mlp
from xpnet.backend import writes_in_place
from xpnet.errors import BackendError
from xpnet.losses import SoftmaxCrossEntropy
from xpnet.optim import sgd
from xpnet.training import make_train_step

SIZES = [12, 16, 16, 5]
LR, MOMENTUM = 0.1, 0.9


def _batches(n_steps=5, n=8):
    rng = np.random.default_rng(7)
    return [
        (rng.standard_normal((n, SIZES[0])), rng.integers(0, SIZES[-1], n).astype(np.int64)) for _ in range(n_steps)
    ]


def _on(backend, batches, dtype="float64"):
    return [(backend.asarray(x, dtype), backend.xp.asarray(y, device=backend.device)) for x, y in batches]


def _functional_reference(params, batches, xp, momentum):
    """The generic step as it was written before it updated in place: x @ W + b, ReLU by
    `where`, -(lr * g) and p + u, new arrays everywhere."""
    params = dict(params)
    trace = {k: xp.zeros_like(p) for k, p in params.items()}
    n_layers = len(SIZES) - 1
    loss = SoftmaxCrossEntropy()
    for x, y in batches:
        hs, masks, h = [x], [], x
        for i in range(n_layers):
            z = h @ params[f"{2 * i}.W"] + params[f"{2 * i}.b"]
            if i < n_layers - 1:
                masks.append(z > 0)
                z = xp.where(masks[-1], z, xp.zeros_like(z))
            hs.append(z)
            h = z
        _, d = loss(h, y)
        grads = {}
        for i in range(n_layers - 1, -1, -1):
            W = params[f"{2 * i}.W"]
            grads[f"{2 * i}.W"] = xp.matrix_transpose(hs[i]) @ d
            grads[f"{2 * i}.b"] = xp.sum(d, axis=0)
            if i > 0:
                d = d @ xp.matrix_transpose(W)
                d = xp.where(masks[i - 1], d, xp.zeros_like(d))
        if momentum:
            trace = {k: momentum * trace[k] + g for k, g in grads.items()}
            grads = trace
        params = {k: p + -(LR * grads[k]) for k, p in params.items()}
    return params


def _model(backend, dtype="float64"):
    return mlp(SIZES, activation="relu", backend=backend, dtype=dtype, seed=5)


@pytest.mark.parametrize("m", [0.0, MOMENTUM], ids=["sgd", "momentum"])
def test_in_place_step_equals_the_functional_one_bit_for_bit(backend, m):
    model = _model(backend)
    start = dict(model.params)
    batches = _on(backend, _batches())
    step = make_train_step(model, SoftmaxCrossEntropy(), sgd(LR, momentum=m), use_fast=False)
    state = step.init_state()
    for x, y in batches:
        _, _, state = step(x, y, state)
    ref = _functional_reference(start, batches, backend.xp, m)
    for k, v in model.params.items():
        np.testing.assert_array_equal(host(v), host(ref[k]), err_msg=k)


def test_no_callers_array_is_written(backend):
    model = _model(backend)
    held = dict(model.params)
    copies = {k: host(v) for k, v in held.items()}
    step = make_train_step(model, SoftmaxCrossEntropy(), sgd(LR, momentum=MOMENTUM), use_fast=False)
    state = step.init_state()
    batches = _on(backend, _batches())
    _, _, state = step(*batches[0], state)
    # a caller replaces the parameters: the step copies them before writing, and only once
    given = {k: backend.asarray(host(v), "float64") for k, v in model.params.items()}
    given_copies = {k: host(v) for k, v in given.items()}
    model.params = given
    for x, y in batches[1:]:
        _, _, state = step(x, y, state)
    for k in copies:
        np.testing.assert_array_equal(host(held[k]), copies[k], err_msg=k)
        np.testing.assert_array_equal(host(given[k]), given_copies[k], err_msg=k)
    if writes_in_place(model.params["0.W"]):
        last = dict(model.params)
        step(*batches[0], state)
        assert all(model.params[k] is last[k] for k in last)  # updated where they are


def test_gradients_a_hook_kept_are_not_written(backend):
    kept = []

    def keep(grads):
        kept.append((grads, {k: host(g) for k, g in grads.items()}))
        return grads

    model = _model(backend)
    step = make_train_step(model, SoftmaxCrossEntropy(), sgd(LR, momentum=MOMENTUM), grad_hooks=[keep], use_fast=False)
    state = step.init_state()
    for x, y in _on(backend, _batches(n_steps=3)):
        _, _, state = step(x, y, state)
    for grads, values in kept:
        for k, g in grads.items():
            np.testing.assert_array_equal(host(g), values[k], err_msg=k)


@pytest.mark.slow  # JAX compiles each operation on first use: seconds
def test_immutable_arrays_jax():
    try:
        b = get_backend("jax")
    except BackendError as exc:
        pytest.skip(str(exc))
    model = _model(b, "float32")  # JAX has float64 only with JAX_ENABLE_X64
    assert not writes_in_place(model.params["0.W"])
    start = dict(model.params)
    batches = _on(b, _batches(n_steps=2), "float32")
    step = make_train_step(model, SoftmaxCrossEntropy(), sgd(LR, momentum=MOMENTUM))
    state = step.init_state()
    snap = step.snapshot(state)
    assert all(snap.params[k] is model.params[k] for k in model.params)  # nothing to copy
    for x, y in batches:
        _, _, state = step(x, y, state)
    ref = _functional_reference(start, batches, b.xp, MOMENTUM)
    for k, v in model.params.items():
        np.testing.assert_allclose(host(v), host(ref[k]), rtol=1e-5, atol=1e-7, err_msg=k)


def test_one_weight_size_allocation_per_step():
    """torch's profiler: a step of 64-256-256-10 allocates one array of the 256x256 weight's
    size or more (its gradient), as PyTorch's own step does; before the in-place updates, four."""
    torch = pytest.importorskip("torch")
    from torch.profiler import ProfilerActivity, profile

    b = get_backend("torch", device="cpu")
    model = mlp([64, 256, 256, 10], backend=b, seed=0)
    step = make_train_step(model, SoftmaxCrossEntropy(), sgd(0.01))
    state = step.init_state()
    x = b.asarray(np.random.default_rng(0).standard_normal((8, 64)), "float32")
    y = torch.zeros(8, dtype=torch.int64)
    _, _, state = step(x, y, state)  # the first step copies the parameters it takes over
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step(x, y, state)
    w_bytes = 256 * 256 * 4
    big = [e for e in prof.events() if e.self_cpu_memory_usage >= w_bytes]
    assert len(big) == 1, [(e.name, e.self_cpu_memory_usage) for e in big]


def test_the_functional_update_equals_the_in_place_one(backend, monkeypatch):
    # the path a library with immutable arrays (JAX) takes, run here on a mutable one by
    # telling the step its arrays cannot be written: the same bits as the in-place update
    import xpnet.training.inplace as inplace

    batches = _on(backend, _batches(n_steps=3))

    def run():
        model = _model(backend, "float64")
        step = make_train_step(model, SoftmaxCrossEntropy(), sgd(LR, momentum=MOMENTUM), use_fast=False)
        state = step.init_state()
        for x, y in batches:
            _, _, state = step(x, y, state)
        return model, step._owner.mutable

    in_place, mutable = run()
    assert mutable == writes_in_place(in_place.params["0.W"])
    monkeypatch.setattr(inplace, "writes_in_place", lambda a: False)
    functional, mutable = run()
    assert not mutable  # this run took the functional path
    for k, v in in_place.params.items():
        np.testing.assert_array_equal(host(functional.params[k]), host(v), err_msg=k)
