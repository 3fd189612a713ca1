"""Optimizers as pure transforms (optax's design).

An optimizer is `Optimizer(init, update)`: `init(params) -> state`, and
`update(grads, state, params) -> (updates, state)`; `apply_updates(params, updates)` adds them.
params, grads and updates are flat dicts name -> array. Named optimizers are chains of small
transforms, so "clip, then Adam, then weight decay, then the learning rate" is just `chain(...)`.

States are NamedTuples of Python ints and dicts name -> array, so a checkpoint can flatten them.
Step counts stay Python ints on the host: bias corrections and schedules are host floats and
never force a device synchronisation. The conventions are PyTorch's (torch.optim.SGD, RMSprop,
Adam, AdamW), so the same gradients give the same parameters as torch.optim.
Gradient clipping, weight decay and L1/L2 penalties are in `regularization.py`.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import array_api_compat

from .errors import ConfigError
from .hyperparams import check_fraction, check_lr, check_non_negative, check_positive


class Optimizer(NamedTuple):
    init: Callable[[dict], Any]
    update: Callable[[dict, Any, dict], tuple[dict, Any]]
    # (factory name, hyperparameters): what built this transform, declared so that a backend's
    # fast path can recognise it without looking inside the closures; None for custom ones
    spec: tuple[str, dict] | None = None


class EmptyState(NamedTuple):
    """State of a transform that keeps none."""


def apply_updates(params: dict, updates: dict) -> dict:
    return {k: p + updates[k] if k in updates else p for k, p in params.items()}


def _zeros_like(params: dict) -> dict:
    return {k: array_api_compat.array_namespace(p).zeros_like(p) for k, p in params.items()}


def chain(*transforms: Optimizer) -> Optimizer:
    """Apply transforms in order: each one's updates are the next one's gradients."""
    for i, t in enumerate(transforms):
        if not isinstance(t, Optimizer):
            raise ConfigError(f"chain: argument {i} is a {type(t).__name__}, expected an Optimizer")

    def init(params):
        return tuple(t.init(params) for t in transforms)

    def update(grads, state, params=None):
        new_state = []
        for t, s in zip(transforms, state):
            grads, s = t.update(grads, s, params)
            new_state.append(s)
        return grads, tuple(new_state)

    return Optimizer(init, update, ("chain", {"transforms": transforms}))


# --- the learning rate ------------------------------------------------------------------------


class ScaleByLRState(NamedTuple):
    step: int


def scale_by_learning_rate(lr: float | Callable[[int], float]) -> Optimizer:
    """updates = -lr * grads; lr may be a schedule step -> float (evaluated on the host)."""
    lr = check_lr(lr)

    def init(params):
        return ScaleByLRState(0)

    def update(grads, state, params=None):
        rate = float(lr(state.step)) if callable(lr) else lr
        return {k: -(rate * g) for k, g in grads.items()}, ScaleByLRState(state.step + 1)

    return Optimizer(init, update, ("scale_by_learning_rate", {"lr": lr}))


# --- momentum (torch.optim.SGD, dampening 0) ----------------------------------------------------


class TraceState(NamedTuple):
    trace: dict


def scale_by_momentum(momentum: float = 0.9, nesterov: bool = False) -> Optimizer:
    """torch.optim.SGD's momentum buffer: b <- momentum * b + g (b starts at 0, so b_1 = g).
    The step direction is b, or g + momentum * b with nesterov (torch's form: the gradient at
    the look-ahead point approximated from the current one)."""
    momentum = check_fraction("momentum", momentum)

    def init(params):
        return TraceState(_zeros_like(params))

    def update(grads, state, params=None):
        trace = {k: momentum * state.trace[k] + g for k, g in grads.items()}
        if nesterov:
            return {k: g + momentum * trace[k] for k, g in grads.items()}, TraceState(trace)
        return trace, TraceState(trace)

    return Optimizer(init, update, ("scale_by_momentum", {"momentum": momentum, "nesterov": bool(nesterov)}))


# --- RMSprop (torch.optim.RMSprop, centered=False) ----------------------------------------------


class ScaleByRmsState(NamedTuple):
    nu: dict


def scale_by_rms(alpha: float = 0.99, eps: float = 1e-8) -> Optimizer:
    """g / (sqrt(v) + eps) with v <- alpha * v + (1 - alpha) * g**2, v starting at 0.
    eps is added after the square root, as torch does (optax adds it inside)."""
    alpha = check_fraction("alpha", alpha)
    eps = check_positive("eps", eps)

    def init(params):
        return ScaleByRmsState(_zeros_like(params))

    def update(grads, state, params=None):
        nu = {k: alpha * state.nu[k] + (1 - alpha) * (g * g) for k, g in grads.items()}
        xp = _xp(grads)
        return {k: g / (xp.sqrt(nu[k]) + eps) for k, g in grads.items()}, ScaleByRmsState(nu)

    return Optimizer(init, update, ("scale_by_rms", {"alpha": alpha, "eps": eps}))


# --- Adam (torch.optim.Adam, bias-corrected) ----------------------------------------------------


class ScaleByAdamState(NamedTuple):
    count: int
    mu: dict
    nu: dict


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Optimizer:
    """m / (1 - b1**t) / (sqrt(v) / sqrt(1 - b2**t) + eps), with m and v the exponential moving
    averages of g and g**2 (both starting at 0, hence the bias corrections; t counts from 1).
    The arithmetic follows torch's order so results agree to rounding."""
    b1 = check_fraction("b1", b1)
    b2 = check_fraction("b2", b2)
    eps = check_positive("eps", eps)

    def init(params):
        return ScaleByAdamState(0, _zeros_like(params), _zeros_like(params))

    def update(grads, state, params=None):
        t = state.count + 1
        mu = {k: b1 * state.mu[k] + (1 - b1) * g for k, g in grads.items()}
        nu = {k: b2 * state.nu[k] + (1 - b2) * (g * g) for k, g in grads.items()}
        # host floats: the step count is a Python int, so nothing here touches the device
        bc1 = 1 - b1 ** t
        sqrt_bc2 = (1 - b2 ** t) ** 0.5
        xp = _xp(grads)
        updates = {k: (mu[k] / bc1) / (xp.sqrt(nu[k]) / sqrt_bc2 + eps) for k in grads}
        return updates, ScaleByAdamState(t, mu, nu)

    return Optimizer(init, update, ("scale_by_adam", {"b1": b1, "b2": b2, "eps": eps}))


