"""What a model is, in words and numbers: its layers, each one's output shape and parameter count,
the dtype and the backend (`Sequential.summary()`, `xpnet info`, the first line of `xpnet train`).

Shapes come from the widths the layers reported when the model was built (Layer.build's n_out),
so any layer, xpnet's or a user's, is described by what it does rather than by its type.
"""

from __future__ import annotations

from math import prod
from typing import Any


def _size(array: Any) -> int:
    return int(prod(int(s) for s in array.shape))


def layer_rows(model: Any) -> list[dict]:
    """One dict per layer: index, layer (its repr), short name, output_shape ([None, width]: any
    number of rows), params (trainable values), buffers (state values, e.g. batch norm's running
    statistics)."""
    rows = []
    for i, layer in enumerate(model.layers):
        rows.append(
            {
                "index": i,
                "layer": repr(layer),
                "name": short_name(layer),
                "output_shape": [None, int(model.widths[i])],
                "params": sum(_size(model.params[name]) for _, name in model._keys[i]),
                "buffers": sum(_size(model.buffers[name]) for _, name in model._bkeys[i]),
            }
        )
    return rows


def short_name(layer: Any) -> str:
    """ "Dense(64->10)", "Dropout(0.2)", "ReLU": what a one-line architecture shows of a layer."""
    name = type(layer).__name__
    if hasattr(layer, "n_in") and hasattr(layer, "n_out"):
        return f"{name}({layer.n_in}->{layer.n_out})"
    if hasattr(layer, "rate"):
        return f"{name}({layer.rate:g})"
    if hasattr(layer, "n_features"):
        return f"{name}({layer.n_features})"
    return name


def parameter_count(model: Any) -> int:
    """Trainable values in the model (what the optimizer updates)."""
    return sum(_size(v) for v in model.params.values())


def buffer_count(model: Any) -> int:
    return sum(_size(v) for v in model.buffers.values())


def architecture_line(model: Any) -> str:
    """'Dense(64->64) ReLU Dense(64->10): 4,810 parameters, float32 on numpy (cpu)'."""
    layers = " ".join(short_name(layer) for layer in model.layers)
    return f"{layers}: {parameter_count(model):,} parameters, {model.dtype_name} on {_where(model)}"


def _where(model: Any) -> str:
    device = model.backend.device
    return model.backend.name if device is None else f"{model.backend.name} ({device})"


def summary_dict(model: Any) -> dict:
    """The summary as JSON values: layers (layer_rows), n_in, n_out, params, buffers, dtype, backend, device."""
    return {
        "layers": layer_rows(model),
        "n_in": int(model.n_in),
        "n_out": int(model.n_out),
        "params": parameter_count(model),
        "buffers": buffer_count(model),
        "dtype": model.dtype_name,
        "backend": model.backend.name,
        "device": None if model.backend.device is None else str(model.backend.device),
    }


def summary_text(model: Any) -> str:
    """A table of the layers (output shape, parameters) with the totals, the dtype and the backend."""
    rows = layer_rows(model)
    head = ("#", "layer", "output shape", "params")
    table = [(str(r["index"]), r["layer"], f"(None, {r['output_shape'][1]})", f"{r['params']:,}") for r in rows]
    widths = [max(len(h), *(len(t[j]) for t in table)) for j, h in enumerate(head)]

    def line(cells):
        # numbers right-aligned, names left-aligned
        return "  ".join(
            c.rjust(w) if j in (0, 3) else c.ljust(w) for j, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    lines = [f"Sequential: {model.n_in} inputs, {model.n_out} outputs, {model.dtype_name} on {_where(model)}"]
    lines += [line(head), *(line(t) for t in table)]
    total = f"parameters: {parameter_count(model):,} trainable"
    buffers = buffer_count(model)
    if buffers:
        total += f", {buffers:,} in buffers (layer state, not trained)"
    lines.append(total)
    return "\n".join(line.rstrip() for line in lines)
