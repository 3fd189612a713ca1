"""Gradient transformations (optax's design), and how they compose.

A transformation is `GradientTransformation(init, update, spec)`: `init(params) -> state`, and
`update(grads, state, params) -> (updates, state)`; `apply_updates(params, updates)` adds them.
params, grads and updates are flat dicts name -> array. Named optimizers (alias.py) are chains
of small transforms, so "clip, then Adam, then weight decay, then the learning rate" is just
`chain(...)`.

States are NamedTuples of Python ints and dicts name -> array, so a checkpoint can flatten them.
Step counts stay Python ints on the host: bias corrections and schedules are host floats and
never force a device synchronisation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from ..backend import namespace_of_tree
from ..errors import ConfigError


class GradientTransformation(NamedTuple):
    init: Callable[[dict], Any]
    update: Callable[[dict, Any, dict], tuple[dict, Any]]
    # (factory name, hyperparameters): what built this transform, declared by the factory so
    # that a fast step can match the configuration field by field without looking inside the
    # closures; None for a transform built by hand
    spec: tuple[str, dict] | None = None


Optimizer = GradientTransformation  # the name xpnet used before 0.2, and what most users call it


class EmptyState(NamedTuple):
    """State of a transform that keeps none."""


class Donated(dict):
    """Gradients or updates that nobody else holds (the step's fresh gradients, a transform's
    fresh updates): a transform may overwrite these arrays and pass them on instead of making a
    new full-size array per parameter. It writes with augmented assignment (`g *= c`), which is
    in place on NumPy, CuPy and torch and a new array on immutable libraries (JAX), so the result
    is the same everywhere. A transform whose updates share arrays with its state (momentum's
    trace) returns a plain dict: the next transform then leaves them alone."""


def scaled_in_place(g, c: float):
    """g * c, written into g (which the caller donates)."""
    g *= c
    return g


def apply_updates(params: dict, updates: dict) -> dict:
    return {k: p + updates[k] if k in updates else p for k, p in params.items()}


def apply_updates_in_place(params: dict, updates: dict) -> dict:
    """apply_updates, written into the arrays of `params` (which the caller owns): p += u is the
    same number as p + u. Returns `params`, which keeps the arrays that now hold the result (on an
    immutable library, new ones)."""
    for k, u in updates.items():
        p = params[k]
        p += u
        params[k] = p
    return params


def zeros_like_tree(params: dict) -> dict:
    """A dict of zero arrays shaped, typed and placed like `params` (optimizer moments)."""
    xp = namespace_of_tree(params)
    return {k: xp.zeros_like(p) for k, p in params.items()}


def stateless(name: str, update: Callable[[dict, dict | None], dict], hyper: dict) -> GradientTransformation:
    """A transform that keeps no state: `update(grads, params) -> updates`."""

    def init(params):
        return EmptyState()

    def update_fn(grads, state, params=None):
        return update(grads, params), state

    return GradientTransformation(init, update_fn, (name, hyper))


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Apply transforms in order: each one's updates are the next one's gradients."""
    for i, t in enumerate(transforms):
        if not isinstance(t, GradientTransformation):
            raise ConfigError(f"chain: argument {i} is a {type(t).__name__}, expected a GradientTransformation")

    def init(params):
        return tuple(t.init(params) for t in transforms)

    def update(grads, state, params=None):
        new_state = []
        for t, s in zip(transforms, state, strict=True):
            grads, s = t.update(grads, s, params)
            new_state.append(s)
        return grads, tuple(new_state)

    return GradientTransformation(init, update, ("chain", {"transforms": transforms}))
