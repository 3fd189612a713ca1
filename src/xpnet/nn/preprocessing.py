"""Input standardisation, written against the array API like the layers, so that the same code
standardises host data for training and traces into an exported predictor."""

from __future__ import annotations

from typing import Any

from ..backend import device_of, namespace_of, to_numpy


class Standardizer:
    """x -> (x - mean) / std with the statistics of the training inputs; constant columns keep
    std 1 so that they map to 0 instead of dividing by zero. mean and std are kept as Python
    floats (exact float64), independent of any array library."""

    def __init__(self, mean, std) -> None:
        self.mean = [float(v) for v in mean]
        self.std = [float(v) for v in std]

    @classmethod
    def fit(cls, X: Any) -> Standardizer:
        xp = namespace_of(X)
        X = xp.astype(X, xp.float64)
        std = xp.std(X, axis=0)
        std = xp.where(std > 0, std, xp.ones_like(std))
        return cls(to_numpy(xp.mean(X, axis=0)).tolist(), to_numpy(std).tolist())

    def __call__(self, X: Any) -> Any:
        """X standardised, in X's library and on its device; float64 unless X is another float."""
        xp = namespace_of(X)
        dtype = X.dtype if xp.isdtype(X.dtype, "real floating") else xp.float64
        X = xp.astype(X, dtype)
        mean = xp.asarray(self.mean, dtype=dtype, device=device_of(X))
        std = xp.asarray(self.std, dtype=dtype, device=device_of(X))
        return (X - mean) / std

    @property
    def n_features(self) -> int:
        return len(self.mean)

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict) -> Standardizer:
        return cls(d["mean"], d["std"])
