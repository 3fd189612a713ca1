"""The step's two seams: which path runs (a fast step only for configurations it supports
exactly), and the gradient seam between backward and update, honoured on every path."""

from __future__ import annotations

import numpy as np
import pytest

import xpnet
from helpers import host
from xpnet.nn import Dense, ReLU, Sequential
from xpnet.nn.losses import MSE, SoftmaxCrossEntropy
from xpnet.optim import GradientTransformation, adam, chain, sgd
from xpnet.training import make_train_step, train_step

OPTIMIZERS = {
    "sgd": lambda: sgd(0.05),
    "momentum": lambda: sgd(0.05, momentum=0.9),
    "nesterov": lambda: sgd(0.05, momentum=0.8, nesterov=True),
    "adam": lambda: adam(0.01),
}


def _batches(n_steps=5, n=8, n_in=6, n_out=3, seed=0, dtype="float64"):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((n, n_in)).astype(dtype), rng.integers(0, n_out, n)) for _ in range(n_steps)]


def _model(backend="numpy", dtype="float64", seed=2):
    return xpnet.mlp([6, 7, 5, 3], activation="relu", backend=backend, dtype=dtype, seed=seed)


def _with_spec(t: GradientTransformation, **extra) -> GradientTransformation:
    """t declaring one more hyperparameter than the fast step knows (as a future version of the
    transform would)."""
    name, hyper = t.spec
    return GradientTransformation(t.init, t.update, (name, {**hyper, **extra}))


# --- which path runs ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["lr", "momentum", "adam", "chain"])
def test_an_unknown_hyperparameter_takes_the_generic_path(case):
    model, loss = _model(), SoftmaxCrossEntropy()
    if case == "lr":
        opt = _with_spec(sgd(0.1), lr_decay=0.5)
    elif case == "momentum":
        m = sgd(0.1, momentum=0.9)
        first, lr = m.spec[1]["transforms"]
        opt = chain(_with_spec(first, dampening=0.3), lr)
    elif case == "adam":
        a = adam(0.01)
        first, lr = a.spec[1]["transforms"]
        opt = chain(_with_spec(first, amsgrad=True), lr)
    else:
        opt = _with_spec(chain(sgd(0.1)), skip_first=1)
    assert make_train_step(model, loss, opt).path == "generic"
    # the unmodified configuration is fast: the field alone made the difference
    assert (
        make_train_step(
            model,
            loss,
            {"lr": sgd(0.1), "momentum": sgd(0.1, momentum=0.9), "adam": adam(0.01), "chain": chain(sgd(0.1))}[case],
        ).path
        == "numpy"
    )


def test_a_layer_with_an_unknown_field_takes_the_generic_path():
    dense = Dense(4, 3)
    model = Sequential([Dense(6, 4), ReLU(), dense], seed=0, backend="numpy", dtype="float64")
    assert make_train_step(model, MSE(), sgd(0.1)).path == "numpy"
    dense.dropconnect = 0.5  # a field a later Dense might have: the fast step cannot know its meaning
    assert make_train_step(model, MSE(), sgd(0.1)).path == "generic"

    class MyReLU(ReLU):  # a subclass may change the math: not the listed type
        pass

    model = Sequential([Dense(6, 4), MyReLU(), Dense(4, 3)], seed=0, backend="numpy", dtype="float64")
    assert make_train_step(model, MSE(), sgd(0.1)).path == "generic"


def test_the_backend_package_has_no_step():
    import xpnet.backend as b

    assert not any("step" in name for name in dir(b))


# --- the gradient seam ----------------------------------------------------------------------------


