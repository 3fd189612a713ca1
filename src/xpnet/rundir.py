"""A training run's directory: what `xpnet train` writes (model.npz with the run's metadata,
history, curves) and `xpnet evaluate` / `xpnet predict` read back. Writes are staged so that a
failed run leaves nothing behind: the directory appears complete or not at all.

Host-side I/O: NumPy is fine here.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .errors import CheckpointError, ConfigError, DataError

MODEL_FILE = "model.npz"
RUN_KEY = "xpnet_run"  # the model metadata record train writes and evaluate/predict read


def check_out_dir(out: Path, overwrite: bool) -> None:
    """Refuse an existing non-empty output directory (unless overwrite) or a file in its place."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"--out {out}: directory exists and is not empty; pass --overwrite to replace it")


@contextlib.contextmanager
def staged_dir(out: Path, overwrite: bool = False):
    """Yield an empty temporary directory beside `out`; on success it is renamed to `out` (an
    existing one is replaced only with overwrite), on any error it is removed, so `out` is either
    complete or untouched."""
    check_out_dir(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's 0700 is for the temporary name, not the result
    try:
        yield tmp
        old = None
        if out.exists():
            old = out.parent / f"{tmp.name}.old"
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def targets_for_loss(ds, loss_name: str) -> np.ndarray:
    """Host targets in the form the loss takes: class labels, a 0/1 column for bce_logits, or
    a (samples, targets) float table for regression."""
    if ds.task == "classification":
        return ds.y.reshape(-1, 1).astype(np.float64) if loss_name == "bce_logits" else ds.y
    return ds.y.reshape(len(ds.y), -1).astype(np.float64)


def class_labels(ds) -> list | None:
    """The data set's class names (JSON values), index i naming label i; None for regression."""
    if ds.task != "classification":
        return None
    names = getattr(ds, "classes", None)
    if names is None:
        names = getattr(ds, "label_names", None)
    return [_plain(c) for c in names] if names is not None else list(range(int(ds.n_classes)))


def _plain(v):
    return v.item() if hasattr(v, "item") else v


def load_run(directory: str, backend):
    """(model, run metadata) from a directory `xpnet train` wrote, on `backend`."""
    from .checkpoint import load_model

    path = Path(directory)
    if not path.is_dir():
        raise DataError(f"{directory}: no such directory (expected the --out directory of xpnet train)")
    if not (path / MODEL_FILE).is_file():
        raise CheckpointError(f"{path / MODEL_FILE}: no model file (expected the --out directory of xpnet train)")
    model, metadata = load_model(path / MODEL_FILE, backend=backend)
    run = (metadata or {}).get(RUN_KEY)
    if not isinstance(run, dict) or "standardize" not in run or "loss" not in run:
        raise CheckpointError(f"{path / MODEL_FILE}: not a model written by xpnet train (no run metadata)")
    return model, run


def labels_for_model(ds, run: dict, source: str) -> np.ndarray:
    """The data set's labels as indices of the model's classes (matched by name, so a CSV whose
    labels come in another order still lines up); DataError for a label the model lacks."""
    classes = run["classes"]
    names = class_labels(ds)
    index = {str(c): i for i, c in enumerate(classes)}
    mapped = np.empty(len(ds.y), dtype=np.int64)
    for i, label in enumerate(np.asarray(ds.y).reshape(-1).tolist()):
        name = names[label] if 0 <= label < len(names) else label
        if str(name) not in index:
            raise DataError(f"{source}: label {name!r} at row {i} is beyond the model's {len(classes)} "
                            f"classes ({', '.join(map(str, classes))})")
        mapped[i] = index[str(name)]
    return mapped


def prediction_table(values: np.ndarray, run: dict) -> tuple[dict, dict]:
    """(CSV columns, NPZ arrays) for predicted values: the class and its probabilities for a
    classifier, one column per target for a regressor."""
    if run["task"] == "classification":
        classes = run["classes"]
        # bce_logits has one output, P(class 1): spell out both columns like softmax does
        proba = np.concatenate([1 - values, values], axis=1) if values.shape[1] == 1 else values
        predicted = np.asarray(classes)[proba.argmax(axis=1)]
        columns = {"prediction": predicted, **{f"p_{c}": proba[:, i] for i, c in enumerate(classes)}}
        return columns, {"prediction": predicted, "probabilities": proba, "classes": np.asarray(classes)}
    names = [run.get("target_name") or "prediction"] if values.shape[1] == 1 else [f"y{i}" for i in range(values.shape[1])]
    return {n: values[:, i] for i, n in enumerate(names)}, {"prediction": values}


def csv_text(columns: dict) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(list(columns))
    for row in zip(*columns.values()):
        w.writerow([f"{float(v):.6g}" if isinstance(v, (float, np.floating)) else _plain(v) for v in row])
    return buf.getvalue()
