"""Regenerate src/xpnet/datasets/*.npz from scikit-learn's bundled copies.

    python tools/make_datasets.py

Each file holds X (float64), y (int64), feature_names and target_names (unicode arrays, so the
files load with allow_pickle=False). tests/test_data.py checks them equal to scikit-learn's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn import datasets

OUT = Path(__file__).resolve().parents[1] / "src" / "xpnet" / "datasets"
LOADERS = {
    "digits": datasets.load_digits,
    "iris": datasets.load_iris,
    "wine": datasets.load_wine,
    "breast-cancer": datasets.load_breast_cancer,
}


def main() -> None:
    for name, load in LOADERS.items():
        bunch = load()
        feature_names = getattr(bunch, "feature_names", None)
        if feature_names is None or len(feature_names) != bunch.data.shape[1]:
            feature_names = [f"x{i}" for i in range(bunch.data.shape[1])]
        path = OUT / f"{name}.npz"
        np.savez_compressed(
            path,
            X=np.asarray(bunch.data, dtype=np.float64),
            y=np.asarray(bunch.target, dtype=np.int64),
            feature_names=np.asarray([str(f) for f in feature_names], dtype=str),
            target_names=np.asarray([str(t) for t in bunch.target_names], dtype=str),
        )
        print(
            f"{path.relative_to(OUT.parents[2])}: {bunch.data.shape}, {len(bunch.target_names)} classes, "
            f"{path.stat().st_size} bytes"
        )


if __name__ == "__main__":
    main()
