"""Model files that are safe to load: NumPy .npz read with allow_pickle=False, written atomically.

A file holds host copies of named tensors plus one JSON record (stored as a uint8 array under
META_KEY) with the format version, each tensor's shape and dtype, a sha256 over the tensor bytes,
and the caller's metadata. Loading never runs code from the file: no pickle, and layers are rebuilt
only from Layer subclasses already imported, by type name, with JSON constructor arguments.

    save_model(path, model, metadata=None)   /  load_model(path, backend=None) -> (model, metadata)
    save_arrays(path, arrays, meta)          /  load_arrays(path) -> (arrays, meta)
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from . import backend as _backend
from .errors import CheckpointError, ConfigError
from .layers import Layer, Sequential
from .npyio import atomic_write, read_npy_file
from .tree import dtype_name

FORMAT_VERSION = 1
META_KEY = "__xpnet_meta__"


# --- writing --------------------------------------------------------------------------------


def _host_array(name: str, value: Any) -> np.ndarray:
    """A host NumPy copy of an array or Python scalar (0-d int64/float64/bool)."""
    if isinstance(value, (bool, int, float)):
        host = np.asarray(value)
    elif _backend.is_array(value):
        host = np.ascontiguousarray(_backend.to_numpy(value))
    else:
        raise ConfigError(f"arrays[{name!r}]: expected an array or a Python number, got {type(value).__name__}")
    if host.dtype.hasobject:  # also a Python int too large for int64
        raise ConfigError(f"arrays[{name!r}]: object arrays cannot be saved (they would need pickle)")
    return host


def _digest(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = arrays[name]
        h.update(f"{name}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def save_arrays(path: str | os.PathLike, arrays: dict[str, Any], meta: dict | None = None) -> None:
    """Write named arrays (any backend, or Python numbers) and a JSON-serialisable `meta` to `path`.

    Atomic: the data goes to a temporary file in the same directory, which is flushed, fsynced
    and renamed over `path`; if anything fails, the temporary file is removed and a previous file
    at `path` is left as it was.
    """
    from . import __version__

    path = Path(path)
    host = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or not name or name == META_KEY:
            raise ConfigError(f"arrays: names must be non-empty strings other than {META_KEY!r}, got {name!r}")
        host[name] = _host_array(name, value)
    record = {"format": "xpnet", "format_version": FORMAT_VERSION, "xpnet_version": __version__,
              "tensors": {k: {"shape": list(a.shape), "dtype": a.dtype.str} for k, a in host.items()},
              "sha256": _digest(host), "meta": meta if meta is not None else {}}
    try:
        text = json.dumps(record, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"meta: must be JSON-serialisable with finite numbers ({exc})") from None
    payload = {**host, META_KEY: np.frombuffer(text.encode("utf-8"), dtype=np.uint8)}
    atomic_write(path, lambda f: np.savez(f, **payload), CheckpointError)


# --- reading --------------------------------------------------------------------------------


def _read_record(path: Path, arrays: dict[str, np.ndarray]) -> dict:
    if META_KEY not in arrays:
        raise CheckpointError(f"{path}: not an xpnet file (no {META_KEY} record)")
    raw = arrays.pop(META_KEY)
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(f"{path}: metadata record has dtype {raw.dtype} and {raw.ndim} dims, expected 1-D uint8")
    try:
        record = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"{path}: metadata record is not valid JSON ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != "xpnet":
        raise CheckpointError(f"{path}: not an xpnet file (metadata record has no format 'xpnet')")
    version = record.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{path}: bad format_version {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path}: format version {version} is newer than this xpnet reads "
                              f"({FORMAT_VERSION}); upgrade xpnet")
    if not isinstance(record.get("tensors"), dict) or not isinstance(record.get("sha256"), str):
        raise CheckpointError(f"{path}: metadata record lacks the tensor list or checksum")
    return record


def load_arrays(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays, meta) from a file written by `save_arrays`, every tensor checked against the
    record (names, shapes, dtypes, sha256). Any problem is a one-line CheckpointError."""
    path = Path(path)
    arrays = read_npy_file(path, CheckpointError, allow_npy=False)
    record = _read_record(path, arrays)
    expected = record["tensors"]
    if set(arrays) - set(expected):
        raise CheckpointError(f"{path}: unexpected tensor(s) {sorted(set(arrays) - set(expected))} not in its record")
    if set(expected) - set(arrays):
        raise CheckpointError(f"{path}: missing tensor(s) {sorted(set(expected) - set(arrays))}")
    for name, a in arrays.items():
        want = expected[name]
        if list(a.shape) != want.get("shape") or a.dtype.str != want.get("dtype"):
            raise CheckpointError(f"{path}: tensor {name!r} has shape {a.shape} dtype {a.dtype.str}, "
                                  f"its record says shape {tuple(want.get('shape') or ())} dtype {want.get('dtype')}")
    if _digest(arrays) != record["sha256"]:
        raise CheckpointError(f"{path}: checksum mismatch (the tensors were modified or corrupted)")
    return arrays, record["meta"]


