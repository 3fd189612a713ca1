"""Validation of hyperparameters and sizes, shared by optimizers, schedules, layers, the training
loop and the random generators. Like errors.py it sits below everything else and imports
nothing of xpnet but errors.

Each check raises ConfigError (a ValueError) with one line naming the parameter, its value and
the valid range, so a bad setting fails when the object is built, not deep inside training.
Values come back as Python floats/ints: hyperparameters never become arrays (a NumPy scalar
would silently promote float32 math to float64, and strict refuses it).
"""

from __future__ import annotations

import math
import numbers

from .errors import ConfigError


def _is_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def check_float(
    name: str, value, low: float = -math.inf, high: float = math.inf, *, low_open: bool = False, high_open: bool = False
) -> float:
    """`value` as a float in the interval [low, high] ("(" / ")" where the end is open)."""
    ok = _is_number(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        lo = "(" if low_open or low == -math.inf else "["
        hi = ")" if high_open or high == math.inf else "]"
        raise ConfigError(f"{name}: expected a finite number in {lo}{low:g}, {high:g}{hi}, got {value!r}")
    return float(value)


def check_positive(name: str, value) -> float:
    """A finite number > 0 (learning rates, eps, norms)."""
    return check_float(name, value, 0.0, low_open=True)


def check_non_negative(name: str, value) -> float:
    """A finite number >= 0 (decay rates, penalties)."""
    return check_float(name, value, 0.0)


def check_fraction(name: str, value) -> float:
    """A number in [0, 1) (momentum, betas, dropout rate)."""
    return check_float(name, value, 0.0, 1.0, high_open=True)


def check_int(name: str, value, low: int = 1, *, allow_none: bool = False) -> int | None:
    """An integer >= low (sizes, step counts, seeds), or None where `allow_none`."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ConfigError(f"{name}: expected an integer >= {low}{' or None' if allow_none else ''}, got {value!r}")
    return int(value)  # NumPy integers are integers too, returned as Python ints


def check_lr(value):
    """A learning rate: a finite number > 0, or a schedule (a callable step -> float)."""
    if callable(value):
        return value
    if not _is_number(value) or value <= 0:
        raise ConfigError(f"lr: expected a finite number > 0 or a schedule (step -> float), got {value!r}")
    return float(value)
