"""Andrew Trask's seed programs ("A Neural Network in 11 lines of Python" and companions),
rewritten with xpnet. Each module has `run(backend=None) -> dict` and `report(result) -> str`,
which prints what the original program prints; `xpnet example NAME` runs one."""

import importlib

from ..errors import ConfigError

PROGRAMS = {
    "single-neuron": "single_neuron",
    "two-layer": "two_layer",
    "three-layer": "three_layer",
    "cross-entropy": "cross_entropy",
}


def get_program(name: str):
    """The module of the seed program `name` (a key of PROGRAMS)."""
    if name not in PROGRAMS:
        raise ConfigError(f"example: unknown name {name!r}; expected one of: {', '.join(PROGRAMS)}")
    return importlib.import_module(f"{__name__}.{PROGRAMS[name]}")
