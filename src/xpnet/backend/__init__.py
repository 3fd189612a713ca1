"""The one package that knows array libraries by name.

Everything else in xpnet gets its namespace `xp` from its inputs (through array-api-compat) or
from a `Backend` object handed to it. This package selects a library and device
(selection.py), moves arrays to the host (host.py), provides random numbers (random.py: the
array API standard has no random module), and is the entry point to per-library fast paths.
"""

from __future__ import annotations

from typing import Any

from .host import is_array, library_name, to_float, to_numpy
from .random import DeviceRandom, HostRandom
from .selection import (BACKEND_NAMES, ENV_VAR, Backend, BackendStatus, backend_names, backend_of, check_on, cuda_device_count,
                        get_backend, list_backends)


__all__ = ["BACKEND_NAMES", "ENV_VAR", "Backend", "BackendStatus", "DeviceRandom", "HostRandom", "backend_names", "check_on",
           "backend_of", "compile_train_step", "cuda_device_count", "get_backend", "is_array", "library_name", "list_backends",
           "to_float", "to_numpy"]


def compile_train_step(model: Any, loss_fn: Any, optimizer: Any):
    """A training step specialised for the model's array library, or None where no fast path
    applies. The step is `step(x, y, opt_state, rng=None) -> (loss, outputs, opt_state)`, the same
    contract as `train.train_step`, and leaves `model.params` holding the updated arrays (updated
    in place: see xpnet/fast/numpy_step.py). Each fast path is proven equal to the generic step in
    tests/test_fastpath.py."""
    from ..fast import compile_train_step as _compile

    return _compile(model, loss_fn, optimizer)
