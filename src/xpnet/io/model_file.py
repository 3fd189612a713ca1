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
from ..nn.sequential import DTYPES
from ..tree import dtype_name
from . import limits, schema
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
    headers = {k: (tuple(v.shape), np.dtype(v.dtype).str) for k, v in tensors.items()}
    layers = check_model_layout(source, meta, headers)
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
    # the architecture is checked against the tensors' headers before any tensor is read
    arrays, meta = load_arrays(path, check=lambda meta, headers: check_model_layout(path, meta, headers))
    model = model_from_record(arrays, meta, _backend.get_backend(backend, device=device), source=path)
    return model, meta.get("metadata", {})


def model_meta_schema() -> schema.Fields:
    """What a model record's meta holds (model_record writes it)."""
    return schema.Fields(
        {
            "kind": schema.Const("model"),
            "architecture": schema.ListOf(schema.Fields({"type": str}), min_len=1),
            "dtype": schema.OneOf(*DTYPES),
        },
        {"params": schema.ListOf(str), "buffers": schema.ListOf(str), "metadata": dict},
    )


def check_layer_count(path: Path | str, architecture: Any) -> None:
    if isinstance(architecture, list) and len(architecture) > limits.max_layers():
        raise CheckpointError(
            f"{path}: its architecture lists {len(architecture)} layers, over the limit of {limits.max_layers()} "
            f"(set {limits.LAYERS} to load more)"
        )


def check_model_layout(path: Path | str, meta: Any, headers: dict) -> list[Layer]:
    """The layers of a model record's meta, after checking, before any array is built or read:
    the meta's schema, the number of layers, and that the tensors' headers ({name: (shape,
    dtype)}) are exactly what the architecture needs. CheckpointError naming `path`."""
    if isinstance(meta, dict) and meta.get("kind") != "model":
        raise CheckpointError(f"{path}: holds {meta.get('kind')!r} data, not a model")
    check_layer_count(path, meta.get("architecture") if isinstance(meta, dict) else None)
    schema.check(meta, model_meta_schema(), path, "meta")
    layers = build_layers(path, meta["architecture"])
    needs = architecture_needs(path, layers, meta["dtype"])
    if needs is not None:
        for group in ("params", "buffers"):
            check_group(path, headers, group, needs[group])
        others = sorted(k for k in headers if not k.startswith(("params/", "buffers/")))
        if others:
            raise CheckpointError(f"{path}: tensor(s) {others} do not belong to the saved architecture")
    return layers


def architecture_needs(path: Path | str, layers: list[Layer], dtype: str) -> dict | None:
    """{"params": {name: (shape, dtype)}, "buffers": {...}}: the tensors `layers` build in a model
    of `dtype` (bfloat16 is stored as float32), from the layers' shapes() without allocating;
    None when a layer does not say its shapes (it is then checked once built)."""
    stored = np.dtype("float32" if dtype == "bfloat16" else dtype).name
    needs: dict[str, dict] = {"params": {}, "buffers": {}}
    n = next((getattr(layer, a) for layer in layers for a in ("n_in", "n_features") if hasattr(layer, a)), None)
    if n is None:
        return None  # Sequential refuses it with its own message
    for i, layer in enumerate(layers):
        try:
            shapes = layer.shapes(n)
        except (ConfigError, ValueError, TypeError) as exc:
            raise CheckpointError(f"{path}: cannot rebuild the model ({exc})") from None
        if shapes is None or not _says_its_shapes(layer):
            return None
        p, b, n = shapes
        needs["params"].update({f"{i}.{k}": (tuple(v), stored) for k, v in p.items()})
        needs["buffers"].update({f"{i}.{k}": (tuple(v), stored) for k, v in b.items()})
    return needs


def _says_its_shapes(layer: Layer) -> bool:
    """Whether the layer's shapes() is written for its build(): a subclass that overrides build
    but not shapes (of Dense, say) may build other arrays than its parent says."""
    mro = type(layer).__mro__
    build_owner = next(c for c in mro if "build" in vars(c))
    shapes_owner = next(c for c in mro if "shapes" in vars(c))
    return issubclass(shapes_owner, build_owner)


def build_layers(path: Path | str, architecture: Any) -> list[Layer]:
    """Fresh Layer objects from a saved architecture (a list of {"type": name, **kwargs}); only
    classes already imported are used (see layer_registry). No arrays are built. CheckpointError
    naming `path`."""
    if not isinstance(architecture, list) or not architecture:
        raise CheckpointError(f"{path}: architecture is missing or not a list of layers")
    check_layer_count(path, architecture)
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


def check_group(path: Path | str, headers: dict, group: str, needs: dict, owner: str = "the architecture") -> None:
    """CheckpointError naming `path` unless the tensors "group/<name>" of `headers` ({name:
    (shape, dtype)}) are exactly `needs` ({name: (shape, dtype name)}), what `owner` needs."""
    prefix = f"{group}/"
    names = {k[len(prefix) :] for k in headers if k.startswith(prefix)}
    missing, extra = sorted(set(needs) - names), sorted(names - set(needs))
    if missing or extra:
        raise CheckpointError(f"{path}: {group} tensors do not fit {owner}: missing {missing}, unexpected {extra}")
    for name, (shape, want) in needs.items():
        got_shape, got_dtype = headers[prefix + name]
        got_dtype = np.dtype(got_dtype)
        if tuple(got_shape) != tuple(shape) or got_dtype.name != want:
            raise CheckpointError(
                f"{path}: tensor {prefix + name!r} has shape {tuple(got_shape)} dtype {got_dtype}, "
                f"{owner} needs {tuple(shape)} {want}"
            )


def group_tensors(
    path: Path | str, arrays: dict, group: str, like: dict, backend: Any, owner: str = "the architecture"
) -> dict:
    """The file's tensors "group/<name>", one for each of `like`'s freshly built arrays, checked
    against them (names, shapes, dtypes) and moved to `backend` in their dtypes. CheckpointError
    naming `path` and what `owner` (the architecture, the model) needs otherwise."""
    prefix = f"{group}/"
    # the file holds the dtype the layer builds, except bfloat16, stored as float32 (see save_model)
    needs = {}
    for name, fresh in like.items():
        want = dtype_name(fresh.dtype)
        needs[name] = (tuple(fresh.shape), "float32" if want == "bfloat16" else want)
    headers = {k: (tuple(v.shape), np.dtype(v.dtype).str) for k, v in arrays.items() if k.startswith(prefix)}
    check_group(path, headers, group, needs, owner)
    out = {}
    for name, fresh in like.items():
        value = arrays[prefix + name]
        out[name] = backend.asarray(value, fresh.dtype)
    return out
