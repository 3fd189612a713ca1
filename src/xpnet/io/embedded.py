"""The embedded data sets: the seed programs' toy sets and scikit-learn's digits, iris, wine and
breast-cancer, shipped in xpnet/datasets/ (see its README for their licence)."""

from __future__ import annotations

from importlib import resources

import numpy as np

from .dataset import Dataset, classification

_SEED_X = [[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]]
_TOY = {  # name: (X, y) exactly as in the seed programs
    "xor": (_SEED_X, [0, 1, 1, 0]),
    "seed-and": (_SEED_X, [0, 0, 1, 1]),  # the label is the first input column
    "seed-single": ([[0, 0, 1], [1, 1, 1], [1, 0, 1], [0, 1, 1]], [0, 1, 1, 0]),
}
_BUNDLED = ("digits", "iris", "wine", "breast-cancer")
_ORIGIN = {  # the UCI originals (xpnet/datasets/README.md), as scikit-learn bundles them
    "digits": "UCI Optical Recognition of Handwritten Digits (Alpaydin, Kaynak 1998)",
    "iris": "UCI Iris (Fisher 1936)",
    "wine": "UCI Wine (Forina et al. 1991)",
    "breast-cancer": "UCI Breast Cancer Wisconsin (Diagnostic) (Wolberg, Street, Mangasarian 1995)",
}
EMBEDDED_NAMES = (*_TOY, *_BUNDLED)


def load_embedded(name: str) -> Dataset:
    """One of EMBEDDED_NAMES as a Dataset."""
    if name in _TOY:
        X, y = _TOY[name]
        return classification(X, y, name=name, source="xpnet seed programs")
    with resources.as_file(resources.files("xpnet") / "datasets" / f"{name}.npz") as path:
        with np.load(path, allow_pickle=False) as f:
            return Dataset(
                f["X"],
                f["y"],
                "classification",
                len(f["target_names"]),
                [str(s) for s in f["feature_names"]],
                "target",
                [str(s) for s in f["target_names"]],
                name,
                f"{_ORIGIN[name]}, via scikit-learn (BSD-3-Clause)",
            )
