"""The training step: forward, loss, backward, optimizer update. Every step of training runs
through `make_train_step`, which is also the seam where a backend's fast path comes in."""

from __future__ import annotations

from typing import Any

from . import backend as _backend
from .optim import apply_updates


def make_train_step(model, loss_fn, optimizer, *, fast: bool = True):
    """step(x, y, opt_state, rng) -> (loss, outputs, opt_state), updating `model.params`.

    The one place a training step is defined: forward, loss, backward, optimizer update. The loss
    is a 0-d device array (not synchronised); outputs are those before the update. Where the
    backend package has a fast path for this model, loss and optimizer (preallocated buffers and
    in-place updates on NumPy), that step is used instead; tests/test_fastpath.py proves it equal.
    """
    compiled = _backend.compile_train_step(model, loss_fn, optimizer) if fast else None
    if compiled is not None:
        return compiled

    def step(x, y, opt_state, rng=None):
        out, backprop = model.forward(x, training=True, rng=rng)
        value, dout = loss_fn(out, y)
        _, grads = backprop(dout)
        updates, opt_state = optimizer.update(grads, opt_state, model.params)
        model.params = apply_updates(model.params, updates)
        return value, out, opt_state

    return step


def train_step(model, loss_fn, optimizer, opt_state, x, y, *, rng: Any = None):
    """Run one gradient step on (x, y) on the generic path. In a loop, build the step once with
    `make_train_step` instead: it may use a backend's fast path (compiled once, buffers reused)."""
    return make_train_step(model, loss_fn, optimizer, fast=False)(x, y, opt_state, rng)
