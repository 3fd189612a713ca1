"""Which rows `xpnet evaluate` scores: train records the rows it held out for validation (with
a fingerprint of the data set they index), so that evaluating on the same data set scores those
rows by default, a test score rather than one over rows the model was fitted to.

Host-side: NumPy is fine here.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ..errors import DataError
from ..io.checkpoint_file import hash_rows
from ..io.split import split_rows

SPLITS = ("val", "train", "all")


def data_fingerprint(ds) -> str:
    """sha256 of the data set's features and targets as loaded (float64 X, its y)."""
    h = hashlib.sha256()
    for a, dtype in ((ds.X, np.float64), (ds.y, None)):  # in row chunks: X may be memory-mapped
        h.update(str((np.dtype(dtype or a.dtype).str, a.shape)).encode())
        hash_rows(h, a, dtype)
    return h.hexdigest()


def mapped_split(ds, fraction: float, seed: int | None):
    """(training Dataset, held-out Dataset or None, training rows or None) of a memory-mapped data
    set: the training set keeps the map and every target (fit gathers its `rows` a batch at a
    time); the held-out rows, the same as train_test_split's, are copied out, and only they are read."""
    if not fraction:
        return ds, None, None
    kept, held = split_rows(len(ds), fraction, seed, name="--val-split")
    return ds, ds.subset(held, f"{ds.name}[test]"), kept


def split_record(ds, fraction: float, seed: int | None) -> dict | None:
    """What the model file records of the validation split: the held-out row indices (the rows
    io.split.split_rows holds out, as --val-split does), of how many rows, of which data."""
    if not fraction:
        return None
    _, held = split_rows(len(ds), fraction, seed, name="--val-split")
    return {"rows": len(ds), "val_rows": sorted(int(i) for i in held), "fingerprint": data_fingerprint(ds)}


def select_rows(ds, run: dict, split: str | None, source: str):
    """(the rows to score as a Dataset, what they are in words, the split name). split None:
    the held-out rows when the run recorded them for this very data set, else all rows."""
    if split is not None and split not in SPLITS:
        raise DataError(f"--split: expected one of {', '.join(SPLITS)}, got {split!r}")
    record = run.get("split")
    same = record is not None and record["rows"] == len(ds) and record["fingerprint"] == data_fingerprint(ds)
    if split is None:
        split = "val" if same else "all"
    if split == "all":
        why = "" if same or record is None else "; not the data set the run held rows out of"
        return ds, f"all rows{why}", "all"
    if not same:
        held = "recorded no held-out rows" if record is None else "held out rows of another data set"
        raise DataError(f"--split {split}: the run {held}; {source} can be scored with --split all")
    val = np.asarray(record["val_rows"], dtype=np.int64)
    if split == "val":
        return ds.subset(val, f"{ds.name}[val]"), "the validation rows held out in training", "val"
    train = np.setdiff1d(np.arange(len(ds)), val)
    return ds.subset(train, f"{ds.name}[train]"), "the training rows", "train"
