"""Tabular files: CSV with a header row and NumPy .npz/.npy, read on the host into Datasets or
feature arrays, never unpickling."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np

from ..errors import DataError
from .dataset import Dataset, classification
from .npyio import first_line, read_npy_file


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
    for (line, _), label in zip(body, labels, strict=True):
        if not label:
            raise DataError(f"{path}: line {line}, column {target!r}: empty target value")
    names = [h for _, h in features]
    source = str(path)
    if all(_parses_as(int, s) for s in labels):
        return classification(
            X, [int(s) for s in labels], name=path.stem, source=source, feature_names=names, target_name=target
        )
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
    return check_features(
        path, [[_parse_float(path, line, str(j), s) for j, s in enumerate(row)] for line, row in rows]
    )
