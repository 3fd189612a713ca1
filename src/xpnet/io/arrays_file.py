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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import backend as _backend
from ..errors import CheckpointError, ConfigError
from ..version import __version__
from . import limits, schema
from .npyio import ZIP_MAGIC, Archive, atomic_write, first_line

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
    if schema.depth(record) > schema.MAX_DEPTH:  # loading would refuse it: refuse to write it
        raise ConfigError(f"meta: nests more than {schema.MAX_DEPTH - 1} levels deep")
    try:
        text = json.dumps(record, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"meta: must be JSON-serialisable with finite numbers ({exc})") from None
    payload = {**host, META_KEY: np.frombuffer(text.encode("utf-8"), dtype=np.uint8)}
    atomic_write(path, lambda f: np.savez(f, **payload), CheckpointError)


# --- reading --------------------------------------------------------------------------------


# the container's own record; the caller's "meta" is checked by the caller (model_file, checkpoint_file)
TENSOR = schema.Fields({"shape": schema.ListOf(schema.Number(at_least=0, integer=True), max_len=32), "dtype": str})
RECORD = schema.Fields(
    {
        "format": str,
        "format_version": int,
        "tensors": schema.MapOf(TENSOR),
        "sha256": str,
        "meta": dict,
    }
)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _read_record(path: Path, archive: Archive) -> dict:
    member = archive.members.get(META_KEY)
    if member is None:
        raise CheckpointError(f"{path}: not an xpnet file (no {META_KEY} record)")
    if member.dtype != np.uint8 or len(member.shape) != 1:
        raise CheckpointError(
            f"{path}: metadata record has dtype {member.dtype} and {len(member.shape)} dims, expected 1-D uint8"
        )
    limits.check_bytes(path, "its metadata record takes", member.nbytes, CheckpointError, limits.META_BYTES)
    raw = archive.read(META_KEY)
    try:
        record = json.loads(raw.tobytes().decode("utf-8"), parse_constant=_refuse_constant)
    except RecursionError:
        raise CheckpointError(f"{path}: metadata record nests too deeply to be xpnet's") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"{path}: metadata record is not valid JSON ({first_line(exc)})") from None
    if not isinstance(record, dict) or record.get("format") != "xpnet":
        raise CheckpointError(f"{path}: not an xpnet file (metadata record has no format 'xpnet')")
    version = record.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"{path}: bad format_version {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format version {version} is newer than this xpnet reads ({FORMAT_VERSION}); upgrade xpnet"
        )
    return schema.check(record, RECORD, path, "metadata")


Headers = dict  # tensor name -> (shape tuple, NumPy dtype string), as the file's NPY headers declare


def load_arrays(
    path: str | os.PathLike, *, check: Callable[[dict, Headers], None] | None = None
) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays, meta) from a file written by `save_arrays`, every tensor checked against the
    record (names, shapes, dtypes, sha256). Any problem is a one-line CheckpointError.

    Everything a file declares is checked before its tensors are read: the archive's sizes
    (npyio.Archive: no member compressed, so nothing read exceeds the file), the metadata
    record's size and schema, the record's tensor list against the NPY headers, and then
    `check(meta, headers)`, where the caller checks its own record (a model's architecture
    against the tensors it needs)."""
    path = Path(path)
    limits.regular_file(path, CheckpointError)
    try:
        with open(path, "rb") as f:
            magic = f.read(len(ZIP_MAGIC))
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror or first_line(exc)})") from None
    if magic != ZIP_MAGIC:
        raise CheckpointError(f"{path}: not an .npz (zip) archive (its first bytes are {magic!r})")
    with Archive(path, CheckpointError, stored_only=True) as archive:
        archive.check_total(archive.members)  # stored uncompressed: what the file holds, at most its size
        record = _read_record(path, archive)
        expected = record["tensors"]
        present = set(archive.members) - {META_KEY}
        if present - set(expected):
            raise CheckpointError(f"{path}: unexpected tensor(s) {sorted(present - set(expected))} not in its record")
        if set(expected) - present:
            raise CheckpointError(f"{path}: missing tensor(s) {sorted(set(expected) - present)}")
        headers = {name: (archive.members[name].shape, archive.members[name].dtype.str) for name in expected}
        for name, (shape, dtype) in headers.items():
            want = expected[name]
            if list(shape) != want["shape"] or dtype != want["dtype"]:
                raise CheckpointError(
                    f"{path}: tensor {name!r} has shape {shape} dtype {dtype}, "
                    f"its record says shape {tuple(want['shape'])} dtype {want['dtype']}"
                )
        if check is not None:
            check(record["meta"], headers)
        arrays = {name: archive.read(name) for name in expected}
    if digest(arrays) != record["sha256"]:
        raise CheckpointError(f"{path}: checksum mismatch (the tensors were modified or corrupted)")
    return arrays, record["meta"]