# --- models ---------------------------------------------------------------------------------


def layer_registry() -> dict[str, type]:
    """Every imported Layer subclass by class name (xpnet's own, plus any the user imported)."""
    for module in ("activations", "dropout", "batchnorm"):  # xpnet's layers, imported or not yet
        importlib.import_module(f".{module}", __package__)
    found: dict[str, type] = {}
    stack = list(Layer.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if found.setdefault(cls.__name__, cls) is not cls:
            found[cls.__name__] = None  # two classes share the name: refuse to guess
    return found


def save_model(path: str | os.PathLike, model: Sequential, *, metadata: dict | None = None) -> None:
    """Save `model`'s architecture, dtype, parameters and buffers, and `metadata` (e.g. the
    training configuration), atomically. Values are stored exactly as the model holds them."""
    if not isinstance(model, Sequential):
        raise ConfigError(f"model: expected an xpnet Sequential, got {type(model).__name__}")
    tensors = {f"params/{k}": v for k, v in model.params.items()}
    tensors.update({f"buffers/{k}": v for k, v in model.buffers.items()})
    xp = model.backend.xp
    if hasattr(xp, "bfloat16"):
        # NumPy has no bfloat16; float32 holds every bfloat16 value exactly, so the round trip is exact
        tensors = {k: xp.astype(v, xp.float32) if v.dtype == xp.bfloat16 else v for k, v in tensors.items()}
    meta = {"kind": "model", "architecture": model.architecture(), "dtype": model.dtype_name,
            "params": list(model.params), "buffers": list(model.buffers),
            "metadata": metadata if metadata is not None else {}}
    save_arrays(path, tensors, meta)


def load_model(path: str | os.PathLike, *, backend: Any = None, device: Any = None) -> tuple[Sequential, dict]:
    """(model, metadata): the model rebuilt on `backend`/`device` (default: XPNET_BACKEND or
    auto) in the saved dtype, with exactly the saved values."""
    path = Path(path)
    arrays, meta = load_arrays(path)
    if meta.get("kind") != "model":
        raise CheckpointError(f"{path}: holds {meta.get('kind')!r} data, not a model")
    layers = build_layers(path, meta.get("architecture"))
    target = _backend.get_backend(backend, device=device)
    try:
        model = Sequential(layers, seed=0, backend=target, dtype=meta.get("dtype"))
    except ConfigError as exc:
        raise CheckpointError(f"{path}: cannot rebuild the model ({exc})") from None
    model.params = group_tensors(path, arrays, "params", model.params, model.backend)
    model.buffers = group_tensors(path, arrays, "buffers", model.buffers, model.backend)
    others = sorted(k for k in arrays if not k.startswith(("params/", "buffers/")))
    if others:
        raise CheckpointError(f"{path}: tensor(s) {others} do not belong to the saved architecture")
    return model, meta.get("metadata", {})


def build_layers(path: Path, architecture: Any) -> list[Layer]:
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


def group_tensors(path: Path, arrays: dict, group: str, like: dict, backend: Any,
                  owner: str = "the architecture") -> dict:
    """The file's tensors "group/<name>", one for each of `like`'s freshly built arrays, checked
    against them (names, shapes, dtypes) and moved to `backend` in their dtypes. CheckpointError
    naming `path` and what `owner` (the architecture, the model) needs otherwise."""
    prefix = f"{group}/"
    names = {k[len(prefix):] for k in arrays if k.startswith(prefix)}
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
            raise CheckpointError(f"{path}: tensor {prefix + name!r} has shape {tuple(value.shape)} dtype {value.dtype}, "
                                  f"{owner} needs {tuple(fresh.shape)} {want}")
        out[name] = backend.asarray(value, fresh.dtype)
    return out
