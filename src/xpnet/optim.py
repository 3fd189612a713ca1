"""Optimizers as pure transforms (optax's design).

An optimizer is `Optimizer(init, update)`: `init(params) -> state`, and
`update(grads, state, params) -> (updates, state)`; `apply_updates(params, updates)` adds them.
params, grads and updates are flat dicts name -> array. Named optimizers are chains of small
transforms, so "clip, then Adam, then weight decay, then the learning rate" is just `chain(...)`.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

from .errors import ConfigError


class Optimizer(NamedTuple):
    init: Callable[[dict], Any]
    update: Callable[[dict, Any, dict], tuple[dict, Any]]


def apply_updates(params: dict, updates: dict) -> dict:
    return {k: p + updates[k] if k in updates else p for k, p in params.items()}


def _check_lr(lr):
    if callable(lr):
        return lr
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise ConfigError(f"lr: expected a finite number > 0 or a schedule, got {lr!r}")
    return float(lr)


class ScaleByLRState(NamedTuple):
    step: int


def scale_by_learning_rate(lr: float | Callable[[int], float]) -> Optimizer:
    """updates = -lr * grads; lr may be a schedule step -> float (evaluated on the host)."""
    lr = _check_lr(lr)

    def init(params):
        return ScaleByLRState(0)

    def update(grads, state, params=None):
        rate = lr(state.step) if callable(lr) else lr
        return {k: -(rate * g) for k, g in grads.items()}, ScaleByLRState(state.step + 1)

    return Optimizer(init, update)


def chain(*transforms: Optimizer) -> Optimizer:
    def init(params):
        return tuple(t.init(params) for t in transforms)

    def update(grads, state, params=None):
        new_state = []
        for t, s in zip(transforms, state):
            grads, s = t.update(grads, s, params)
            new_state.append(s)
        return grads, tuple(new_state)

    return Optimizer(init, update)


def sgd(lr: float | Callable[[int], float] = 0.01) -> Optimizer:
    """Plain gradient descent: p <- p - lr * g."""
    return scale_by_learning_rate(lr)
