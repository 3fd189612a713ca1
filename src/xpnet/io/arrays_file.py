"""xpnet's file container, safe to load: NumPy .npz read with allow_pickle=False, written
atomically. Model files (model_file.py) and training checkpoints (checkpoint_file.py) are both
written with it.

A file holds host copies of named tensors plus one JSON record (stored as a uint8 array under
META_KEY) with the format version, each tensor's shape and dtype, a sha256 over the tensor bytes,
and the caller's metadata. Loading never runs code from the file: no pickle.

    save_arrays(path, arrays, meta)          /  load_arrays(path) -> (arrays, meta)
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import backend as _backend
from ..errors import CheckpointError, ConfigError
from ..version import __version__
from .npyio import atomic_write, read_npy_file

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


def digest(arrays: dict[str, np.ndarray]) -> str:
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
    path = Path(path)
    host = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or not name or name == META_KEY:
            raise ConfigError(f"arrays: names must be non-empty strings other than {META_KEY!r}, got {name!r}")
        host[name] = _host_array(name, value)
    record = {
        "format": "xpnet",
        "format_version": FORMAT_VERSION,
        "xpnet_version": __version__,
        "tensors": {k: {"shape": list(a.shape), "dtype": a.dtype.str} for k, a in host.items()},
        "sha256": digest(host),
        "meta": meta if meta is not None else {},
    }
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
        raise CheckpointError(
            f"{path}: format version {version} is newer than this xpnet reads ({FORMAT_VERSION}); upgrade xpnet"
        )
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
            raise CheckpointError(
                f"{path}: tensor {name!r} has shape {a.shape} dtype {a.dtype.str}, "
                f"its record says shape {tuple(want.get('shape') or ())} dtype {want.get('dtype')}"
            )
    if digest(arrays) != record["sha256"]:
        raise CheckpointError(f"{path}: checksum mismatch (the tensors were modified or corrupted)")
    return arrays, record["meta"]
