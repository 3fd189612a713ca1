"""Which library an array belongs to, and bringing arrays to the host as NumPy arrays.

Host-side code (checkpoints, data loading, printing, metrics read once per epoch) goes through
these functions so that it never needs to know which library produced an array.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def library_name(x: Any) -> str:
    """The name of the array library `x` belongs to ("numpy", "torch", "cupy", "jax", ...)."""
    mod = type(x).__module__.split(".")[0]
    # jax arrays are defined in jaxlib; every other library's arrays live in its own package
    return {"jaxlib": "jax"}.get(mod, mod)


def to_numpy(x: Any) -> np.ndarray:
    """Copy an array of any supported library to a NumPy array on the host."""
    if isinstance(x, np.ndarray):
        return x
    lib = library_name(x)
    # np.asarray refuses CuPy arrays by design, and torch tensors may need a detach and a move
    if lib == "cupy":  # pragma: needs a GPU
        return x.get()
    if lib == "torch":
        x = x.detach().cpu()
        if x.dtype == getattr(type(x), "bfloat16", None) or str(x.dtype) == "torch.bfloat16":
            x = x.float()  # NumPy has no bfloat16; float32 holds every bfloat16 value exactly
        return x.numpy()
    try:
        return np.from_dlpack(x)
    except Exception:  # a library without DLPack export on this version: the buffer protocol
        return np.asarray(x)


def to_float(x: Any) -> float:
    """A 0-d array as a Python float (a device-to-host transfer on a GPU: call it rarely)."""
    return float(to_numpy(x))
