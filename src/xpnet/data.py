"""Data sets for training and prediction, read on the host with NumPy.

`load_dataset(name_or_path, target=None)` accepts an embedded name (EMBEDDED_NAMES: the seeds'
toy sets and scikit-learn's digits, iris, wine and breast-cancer, shipped in xpnet/datasets/) or
a file: `.csv` with a header row, `.npz` with arrays X and y, or MNIST-style IDX files (see
xpnet.idx). Every problem with a file is a one-line DataError naming the file and what is wrong.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import ConfigError, DataError
from .npyio import first_line, read_npy_file

_SEED_X = [[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]]
_TOY = {  # name: (X, y) exactly as in the seed programs
    "xor": (_SEED_X, [0, 1, 1, 0]),
    "seed-and": (_SEED_X, [0, 0, 1, 1]),  # the label is the first input column
    "seed-single": ([[0, 0, 1], [1, 1, 1], [1, 0, 1], [0, 1, 1]], [0, 1, 1, 0]),
}
_BUNDLED = ("digits", "iris", "wine", "breast-cancer")
EMBEDDED_NAMES = (*_TOY, *_BUNDLED)


@dataclass
class Dataset:
    """Features X (float64, (n, d)) and targets y: int64 class indices (n,) for classification,
    float64 (n, k) for regression. label_names[i] is the original label of class i."""

    X: np.ndarray
    y: np.ndarray
    task: str  # "classification" or "regression"
    n_classes: int | None = None
    feature_names: list[str] = field(default_factory=list)
    target_name: str = "y"
    label_names: list[str] | None = None
    name: str = ""
    source: str = ""

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    def subset(self, rows: np.ndarray, name: str) -> "Dataset":
        return replace(self, X=self.X[rows], y=self.y[rows], name=name)


def classification(X, labels, *, name: str, source: str, feature_names=None, target_name="y") -> Dataset:
    """A classification Dataset with class indices 0..k-1 in sorted label order."""
    values, y = np.unique(np.asarray(labels), return_inverse=True)
    X = np.asarray(X, dtype=np.float64)
    return Dataset(X, y.astype(np.int64).reshape(-1), "classification", len(values),
                   list(feature_names) if feature_names is not None else [f"x{i}" for i in range(X.shape[1])],
                   target_name, [str(v) for v in values], name, source)


# --- embedded data sets ---------------------------------------------------------------------


def _embedded(name: str) -> Dataset:
    if name in _TOY:
        X, y = _TOY[name]
        return classification(X, y, name=name, source="xpnet seed programs")
    with resources.as_file(resources.files("xpnet") / "datasets" / f"{name}.npz") as path:
        with np.load(path, allow_pickle=False) as f:
            return Dataset(f["X"], f["y"], "classification", len(f["target_names"]),
                           [str(s) for s in f["feature_names"]], "target", [str(s) for s in f["target_names"]],
                           name, "scikit-learn (BSD-3-Clause), see xpnet/datasets/README.md")


# --- files ----------------------------------------------------------------------------------


def _read_csv_rows(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, fields) for every non-blank row."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            return [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: unreadable ({first_line(exc)})") from None


def _parse_float(path: Path, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{path}: line {line}, column {column!r}: non-numeric value {text!r}") from None
    if not math.isfinite(value):
        raise DataError(f"{path}: line {line}, column {column!r}: {text.strip()} (NaN and inf are not allowed)")
    return value


def _check_ragged(path: Path, rows, width: int, what: str) -> None:
    for line, row in rows:
        if len(row) != width:
            raise DataError(f"{path}: line {line} has {len(row)} fields, {what} has {width}")


def load_csv(path: str | os.PathLike, target: str | None = None) -> Dataset:
    """A CSV file with a header row; `target` names the label column (default: the last).
    Integer or text targets are class labels; targets with decimals make a regression task."""
    path = Path(path)
    rows = _read_csv_rows(path)
    if not rows:
        raise DataError(f"{path}: empty file")
    (_, header), body = rows[0], rows[1:]
    header = [h.strip() for h in header]
    if not body:
        raise DataError(f"{path}: no data rows after the header")
    if target is None:
        target = header[-1]
    if target not in header:
        raise DataError(f"{path}: no target column {target!r}; columns: {', '.join(header)}")
    _check_ragged(path, body, len(header), "the header")
    t = header.index(target)
    features = [(j, h) for j, h in enumerate(header) if j != t]
    if not features:
        raise DataError(f"{path}: only the target column {target!r}; no feature columns")
    X = np.array([[_parse_float(path, line, h, row[j]) for j, h in features] for line, row in body])
    labels = [row[t].strip() for _, row in body]
    for (line, _), label in zip(body, labels):
        if not label:
            raise DataError(f"{path}: line {line}, column {target!r}: empty target value")
    names = [h for _, h in features]
    source = str(path)
    if all(_parses_as(int, s) for s in labels):
        return classification(X, [int(s) for s in labels], name=path.stem, source=source,
                              feature_names=names, target_name=target)
    if all(_parses_as(float, s) for s in labels):
        y = np.array([[_parse_float(path, line, target, row[t])] for line, row in body])
        return Dataset(X, y, "regression", None, names, target, None, path.stem, source)
    return classification(X, labels, name=path.stem, source=source, feature_names=names, target_name=target)


def _parses_as(kind: type, s: str) -> bool:
    try:
        kind(s)
        return True
    except ValueError:
        return False


def _load_npy_like(path: Path, *, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays named `keys` from an .npz (an .npy file's one array is "X"), never unpickling."""
    loaded = read_npy_file(path, DataError)
    if isinstance(loaded, np.ndarray):
        return {"X": loaded}
    missing = [k for k in keys if k not in loaded]
    if missing:
        raise DataError(f"{path}: no array named {missing[0]!r}; it holds {', '.join(loaded) or 'nothing'}")
    return {k: loaded[k] for k in keys}


