"""Optimizers: a few steps against hand-worked values, 12 steps against torch.optim, chain order,
and invalid hyperparameters. Schedules, clipping and penalties are in test_regularization.py."""

import math

import numpy as np
import pytest

import xpnet
from helpers import host
from xpnet.optim import (
    ScaleByAdamState,
    add_decayed_weights,
    apply_updates,
    chain,
    clip_by_global_norm,
    clip_by_value,
    get_optimizer,
    scale_by_adam,
    scale_by_learning_rate,
)

EPS = 1e-8


def _run(opt, backend, p0, grads, dtype="float64"):
    """Parameters after applying `opt` to the gradient sequence; all arrays on `backend`."""
    params = {k: backend.asarray(v, dtype) for k, v in p0.items()}
    state = opt.init(params)
    for g in grads:
        updates, state = opt.update({k: backend.asarray(v, dtype) for k, v in g.items()}, state, params)
        params = apply_updates(params, updates)
    return {k: host(v) for k, v in params.items()}, state


# (optimizer, gradients of the one weight w starting at 1.0, expected w after them, arithmetic)
HAND = {
    "sgd": (lambda: xpnet.sgd(0.1), [0.5, -1.0], 1 - 0.05 + 0.1),  # 1 - 0.1*0.5 - 0.1*(-1)
    # b = 1, 1.9, 1.71 (b <- 0.9 b + g); w = 1 - 0.1 * (1 + 1.9 + 1.71)
    "momentum": (lambda: xpnet.sgd(0.1, momentum=0.9), [1.0, 1.0, 0.0], 1 - 0.1 * (1 + 1.9 + 1.71)),
    # b = 1, 1.9; steps g + 0.9 b = 1.9, 2.71; w = 1 - 0.1 * (1.9 + 2.71)
    "nesterov": (lambda: xpnet.sgd(0.1, momentum=0.9, nesterov=True), [1.0, 1.0], 1 - 0.1 * (1.9 + 2.71)),
    # v = 0.01 * 4 = 0.04, then 0.99 * 0.04 + 0.04 = 0.0796; step g / (sqrt(v) + eps)
    "rmsprop": (
        lambda: xpnet.rmsprop(0.01),
        [2.0, 2.0],
        1 - 0.01 * 2 / (math.sqrt(0.04) + EPS) - 0.01 * 2 / (math.sqrt(0.0796) + EPS),
    ),
    # constant g = 0.5: bias-corrected m = 0.5 and sqrt(v) = 0.5 at every step, so each step
    # moves w by lr * 0.5 / (0.5 + eps)
    "adam": (lambda: xpnet.adam(0.1), [0.5, 0.5], 1 - 2 * 0.1 * 0.5 / (0.5 + EPS)),
    # as adam plus lr * 0.1 * w: w1 = 1 - 0.1 * (a + 0.1), w2 = w1 - 0.1 * (a + 0.1 * w1)
    "adamw": (lambda: xpnet.adamw(0.1, weight_decay=0.1), [0.5, 0.5], None),
}


@pytest.mark.parametrize("name", sorted(HAND))
def test_optimizer_hand_worked(name, backend):
    make, gs, want = HAND[name]
    if name == "adamw":
        a = 0.5 / (0.5 + EPS)
        w1 = 1 - 0.1 * (a + 0.1)
        want = w1 - 0.1 * (a + 0.1 * w1)
    # a bias beside the weight: AdamW must not decay it (it sees the same gradients)
    p, _ = _run(make(), backend, {"0.W": [[1.0]], "0.b": [1.0]}, [{"0.W": [[g]], "0.b": [g]} for g in gs])
    np.testing.assert_allclose(p["0.W"], [[want]], rtol=1e-14)
    if name == "adamw":
        np.testing.assert_allclose(p["0.b"], [1 - 2 * 0.1 * 0.5 / (0.5 + EPS)], rtol=1e-14)


