"""Degenerate data: a classifier's data set of one class (or one row) is refused before training,
a target column named twice is refused, and a CSV without --target says which column it took.
The CSV reader parses row by row into float64: the same numbers as NumPy's own reader, the same
tasks as before (integers: classes; other numbers: regression; text: classes)."""

from __future__ import annotations

import numpy as np
import pytest
from isolated import assert_refused, run_cases, tree

from xpnet.errors import DataError
from xpnet.io import tabular
from xpnet.io.tabular import load_csv, load_features

NUMPY = ["--backend", "numpy", "--epochs", "2"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("degenerate")
    files = {
        "one class": "a,b,y\n0,1,cat\n1,0,cat\n1,1,cat\n",
        "one row": "a,b,y\n0,1,1\n",
        "target named twice": "y,a,y\n0,1,1\n1,0,0\n",
        "no target given": "a,b,label\n0,1,0\n1,0,1\n1,1,0\n0,0,1\n",
    }
    cases, dirs = {}, {}
    for n, (name, text) in enumerate(files.items()):
        d = root / str(n)
        d.mkdir()
        (d / "data.csv").write_text(text)
        target = [] if name == "no target given" else ["--target", "y"]
        cases[name] = (["train", "--dataset", d / "data.csv", *target, "--out", d / "run", *NUMPY], {})
        dirs[name] = d
    d = root / "npz"
    d.mkdir()
    np.savez(d / "one.npz", X=np.ones((5, 2)), y=np.zeros(5, dtype=np.int64))
    cases["npz of one class"] = (["train", "--dataset", d / "one.npz", "--out", d / "run", *NUMPY], {})
    dirs["npz of one class"] = d
    cases["target given"] = (["train", "--dataset", dirs["no target given"] / "data.csv", "--target", "label",
                              "--out", root / "given", *NUMPY], {})  # fmt: skip
    before = {name: tree(d) for name, d in dirs.items()}
    return dirs, before, run_cases(cases)


@pytest.mark.parametrize(
    "name, words",
    [
        ("one class", ["data.csv", "3 rows of a single class ('cat')", "at least 2 classes"]),
        ("one row", ["data.csv", "1 row of a single class"]),
        ("npz of one class", ["one.npz", "5 rows of a single class"]),
        ("target named twice", ["data.csv", "target column 'y' appears 2 times"]),
    ],
)
def test_refused_before_training(results, name, words):
    dirs, before, out = results
    assert_refused(out[name], *words)
    assert tree(dirs[name]) == before[name]  # no run directory, no staging directory


def test_a_csv_without_target_says_which_column_it_took(results):
    dirs, _, out = results
    r = out["no target given"]
    assert r["rc"] == 0, r["stderr"]
    assert r["stderr"].splitlines()[0].endswith("no --target given; the target is its last column 'label'")
    assert "--target" not in out["target given"]["stderr"] and out["target given"]["rc"] == 0
    assert (dirs["no target given"] / "run" / "model.npz").is_file()


# --- the row-by-row reader ------------------------------------------------------------------


def _write(path, X, labels, header="a,b,c,y"):
    lines = [header] + [",".join([*(repr(float(v)) for v in row), str(t)]) for row, t in zip(X, labels, strict=True)]
    path.write_text("\n".join(lines) + "\n")


def test_the_same_numbers_and_tasks_as_numpy(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    _write(tmp_path / "int.csv", X, rng.integers(0, 4, 50))
    ds = load_csv(tmp_path / "int.csv")
    np.testing.assert_array_equal(ds.X, np.loadtxt(tmp_path / "int.csv", delimiter=",", skiprows=1)[:, :3])
    assert ds.task == "classification" and ds.n_classes == 4
    target = rng.normal(size=50)
    _write(tmp_path / "reg.csv", X, [repr(float(v)) for v in target])
    ds = load_csv(tmp_path / "reg.csv")
    assert ds.task == "regression"
    np.testing.assert_array_equal(ds.y[:, 0], target)
    _write(tmp_path / "text.csv", X, ["b", "a", "c", "a", "b"] * 10)
    ds = load_csv(tmp_path / "text.csv")
    assert ds.task == "classification" and ds.label_names == ["a", "b", "c"] and ds.y[:3].tolist() == [1, 0, 2]
    np.testing.assert_array_equal(load_features(tmp_path / "int.csv")[:, :3], X)


def test_many_distinct_labels(tmp_path, monkeypatch):
    """Past MAX_CLASSES distinct labels the column can only be numbers: floats still make a
    regression, text is refused with the line it appears on."""
    monkeypatch.setattr(tabular._Labels, "MAX_CLASSES", 4)
    X = np.zeros((10, 3))
    _write(tmp_path / "reg.csv", X, [f"{i}.5" for i in range(10)])
    np.testing.assert_array_equal(load_csv(tmp_path / "reg.csv").y[:, 0], np.arange(10) + 0.5)
    _write(tmp_path / "ints.csv", X, list(range(10)))
    assert load_csv(tmp_path / "ints.csv").n_classes == 10
    _write(tmp_path / "text.csv", X, [f"{i}.5" for i in range(8)] + ["x", "y"])
    with pytest.raises(DataError, match=r"more than 4 distinct labels .*line 10: 'x'"):
        load_csv(tmp_path / "text.csv")


def test_nan_targets_are_refused_for_regression_only(tmp_path):
    X = np.zeros((3, 3))
    _write(tmp_path / "reg.csv", X, ["1.5", "nan", "2.5"])
    with pytest.raises(DataError, match=r"line 3, column 'y': nan \(NaN and inf are not allowed\)"):
        load_csv(tmp_path / "reg.csv")
    _write(tmp_path / "text.csv", X, ["cat", "nan", "dog"])
    assert load_csv(tmp_path / "text.csv").label_names == ["cat", "dog", "nan"]