@pytest.mark.parametrize("opt", list(OPTIMIZERS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_hook_gives_the_same_weights_on_the_fast_and_the_generic_path(opt, dtype):
    def halve(grads):
        return {k: g * 0.5 for k, g in grads.items()}

    loss, results = SoftmaxCrossEntropy(), []
    for use_fast in (True, False):
        model = _model(dtype=dtype)
        step = make_train_step(model, loss, OPTIMIZERS[opt](), grad_hooks=[halve], use_fast=use_fast)
        state = step.init_state()
        for x, y in _batches(dtype=dtype):
            _, _, state = step(x, y, state)
            assert step.last_path == ("numpy" if use_fast else "generic")
        results.append({k: host(v) for k, v in model.params.items()})
    for k in results[0]:
        np.testing.assert_array_equal(results[0][k], results[1][k], err_msg=k)
    plain = _model(dtype=dtype)
    step = make_train_step(plain, loss, OPTIMIZERS[opt]())
    state = step.init_state()
    for x, y in _batches(dtype=dtype):
        _, _, state = step(x, y, state)
    assert not np.array_equal(host(plain.params["0.W"]), results[0]["0.W"])  # the hook took effect


def test_halving_gradients_is_halving_the_sgd_rate():
    # x * 0.5 is exact, so the hook's SGD run equals an unhooked run at half the rate, bit for bit
    loss = SoftmaxCrossEntropy()
    a, b = _model(), _model()
    sa = make_train_step(a, loss, sgd(0.1), grad_hooks=[lambda g: {k: v * 0.5 for k, v in g.items()}])
    sb = make_train_step(b, loss, sgd(0.05))
    ta, tb = sa.init_state(), sb.init_state()
    for x, y in _batches():
        _, _, ta = sa(x, y, ta)
        _, _, tb = sb(x, y, tb)
    for k in a.params:
        np.testing.assert_array_equal(host(a.params[k]), host(b.params[k]), err_msg=k)


def test_the_hook_sees_the_whole_gradient_once_per_step(backend):
    seen = []

    def record(grads):
        seen.append({k: (tuple(g.shape), host(g)) for k, g in grads.items()})
        return grads

    model = _model(backend=backend)
    step = make_train_step(model, SoftmaxCrossEntropy(), sgd(0.1), grad_hooks=[record])
    ref = _model(backend=backend)
    state = step.init_state()
    for x, y in _batches(n_steps=3):
        xb, yb = backend.asarray(x, "float64"), backend.asarray(y)
        # the gradient the generic step computes for the same weights
        out, _, bp = ref.forward(xb, training=True)
        _, want = bp(SoftmaxCrossEntropy()(out, yb)[1])
        _, _, state = step(xb, yb, state)
        ref.params = {k: backend.asarray(host(v), "float64") for k, v in model.params.items()}
        got = seen[-1]
        assert set(got) == set(model.params)
        for k, g in want.items():
            assert got[k][0] == tuple(model.params[k].shape)
            np.testing.assert_array_equal(got[k][1], host(g), err_msg=k)
    assert len(seen) == 3


def test_hooks_run_in_order_and_their_results_are_checked():
    order = []
    hooks = [lambda g: order.append("a") or g, lambda g: order.append("b") or g]
    model = _model()
    step = make_train_step(model, SoftmaxCrossEntropy(), sgd(0.1), grad_hooks=hooks)
    x, y = _batches(n_steps=1)[0]
    step(x, y, step.init_state())
    assert order == ["a", "b"]
    for bad, exc, text in [
        (lambda g: None, xpnet.ConfigError, "must return a dict keyed like model.params"),
        (lambda g: {"0.W": g["0.W"]}, xpnet.ConfigError, "must return a dict keyed"),
        (lambda g: {**g, "0.W": g["0.W"][:2, ...]}, xpnet.ShapeError, "gradient '0.W' has shape"),
        (lambda g: {**g, "0.b": np.asarray(g["0.b"], np.float32)}, xpnet.ShapeError, "dtype"),
    ]:
        for use_fast in (True, False):
            step = make_train_step(_model(), SoftmaxCrossEntropy(), sgd(0.1), grad_hooks=[bad], use_fast=use_fast)
            with pytest.raises(exc, match=text):
                step(x, y, step.init_state())
    with pytest.raises(xpnet.ConfigError, match=r"grad_hooks\[0\]: expected a function"):
        make_train_step(model, SoftmaxCrossEntropy(), sgd(0.1), grad_hooks=["clip"])


def test_fit_passes_hooks_to_the_step():
    calls = []
    X, y = _batches(n_steps=1, n=20)[0]
    xpnet.fit(_model(), X, y, optimizer=sgd(0.1), batch_size=5, epochs=2, grad_hooks=[lambda g: calls.append(1) or g])
    assert len(calls) == 8  # 4 batches a epoch, 2 epochs


# --- ownership: in-place updates stay inside the fast step ------------------------------------


@pytest.mark.parametrize("opt", list(OPTIMIZERS))
def test_no_array_a_caller_holds_is_written(opt):
    model = _model()
    held_params = dict(model.params)
    copies = {k: np.array(v) for k, v in held_params.items()}
    o = OPTIMIZERS[opt]()
    state = o.init(model.params)  # a state the caller made, and holds
    held_state = xpnet.tree_flatten(state)[0]
    state_copies = {k: np.array(v) for k, v in held_state.items() if isinstance(v, np.ndarray)}
    step = make_train_step(model, SoftmaxCrossEntropy(), o)
    assert step.path == "numpy"
    s = state
    snaps = []
    for x, y in _batches():
        _, _, s = step(x, y, s)
        snaps.append((step.snapshot(s), {k: np.array(v) for k, v in model.params.items()}))
    for k, v in held_params.items():
        np.testing.assert_array_equal(v, copies[k], err_msg=k)
    for k, v in state_copies.items():
        np.testing.assert_array_equal(held_state[k], v, err_msg=k)
    for snap, values in snaps:  # snapshots keep the values of their moment
        for k, v in values.items():
            np.testing.assert_array_equal(snap.params[k], v, err_msg=k)


def test_a_generic_snapshot_copies_only_what_the_step_writes(backend):
    """The generic step updates the parameters in place where the library writes in place
    (training/inplace.py): its snapshot copies them, and only them (it never writes into buffers or
    an optimizer state). tests/test_inplace.py: on JAX it copies nothing."""
    model = _model(backend=backend)
    step = make_train_step(model, SoftmaxCrossEntropy(), sgd(0.1, momentum=0.9), use_fast=False)
    state = step.init_state()
    x, y = _batches(n_steps=1)[0]
    _, _, state = step(backend.asarray(x, "float64"), backend.asarray(y), state)
    snap = step.snapshot(state)
    before = {k: host(v) for k, v in model.params.items()}
    assert all(snap.params[k] is not model.params[k] for k in model.params)
    assert snap.opt_state is state
    step(backend.asarray(x, "float64"), backend.asarray(y), state)
    for k, v in before.items():
        np.testing.assert_array_equal(host(snap.params[k]), v, err_msg=k)
        assert not np.array_equal(host(model.params[k]), v), k  # the step went on


def test_restore_puts_a_snapshot_back_exactly():
    model = _model()
    step = make_train_step(model, SoftmaxCrossEntropy(), adam(0.01))
    state = step.init_state()
    batches = _batches(n_steps=6)
    for x, y in batches[:2]:
        _, _, state = step(x, y, state)
    snap = step.snapshot(state)
    for x, y in batches[2:4]:
        _, _, state = step(x, y, state)
    state = step.restore(snap)
    for x, y in batches[2:4]:
        _, _, state = step(x, y, state)
    again = {k: np.array(v) for k, v in model.params.items()}
    ref = _model()
    rs = make_train_step(ref, SoftmaxCrossEntropy(), adam(0.01), use_fast=False)
    rstate = rs.init_state()
    for x, y in batches[:4]:
        _, _, rstate = rs(x, y, rstate)
    for k in again:
        np.testing.assert_array_equal(again[k], ref.params[k], err_msg=k)


def test_train_step_is_the_generic_path(backend):
    model = _model(backend=backend)
    x, y = _batches(n_steps=1)[0]
    value, out, state = train_step(
        model,
        SoftmaxCrossEntropy(),
        sgd(0.1),
        sgd(0.1).init(model.params),
        backend.asarray(x, "float64"),
        backend.asarray(y),
    )
    assert host(out).shape == (8, 3) and np.isfinite(float(host(value)))