def _torch_cases():
    import torch

    opt = torch.optim

    def decay_weights_only(cls, wd, **kw):
        return lambda W, b: cls([{"params": [W], "weight_decay": wd}, {"params": [b], "weight_decay": 0.0}], **kw)

    return {
        "sgd": (xpnet.sgd(0.1), lambda W, b: opt.SGD([W, b], lr=0.1)),
        "momentum": (xpnet.sgd(0.1, momentum=0.9), lambda W, b: opt.SGD([W, b], lr=0.1, momentum=0.9)),
        "nesterov": (
            xpnet.sgd(0.1, momentum=0.9, nesterov=True),
            lambda W, b: opt.SGD([W, b], lr=0.1, momentum=0.9, nesterov=True),
        ),
        "rmsprop": (xpnet.rmsprop(0.01, alpha=0.9), lambda W, b: opt.RMSprop([W, b], lr=0.01, alpha=0.9)),
        "rmsprop-momentum": (
            xpnet.rmsprop(0.01, momentum=0.5),
            lambda W, b: opt.RMSprop([W, b], lr=0.01, momentum=0.5),
        ),
        "adam": (xpnet.adam(0.01, b1=0.8, b2=0.95), lambda W, b: opt.Adam([W, b], lr=0.01, betas=(0.8, 0.95))),
        "adamw": (xpnet.adamw(0.01, weight_decay=0.1), decay_weights_only(opt.AdamW, 0.1, lr=0.01)),
        # torch's SGD weight_decay is an L2 penalty on every parameter, added before momentum
        "sgd-l2": (
            chain(
                xpnet.l2(0.01, include=lambda name: True),
                xpnet.optim.scale_by_momentum(0.9),
                scale_by_learning_rate(0.1),
            ),
            lambda W, b: opt.SGD([W, b], lr=0.1, momentum=0.9, weight_decay=0.01),
        ),
    }


TORCH_NAMES = ["sgd", "momentum", "nesterov", "rmsprop", "rmsprop-momentum", "adam", "adamw", "sgd-l2"]


@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-10), ("float32", 1e-5)])
@pytest.mark.parametrize("name", TORCH_NAMES)
def test_optimizer_matches_torch(name, dtype, rtol, backend):
    torch = pytest.importorskip("torch")
    ours, make_torch = _torch_cases()[name]
    rng = np.random.default_rng(11)
    p0 = {"0.W": rng.normal(size=(3, 2)), "0.b": rng.normal(size=(2,))}
    grads = [{"0.W": rng.normal(size=(3, 2)), "0.b": rng.normal(size=(2,))} for _ in range(12)]
    tdt = getattr(torch, dtype)
    W = torch.tensor(p0["0.W"], dtype=tdt, requires_grad=True)
    b = torch.tensor(p0["0.b"], dtype=tdt, requires_grad=True)
    topt = make_torch(W, b)
    for g in grads:
        W.grad, b.grad = torch.tensor(g["0.W"], dtype=tdt), torch.tensor(g["0.b"], dtype=tdt)
        topt.step()
    got, _ = _run(ours, backend, p0, grads, dtype)
    np.testing.assert_allclose(got["0.W"], W.detach().double().numpy(), rtol=rtol, atol=rtol * 1e-2)
    np.testing.assert_allclose(got["0.b"], b.detach().double().numpy(), rtol=rtol, atol=rtol * 1e-2)


def test_get_optimizer_names_build_the_documented_optimizers(backend):
    p0, gs = {"0.W": [[1.0]]}, [{"0.W": [[1.0]]}] * 2
    for name, same in [
        ("sgd", xpnet.sgd(0.1)),
        ("momentum", xpnet.sgd(0.1, momentum=0.9)),
        ("nesterov", xpnet.sgd(0.1, momentum=0.9, nesterov=True)),
        ("rmsprop", xpnet.rmsprop(0.1)),
        ("adam", xpnet.adam(0.1)),
        ("adamw", xpnet.adamw(0.1)),
    ]:
        a, _ = _run(get_optimizer(name, lr=0.1), backend, p0, gs)
        b, _ = _run(same, backend, p0, gs)
        np.testing.assert_array_equal(a["0.W"], b["0.W"], err_msg=name)


