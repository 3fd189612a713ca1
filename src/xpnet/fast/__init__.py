"""Per-library accelerators of the training step, chosen by the step (xpnet/training/step.py).

The math of xpnet is written once against the array API (xpnet/nn, xpnet/optim). A fast step
runs the same arithmetic for one library with that library's own tools (preallocated buffers,
`out=` arguments and in-place parameter updates on NumPy) for the configurations it lists field
by field; for anything else `select` returns None and the generic step runs.
tests/test_fastpath.py proves each one equal to the generic step, bit for bit.
"""

from __future__ import annotations

import os
from typing import Any

#: CuPy's fused step (cupy_step.py) is chosen only with XPNET_CUPY_FUSED=1 until a GPU has proven
#: it equal to the generic step (benchmarks/gpu_check.py runs tests/test_cupy_step.py there)
CUPY_FUSED_VAR = "XPNET_CUPY_FUSED"


def select(model: Any, loss_fn: Any, optimizer: Any):
    """A fast step (`run`, `init_state`, `path`, `in_place`) for exactly this model, loss and
    optimizer on the model's library, or None when none applies."""
    if model.backend.name == "numpy":
        from .numpy_step import build

        return build(model, loss_fn, optimizer)
    if model.backend.name == "cupy" and os.environ.get(CUPY_FUSED_VAR) == "1":  # pragma: needs a GPU
        from .cupy_step import build as build_cupy

        return build_cupy(model, loss_fn, optimizer)
    return None
