"""Tabular files: CSV with a header row and NumPy .npz/.npy, read on the host into Datasets or
feature arrays, never unpickling."""

from __future__ import annotations

import array
import contextlib
import csv
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import DataError
from . import limits
from .dataset import Dataset, classification
from .npyio import first_line, read_npy_file

MAX_LINE = 64 * limits.MiB  # characters in one CSV line: longer is no table (a file of NULs, a binary)


def _lines(path: Path, f) -> Iterator[str]:
    """The lines of text file `f`, each read with a bounded length: a file with no line breaks
    (NULs, a binary) would otherwise be read whole into one string."""
    cap = min(MAX_LINE, limits.read_bytes())
    while True:
        line = f.readline(cap + 1)
        if not line:
            return
        if len(line) > cap:
            raise DataError(f"{path}: a line longer than {limits.size_text(cap)}; not a CSV table")
        yield line


@contextlib.contextmanager
def _csv_rows(path: Path) -> Iterator[Iterator[tuple[int, list[str]]]]:
    """(line number, fields) for every non-blank row, read one at a time, of a regular file no
    larger than the read limit (XPNET_MAX_READ_BYTES)."""
    size = limits.regular_file(path, DataError)
    limits.check_bytes(path, "its size is", size, DataError)
    try:
        f = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise DataError(f"{path}: unreadable ({first_line(exc)})") from None

    def rows():
        reader = csv.reader(_lines(path, f))
        try:
            for row in reader:
                if any(c.strip() for c in row):
                    yield reader.line_num, row
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise DataError(f"{path}: unreadable ({first_line(exc)})") from None

    with f:
        yield rows()


class _Values:
    """Numbers parsed from a CSV, held as 8-byte floats (a Python list would take four times
    that), counted against the read limit as they arrive."""

    def __init__(self, path: Path) -> None:
        self.path, self.data, self.cap = path, array.array("d"), limits.read_bytes()

    def extend(self, values) -> None:
        self.data.extend(values)
        if 8 * len(self.data) > self.cap:
            raise DataError(
                f"{self.path}: its values as float64 exceed the {limits.size_text(self.cap)} limit "
                f"(set {limits.READ_BYTES} to read larger files)"
            )

    def table(self, rows: int) -> np.ndarray:
        return np.frombuffer(self.data, dtype=np.float64).reshape(rows, -1) if rows else np.zeros((0, 0))