def check_features(path: Path | str, X: np.ndarray, what: str = "X") -> np.ndarray:
    """X as a finite float64 2-D array (a 1-D array is one sample)."""
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise DataError(f"{path}: {what} has dtype {X.dtype}, expected numbers")
    X = X.astype(np.float64)
    if X.ndim == 1:
        X = X.reshape(1, -1)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise DataError(f"{path}: {what} must be a non-empty 2-D array (samples, features), got shape {X.shape}")
    if not np.isfinite(X).all():
        row, col = np.argwhere(~np.isfinite(X))[0]
        raise DataError(f"{path}: {what}[{row}, {col}] is {X[row, col]} (NaN and inf are not allowed)")
    return X


def load_npz(path: str | os.PathLike) -> Dataset:
    """An .npz with X (n, d) and y: integer/bool/text y -> classification, float y -> regression."""
    path = Path(path)
    arrays = _load_npy_like(path, keys=("X", "y"))
    X, y = check_features(path, arrays["X"]), arrays["y"]
    if X.ndim != 2 or arrays["X"].ndim != 2:
        raise DataError(f"{path}: X must be 2-D (samples, features), got shape {arrays['X'].shape}")
    if y.shape[:1] != (X.shape[0],) or y.ndim > 2:
        raise DataError(f"{path}: y has shape {y.shape}, expected ({X.shape[0]},) or ({X.shape[0]}, k) to match X")
    if y.dtype.kind in "biuU" and y.ndim == 1:
        return classification(X, y, name=path.stem, source=str(path))
    if y.dtype.kind != "f":
        raise DataError(f"{path}: y has dtype {y.dtype}; expected 1-D integer/text labels or float targets")
    if not np.isfinite(y).all():
        raise DataError(f"{path}: y contains NaN or inf")
    y = y.astype(np.float64).reshape(X.shape[0], -1)
    return Dataset(X, y, "regression", None, [f"x{i}" for i in range(X.shape[1])], "y", None, path.stem, str(path))


def load_dataset(name_or_path: str | os.PathLike, target: str | None = None) -> Dataset:
    """An embedded data set by name, or a .csv / .npz / IDX file or directory."""
    text = str(name_or_path)
    if text in EMBEDDED_NAMES:
        if target is not None:
            raise ConfigError(f"target: embedded data set {text!r} has a fixed target, got target={target!r}")
        return _embedded(text)
    path = Path(name_or_path)
    from . import idx

    if path.suffix.lower() == ".csv":
        return load_csv(path, target)
    is_idx = path.is_dir() or idx.is_idx_images(path)
    if target is not None and (is_idx or path.suffix.lower() == ".npz"):
        raise ConfigError(f"target: only CSV files have named columns; {path} has a fixed y, got target={target!r}")
    if is_idx:
        return idx.load_idx(path)
    if path.suffix.lower() == ".npz":
        return load_npz(path)
    if not path.exists() and os.sep not in text and not path.suffix:
        raise DataError(f"dataset: unknown name {text!r}; expected one of {', '.join(EMBEDDED_NAMES)} "
                        "or a path to a .csv, .npz or IDX file")
    if not path.exists():
        raise DataError(f"{path}: file not found")
    raise DataError(f"{path}: unknown format; expected .csv, .npz, or IDX (*images-idx3-ubyte[.gz] or a directory)")


def load_features(path: str | os.PathLike) -> np.ndarray:
    """Inputs for prediction: .csv (header row optional), .npz with X, or .npy; float64 (n, d)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".npz", ".npy"):
        return check_features(path, _load_npy_like(path, keys=("X",))["X"])
    if suffix != ".csv":
        raise DataError(f"{path}: unknown format; expected .csv, .npz or .npy")
    rows = _read_csv_rows(path)
    if rows and not all(_parses_as(float, s) for s in rows[0][1]):
        rows = rows[1:]  # a header row: names, not numbers
    if not rows:
        raise DataError(f"{path}: no data rows")
    width = len(rows[0][1])
    _check_ragged(path, rows, width, "the first row")
    return check_features(path, [[_parse_float(path, line, str(j), s) for j, s in enumerate(row)] for line, row in rows])


def train_test_split(ds: Dataset, test_fraction: float = 0.2, seed: int | None = 0) -> tuple[Dataset, Dataset]:
    """Shuffle the rows with `seed` and hold out round(n * test_fraction) of them (at least one)."""
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction: expected a number in (0, 1), got {test_fraction!r}")
    n = len(ds)
    n_test = max(1, round(n * test_fraction))
    if n_test >= n:
        raise ConfigError(f"test_fraction: {test_fraction} leaves no training rows out of {n}")
    order = np.random.default_rng(seed).permutation(n)
    return ds.subset(order[n_test:], f"{ds.name}[train]"), ds.subset(order[:n_test], f"{ds.name}[test]")

