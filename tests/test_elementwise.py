"""backend/elementwise.py: each one-pass form has the bits of the standard's form, on every
backend and float dtype it has, for the values where they could part (signed zeros, NaN, inf)."""

from __future__ import annotations

import numpy as np
import pytest

from xpnet.backend import to_numpy
from xpnet.backend.elementwise import relu_slope
from xpnet.errors import ConfigError

SPECIAL = [0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, 1e-310, -1e-310, 1e-45, -1e-45, 3.5, -3.5, 1.0, -1.0]


def _bits(backend, a):
    """a as float64 host values, sign of zero and NaN kept (every float dtype widens exactly)."""
    h = to_numpy(backend.xp.astype(a, backend.xp.float64 if a.dtype == backend.xp.float64 else backend.xp.float32))
    return np.asarray(h, dtype=np.float64)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_relu_slope_has_the_compare_and_casts_bits(backend, dtype):
    xp = backend.xp
    try:
        dt = backend.dtype(dtype)
    except ConfigError as exc:
        pytest.skip(str(exc))
    rng = np.random.default_rng(0)
    host = np.concatenate([np.array(SPECIAL), rng.standard_normal(200)])
    x = backend.asarray(host, dt)
    y = xp.maximum(x, 0.0)
    got = relu_slope(y, xp=xp)
    want = xp.astype(x > 0, dt)  # the ReLU slope as it was written before: the compare of the input
    assert got.dtype == dt
    g, w = _bits(backend, got), _bits(backend, want)
    np.testing.assert_array_equal(np.isnan(g), np.isnan(w))
    np.testing.assert_array_equal(np.signbit(g), np.signbit(w))
    np.testing.assert_array_equal(g, w)
    assert set(np.unique(g)) <= {0.0, 1.0}
