"""Running out of memory, as each library reports it: NumPy's and CuPy's MemoryError subclasses,
torch's OutOfMemoryError (a RuntimeError), JAX's RESOURCE_EXHAUSTED. The training loop turns any
of them into one line naming the batch size and the memory the failed allocation asked for."""

from __future__ import annotations

import re

# "Unable to allocate 36.4 TiB" (NumPy), "Out of memory allocating 1,073,741,824 bytes" (CuPy),
# "Tried to allocate 2.00 GiB" (torch), "Out of memory while trying to allocate 1.5GiB" (JAX)
_AMOUNT = re.compile(r"allocat\w*\s+([\d.,]+\s*(?:[KMGTP]i?B|bytes|B))", re.IGNORECASE)


def out_of_memory(exc: BaseException) -> str | None:
    """None unless `exc` is a library's out-of-memory error; else what the failed allocation asked
    for ("2.00 GiB"), or "" where the message does not say."""
    name = type(exc).__name__
    is_oom = (
        isinstance(exc, MemoryError)  # NumPy's _ArrayMemoryError, CuPy's OutOfMemoryError
        or name == "OutOfMemoryError"  # torch (a RuntimeError subclass)
        or (isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())  # older torch, cuBLAS
        or "RESOURCE_EXHAUSTED" in str(exc)  # JAX / XLA
    )
    if not is_oom:
        return None
    m = _AMOUNT.search(str(exc))
    return m.group(1) if m else ""
