"""Model files: a model's architecture, dtype, parameters and buffers in xpnet's file container
(arrays_file.py), and the same record in memory (for pickling the estimators): one way to move a
model to the host and back.

Layers are rebuilt only from Layer subclasses already imported, by type name, with JSON
constructor arguments: loading never runs code from the file.

    save_model(path, model, metadata=None)   /  load_model(path, backend=None) -> (model, metadata)
    model_record(model) -> (tensors, meta)   /  model_from_record(tensors, meta, backend) -> model
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import backend as _backend
from ..errors import CheckpointError, ConfigError
from ..nn import Layer, Sequential
from ..tree import dtype_name
from .arrays_file import load_arrays, save_arrays

# --- models ---------------------------------------------------------------------------------


def layer_registry() -> dict[str, type]:
    """Every imported Layer subclass by class name (xpnet's own, all imported with xpnet.nn,
    plus any the user imported)."""
    found: dict[str, type] = {}
    stack = list(Layer.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if found.setdefault(cls.__name__, cls) is not cls:
            found[cls.__name__] = None  # two classes share the name: refuse to guess
    return found


def model_record(model: Sequential, metadata: dict | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """(host tensors "params/<name>" and "buffers/<name>", JSON meta): everything that rebuilds
    `model` with exactly its values (architecture, dtype, arrays) plus `metadata`."""
    if not isinstance(model, Sequential):
        raise ConfigError(f"model: expected an xpnet Sequential, got {type(model).__name__}")
    tensors = {f"params/{k}": v for k, v in model.params.items()}
    tensors.update({f"buffers/{k}": v for k, v in model.buffers.items()})
    xp = model.backend.xp
    if hasattr(xp, "bfloat16"):
        # NumPy has no bfloat16; float32 holds every bfloat16 value exactly, so the round trip is exact
        tensors = {k: xp.astype(v, xp.float32) if v.dtype == xp.bfloat16 else v for k, v in tensors.items()}
    host = {k: np.ascontiguousarray(_backend.to_numpy(v)) for k, v in tensors.items()}
    meta = {
        "kind": "model",
        "architecture": model.architecture(),
        "dtype": model.dtype_name,
        "params": list(model.params),
        "buffers": list(model.buffers),
        "metadata": metadata if metadata is not None else {},
    }
    return host, meta


def model_from_record(tensors: dict, meta: dict, backend: Any, *, source: str | Path = "model") -> Sequential:
    """The model of a `model_record` (or a model file's arrays and meta) on `backend`, with
    exactly the recorded values; CheckpointError naming `source` for anything that does not fit."""
    if meta.get("kind") != "model":
        raise CheckpointError(f"{source}: holds {meta.get('kind')!r} data, not a model")
    layers = build_layers(source, meta.get("architecture"))
    try:
        model = Sequential(layers, seed=0, backend=backend, dtype=meta.get("dtype"))
    except ConfigError as exc:
        raise CheckpointError(f"{source}: cannot rebuild the model ({exc})") from None
    model.params = group_tensors(source, tensors, "params", model.params, model.backend)
    model.buffers = group_tensors(source, tensors, "buffers", model.buffers, model.backend)
    others = sorted(k for k in tensors if not k.startswith(("params/", "buffers/")))
    if others:
        raise CheckpointError(f"{source}: tensor(s) {others} do not belong to the saved architecture")
    return model


def save_model(path: str | os.PathLike, model: Sequential, *, metadata: dict | None = None) -> None:
    """Save `model`'s architecture, dtype, parameters and buffers, and `metadata` (e.g. the
    training configuration), atomically. Values are stored exactly as the model holds them."""
    save_arrays(path, *model_record(model, metadata))


def load_model(path: str | os.PathLike, *, backend: Any = None, device: Any = None) -> tuple[Sequential, dict]:
    """(model, metadata): the bare network rebuilt on `backend`/`device` (default: XPNET_BACKEND
    or auto) in the saved dtype, with exactly the saved values.

    To predict from raw inputs use `xpnet.load(path)` instead: the bare network knows nothing of
    the input standardisation, output activation or class labels a run directory records."""
    path = Path(path)
    arrays, meta = load_arrays(path)
    model = model_from_record(arrays, meta, _backend.get_backend(backend, device=device), source=path)
    return model, meta.get("metadata", {})


def build_layers(path: Path | str, architecture: Any) -> list[Layer]:
    """Fresh Layer objects from a saved architecture (a list of {"type": name, **kwargs}); only
    classes already imported are used (see layer_registry). CheckpointError naming `path`."""
    if not isinstance(architecture, list) or not architecture:
        raise CheckpointError(f"{path}: architecture is missing or not a list of layers")
    registry = layer_registry()
    layers = []
    for i, spec in enumerate(architecture):
        if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
            raise CheckpointError(f"{path}: layer {i} has no type name")
        kwargs = {k: v for k, v in spec.items() if k != "type"}
        cls = registry.get(spec["type"])
        if cls is None:
            known = ", ".join(sorted(k for k, v in registry.items() if v is not None))
            raise CheckpointError(f"{path}: layer {i} has unknown or ambiguous type {spec['type']!r}; known: {known}")
        try:
            layers.append(cls(**kwargs))
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"{path}: layer {i} ({spec['type']}) cannot be built from {kwargs} ({exc})") from None
    return layers


def group_tensors(
    path: Path | str, arrays: dict, group: str, like: dict, backend: Any, owner: str = "the architecture"
) -> dict:
    """The file's tensors "group/<name>", one for each of `like`'s freshly built arrays, checked
    against them (names, shapes, dtypes) and moved to `backend` in their dtypes. CheckpointError
    naming `path` and what `owner` (the architecture, the model) needs otherwise."""
    prefix = f"{group}/"
    names = {k[len(prefix) :] for k in arrays if k.startswith(prefix)}
    missing, extra = sorted(set(like) - names), sorted(names - set(like))
    if missing or extra:
        raise CheckpointError(f"{path}: {group} tensors do not fit {owner}: missing {missing}, unexpected {extra}")
    out = {}
    for name, fresh in like.items():
        value = arrays[prefix + name]
        # the file holds the dtype the layer builds, except bfloat16, stored as float32 (see save_model)
        want = dtype_name(fresh.dtype)
        want = "float32" if want == "bfloat16" else want
        if tuple(value.shape) != tuple(fresh.shape) or value.dtype.name != want:
            raise CheckpointError(
                f"{path}: tensor {prefix + name!r} has shape {tuple(value.shape)} dtype {value.dtype}, "
                f"{owner} needs {tuple(fresh.shape)} {want}"
            )
        out[name] = backend.asarray(value, fresh.dtype)
    return out
