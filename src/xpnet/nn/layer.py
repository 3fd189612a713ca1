"""The layer protocol, one for every layer.

A layer is a description (sizes, options) plus two functions:

    build(n_in, *, rng, backend, dtype) -> (params, state, n_out)
        arrays created once, on the backend's device
    shapes(n_in) -> (param shapes, state shapes, n_out)
        what build creates, without creating it (a model file is checked against it first)
    forward(params, state, x, ctx) -> (y, new_state, backprop)
        backprop(dy, need_dx=True) -> (dx, grads)

`forward` is pure: it mutates nothing (not the layer, not its arguments) and returns the
layer's new state (batch norm's running statistics; `state` itself for layers without any),
which the training step commits. `backprop` is a closure over exactly what the backward pass
needs (thinc's pattern): nothing is cached on the layer, so one layer object can be shared and
there is no stale state or zero_grad.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Context(NamedTuple):
    """What a forward pass needs besides its parameters: the namespace, resolved once by the
    caller, the device, whether it trains, and the generator for dropout masks."""

    xp: Any
    device: Any
    training: bool = False
    rng: Any = None  # HostRandom (or a device generator) for dropout masks
    # distributed training: the global batch this process holds rows of (xpnet.distributed's
    # GlobalBatch: .rows, .sum(arrays) over every process); None in one process
    batch: Any = None


class Layer:
    """Base class. Parameter-free layers only implement forward()."""

    def build(self, n_in: int, *, rng, backend, dtype) -> tuple[dict, dict, int]:
        return {}, {}, n_in

    def shapes(self, n_in: int) -> tuple[dict, dict, int] | None:
        """({param: shape}, {state: shape}, n_out) of what `build(n_in)` creates, allocating
        nothing; None when a subclass builds arrays but does not say their shapes."""
        if type(self).build is not Layer.build:
            return None
        return {}, {}, n_in

    def forward(self, params: dict, state: dict, x: Any, ctx: Context):  # pragma: no cover - abstract
        raise NotImplementedError

    def config(self) -> dict:
        """JSON-serialisable constructor arguments (for model files); rebuilding the layer from
        them gives an equal layer."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


def passthrough(dy, need_dx=True):
    """The backprop of a layer that is the identity: dx = dy, no parameters."""
    return dy, {}
