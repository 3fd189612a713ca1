"""CuPy gradients reduced on the GPUs with NCCL (`cupy.cuda.nccl`), its unique id broadcast
over MPI. One process per GPU. Where NCCL is missing (a CuPy build without it), or an ordered
reduction is asked for, `Communicator.gradient_transport` says "host" and the gradients are
staged through the host (gradients.py), which works everywhere and is what the CPU tests exercise.

The MPICH wheel is not CUDA-aware, so CuPy buffers never go to MPI directly.
"""

from __future__ import annotations

from typing import Any


def nccl_module() -> Any:  # pragma: needs a GPU
    """cupy.cuda.nccl, or None where this CuPy has no NCCL."""
    try:
        from cupy.cuda import nccl
    except ImportError:
        return None
    return nccl if hasattr(nccl, "NcclCommunicator") else None  # pragma: needs a GPU


class NcclTransport:  # pragma: needs a GPU
    """One flat device buffer, allreduced in place by NCCL on the current stream."""

    def __init__(self, comm, backend, total: int, dtype_name: str, nccl) -> None:
        import cupy

        self.cupy, self.nccl, self.backend = cupy, nccl, backend
        uid = comm.bcast(nccl.get_unique_id() if comm.rank == 0 else None)
        with backend.device:
            self.nc = nccl.NcclCommunicator(comm.size, uid, comm.rank)
            self.flat = cupy.empty(total, dtype=dtype_name)
        self.dtype = {"float16": nccl.NCCL_FLOAT16, "float32": nccl.NCCL_FLOAT32, "float64": nccl.NCCL_FLOAT64}[
            dtype_name
        ]
        self.views: dict = {}

    def reduce(self, grads: dict, keys: list, weight: float) -> dict:
        cp, flat = self.cupy, self.flat
        if not self.views:
            offset = 0
            for k in keys:
                g = grads[k]
                self.views[k] = flat[offset : offset + g.size].reshape(g.shape)
                offset += g.size
        with self.backend.device:
            for k in keys:
                if weight == 1.0:
                    cp.copyto(self.views[k], grads[k])
                else:
                    cp.multiply(grads[k], weight, out=self.views[k])
            stream = cp.cuda.get_current_stream()
            self.nc.allReduce(flat.data.ptr, flat.data.ptr, flat.size, self.dtype, self.nccl.NCCL_SUM, stream.ptr)
            return {k: self.views[k].copy() for k in keys}