def _xp(arrays: dict):
    return array_api_compat.array_namespace(*arrays.values()) if arrays else None


# --- named optimizers -------------------------------------------------------------------------


def sgd(lr: float | Callable[[int], float] = 0.01, momentum: float = 0.0, nesterov: bool = False) -> Optimizer:
    """torch.optim.SGD: p <- p - lr * g, or with momentum p <- p - lr * b (see scale_by_momentum)."""
    lr = check_lr(lr)
    momentum = check_fraction("momentum", momentum)
    if nesterov and momentum == 0:
        raise ConfigError("nesterov: requires momentum in (0, 1), got momentum=0.0")
    if momentum == 0:
        return scale_by_learning_rate(lr)
    return chain(scale_by_momentum(momentum, nesterov), scale_by_learning_rate(lr))


def rmsprop(lr: float | Callable[[int], float] = 0.01, alpha: float = 0.99, eps: float = 1e-8,
            momentum: float = 0.0) -> Optimizer:
    """torch.optim.RMSprop (not centered): momentum, if any, is applied to g / (sqrt(v) + eps)."""
    lr = check_lr(lr)
    momentum = check_fraction("momentum", momentum)
    parts = [scale_by_rms(alpha, eps)]
    if momentum > 0:
        parts.append(scale_by_momentum(momentum))
    return chain(*parts, scale_by_learning_rate(lr))


def adam(lr: float | Callable[[int], float] = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Optimizer:
    """torch.optim.Adam."""
    return chain(scale_by_adam(b1, b2, eps), scale_by_learning_rate(check_lr(lr)))


def adamw(lr: float | Callable[[int], float] = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
          weight_decay: float = 0.01, *, include: Callable[[str], bool] | None = None) -> Optimizer:
    """torch.optim.AdamW: p <- p - lr * (adam(g) + weight_decay * p). The decay is decoupled from
    the gradient (it bypasses Adam's scaling), and is scaled by the (scheduled) learning rate, as
    in torch. Unlike torch, biases and batch-norm gamma/beta are not decayed unless `include`
    says so (pass `include=lambda name: True` for torch's behaviour)."""
    from .regularization import add_decayed_weights  # it builds on this module's Optimizer

    weight_decay = check_non_negative("weight_decay", weight_decay)
    return chain(scale_by_adam(b1, b2, eps), add_decayed_weights(weight_decay, include=include),
                 scale_by_learning_rate(check_lr(lr)))


OPTIMIZERS: dict[str, Callable[..., Optimizer]] = {
    "sgd": sgd,
    "momentum": lambda lr=0.01, momentum=0.9: sgd(lr, momentum=momentum),
    "nesterov": lambda lr=0.01, momentum=0.9: sgd(lr, momentum=momentum, nesterov=True),
    "rmsprop": rmsprop,
    "adam": adam,
    "adamw": adamw,
}


def get_optimizer(name: str | Optimizer, **kwargs: Any) -> Optimizer:
    """A named optimizer ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw") built with
    the given hyperparameters (the CLI's --optimizer)."""
    if isinstance(name, Optimizer):
        return name
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise ConfigError(f"optimizer: unknown name {name!r}; expected one of: {', '.join(OPTIMIZERS)}")
    try:
        return OPTIMIZERS[name](**kwargs)
    except TypeError as exc:  # an unexpected keyword: name the optimizer, not the lambda
        raise ConfigError(f"optimizer {name!r}: bad arguments {sorted(kwargs)} ({exc})") from None
