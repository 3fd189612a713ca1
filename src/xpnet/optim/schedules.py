"""Learning-rate schedules: functions step -> float, evaluated on the host.

Pass one to `scale_by_learning_rate` (or any named optimizer's `lr`); the optimizer's state keeps
the step as a Python int, starting at 0, so the schedule never touches the device. The closed
forms match torch.optim.lr_scheduler's StepLR, ExponentialLR and CosineAnnealingLR stepped once
per optimizer step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..checks import check_float, check_int, check_lr, check_positive

Schedule = Callable[[int], float]


class _Named:
    """A schedule with a readable repr (it shows up in logs and error messages)."""

    def __init__(self, fn: Schedule, text: str) -> None:
        self._fn, self._text = fn, text

    def __call__(self, step: int) -> float:
        return self._fn(step)

    def __repr__(self) -> str:
        return self._text


def step_decay(lr: float, step_size: int, gamma: float = 0.1) -> Schedule:
    """lr * gamma ** (step // step_size): multiplied by gamma every step_size steps (StepLR)."""
    lr = check_positive("lr", lr)
    step_size = check_int("step_size", step_size)
    gamma = check_float("gamma", gamma, 0.0, 1.0, low_open=True)
    return _Named(lambda step: lr * gamma ** (step // step_size), f"step_decay({lr}, {step_size}, {gamma})")


def exponential_decay(lr: float, gamma: float) -> Schedule:
    """lr * gamma ** step (ExponentialLR)."""
    lr = check_positive("lr", lr)
    gamma = check_float("gamma", gamma, 0.0, 1.0, low_open=True)
    return _Named(lambda step: lr * gamma**step, f"exponential_decay({lr}, {gamma})")


def cosine_decay(lr: float, total_steps: int, min_lr: float = 0.0) -> Schedule:
    """From lr down to min_lr along half a cosine over total_steps, then min_lr
    (CosineAnnealingLR with T_max = total_steps, eta_min = min_lr)."""
    lr = check_positive("lr", lr)
    total_steps = check_int("total_steps", total_steps)
    min_lr = check_float("min_lr", min_lr, 0.0, lr)

    def schedule(step: int) -> float:
        t = min(step, total_steps) / total_steps
        return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * t)) / 2

    return _Named(schedule, f"cosine_decay({lr}, {total_steps}, min_lr={min_lr})")


def warmup(schedule_or_lr: Schedule | float, warmup_steps: int) -> Schedule:
    """Linear warm-up: (step + 1) / warmup_steps of the target's first rate for the first
    warmup_steps steps (so the first step is not 0), then the target, started from its step 0.
    A large first step with freshly initialised (or Adam's still-unreliable) statistics is what
    makes early training diverge; ramping up avoids it."""
    target = check_lr(schedule_or_lr)
    warmup_steps = check_int("warmup_steps", warmup_steps, low=0)
    at = target if callable(target) else (lambda step: target)

    def schedule(step: int) -> float:
        if step < warmup_steps:
            return at(0) * (step + 1) / warmup_steps
        return at(step - warmup_steps)

    return _Named(schedule, f"warmup({target!r}, {warmup_steps})")
