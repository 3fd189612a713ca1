"""The generic step's in-place updates, on libraries whose arrays are mutable.

A step that returned new parameter arrays would allocate (and page-fault in) a full-size array
per parameter per step, plus one per intermediate of the update (`-(lr * g)` is two): on torch
that made the generic step 0.8x plain PyTorch at batch 128. So, where `p += u` writes into p
(backend.writes_in_place: NumPy, CuPy, torch, array-api-strict), the generic step:

- owns the arrays of `model.params` it updates: it copies, once, every array it did not make
  (on the first step, and whenever someone replaced model.params or one of its arrays), so no
  caller's array is ever written, and snapshots copy (TrainStep.snapshot);
- hands the optimizer its fresh gradients as `optim.base.Donated` (no gradient hook ran: a hook
  may keep the arrays it was given), so the learning rate scales them in place and momentum
  accumulates into them;
- adds the updates into the parameters (`optim.base.apply_updates_in_place`).

The arithmetic is the generic step's, operation for operation (tests/test_inplace.py proves the
weights bit-identical to the functional form on every backend). On an immutable library (JAX)
nothing changes: the step returns new arrays, as before.
"""

from __future__ import annotations

from ..backend import writes_in_place
from ..optim.base import Donated


class ParamOwner:
    """Which arrays of `model.params` the step made and may write into."""

    def __init__(self, model) -> None:
        self.model = model
        first = next(iter(model.params.values()), None)
        self.mutable = first is not None and writes_in_place(first)
        self._params: dict | None = None  # the dict the step made, and its arrays
        self._arrays: tuple = ()

    def owns(self) -> bool:
        params = self.model.params
        return params is self._params and all(params[k] is a for k, a in self._arrays)

    def take(self) -> dict:
        """model.params as arrays this step owns: a new dict, each array it did not make copied.
        An old array is freed as soon as its copy replaces it, unless a caller holds it."""
        m = self.model
        if not self.owns():
            xp, dev = m.backend.xp, m.backend.device
            made = dict(self._arrays)
            params = dict(m.params)
            for k, v in params.items():
                if made.get(k) is not v or not writes_in_place(v):  # a read-only view too
                    params[k] = xp.asarray(v, copy=True, device=dev)
            m.params = self._params = params
            self._arrays = tuple(params.items())
        return m.params

    def commit(self) -> None:
        """After an update in place: the arrays now in the dict are the step's (the same ones on
        a mutable library)."""
        self._arrays = tuple(self.model.params.items())


def donated(grads: dict, params: dict) -> dict:
    """`grads` as Donated when the arrays are the backprop's own: distinct, and none of them a
    parameter (a layer's backprop returns fresh gradients; a layer that did not would be caught
    here rather than have its array written)."""
    ids = {id(g) for g in grads.values()}
    if len(ids) != len(grads) or any(id(p) in ids for p in params.values()):
        return grads
    return Donated(grads)