def _parse_float(path: Path, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{path}: line {line}, column {column!r}: non-numeric value {text!r}") from None
    if not math.isfinite(value):
        raise DataError(f"{path}: line {line}, column {column!r}: {text.strip()} (NaN and inf are not allowed)")
    return value


def load_csv(path: str | os.PathLike, target: str | None = None) -> Dataset:
    """A CSV file with a header row; `target` names the label column (default: the last).
    Integer or text targets are class labels; targets with decimals make a regression task.
    Rows are parsed one at a time into float64 values, within the read limit."""
    path = Path(path)
    with _csv_rows(path) as rows:
        first = next(rows, None)
        if first is None:
            raise DataError(f"{path}: empty file")
        header = [h.strip() for h in first[1]]
        if target is None:
            target = header[-1]
        if target not in header:
            raise DataError(f"{path}: no target column {target!r}; columns: {', '.join(header)}")
        if header.count(target) > 1:
            raise DataError(
                f"{path}: the target column {target!r} appears {header.count(target)} times in the header; "
                "rename all but one"
            )
        t = header.index(target)
        features = [(j, h) for j, h in enumerate(header) if j != t]
        if not features:
            raise DataError(f"{path}: only the target column {target!r}; no feature columns")
        values, labels = _Values(path), _Labels(path, target)
        for line, row in rows:
            if len(row) != len(header):
                raise DataError(f"{path}: line {line} has {len(row)} fields, the header has {len(header)}")
            values.extend(_parse_float(path, line, h, row[j]) for j, h in features)
            labels.append(line, row[t].strip())
    if not labels.rows:
        raise DataError(f"{path}: no data rows after the header")
    X, names, source = values.table(labels.rows), [h for _, h in features], str(path)
    task, y = labels.targets()
    if task == "regression":
        return Dataset(X, y.reshape(-1, 1), "regression", None, names, target, None, path.stem, source)
    return classification(X, y, name=path.stem, source=source, feature_names=names, target_name=target)


class _Labels:
    """A CSV's target column, read row by row in a few bytes a row: integers are class labels,
    other numbers regression targets, text class names (the same rule as ever, decided at the
    end). Class names are kept as indices into the distinct names while there are at most
    MAX_CLASSES of them; past that the column can only be numbers."""

    MAX_CLASSES = 1 << 16

    def __init__(self, path: Path, target: str) -> None:
        self.path, self.target, self.rows = path, target, 0
        self.ints: array.array | None = array.array("q")  # while every label is an int64 integer
        self.floats: array.array | None = array.array("d")  # while every label is a number
        self.codes: array.array | None = array.array("q")  # while there are few distinct labels
        self.names: dict[str, int] = {}
        self.first_bad: tuple[int, str] | None = None  # the first NaN/inf, refused for regression

    def append(self, line: int, label: str) -> None:
        if not label:
            raise DataError(f"{self.path}: line {line}, column {self.target!r}: empty target value")
        self.rows += 1
        if self.ints is not None:
            try:
                self.ints.append(int(label))
            except (ValueError, OverflowError):
                self.ints = None
        if self.floats is not None:
            try:
                value = float(label)
            except ValueError:
                self.floats = None
            else:
                self.floats.append(value)
                if self.first_bad is None and not math.isfinite(value):
                    self.first_bad = (line, label)
        if self.codes is not None:
            if label not in self.names:
                self.names[label] = len(self.names)
            self.codes.append(self.names[label])
            if len(self.names) > self.MAX_CLASSES:
                self.codes, self.names = None, {}
        if self.codes is None and self.floats is None:
            raise DataError(
                f"{self.path}: column {self.target!r} has more than {self.MAX_CLASSES} distinct labels "
                f"and not all are numbers (line {line}: {label[:40]!r}); not a target column"
            )

    def targets(self) -> tuple[str, np.ndarray]:
        """("classification", labels) or ("regression", float64 values)."""
        if self.ints is not None:
            return "classification", np.frombuffer(self.ints, dtype=np.int64)
        if self.floats is not None:
            if self.first_bad is not None:
                line, text = self.first_bad
                _parse_float(self.path, line, self.target, text)  # raises: NaN and inf are not targets
            return "regression", np.frombuffer(self.floats, dtype=np.float64)
        return "classification", np.array(list(self.names))[np.frombuffer(self.codes, dtype=np.int64)]


def _parses_as(kind: type, s: str) -> bool:
    try:
        kind(s)
        return True
    except ValueError:
        return False


def _load_npy_like(path: Path, *, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays named `keys` from an .npz (an .npy file's one array is "X"), never unpickling."""
    loaded = read_npy_file(path, DataError, per_value=8, keys=keys)  # 8: the data becomes float64
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
    return xy_dataset(path, X, y)


def xy_dataset(path: Path, X: np.ndarray, y: np.ndarray) -> Dataset:
    """The Dataset of checked features X and targets y: integer/bool/text y -> classification,
    float y -> regression (X is kept as given for regression: it may be memory-mapped)."""
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
    return load_feature_table(path)[0]


def load_feature_table(path: str | os.PathLike, drop: str | None = None, width: int | None = None):
    """(features, whether a column was dropped) as `load_features`; a CSV whose header names a
    column `drop` and that has one column more than `width` loses that column (the training
    target, left in a file given for prediction), before its values are parsed."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".npz", ".npy"):
        return check_features(path, _load_npy_like(path, keys=("X",))["X"]), False
    if suffix != ".csv":
        raise DataError(f"{path}: unknown format; expected .csv, .npz or .npy")
    values, n, n_fields, skip = _Values(path), 0, None, -1
    with _csv_rows(path) as rows:
        for line, row in rows:
            if n_fields is None:
                n_fields = len(row)
                if not all(_parses_as(float, s) for s in row):  # a header row: names, not numbers
                    header = [h.strip() for h in row]
                    if drop in header and width is not None and len(header) == width + 1:
                        skip = header.index(drop)
                    continue
            if len(row) != n_fields:
                raise DataError(f"{path}: line {line} has {len(row)} fields, the first row has {n_fields}")
            values.extend(_parse_float(path, line, str(j), s) for j, s in enumerate(row) if j != skip)
            n += 1
    if not n:
        raise DataError(f"{path}: no data rows")
    return check_features(path, values.table(n)), skip >= 0
