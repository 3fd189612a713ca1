"""Training data larger than memory: `--dataset big.npy` or an uncompressed .npz (written by
xpnet.io.save_mappable) opened memory-mapped by `load_dataset`, so that a process reads from disk
only the rows it touches.

X stays on disk, in its stored numeric dtype (the command line casts each gathered batch to
float64, as the in-memory loaders cast the whole X); y, 1/d of the data, is read into
memory, as its labels are mapped to classes. An .npy holds one 2-D table whose last column is the
target (the CSV rule: integer targets are class labels, decimals make a regression task). A file
that cannot be mapped (a compressed or unaligned .npz, X not numeric 2-D) is read into memory as
before, under XPNET_MAX_READ_BYTES; a mapped X is not counted against that limit, as it is never
read whole (io/limits.py).

Every pass over X here goes in row chunks of CHUNK_BYTES: the finiteness check and (elsewhere)
the standardiser's statistics and the data fingerprints, so memory stays bounded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from .dataset import Dataset, classification
from .memmap import open_memmap
from .tabular import xy_dataset

CHUNK_BYTES = 4 * 2**20


def chunk_rows(X) -> int:
    """Rows of X in one chunk of at most CHUNK_BYTES (as float64), at least one."""
    width = int(np.prod(X.shape[1:], dtype=np.int64)) if X.ndim > 1 else 1
    return max(1, CHUNK_BYTES // (8 * max(width, 1)))


def is_mapped(X) -> bool:
    return isinstance(X, np.memmap) or isinstance(getattr(X, "base", None), np.memmap)


def mappable(path: Path) -> dict | None:
    """The mapped arrays of an .npz that can be mapped (uncompressed, aligned, numeric 2-D X, a y), else None."""
    try:
        arrays = open_memmap(path)
    except DataError:
        return None  # read into memory by tabular.load_npz, which names what is wrong
    X = arrays.get("X")
    if X is None or "y" not in arrays or X.dtype.kind not in "biuf" or X.ndim != 2:
        return None
    return arrays


def _check_finite(path: Path, X) -> None:
    step = chunk_rows(X)
    for a in range(0, X.shape[0], step):
        block = np.asarray(X[a : a + step], dtype=np.float64)  # as the in-memory loaders check it
        if not np.isfinite(block).all():
            row, col = np.argwhere(~np.isfinite(block))[0]
            raise DataError(f"{path}: X[{a + row}, {col}] is {block[row, col]} (NaN and inf are not allowed)")


def load_mapped_npz(path: Path, arrays: dict) -> Dataset:
    X, y = arrays["X"], np.array(arrays["y"])  # y in memory: a label per row
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise DataError(f"{path}: X must be a non-empty 2-D array (samples, features), got shape {X.shape}")
    if y.shape[:1] != (X.shape[0],) or y.ndim > 2:
        raise DataError(f"{path}: y has shape {y.shape}, expected ({X.shape[0]},) or ({X.shape[0]}, k) to match X")
    _check_finite(path, X)
    return _dataset(path, X, y)


def load_npy(path: Path) -> Dataset:
    """A 2-D numeric .npy table, memory-mapped; its last column is the target."""
    table = open_memmap(path)["X"]
    if table.ndim != 2 or table.shape[1] < 2 or table.shape[0] == 0:
        raise DataError(f"{path}: expected a 2-D table (samples, features + target), got shape {table.shape}")
    if table.dtype.kind not in "biuf":
        raise DataError(f"{path}: the table has dtype {table.dtype}, expected numbers")
    X, y = table[:, :-1], np.array(table[:, -1], dtype=np.float64)
    _check_finite(path, X)
    if not np.isfinite(y).all():
        raise DataError(f"{path}: the target column contains NaN or inf")
    if (y == np.round(y)).all():  # the CSV rule: integer targets are class labels
        y = y.astype(np.int64)
    return _dataset(path, X, y)


def _dataset(path: Path, X, y) -> Dataset:
    if y.dtype.kind in "biuU" and y.ndim == 1:
        # classification() would copy X as float64: give it one row and put the map back
        ds = classification(X[:1], y, name=path.stem, source=str(path))
        ds.X = X
        ds.feature_names = [f"x{i}" for i in range(X.shape[1])]
        return ds
    return xy_dataset(path, X, y)
