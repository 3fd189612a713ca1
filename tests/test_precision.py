"""Narrow dtypes: Adam and RMSprop in float16 (eps where it exists), and mixed precision
(training/precision.py): bfloat16/float16 forward and backward around float32 master weights,
with dynamic loss scaling for float16. Every test runs on each backend that has the dtype (NumPy
float16; torch float16 and bfloat16); the others skip with the reason."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cli_helpers import run_cli
from helpers import host
from xpnet import mlp
from xpnet.errors import ConfigError
from xpnet.losses import SoftmaxCrossEntropy
from xpnet.optim import adam, adamw, rmsprop, sgd
from xpnet.training import Trainer, fit, make_train_step
from xpnet.training.precision import DynamicLossScale, Precision, ScaledState, get_precision

# Gradients of the mixed step against float32, relative to the gradient's norm: about a few
# units of the compute dtype's epsilon (float16 2**-10, bfloat16 2**-7) after three layers.
GRAD_RTOL = {"float16": 5e-3, "bfloat16": 4e-2}
ADAPTIVE = {"adam": lambda: adam(1e-3), "adamw": lambda: adamw(1e-3), "rmsprop": lambda: rmsprop(1e-3)}


def _needs(backend, dtype):
    if not hasattr(backend.xp, dtype):
        pytest.skip(f"the {backend.name} backend has no {dtype}")


def _data(n=64, d=12, k=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    return X, (np.abs(X[:, :k]).argmax(axis=1)).astype(np.int64)


def _digits():
    from xpnet.io import load_dataset

    ds = load_dataset("digits")  # the embedded copy: no scikit-learn import
    X, y = ds.X, ds.y
    X = (X - X.mean(axis=0)) / (X.std(axis=0) + 1e-6)
    return X.astype(np.float32), y


# --- float16 with Adam, AdamW, RMSprop: eps=1e-8 is 0 in float16 ------------------------------


@pytest.mark.parametrize("name", sorted(ADAPTIVE))
def test_adaptive_optimizers_train_in_float16(backend, name):
    """The bug: --dtype float16 with Adam diverged at step 0 (sqrt(v) + eps was 0 + 0). The
    moments now live in float32 and float16 training follows float32's within float16's rounding."""
    _needs(backend, "float16")
    X, y = _data()
    runs = {}
    for dtype in ("float16", "float32"):
        model = mlp([12, 16, 4], backend=backend, dtype=dtype, seed=3)
        step = make_train_step(model, SoftmaxCrossEntropy(), ADAPTIVE[name]())
        state = step.init_state()
        xb, yb = backend.asarray(X, dtype), backend.xp.asarray(y, device=backend.device)
        for _ in range(5):
            value, _, state = step(xb, yb, state)
        assert np.isfinite(float(host(value)))
        runs[dtype] = {k: host(v) for k, v in model.params.items()}
    for k, w32 in runs["float32"].items():
        assert np.all(np.isfinite(runs["float16"][k])), k
        np.testing.assert_allclose(runs["float16"][k], w32, atol=5e-3, err_msg=k)


@pytest.mark.parametrize("name", ["adam", "rmsprop"])
def test_tiny_float16_gradient_gives_a_finite_update(backend, name):
    """g = 1e-5: g*g = 1e-10 and eps = 1e-8 are both 0 in float16. Adam's first step is -lr (m and
    sqrt(v) are both g after the bias corrections); RMSprop's -lr * g / (sqrt(0.01 g^2) + eps)."""
    _needs(backend, "float16")
    xp = backend.xp
    p = {"w": xp.ones((3,), dtype=xp.float16, device=backend.device)}
    g = {"w": xp.full((3,), 1e-5, dtype=xp.float16, device=backend.device)}
    opt = ADAPTIVE[name]()
    state = opt.init(p)
    updates, _ = opt.update(g, state, p)
    u = host(updates["w"])
    assert updates["w"].dtype == xp.float16
    g16 = float(np.float16(1e-5))
    expected = -1e-3 * g16 / (g16 + 1e-8) if name == "adam" else -1e-3 * g16 / (0.1 * g16 + 1e-8)
    np.testing.assert_allclose(u, expected, rtol=1e-3)  # float16's rounding of the update
    moments = state[0]
    for moment in moments[1:] if name == "adam" else moments:
        assert moment["w"].dtype == xp.float32  # where eps = 1e-8 and 1e-10 exist


# --- mixed precision ---------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["mixed-f16", "mixed-bf16"])
def test_mixed_gradients_close_to_float32(backend, policy):
    prec = get_precision(policy)
    _needs(backend, prec.compute)
    X, y = _data()
    model = mlp([12, 32, 32, 4], backend=backend, seed=1)
    loss = SoftmaxCrossEntropy()
    xb, yb = backend.asarray(X, "float32"), backend.xp.asarray(y, device=backend.device)
    out, _, bp = model.forward(xb, training=True)
    _, ref = bp(loss(out, yb)[1])
    state = make_train_step(model, loss, sgd(0.1), precision=prec).init_state()
    out_m, _, bp_m = prec.forward(model, xb, state)
    assert out_m.dtype == model.dtype  # the loss sees master-dtype outputs
    _, grads = bp_m(loss(out_m, yb)[1])
    for k, g in grads.items():
        assert g.dtype == model.params[k].dtype, k
        g, r = host(g), host(ref[k])
        assert np.linalg.norm(g - r) <= GRAD_RTOL[prec.compute] * np.linalg.norm(r), k