def test_chain_applies_transforms_in_order(backend):
    p0, gs = {"w": [20.0]}, [{"w": [20.0]}]
    clip_then_lr, _ = _run(chain(clip_by_value(1.0), scale_by_learning_rate(0.1)), backend, p0, gs)
    lr_then_clip, _ = _run(chain(scale_by_learning_rate(0.1), clip_by_value(1.0)), backend, p0, gs)
    np.testing.assert_allclose(clip_then_lr["w"], [20 - 0.1 * 1.0], rtol=1e-15)  # clipped to 1, then * lr
    np.testing.assert_allclose(lr_then_clip["w"], [20 - 1.0], rtol=1e-15)  # -2 clipped to -1


def test_composed_optimizer_state_is_ints_and_dicts_of_arrays(backend):
    opt = chain(
        clip_by_global_norm(1.0),
        scale_by_adam(),
        add_decayed_weights(1e-4),
        scale_by_learning_rate(xpnet.cosine_decay(1e-3, 1000)),
    )
    _, state = _run(opt, backend, {"0.W": [[1.0, 2.0]], "0.b": [0.5]}, [{"0.W": [[3.0, 4.0]], "0.b": [1.0]}] * 3)
    assert isinstance(state[1], ScaleByAdamState) and state[1].count == 3 and state[3].step == 3
    for s in state:
        for field in s:
            assert isinstance(field, int) or (isinstance(field, dict) and set(field) == {"0.W", "0.b"})


BAD = [
    (lambda: xpnet.sgd(0.0), "lr.*0.0"),
    (lambda: xpnet.sgd(-1.0), "lr.*-1.0"),
    (lambda: xpnet.sgd(float("nan")), "lr.*nan"),
    (lambda: xpnet.adam(float("inf")), "lr.*inf"),
    (lambda: xpnet.sgd(0.1, momentum=1.0), r"momentum.*\[0, 1\).*1.0"),
    (lambda: xpnet.sgd(0.1, momentum=-0.1), "momentum.*-0.1"),
    (lambda: xpnet.sgd(0.1, nesterov=True), "nesterov.*momentum"),
    (lambda: xpnet.adam(b1=1.0), r"b1.*\[0, 1\)"),
    (lambda: xpnet.adam(b2=-0.5), "b2.*-0.5"),
    (lambda: xpnet.adam(eps=0.0), "eps.*> 0|eps.*\\(0"),
    (lambda: xpnet.rmsprop(0.1, alpha=1.5), "alpha.*1.5"),
    (lambda: xpnet.adamw(weight_decay=-0.1), "weight_decay.*-0.1"),
    (lambda: clip_by_value(-1.0), "limit.*-1.0"),
    (lambda: clip_by_global_norm(0.0), "max_norm.*0.0"),
    (lambda: xpnet.l2(-0.1), "rate.*-0.1"),
    (lambda: xpnet.l1(float("nan")), "rate.*nan"),
    (lambda: xpnet.l2(0.1, layers=[-1]), "layers.*-1"),
    (lambda: get_optimizer("lbfgs"), "optimizer: unknown name 'lbfgs'.*adamw"),
    (lambda: get_optimizer("adam", beta=0.9), "optimizer 'adam'.*beta"),
    (lambda: chain(xpnet.sgd(0.1), "adam"), "chain: argument 1"),
]


@pytest.mark.parametrize("make,pattern", BAD, ids=[p for _, p in BAD])
def test_invalid_hyperparameters_raise_config_error(make, pattern):
    with pytest.raises(xpnet.ConfigError, match=pattern) as info:
        make()
    assert isinstance(info.value, ValueError) and "\n" not in str(info.value)
