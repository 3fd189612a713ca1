"""Weight initialisers. Each draws on the host generator (float64) so that the same seed gives
identical initial weights on every backend; the caller casts and moves them to the device."""

from __future__ import annotations

import math
from typing import Callable

from .errors import ConfigError


def seed_uniform(rng, shape, fan_in, fan_out):
    """The seeds' `2 * random(shape) - 1`: uniform on [-1, 1), bit for bit."""
    return rng.uniform_pm1(shape)


def glorot_uniform(rng, shape, fan_in, fan_out):
    # Glorot & Bengio (2010): keeps activation variance constant for tanh/sigmoid layers.
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape)


def glorot_normal(rng, shape, fan_in, fan_out):
    return rng.normal(shape, scale=math.sqrt(2.0 / (fan_in + fan_out)))


def he_normal(rng, shape, fan_in, fan_out):
    # He et al. (2015): ReLU zeroes half its inputs, so the variance is doubled.
    return rng.normal(shape, scale=math.sqrt(2.0 / fan_in))


def he_uniform(rng, shape, fan_in, fan_out):
    limit = math.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, shape)


def zeros(rng, shape, fan_in, fan_out):
    # draws nothing, so adding bias units does not shift the weights' random stream
    return rng.zeros(shape)


INITIALIZERS: dict[str, Callable] = {
    "seed_uniform": seed_uniform,
    "uniform": seed_uniform,
    "glorot_uniform": glorot_uniform,
    "xavier_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "xavier_normal": glorot_normal,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "zeros": zeros,
}


def get_initializer(name: str | Callable) -> Callable:
    if callable(name):
        return name
    try:
        return INITIALIZERS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"init: unknown initialiser {name!r}; expected one of: {', '.join(INITIALIZERS)}") from None
