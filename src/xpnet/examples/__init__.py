"""The seed programs (Andrew Trask's "A Neural Network in 11 lines of Python" and companions),
rewritten with xpnet. Each module has `run(backend=None) -> dict` and `report(result) -> str`,
which prints what the original program prints."""

EXAMPLES = {
    "single-neuron": "single_neuron",
    "two-layer": "two_layer",
    "three-layer": "three_layer",
    "cross-entropy": "cross_entropy",
}


def get_example(name: str):
    import importlib

    from ..errors import ConfigError

    if name not in EXAMPLES:
        raise ConfigError(f"example: unknown name {name!r}; expected one of: {', '.join(EXAMPLES)}")
    return importlib.import_module(f"{__name__}.{EXAMPLES[name]}")
