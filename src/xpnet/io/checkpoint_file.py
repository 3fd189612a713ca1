"""Training checkpoints on disk: DIR/checkpoint.npz in xpnet's file container (arrays_file.py),
holding a trainer's `state_dict()` (weights, optimizer state, loop state, history) and the
records that check a resume (architecture, settings, a fingerprint of the data).

The training loop's side (when to write, how to restore into a Trainer) is
xpnet/training/checkpoints.py; this module only knows the file's layout.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np  # host side: hashing the data, history as float64 arrays

from .. import backend as _backend
from ..errors import CheckpointError
from ..tree import tree_flatten
from . import schema
from .arrays_file import load_arrays, save_arrays
from .model_file import architecture_needs, build_layers, check_group, check_layer_count

CHECKPOINT_FILE = "checkpoint.npz"
KIND = "training"
GROUPS = ("params", "buffers", "best_params", "best_buffers")


def checkpoint_path(directory: str | os.PathLike) -> Path:
    return Path(directory) / CHECKPOINT_FILE


HASH_CHUNK_BYTES = 4 * 2**20  # rows hashed at a time (hash_rows)


def data_fingerprint(X: Any, y: Any) -> str:
    """sha256 of the training rows in their order (dtype, shape and bytes): resuming on other data,
    or on the same rows in another order, would silently give another model."""
    h = hashlib.sha256()
    for a in (X, y):
        host = _backend.to_numpy(a)  # once per fit, never per step
        h.update(f"{host.dtype.str}{host.shape}".encode())
        hash_rows(h, host)
    return h.hexdigest()


def hash_rows(h, a, dtype=None) -> None:
    """h updated with a's C-order bytes (as `dtype`, if given), a chunk of rows at a time: the
    digest of the whole bytes, without copying a memory-mapped array whole."""
    if a.ndim == 0:
        h.update(np.ascontiguousarray(a, dtype=dtype).reshape(-1).view(np.uint8))
        return
    row_bytes = 8 * int(np.prod(a.shape[1:], dtype=np.int64))  # 8: an upper bound of any itemsize here
    step = max(1, HASH_CHUNK_BYTES // max(row_bytes, 1))
    for i in range(0, a.shape[0], step):
        h.update(np.ascontiguousarray(a[i : i + step], dtype=dtype).reshape(-1).view(np.uint8))


def write_checkpoint(directory: str | os.PathLike, state: dict, records: dict) -> Path:
    """Write a trainer's `state_dict()` and JSON `records` (model, trainer settings, epochs, data
    fingerprint, config...) to DIR/checkpoint.npz, atomically; returns the path."""
    arrays: dict[str, Any] = {}
    for group in GROUPS:
        arrays.update({f"{group}/{k}": v for k, v in (state[group] or {}).items()})
    opt_leaves, opt_spec = tree_flatten(state["opt_state"])
    arrays.update({f"opt/{k}": v for k, v in opt_leaves.items()})
    hist = state["history"]
    # history as float64 arrays: bit-exact, and NaN/inf (check_finite=False) need no JSON
    arrays.update({f"history/{k}": np.asarray(v, dtype=np.float64) for k, v in hist["history"].items()})
    meta = {
        "kind": KIND,
        "epoch": state["epoch"],
        "step": state["step"],
        "shuffle_rng": state["shuffle_rng"],
        "dropout_rng": state["dropout_rng"],
        "history_epochs": hist["epoch"],
        "best_epoch": hist["best_epoch"],
        "stopped_early": hist["stopped_early"],
        "best": state["best"],
        "wait": state["wait"],
        "has_best": state["best_params"] is not None,
        "opt_spec": opt_spec,
        **records,
    }
    path = checkpoint_path(directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_arrays(path, arrays, meta)
    return path


def read_checkpoint(directory: str | os.PathLike) -> tuple[dict, dict]:
    """(host arrays, meta) of DIR/checkpoint.npz, checked to be a training checkpoint."""
    path = checkpoint_path(directory)
    if not path.parent.is_dir():
        raise CheckpointError(f"{path.parent}: no such directory (expected a directory holding {CHECKPOINT_FILE})")
    arrays, meta = load_arrays(path, check=lambda meta, headers: check_checkpoint_layout(path, meta, headers))
    return arrays, meta


_INT = schema.Number(at_least=0, integer=True)
CHECKPOINT = schema.Fields(
    {
        "kind": schema.Const(KIND),
        "epoch": _INT,
        "step": _INT,
        "history_epochs": schema.ListOf(_INT),
        "best_epoch": (_INT, None),
        "stopped_early": bool,
        "best": (schema.Number(), None),
        "wait": _INT,
        "has_best": bool,
        "model": schema.Fields(
            {"architecture": schema.ListOf(schema.Fields({"type": str}), min_len=1), "dtype": str, "backend": str}
        ),
        "trainer": dict,
        "config": dict,
        "shuffle_rng": schema.ANY,
        "dropout_rng": schema.ANY,
        "opt_spec": schema.ANY,
    },
    {"epochs": (_INT, None), "every": schema.Number(at_least=1, integer=True), "data": (str, None)},
)


def check_checkpoint_layout(path: Path, meta: dict, headers: dict) -> None:
    """Before any tensor is read: the training record's schema, the number of layers, and the
    weight tensors' headers against what the recorded architecture needs."""
    if not isinstance(meta, dict) or meta.get("kind") != KIND:
        kind = meta.get("kind") if isinstance(meta, dict) else None
        raise CheckpointError(f"{path}: holds {kind!r} data, not a training checkpoint")
    model = meta.get("model")
    check_layer_count(path, model.get("architecture") if isinstance(model, dict) else None)
    schema.check(meta, CHECKPOINT, path, "malformed training record: meta")
    layers = build_layers(path, model["architecture"])
    needs = architecture_needs(path, layers, model["dtype"])
    if needs is None:
        return  # a layer that does not say its shapes: restore_checkpoint checks the built arrays
    groups = [("params", "params"), ("buffers", "buffers")]
    if meta["has_best"]:
        groups += [("best_params", "params"), ("best_buffers", "buffers")]
    for group, kind in groups:
        check_group(path, headers, group, needs[kind], "the architecture")


def history_record(arrays: dict, meta: dict) -> dict:
    """The History.as_dict() stored in a checkpoint."""
    return {
        "history": {k[len("history/") :]: v.tolist() for k, v in arrays.items() if k.startswith("history/")},
        "epoch": [int(e) for e in meta["history_epochs"]],
        "best_epoch": meta["best_epoch"],
        "stopped_early": bool(meta["stopped_early"]),
    }


def optimizer_leaves(arrays: dict) -> dict:
    """The optimizer state's leaves, named as tree_flatten named them."""
    return {k[len("opt/") :]: v for k, v in arrays.items() if k.startswith("opt/")}
