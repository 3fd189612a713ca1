"""Gradient transforms that regularise: L1/L2 penalties and decoupled weight decay. Each is a
`GradientTransformation` to put in a `chain` (base.py):

    chain(clip_by_global_norm(1.0), l2(1e-4, layers=[0]), scale_by_adam(), scale_by_learning_rate(1e-3))

Which parameters a penalty or decay touches: parameter names are "index.name" ("0.W", "2.b");
`layers=` keeps those of the given layer indices, `include=` is a predicate on the full name.
Without `include`, biases (".b") and batch-norm scale and shift (".gamma", ".beta") are left
out: penalising them constrains the model's offsets, not its capacity.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..backend import namespace_of_tree
from ..checks import check_non_negative
from ..errors import ConfigError
from .base import GradientTransformation, stateless

NOT_PENALISED = ("b", "beta", "gamma")


def default_include(name: str) -> bool:
    """True for weights; False for biases and batch-norm gamma/beta."""
    return name.rsplit(".", 1)[-1] not in NOT_PENALISED


def param_selector(
    layers: Iterable[int] | None = None, include: Callable[[str], bool] | None = None
) -> Callable[[str], bool]:
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


def _add_scaled(name: str, rate: float, term: Callable, layers, include) -> GradientTransformation:
    """grads + rate * term(p, xp) for the selected parameters."""
    selected = param_selector(layers, include)

    def update(grads, params):
        if rate == 0:
            return grads
        if params is None:
            raise ConfigError(f"{name}: needs the parameters; call update(grads, state, params)")
        xp = namespace_of_tree(grads)
        return {k: g + rate * term(params[k], xp) if selected(k) else g for k, g in grads.items()}

    return stateless(name, update, {"rate": rate, "layers": layers, "include": include})


def l2(
    rate: float, *, layers: Iterable[int] | None = None, include: Callable[[str], bool] | None = None
) -> GradientTransformation:
    """L2 penalty (rate / 2) * sum(w**2), added to the gradient as rate * w: torch's SGD/Adam
    `weight_decay`. Put it before the optimizer's scaling (Adam then rescales it; see adamw)."""
    return _add_scaled("l2", check_non_negative("rate", rate), lambda p, xp: p, layers, include)


def l1(
    rate: float, *, layers: Iterable[int] | None = None, include: Callable[[str], bool] | None = None
) -> GradientTransformation:
    """L1 penalty rate * sum(|w|), added to the gradient as rate * sign(w) (0 at w = 0)."""
    return _add_scaled("l1", check_non_negative("rate", rate), lambda p, xp: xp.sign(p), layers, include)


def add_decayed_weights(
    weight_decay: float, *, layers: Iterable[int] | None = None, include: Callable[[str], bool] | None = None
) -> GradientTransformation:
    """Decoupled weight decay (Loshchilov & Hutter): adds weight_decay * p to the updates *after*
    the optimizer's scaling, so a following scale_by_learning_rate gives torch's AdamW step
    p - lr * weight_decay * p. Same arithmetic as l2; its place in the chain is what differs."""
    return _add_scaled(
        "add_decayed_weights", check_non_negative("weight_decay", weight_decay), lambda p, xp: p, layers, include
    )


def batch_scaled_l2(
    alpha: float, *, layers: Iterable[int] | None = None, include: Callable[[str], bool] | None = None
) -> Callable:
    """scikit-learn's MLP `alpha`, a penalty of the objective (training/step.py's `penalty`), not a
    gradient transform: a batch of total weight S (its rows, or the sum of its sample weights)
    minimises (sum_i w_i l_i + alpha/2 * sum(W**2)) / S, so alpha/2 * sum(W**2) / S is added to the
    loss and alpha * W / S to each weight's gradient. `l2(rate)` adds rate * W whatever the batch:
    l2(alpha / batch_size) is the same for full, unweighted batches only."""
    alpha = check_non_negative("alpha", alpha)
    selected = param_selector(layers, include)

    def penalty(params, grads, batch_weight):
        xp = namespace_of_tree(grads)
        if not isinstance(batch_weight, float):  # a 0-d array: divide by 1, not 0, for a weightless batch
            batch_weight = xp.where(batch_weight > 0, batch_weight, xp.ones_like(batch_weight))
        scale = alpha / batch_weight
        value = 0.0
        out = {}
        for k, g in grads.items():
            if selected(k):
                p = params[k]
                value = value + xp.sum(p * p, dtype=p.dtype)
                g = g + scale * p
            out[k] = g
        return 0.5 * scale * value, out

    return penalty