@pytest.mark.parametrize("policy", ["mixed-f16", "mixed-bf16"])
def test_mixed_digits_within_one_point_of_float32(backend, policy):
    prec = get_precision(policy)
    _needs(backend, prec.compute)
    X, y = _digits()
    acc = {}
    for p in (None, prec):
        model = mlp([64, 32, 10], backend=backend, seed=0)
        h = fit(model, X, y, optimizer=adam(3e-3), epochs=6, batch_size=64, validation_split=0.2, precision=p)
        acc[p] = h.history["val_accuracy"][-1]
        if p is not None:
            assert all(v.dtype == model.dtype for v in model.params.values())  # master weights stay float32
            if p.loss_scale is not None:
                assert h.history["skipped_steps"] == [0.0] * 6
    assert acc[None] > 0.9
    assert abs(acc[prec] - acc[None]) <= 0.01, acc


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's float16 warns as it overflows
def test_forced_overflow_is_skipped_and_the_scale_backs_off(backend):
    """A loss scale of 2**40 overflows float16 (max 65504) in the backward pass: the step keeps
    the weights and Adam's state (its count too), halves the scale and counts the skip."""
    _needs(backend, "float16")
    X, y = _data()
    model = mlp([12, 16, 4], backend=backend, seed=2)
    prec = Precision("f16", "float16", loss_scale=DynamicLossScale(init_scale=2.0**40, growth_interval=3))
    step = make_train_step(model, SoftmaxCrossEntropy(), adam(1e-3), precision=prec)
    state = step.init_state()
    xb, yb = backend.asarray(X, "float32"), backend.xp.asarray(y, device=backend.device)
    before = {k: host(v) for k, v in model.params.items()}
    _, _, state = step(xb, yb, state)
    assert isinstance(state, ScaledState)
    assert state.loss_scale == (2.0**39, 0, 1)
    assert state.inner[0].count == 0  # Adam's step count did not advance
    for k, v in model.params.items():
        np.testing.assert_array_equal(host(v), before[k])
    scales = [state.loss_scale.scale]
    while state.loss_scale.skipped == len(scales) and len(scales) < 40:  # backs off until finite
        _, _, state = step(xb, yb, state)
        scales.append(state.loss_scale.scale)
    # halved at every overflow, kept at the first finite step
    assert all(b == a / 2 for a, b in zip(scales[:-2], scales[1:-1], strict=True)) and scales[-1] == scales[-2]
    assert 2.0**10 <= scales[-1] < 2.0**39
    assert state.inner[0].count == 1 and state.loss_scale.good_steps == 1
    assert any(not np.array_equal(host(v), before[k]) for k, v in model.params.items())
    for _ in range(2):  # growth_interval finite steps in a row: the scale doubles
        _, _, state = step(xb, yb, state)
    assert state.loss_scale.scale == scales[-1] * 2 and state.loss_scale.good_steps == 0


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_skipped_steps_in_the_history(backend):
    _needs(backend, "float16")
    X, y = _data(n=96)
    model = mlp([12, 16, 4], backend=backend, seed=2)
    prec = Precision("f16", "float16", loss_scale=DynamicLossScale(init_scale=2.0**22))
    trainer = Trainer(model, optimizer=sgd(0.1), batch_size=16, precision=prec)
    h = trainer.fit(X, y, epochs=2)
    # 2**22 overflows; each skip halves it until the scaled gradients fit (a few steps)
    skipped = h.history["skipped_steps"]
    assert skipped[0] >= 1 and sum(skipped) == trainer.state.opt_state.loss_scale.skipped
    assert all(np.isfinite(host(v)).all() for v in model.params.values())


def test_precision_refusals(numpy_backend):
    with pytest.raises(ConfigError, match="numpy backend has no bfloat16"):
        make_train_step(mlp([4, 2], backend=numpy_backend), SoftmaxCrossEntropy(), sgd(0.1), precision="mixed-bf16")
    with pytest.raises(ConfigError, match="dtype must be float32"):
        model = mlp([4, 2], backend=numpy_backend, dtype="float64")
        make_train_step(model, SoftmaxCrossEntropy(), sgd(0.1), precision="mixed-f16")
    with pytest.raises(ConfigError, match="precision: unknown name 'fp8'"):
        get_precision("fp8")
    with pytest.raises(ConfigError, match="backoff_factor"):
        DynamicLossScale(backoff_factor=2.0)


def test_cli_precision(tmp_path):
    bad = run_cli(
        "train", "--dataset", "xor", "--backend", "numpy", "--precision", "mixed-bf16", "--out", tmp_path / "a"
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().count("\n") == 0 and "no bfloat16" in bad.stderr
    assert not (tmp_path / "a").exists()
    out = tmp_path / "b"
    args = ("--dataset", "digits", "--layers", "32", "--epochs", "2", "--backend", "numpy", "--quiet")
    r = run_cli("train", *args, "--precision", "mixed-f16", "--out", out, "--json")
    assert r.returncode == 0, r.stderr
    history = json.loads((out / "history.json").read_text())["history"]
    assert history["skipped_steps"] == [0.0, 0.0]
    assert json.loads(r.stdout)["metrics"]["val_accuracy"] > 0.6
