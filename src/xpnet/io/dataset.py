"""A data set on the host: features, targets, what kind of task, and where it came from."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import DataError


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

    def subset(self, rows: np.ndarray, name: str) -> Dataset:
        return replace(self, X=self.X[rows], y=self.y[rows], name=name)


def check_trainable(ds: Dataset, source: str) -> None:
    """DataError naming `source` unless a model can learn from `ds`: a classifier needs rows of
    at least two classes (one class, or one row, would train to a constant and say nothing)."""
    if ds.task == "classification" and (ds.n_classes or 0) < 2:
        only = f" ({ds.label_names[0]!r})" if ds.label_names else ""
        rows = "1 row" if len(ds) == 1 else f"{len(ds)} rows"
        raise DataError(f"{source}: {rows} of a single class{only}; a classifier needs samples of at least 2 classes")


def classification(X, labels, *, name: str, source: str, feature_names=None, target_name="y") -> Dataset:
    """A classification Dataset with class indices 0..k-1 in sorted label order."""
    values, y = np.unique(np.asarray(labels), return_inverse=True)
    X = np.asarray(X, dtype=np.float64)
    return Dataset(
        X,
        y.astype(np.int64).reshape(-1),
        "classification",
        len(values),
        list(feature_names) if feature_names is not None else [f"x{i}" for i in range(X.shape[1])],
        target_name,
        [str(v) for v in values],
        name,
        source,
    )
