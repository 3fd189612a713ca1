"""Gradient transforms that regularise or constrain: L1/L2 penalties, decoupled weight decay and
gradient clipping. Each is an `Optimizer` to put in a `chain` (see optim.py):

    chain(clip_by_global_norm(1.0), l2(1e-4, layers=[0]), scale_by_adam(), scale_by_learning_rate(1e-3))

Which parameters a penalty or decay touches: parameter names are "index.name" ("0.W", "2.b");
`layers=` keeps those of the given layer indices, `include=` is a predicate on the full name.
Without `include`, biases (".b") and batch-norm scale and shift (".gamma", ".beta") are left
out: penalising them constrains the model's offsets, not its capacity.
"""

from __future__ import annotations

from typing import Callable, Iterable

import array_api_compat

from .errors import ConfigError
from .hyperparams import check_non_negative, check_positive
from .optim import EmptyState, Optimizer

NOT_PENALISED = ("b", "beta", "gamma")


def default_include(name: str) -> bool:
    """True for weights; False for biases and batch-norm gamma/beta."""
    return name.rsplit(".", 1)[-1] not in NOT_PENALISED


def param_selector(layers: Iterable[int] | None = None,
                   include: Callable[[str], bool] | None = None) -> Callable[[str], bool]:
    """The predicate name -> bool for `layers=` and `include=` (both must hold)."""
    if include is not None and not callable(include):
        raise ConfigError(f"include: expected a predicate name -> bool, got {include!r}")
    keep = default_include if include is None else include
    if layers is None:
        return keep
    layer_set = set()
    for i in layers:
        if isinstance(i, bool) or not isinstance(i, int) or i < 0:
            raise ConfigError(f"layers: expected non-negative layer indices, got {i!r}")
        layer_set.add(str(i))
    return lambda name: name.split(".", 1)[0] in layer_set and keep(name)


def _params_needed(name, params):
    if params is None:
        raise ConfigError(f"{name}: needs the parameters; call update(grads, state, params)")


def _add_scaled(name: str, rate: float, term: Callable, layers, include) -> Optimizer:
    """grads + rate * term(p) for the selected parameters."""
    selected = param_selector(layers, include)

    def init(params):
        return EmptyState()

    def update(grads, state, params=None):
        if rate == 0:
            return grads, state
        _params_needed(name, params)
        return {k: g + rate * term(params[k]) if selected(k) else g for k, g in grads.items()}, state

    return Optimizer(init, update)


def l2(rate: float, *, layers: Iterable[int] | None = None,
       include: Callable[[str], bool] | None = None) -> Optimizer:
    """L2 penalty (rate / 2) * sum(w**2), added to the gradient as rate * w: torch's SGD/Adam
    `weight_decay`. Put it before the optimizer's scaling (Adam then rescales it; see adamw)."""
    return _add_scaled("l2", check_non_negative("rate", rate), lambda p: p, layers, include)


def l1(rate: float, *, layers: Iterable[int] | None = None,
       include: Callable[[str], bool] | None = None) -> Optimizer:
    """L1 penalty rate * sum(|w|), added to the gradient as rate * sign(w) (0 at w = 0)."""
    return _add_scaled("l1", check_non_negative("rate", rate),
                       lambda p: array_api_compat.array_namespace(p).sign(p), layers, include)


def add_decayed_weights(weight_decay: float, *, layers: Iterable[int] | None = None,
                        include: Callable[[str], bool] | None = None) -> Optimizer:
    """Decoupled weight decay (Loshchilov & Hutter): adds weight_decay * p to the updates *after*
    the optimizer's scaling, so a following scale_by_learning_rate gives torch's AdamW step
    p - lr * weight_decay * p. Same arithmetic as l2; its place in the chain is what differs."""
    return _add_scaled("add_decayed_weights", check_non_negative("weight_decay", weight_decay),
                       lambda p: p, layers, include)


def clip_by_value(limit: float) -> Optimizer:
    """Each gradient element clipped to [-limit, limit] (torch.nn.utils.clip_grad_value_)."""
    limit = check_positive("limit", limit)

    def init(params):
        return EmptyState()

    def update(grads, state, params=None):
        return {k: array_api_compat.array_namespace(g).clip(g, min=-limit, max=limit)
                for k, g in grads.items()}, state

    return Optimizer(init, update)


def global_norm(arrays: dict):
    """sqrt of the sum of squares of every element of every array, as a 0-d device array."""
    total = None
    for g in arrays.values():
        xp = array_api_compat.array_namespace(g)
        sq = xp.sum(g * g, dtype=g.dtype)
        total = sq if total is None else total + sq
    return array_api_compat.array_namespace(total).sqrt(total)


def clip_by_global_norm(max_norm: float, eps: float = 1e-6) -> Optimizer:
    """All gradients scaled by min(1, max_norm / (norm + eps)), norm their joint L2 norm
    (torch.nn.utils.clip_grad_norm_, same eps). The scale stays a device scalar: converting the
    norm to a Python float would stall a GPU every step waiting for the host."""
    max_norm = check_positive("max_norm", max_norm)
    eps = check_positive("eps", eps)

    def init(params):
        return EmptyState()

    def update(grads, state, params=None):
        if not grads:
            return grads, state
        norm = global_norm(grads)
        xp = array_api_compat.array_namespace(norm)
        scale = xp.minimum(xp.ones_like(norm), max_norm / (norm + eps))
        return {k: g * scale for k, g in grads.items()}, state

    return Optimizer(init, update)
