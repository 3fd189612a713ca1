"""The training step: forward, loss, backward, the gradient seam, the optimizer update. Every
step of training runs through `make_train_step`, which also decides whether a library's fast
step (xpnet/fast) runs it.

The gradient seam: between backward and update there is one place where the complete gradient
of every parameter exists, on every path. `grad_hooks` run there in order, each
`hook(grads) -> grads` (a dict name -> array, keyed like model.params); what the last returns is
what the optimizer sees. An allreduce across processes, clipping outside the optimizer, or a
user's inspection go there. A hook must return arrays of the parameters' shapes and dtypes on
their device (it may return the dict it was given, changed or not).

Distributed (`comm=`, xpnet.distributed): the step runs on this rank's rows of the global batch,
and the first thing at the seam is the allreduce that makes every rank's gradient the global
batch's, so the penalty and the hooks after it (clipping) see the same gradient on every rank.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from .. import fast
from ..errors import ConfigError, ShapeError
from ..optim import apply_updates
from ..optim.base import apply_updates_in_place
from ..tree import map_arrays
from .inplace import ParamOwner, donated
from .precision import Precision, get_precision

GradHook = Callable[[dict], dict]


class StepSnapshot(NamedTuple):
    """The model's params and buffers and an optimizer state, safe to keep across later steps."""

    params: dict
    buffers: dict
    opt_state: Any


