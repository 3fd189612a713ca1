"""Input standardisation, written against the array API like the layers, so that the same code
standardises host data for training and traces into an exported predictor."""

from __future__ import annotations

from typing import Any

from ..backend import device_of, namespace_of, to_numpy

CHUNK_BYTES = 4 * 2**20  # rows read at a time by fit: a memory-mapped X is never copied whole


class Standardizer:
    """x -> (x - mean) / std with the statistics of the training inputs; constant columns keep
    std 1 so that they map to 0 instead of dividing by zero. mean and std are kept as Python
    floats (exact float64), independent of any array library."""

    def __init__(self, mean, std) -> None:
        self.mean = [float(v) for v in mean]
        self.std = [float(v) for v in std]

    @classmethod
    def fit(cls, X: Any, rows: Any = None, *, chunk_bytes: int | None = None) -> Standardizer:
        """The statistics of X's rows (or of X[rows], in that order), read in chunks of at most
        chunk_bytes (as float64; default CHUNK_BYTES) so that a memory-mapped X is never copied whole. Two passes:
        per-column sums of x, then of (x - mean)^2, the same formula as xp.std; within one chunk
        the numbers are exactly xp.mean's and xp.std's, across chunks they differ from them only in
        the order the chunk sums are added (a few float64 roundings, relative 1e-15)."""
        xp = namespace_of(X)
        n = X.shape[0] if rows is None else rows.shape[0]
        step = max(1, (chunk_bytes or CHUNK_BYTES) // (8 * max(X.shape[1], 1)))

        def chunks():
            for a in range(0, n, step):
                block = X[a : a + step, ...] if rows is None else xp.take(X, rows[a : a + step], axis=0)
                yield xp.astype(block, xp.float64)

        mean = sum(xp.sum(c, axis=0) for c in chunks()) / n
        var = sum(xp.sum((c - mean) * (c - mean), axis=0) for c in chunks()) / n
        std = xp.sqrt(var)
        std = xp.where(std > 0, std, xp.ones_like(std))
        return cls(to_numpy(mean).tolist(), to_numpy(std).tolist())

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
