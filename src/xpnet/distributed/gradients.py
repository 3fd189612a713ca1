"""The allreduce at the gradient seam: one flat buffer, preallocated once per model, one
collective call per step.

Each parameter's gradient is written into its view of the buffer, scaled by this rank's share
`weight` of the global batch on the way (the fast step's gradients are of the rank's mean loss;
the generic step has already scaled its output gradient, and passes weight 1); the buffer is
summed over the ranks in place; the views are handed to the optimizer. On the host (NumPy, or
torch and array-api-strict staged through NumPy) the buffer is a NumPy array; for CuPy it lives
on the GPU and NCCL reduces it (nccl.py), or it is staged through the host where NCCL is missing.

Bucketing (reducing the later layers' gradients while the first layer's is still computed) is
not done: measured by benchmarks/distributed_overlap.py, per-parameter buckets and overlapped
non-blocking allreduces are no faster than one blocking call of the flat buffer here (MPI
progresses them only inside MPI calls, and the first layer's weights are most of the buffer).
"""

from __future__ import annotations

import numpy as np

from .. import backend as _backend
from ..errors import ConfigError


class GradientReducer:
    """`reducer(grads) -> grads`: the global batch's gradient on every rank."""

    def __init__(self, comm, model) -> None:
        if model.dtype_name not in ("float16", "float32", "float64"):
            raise ConfigError(f"dtype: distributed training reduces float16/32/64 gradients, not {model.dtype_name}")
        self.comm, self.backend = comm, model.backend
        self.keys = list(model.params)
        self.shapes = {k: tuple(model.params[k].shape) for k in self.keys}
        self.weight = 1.0
        total = sum(int(np.prod(s)) for s in self.shapes.values())
        self.transport = comm.gradient_transport(self.backend)
        self.device = None  # NCCL's communicator: made at the first step, after fit's consensus check
        self.total, self.dtype_name = total, model.dtype_name
        self.flat = np.empty(total, np.dtype(model.dtype_name))
        self.views, offset = {}, 0
        for k in self.keys:
            size = int(np.prod(self.shapes[k]))
            self.views[k] = self.flat[offset : offset + size].reshape(self.shapes[k])
            offset += size
        self.numpy = self.backend.name == "numpy"

    def __call__(self, grads: dict) -> dict:
        if self.transport == "nccl":  # pragma: needs a GPU
            if self.device is None:
                from .nccl import NcclTransport, nccl_module

                self.device = NcclTransport(self.comm, self.backend, self.total, self.dtype_name, nccl_module())
            return self.device.reduce(grads, self.keys, self.weight)
        w = self.weight
        buf = self._flat_of(grads) if self.numpy else None
        if buf is not None:
            # the fast step's own flat gradient buffer: scaled and reduced in place, no copies
            self.comm.allreduce(buf, scale=w)
            return grads
        for k in self.keys:
            g = grads[k] if self.numpy else _backend.to_numpy(grads[k])
            if w == 1.0:
                np.copyto(self.views[k], g)
            else:
                np.multiply(g, w, out=self.views[k])
        self.comm.allreduce(self.flat)
        if self.numpy:
            # copies: the buffer is written again next step, and an optimizer may keep what it is given
            return {k: self.views[k].copy() for k in self.keys}
        b = self.backend
        return {k: b.asarray(np.array(self.views[k], copy=True), grads[k].dtype) for k in self.keys}

    def _flat_of(self, grads: dict):
        """The one contiguous buffer that `grads` are consecutive views of, in key order (the
        NumPy fast step's layout), else None."""
        first = grads[self.keys[0]]
        base = first.base if isinstance(first, np.ndarray) else None
        if (
            not isinstance(base, np.ndarray)
            or base.ndim != 1
            or base.size != self.flat.size
            or base.dtype != first.dtype
        ):
            return None
        ptr, item = base.__array_interface__["data"][0], base.itemsize
        for k in self.keys:
            g = grads[k]
            if type(g) is not np.ndarray or g.base is not base or not g.flags.c_contiguous:
                return None
            if g.__array_interface__["data"][0] != ptr:
                return None
            ptr += g.size * item
        return base
