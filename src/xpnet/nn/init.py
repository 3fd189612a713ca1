"""Weight initialisers, and the one rule that picks one for a layer (`default_init`).

Each draws on the host generator (float64) so that the same seed gives identical initial weights
on every backend; the caller casts and moves them to the device."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError


def trask_uniform(rng, shape, fan_in, fan_out):
    """Trask's seed programs' `2 * random(shape) - 1`: uniform on [-1, 1), bit for bit."""
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
    "trask_uniform": trask_uniform,
    "uniform": trask_uniform,
    "seed_uniform": trask_uniform,  # its name in model files written before 0.2
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
    if isinstance(name, str) and name.startswith("custom:"):
        raise ConfigError(
            f"init: {name!r} names a custom function, which a file cannot hold; "
            "rebuild the layer with the function itself"
        )
    try:
        return INITIALIZERS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"init: unknown initialiser {name!r}; expected one of: {', '.join(INITIALIZERS)}") from None


def initializer_name(init: str | Callable) -> str:
    """The name a layer records for `init`: the name given, the registered name of a registered
    function, else "custom:<function name>" (such a layer cannot be rebuilt from a file)."""
    if isinstance(init, str):
        return init
    for name, fn in INITIALIZERS.items():
        if fn is init:
            return name
    return f"custom:{getattr(init, '__name__', type(init).__name__)}"


# the ReLU family zeroes half its inputs: He's variance; Glorot's for the saturating ones
_HE_ACTIVATIONS = ("relu", "leaky_relu", "ReLU", "LeakyReLU")  # by name, or by layer class


def default_init(activation: Any) -> str:
    """The initialiser for a Dense layer followed by `activation` (a name or a layer): He normal
    for the ReLU family, Glorot uniform otherwise (and for a linear output)."""
    name = activation if isinstance(activation, str) else type(activation).__name__
    return "he_normal" if name in _HE_ACTIVATIONS else "glorot_uniform"
