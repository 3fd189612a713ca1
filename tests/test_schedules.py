"""Learning-rate schedules: hand-worked values, agreement with torch.optim.lr_scheduler, and a
schedule driving an optimizer's steps."""

import math

import numpy as np
import pytest

import xpnet
from helpers import host
from xpnet.optim import cosine_decay, exponential_decay, step_decay, warmup

HAND = [
    (step_decay(1.0, 2, 0.5), [1.0, 1.0, 0.5, 0.5, 0.25]),  # halved every 2 steps
    (exponential_decay(2.0, 0.5), [2.0, 1.0, 0.5, 0.25]),  # 2 * 0.5**step
    # 0.2 + 0.8 * (1 + cos(pi * step / 4)) / 2, then held at min_lr
    (
        cosine_decay(1.0, 4, min_lr=0.2),
        [1.0, 0.2 + 0.4 * (1 + math.cos(math.pi / 4)), 0.6, 0.2 + 0.4 * (1 - math.cos(math.pi / 4)), 0.2, 0.2],
    ),
    (warmup(0.1, 4), [0.025, 0.05, 0.075, 0.1, 0.1]),  # (step + 1) / 4 of 0.1, then 0.1
    (warmup(step_decay(1.0, 2, 0.5), 2), [0.5, 1.0, 1.0, 1.0, 0.5]),  # the target starts after the ramp
]


@pytest.mark.parametrize("schedule,want", HAND, ids=lambda v: repr(v) if callable(v) else "")
def test_schedule_values(schedule, want):
    got = [schedule(step) for step in range(len(want))]
    assert all(isinstance(v, float) for v in got)
    np.testing.assert_allclose(got, want, rtol=1e-15)


def test_schedules_match_torch_schedulers():
    torch = pytest.importorskip("torch")
    sched = torch.optim.lr_scheduler
    cases = [
        (step_decay(0.3, 3, 0.7), lambda o: sched.StepLR(o, 3, 0.7)),
        (exponential_decay(0.3, 0.9), lambda o: sched.ExponentialLR(o, 0.9)),
        (cosine_decay(0.3, 20, min_lr=0.01), lambda o: sched.CosineAnnealingLR(o, 20, eta_min=0.01)),
    ]
    for ours, make in cases:
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.3)
        s = make(opt)
        for step in range(20):
            assert ours(step) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9), (ours, step)
            opt.step()
            s.step()


def test_schedule_drives_the_optimizer(backend):
    # lr = 1, 0.5, 0.25 with g = 1 each step: w = 1 - 1 - 0.5 - 0.25
    opt = xpnet.sgd(step_decay(1.0, 1, 0.5))
    params = {"w": backend.asarray([1.0], "float64")}
    state = opt.init(params)
    for _ in range(3):
        updates, state = opt.update({"w": backend.asarray([1.0], "float64")}, state, params)
        params = xpnet.apply_updates(params, updates)
    np.testing.assert_allclose(host(params["w"]), [-0.75], rtol=1e-15)
    assert state.step == 3


@pytest.mark.parametrize(
    "make,pattern",
    [
        (lambda: step_decay(0.1, 0, 0.5), "step_size.*0"),
        (lambda: step_decay(0.1, 2, 0.0), "gamma.*0.0"),
        (lambda: exponential_decay(-0.1, 0.9), "lr.*-0.1"),
        (lambda: cosine_decay(0.1, 10, min_lr=0.2), "min_lr.*0.2"),
        (lambda: cosine_decay(0.1, 2.5), "total_steps.*2.5"),
        (lambda: warmup(0.1, -1), "warmup_steps.*-1"),
        (lambda: warmup("fast", 3), "lr.*fast"),
    ],
)
def test_invalid_schedule_raises_config_error(make, pattern):
    with pytest.raises(xpnet.ConfigError, match=pattern):
        make()
