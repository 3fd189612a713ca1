"""The one seeded split of rows into training and held-out rows, used by `fit`'s
validation_split, the command line's --val-split and `train_test_split`: the same seed holds out
the same rows everywhere."""

from __future__ import annotations

from typing import Any

from ..backend import SPLIT, HostRandom, stream_seed
from ..errors import ConfigError, DataError
from .dataset import Dataset


def split_rows(n: int, fraction: float, seed: int | None, *, name: str = "validation_split") -> tuple[Any, Any]:
    """(kept rows, held-out rows) as host integer arrays: a permutation of range(n) drawn from
    the seed's SPLIT stream, its first round(n * fraction) rows held out. `name` is the option
    that error messages name."""
    n_held = int(round(n * fraction))
    if n_held < 1 or n_held >= n:
        raise DataError(
            f"{name}: {fraction} of {n} samples leaves {n_held} for validation and {n - n_held} "
            "for training; both need at least one (no training rows, or none held out)"
        )
    perm = HostRandom(stream_seed(seed, SPLIT)).permutation(n)
    return perm[n_held:], perm[:n_held]


def train_test_split(
    ds: Dataset, test_fraction: float = 0.2, seed: int | None = 0, *, name: str = "test_fraction"
) -> tuple[Dataset, Dataset]:
    """(kept, held out): the rows io.split.split_rows holds out for `seed`, round(n *
    test_fraction) of them; the same rows `fit(validation_split=...)` holds out for that seed."""
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise ConfigError(f"{name}: expected a number in (0, 1), got {test_fraction!r}")
    kept, held = split_rows(len(ds), test_fraction, seed, name=name)
    return ds.subset(kept, f"{ds.name}[train]"), ds.subset(held, f"{ds.name}[test]")
