"""Data sets for training and prediction, read on the host with NumPy.

`load_dataset(name_or_path, target=None)` accepts an embedded name (EMBEDDED_NAMES: the seeds'
toy sets and scikit-learn's digits, iris, wine and breast-cancer, shipped in xpnet/datasets/) or
a file: `.csv` with a header row or `.npz` with arrays X and y (tabular.py; memory-mapped when
uncompressed and aligned, and `.npy` tables: mapped.py), or MNIST-style IDX files (idx.py).
Every problem with a file is a one-line DataError naming the file and what is wrong.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError, DataError
from . import idx, limits, mapped, tabular
from .dataset import Dataset
from .embedded import EMBEDDED_NAMES, load_embedded


def load_dataset(name_or_path: str | os.PathLike, target: str | None = None) -> Dataset:
    """An embedded data set by name, or a .csv / .npz / IDX file or directory."""
    text = str(name_or_path)
    if text in EMBEDDED_NAMES:
        if target is not None:
            raise ConfigError(f"target: embedded data set {text!r} has a fixed target, got target={target!r}")
        return load_embedded(text)
    path = Path(name_or_path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return tabular.load_csv(path, target)
    # a directory holds IDX files; one named like a file (x.npz/) is refused as not a regular file
    is_idx = (path.is_dir() and suffix != ".npz") or idx.is_idx_images(path)
    if target is not None and (is_idx or suffix == ".npz"):
        raise ConfigError(f"target: only CSV files have named columns; {path} has a fixed y, got target={target!r}")
    if is_idx:
        return idx.load_idx(path)
    if suffix == ".npz":
        arrays = mapped.mappable(path)  # uncompressed and aligned: memory-mapped (io/mapped.py)
        return tabular.load_npz(path) if arrays is None else mapped.load_mapped_npz(path, arrays)
    if suffix == ".npy":
        if target is not None:
            raise ConfigError(f"target: an .npy table's target is its last column, got target={target!r}")
        return mapped.load_npy(path)
    if not path.exists() and os.sep not in text and not path.suffix:
        raise DataError(
            f"dataset: unknown name {text!r}; expected one of {', '.join(EMBEDDED_NAMES)} "
            "or a path to a .csv, .npz or IDX file"
        )
    limits.regular_file(path, DataError)  # missing, or not a regular file
    raise DataError(f"{path}: unknown format; expected .csv, .npz, or IDX (*images-idx3-ubyte[.gz] or a directory)")
