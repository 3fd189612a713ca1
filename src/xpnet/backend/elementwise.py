"""One-pass forms of elementwise expressions that the array API writes in two, where a library's
own function gives the same bits (each proven equal to the standard's form in
tests/test_elementwise.py, on every backend).

Each pass over an activation costs as much as the next (128x512 float32: ~10 us on torch CPU),
and a step of a 784-512-512-10 network makes a few dozen; PyTorch's own step fuses what the
standard cannot.
"""

from __future__ import annotations

from typing import Any

from .host import library_name

_SLOPES: dict = {}  # array type -> its library's one-pass slope, or None for the standard's form


def _native_slope(x: Any):
    kind = type(x)
    if kind not in _SLOPES:
        fn = None
        if library_name(x) == "torch":
            import torch

            # torch.sign is (0 < a) - (a < 0) on every device, a NaN giving 0; array-api-compat's
            # sign adds three passes to make that NaN a NaN (isnan, a mask, a scatter)
            fn = torch.sign
        _SLOPES[kind] = fn
    return _SLOPES[kind]


def relu_slope(y: Any, *, xp: Any) -> Any:
    """ReLU's 0/1 slope from its output y = maximum(x, 0), in y's dtype: the array
    `astype(y > 0, y.dtype)` (1 where x > 0, 0 elsewhere, a NaN x giving a NaN y and so 0).

    On torch in one pass, its own sign: y is positive, a zero or NaN, whose signs are 1, +0 and
    0 (the sign of -0 is +0 there). Elsewhere the compare and the cast (the standard has no
    bool * float promotion); NumPy's and the standard's sign keep a NaN, so they would not do."""
    fn = _native_slope(y)
    return fn(y) if fn is not None else xp.astype(y > 0, y.dtype)
