"""Fast paths for particular array libraries, reached only through `xpnet.backend`.

The math of xpnet is written once against the array API (layers.py, activations.py, losses.py,
optim.py). A fast path recognises a common configuration (Dense layers with elementwise
activations, a fused loss, plain SGD) on one library and runs the same arithmetic with that
library's own tools: preallocated buffers, `out=` arguments and in-place parameter updates on
NumPy. tests/test_fastpath.py proves each one equal to the generic path.
"""

from __future__ import annotations

from typing import Any, Callable


def compile_train_step(model: Any, loss_fn: Any, optimizer: Any) -> Callable | None:
    """A `step(x, y, opt_state, rng=None) -> (loss, outputs, opt_state)` specialised for this
    model, loss and optimizer, or None when no fast path applies (use the generic step)."""
    if model.backend.name == "numpy":
        from .numpy_step import compile_numpy_step

        return compile_numpy_step(model, loss_fn, optimizer)
    return None