class TrainStep:
    """`step(x, y, opt_state, rng=None, weights=None) -> (loss, outputs, opt_state)`, updating
    model.params and committing model.buffers. The loss is a 0-d device array (not synchronised);
    outputs are those before the update, a fresh array. weights: one per row of x, handed to the
    loss (nn/losses.py); a weighted call takes the generic path.

    penalty: a term of the objective that depends on the parameters and the batch's total weight,
    `penalty(params, grads, batch_weight) -> (value, grads)` (optim.regularization's
    `batch_scaled_l2`, scikit-learn's alpha): its value is added to the loss, its gradient at the
    seam's start, before the hooks. A step with a penalty takes the generic path.

    path: "generic", or the fast step's name ("numpy") when one supports this configuration
    exactly; last_path: the path the last call took (a fast step hands calls it does not take,
    such as inputs of another dtype, to the generic one).
    """

    def __init__(
        self,
        model,
        loss_fn,
        optimizer,
        *,
        grad_hooks: tuple[GradHook, ...] | list = (),
        use_fast: bool = True,
        penalty: Callable | None = None,
        precision: str | Precision | None = None,
        comm: Any = None,
    ) -> None:
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.penalty = penalty
        hooks = tuple(grad_hooks) if grad_hooks is not None else ()
        for i, h in enumerate(hooks):
            if not callable(h):
                raise ConfigError(f"grad_hooks[{i}]: expected a function grads -> grads, got {type(h).__name__}")
        self.grad_hooks = hooks
        # mixed precision (precision.py): forward and backward in a narrow dtype around the model's
        # master weights; the generic step runs it (no fast step knows it), as it runs penalties
        self.precision = get_precision(precision)
        if self.precision is not None:
            self.precision.check(model)
        plain = penalty is None and self.precision is None
        self._fast = fast.select(model, loss_fn, optimizer) if use_fast and plain else None
        self.path = self._fast.path if self._fast is not None else "generic"
        self._owner = ParamOwner(model)  # the generic step's in-place updates (inplace.py)
        self.last_path: str | None = None
        # comm (xpnet.distributed): this process is one rank of several; its allreduce runs
        # first at the seam, so the penalty and the hooks see the global batch's gradient
        if comm is not None and self.precision is not None:
            raise ConfigError("precision: mixed precision is not supported in distributed training (comm) yet")
        self.comm = comm
        self._reduce = comm.gradient_reducer(model) if comm is not None else None
        self._seam = self._run_hooks if hooks or comm is not None else None

    def __call__(self, x, y, opt_state, rng=None, weights=None, *, shard=None):
        batch = None
        if self.comm is not None:  # this rank's rows of the global batch (distributed/shard.py)
            if weights is not None:
                raise ConfigError("weights: sample weights are not supported in distributed training (comm) yet")
            x, y, rng, batch, weight = self.comm.local_batch(
                x, y, rng, shard, loss_fn=self.loss_fn, backend=self.model.backend
            )
            self._reduce.weight = weight  # the fast step's gradients are of this rank's mean loss
        if self._fast is not None and weights is None:
            result = self._fast.run(x, y, opt_state, self._seam)
            if result is not None:
                self.last_path = self.path
                return result
        self.last_path = "generic"
        model, prec, owner = self.model, self.precision, self._owner
        if owner.mutable:
            owner.take()
        if prec is None:
            out, new_buffers, backprop = model.forward(x, training=True, rng=rng, batch=batch)
        else:
            out, new_buffers, backprop = prec.forward(model, x, opt_state, rng=rng)
            opt_state, scaler = prec.split_state(opt_state)
        value, dout = self.loss_fn(out, y) if weights is None else self.loss_fn(out, y, weights)
        if batch is not None:
            # this rank's share of the global batch's loss: every gradient below (batch norm's
            # input gradient too, which sums over the global batch) is then the global one's part
            self._reduce.weight = 1.0
            dout = dout * weight if weight != 1.0 else dout
        _, grads = backprop(dout)
        if self._reduce is not None:  # the global batch's gradient, before the penalty and the hooks
            grads = self._reduce(grads)
        if self.penalty is not None:
            rows = float(x.shape[0]) if batch is None else float(batch.rows)  # the global batch's
            batch_weight = rows if weights is None else model.backend.xp.sum(weights, dtype=weights.dtype)
            extra, grads = self.penalty(model.params, grads, batch_weight)
            value = value + extra
        if self.grad_hooks:
            grads = self._hooks(grads)
        elif owner.mutable and self._reduce is None:  # no hook kept them: the optimizer may write into them
            grads = donated(grads, model.params)
        if prec is not None:
            update, scaler = prec.finish(grads, scaler, xp=model.backend.xp)
            if not update:  # a loss-scale overflow: no update, the optimizer state as it was
                return value, out, prec.join_state(opt_state, scaler)
        updates, opt_state = self.optimizer.update(grads, opt_state, model.params)
        if owner.mutable:
            apply_updates_in_place(model.params, updates)
            owner.commit()
        else:
            model.params = apply_updates(model.params, updates)
        model.buffers = new_buffers
        if prec is not None:
            opt_state = prec.join_state(opt_state, scaler)
        return value, out, opt_state

    def _run_hooks(self, grads: dict) -> dict:
        """The fast step's seam: the allreduce (distributed), then the hooks."""
        if self._reduce is not None:
            grads = self._reduce(grads)
        return self._hooks(grads) if self.grad_hooks else grads

    def _hooks(self, grads: dict) -> dict:
        """The gradient seam's hooks in order, each result checked against the parameters."""
        params = self.model.params
        for i, hook in enumerate(self.grad_hooks):
            grads = hook(grads)
            if not isinstance(grads, dict) or grads.keys() != params.keys():
                got = sorted(grads) if isinstance(grads, dict) else type(grads).__name__
                raise ConfigError(
                    f"grad_hooks[{i}]: must return a dict keyed like model.params ({sorted(params)}), got {got}"
                )
            for k, g in grads.items():
                p = params[k]
                if tuple(g.shape) != tuple(p.shape) or g.dtype != p.dtype:
                    raise ShapeError(
                        f"grad_hooks[{i}]: gradient {k!r} has shape {tuple(g.shape)} dtype {g.dtype}, "
                        f"the parameter {tuple(p.shape)} {p.dtype}"
                    )
        return grads

    def init_state(self):
        """The optimizer's initial state for the model's params (owned by a fast step, if any:
        it then needs no copy of it)."""
        if self._fast is not None:
            return self._fast.init_state()
        state = self.optimizer.init(self.model.params)
        return state if self.precision is None else self.precision.init_state(state)

    def snapshot(self, opt_state) -> StepSnapshot:
        """The model's params and buffers and `opt_state` as they are now, unchanged by later
        steps: copies where a fast step updates in place, copies of the parameters where the
        generic step does (inplace.py: it never writes into buffers or optimizer states), the
        arrays themselves on an immutable library."""
        m = self.model
        b = m.backend

        def copy(a):
            return b.xp.asarray(a, copy=True, device=b.device)

        if self._fast is None or not self._fast.in_place:
            params = map_arrays(copy, m.params) if self._owner.mutable else dict(m.params)
            return StepSnapshot(params, dict(m.buffers), opt_state)

        return StepSnapshot(map_arrays(copy, m.params), map_arrays(copy, m.buffers), map_arrays(copy, opt_state))

    def restore(self, snap: StepSnapshot):
        """Put a snapshot's params and buffers back into the model; returns its optimizer state.
        The snapshot stays valid: a fast step copies what it did not make before writing."""
        self.model.params, self.model.buffers = dict(snap.params), dict(snap.buffers)
        return snap.opt_state


def make_train_step(model, loss_fn, optimizer, **options: Any) -> TrainStep:
    """The step for this model, loss and optimizer: a library's fast step where one supports the
    configuration exactly (tests/test_fastpath.py proves it equal), else the generic one.
    options (TrainStep's): grad_hooks, functions grads -> grads run at the gradient seam (see the
    module docstring); use_fast; penalty, a term of the objective (Trainer's); precision,
    "mixed-bf16", "mixed-f16" or a Precision (training/precision.py), None for none; comm, an
    xpnet.distributed communicator: the step then takes the global batch (or this rank's rows of
    it with `shard=`) and steps on the rank's rows, the gradients summed over the ranks."""
    return TrainStep(model, loss_fn, optimizer, **options)


def train_step(model, loss_fn, optimizer, opt_state, x, y, *, rng: Any = None):
    """Run one gradient step on (x, y) on the generic path. In a loop, build the step once with
    `make_train_step` instead: it may use a fast step (buffers built once, reused)."""
    return TrainStep(model, loss_fn, optimizer, use_fast=False)(x, y, opt_state, rng)
