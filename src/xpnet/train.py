"""One training step: forward, loss, backward, optimizer update."""

from __future__ import annotations

from typing import Any

from .optim import apply_updates


def train_step(model, loss_fn, optimizer, opt_state, x, y, *, rng: Any = None):
    """Run one gradient step on (x, y) and update `model.params`.

    Returns (loss, outputs, opt_state): the loss as a 0-d device array (not synchronised), and
    the outputs computed before the update (what the seeds print).
    """
    out, backprop = model.forward(x, training=True, rng=rng)
    value, dout = loss_fn(out, y)
    _, grads = backprop(dout)
    updates, opt_state = optimizer.update(grads, opt_state, model.params)
    model.params = apply_updates(model.params, updates)
    return value, out, opt_state
