"""Data sets: embedded names, CSV / NPZ / IDX files (good and every bad case), splits, and
prediction inputs. Loading is host-side NumPy; each error is one line naming the file."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from xpnet import to_numpy
from xpnet.errors import ConfigError, DataError
from xpnet.io import EMBEDDED_NAMES, load_dataset, load_features, train_test_split


def _refused(match, fn, *args, **kwargs):
    with pytest.raises(DataError, match=match) as info:
        fn(*args, **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


# --- embedded ---------------------------------------------------------------------------------

SHAPES = {
    "xor": (4, 3, 2),
    "seed-and": (4, 3, 2),
    "seed-single": (4, 3, 2),
    "digits": (1797, 64, 10),
    "iris": (150, 4, 3),
    "wine": (178, 13, 3),
    "breast-cancer": (569, 30, 2),
}


@pytest.mark.parametrize("name", EMBEDDED_NAMES)
def test_embedded_shapes_and_classes(name):
    ds = load_dataset(name)
    n, d, k = SHAPES[name]
    assert ds.X.shape == (n, d) and ds.X.dtype == np.float64
    assert ds.y.shape == (n,) and ds.y.dtype == np.int64
    assert ds.task == "classification" and ds.n_classes == k == len(ds.label_names)
    assert set(np.unique(ds.y)) == set(range(k)) and len(ds.feature_names) == d


def test_seed_toy_sets_match_the_seed_programs():
    xor = load_dataset("xor")
    np.testing.assert_array_equal(xor.X, [[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]])
    np.testing.assert_array_equal(xor.y, [0, 1, 1, 0])
    seed_and = load_dataset("seed-and")
    np.testing.assert_array_equal(seed_and.y, seed_and.X[:, 0])
    single = load_dataset("seed-single")
    np.testing.assert_array_equal(single.X, [[0, 0, 1], [1, 1, 1], [1, 0, 1], [0, 1, 1]])
    np.testing.assert_array_equal(single.y, [0, 1, 1, 0])


@pytest.mark.parametrize("name", ["digits", "iris", "wine", "breast-cancer"])
def test_bundled_copies_equal_scikit_learns(name):
    sk = pytest.importorskip("sklearn.datasets")
    bunch = getattr(sk, "load_" + name.replace("-", "_"))()
    ds = load_dataset(name)
    np.testing.assert_array_equal(ds.X, bunch.data)
    np.testing.assert_array_equal(ds.y, bunch.target)
    assert ds.label_names == [str(t) for t in bunch.target_names]


def test_unknown_name_lists_the_embedded_ones():
    msg = _refused("unknown name 'mnist'", load_dataset, "mnist")
    assert all(name in msg for name in EMBEDDED_NAMES)


def test_embedded_data_reaches_every_backend_unchanged(backend):
    ds = load_dataset("iris")
    np.testing.assert_array_equal(to_numpy(backend.asarray(ds.X, "float64")), ds.X)


# --- CSV --------------------------------------------------------------------------------------


def _csv(tmp_path, text, name="d.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_text_labels_keep_their_names(tmp_path):
    path = _csv(tmp_path, "a, b ,species\n1,2,setosa\n\n3,4.5,virginica\n5,6,setosa\n")
    ds = load_dataset(path, target="species")
    np.testing.assert_array_equal(ds.X, [[1, 2], [3, 4.5], [5, 6]])
    np.testing.assert_array_equal(ds.y, [0, 1, 0])
    assert ds.label_names == ["setosa", "virginica"] and ds.n_classes == 2
    assert ds.feature_names == ["a", "b"] and ds.target_name == "species" and ds.task == "classification"


def test_csv_integer_target_in_any_column_is_classification(tmp_path):
    ds = load_dataset(_csv(tmp_path, "label,x\n3,0.5\n1,1.5\n3,2.5\n"), target="label")
    np.testing.assert_array_equal(ds.y, [1, 0, 1])
    assert ds.label_names == ["1", "3"] and ds.X.shape == (3, 1)


def test_csv_float_target_is_regression_and_default_target_is_last(tmp_path):
    ds = load_dataset(_csv(tmp_path, "x1,x2,price\n1,2,0.5\n3,4,1.25\n"))
    assert ds.task == "regression" and ds.n_classes is None and ds.target_name == "price"
    assert ds.y.dtype == np.float64 and ds.y.shape == (2, 1)
    np.testing.assert_array_equal(ds.y, [[0.5], [1.25]])


@pytest.mark.parametrize(
    "text, target, match",
    [
        ("", None, "empty file"),
        ("a,b,y\n", None, "no data rows"),
        ("a,b,y\n1,2,0\n", "label", "no target column 'label'; columns: a, b, y"),
        ("a,b,y\n1,2,0\n1,oops,1\n", "y", r"line 3, column 'b': non-numeric value 'oops'"),
        ("a,b,y\n1,2,0\n1,,1\n", "y", r"line 3, column 'b': non-numeric value ''"),
        ("a,b,y\n1,nan,0\n", "y", r"line 2, column 'b': nan \(NaN and inf"),
        ("a,b,y\n1,2,0\n-inf,2,1\n", "y", r"line 3, column 'a': -inf"),
        ("a,b,y\n1,2,0\n1,2\n", "y", "line 3 has 2 fields, the header has 3"),
        ("a,b,y\n1,2,0\n1,2,3,4\n", "y", "line 3 has 4 fields"),
        ("a,b,y\n1,2,0\n1,2, \n", "y", "line 3, column 'y': empty target value"),
        ("y\n1\n2\n", "y", "no feature columns"),
    ],
)
def test_csv_bad_files(tmp_path, text, target, match):
    path = _csv(tmp_path, text)
    msg = _refused(match, load_dataset, path, target=target)
    assert str(path) in msg


def test_csv_missing_and_unreadable(tmp_path):
    assert str(tmp_path / "nope.csv") in _refused("file not found", load_dataset, tmp_path / "nope.csv")
    path = tmp_path / "bin.csv"
    path.write_bytes(b"a,b\n\xff\xfe\x00\x81,1\n")
    _refused("bin.csv: unreadable", load_dataset, path)
    _refused("unknown format", load_dataset, _csv(tmp_path, "x", name="d.txt"))


def test_fixed_target_sources_refuse_a_target(tmp_path):
    with pytest.raises(ConfigError, match="target"):
        load_dataset("iris", target="species")
    np.savez(tmp_path / "c.npz", X=np.ones((2, 2)), y=np.array([0, 1]))
    with pytest.raises(ConfigError, match="target"):
        load_dataset(tmp_path / "c.npz", target="y")


# --- NPZ --------------------------------------------------------------------------------------


def test_npz_classification_and_regression(tmp_path):
    np.savez(tmp_path / "c.npz", X=np.arange(6).reshape(3, 2), y=np.array([2, 0, 2]))
    ds = load_dataset(tmp_path / "c.npz")
    assert ds.task == "classification" and ds.X.dtype == np.float64 and ds.label_names == ["0", "2"]
    np.testing.assert_array_equal(ds.y, [1, 0, 1])
    np.savez(tmp_path / "r.npz", X=np.ones((3, 2), np.float32), y=np.array([0.5, 1.0, 2.0]))
    ds = load_dataset(tmp_path / "r.npz")
    assert ds.task == "regression" and ds.y.shape == (3, 1)


@pytest.mark.parametrize(
    "arrays, match",
    [
        ({"X": np.ones((2, 2))}, "no array named 'y'"),
        ({"X": np.ones((2, 2)), "y": np.array([{}, 1], dtype=object)}, "object \\(pickled\\) array"),
        ({"X": np.ones((3, 2)), "y": np.zeros(2, np.int64)}, r"y has shape \(2,\)"),
        ({"X": np.array([[1.0, np.nan]]), "y": np.zeros(1, np.int64)}, "NaN and inf"),
        ({"X": np.array([["a", "b"]]), "y": np.zeros(1, np.int64)}, "expected numbers"),
        ({"X": np.ones((2, 2, 2)), "y": np.zeros(2, np.int64)}, "2-D"),
    ],
)
def test_npz_bad_files(tmp_path, arrays, match):
    np.savez(tmp_path / "bad.npz", **arrays)
    assert "bad.npz" in _refused(match, load_dataset, tmp_path / "bad.npz")


def test_npz_not_a_zip(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 truncated garbage")
    _refused("bad.npz: corrupt or truncated", load_dataset, tmp_path / "bad.npz")


# --- IDX --------------------------------------------------------------------------------------


def _idx(path, array, type_code=0x08, gz=False):
    data = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def _mnist_like(tmp_path, prefix="train-", n=5, gz=False):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 4, 3), dtype=np.uint8)
    labels = np.arange(n, dtype=np.uint8) % 3
    suffix = ".gz" if gz else ""
    _idx(tmp_path / f"{prefix}images-idx3-ubyte{suffix}", images, gz=gz)
    _idx(tmp_path / f"{prefix}labels-idx1-ubyte{suffix}", labels, gz=gz)
    return images, labels


@pytest.mark.parametrize("gz", [False, True])
def test_idx_directory_and_images_path(tmp_path, gz):
    images, labels = _mnist_like(tmp_path, gz=gz)
    for where in (tmp_path, tmp_path / f"train-images-idx3-ubyte{'.gz' if gz else ''}"):
        ds = load_dataset(where)
        assert ds.X.shape == (5, 12) and ds.X.dtype == np.float64 and ds.n_classes == 3
        np.testing.assert_array_equal(ds.X, images.reshape(5, 12))
        np.testing.assert_array_equal(ds.y, labels)


def test_idx_directory_with_train_and_test_sets_uses_train(tmp_path):
    _mnist_like(tmp_path, "train-", n=6)
    _mnist_like(tmp_path, "t10k-", n=2)
    assert len(load_dataset(tmp_path)) == 6
    assert len(load_dataset(tmp_path / "t10k-images-idx3-ubyte")) == 2


def test_idx_bad_files(tmp_path):
    images, labels = _mnist_like(tmp_path)
    img = tmp_path / "train-images-idx3-ubyte"
    good = img.read_bytes()
    img.write_bytes(good[:-7])
    _refused("truncated: dims \\(5, 4, 3\\) need 60 data bytes, found 53", load_dataset, tmp_path)
    img.write_bytes(good[:10])
    _refused("truncated IDX header", load_dataset, tmp_path)
    img.write_bytes(b"\x01\x02" + good[2:])
    _refused("bad IDX magic number 0102", load_dataset, tmp_path)
    _idx(img, images.reshape(5, 12))
    _refused("has 2 dimensions, expected 3", load_dataset, tmp_path)
    _idx(img, images[:4])
    _refused("5 labels for 4 images", load_dataset, tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    _refused("no labels file train-labels-idx1-ubyte", load_dataset, img)
    (tmp_path / "empty").mkdir()
    _refused("no \\*images-idx3-ubyte", load_dataset, tmp_path / "empty")


def test_idx_truncated_gzip(tmp_path):
    _mnist_like(tmp_path, gz=True)
    img = tmp_path / "train-images-idx3-ubyte.gz"
    img.write_bytes(img.read_bytes()[:-12])
    _refused("train-images-idx3-ubyte.gz: unreadable", load_dataset, tmp_path)


# --- splits and prediction inputs ---------------------------------------------------------------


def test_train_test_split_partitions_deterministically():
    ds = load_dataset("iris")
    train, test = train_test_split(ds, 0.2, seed=1)
    assert (len(train), len(test)) == (120, 30)
    rows = np.concatenate([train.X, test.X])
    assert np.unique(rows, axis=0).shape == np.unique(ds.X, axis=0).shape and len(rows) == len(ds)
    again, _ = train_test_split(ds, 0.2, seed=1)
    np.testing.assert_array_equal(again.X, train.X)
    other, _ = train_test_split(ds, 0.2, seed=2)
    assert not np.array_equal(other.X, train.X)
    for bad in (0, 1, 1.5, -0.1, True, "0.2"):
        with pytest.raises(ConfigError, match="test_fraction"):
            train_test_split(ds, bad)
    with pytest.raises(DataError, match="leaves 4 for validation and 0 for training"):
        train_test_split(load_dataset("xor"), 0.9)


def test_load_features_formats(tmp_path):
    expected = [[1.0, 2.0], [3.0, 4.5]]
    np.testing.assert_array_equal(load_features(_csv(tmp_path, "a,b\n1,2\n3,4.5\n", "h.csv")), expected)
    np.testing.assert_array_equal(load_features(_csv(tmp_path, "1,2\n3,4.5\n", "n.csv")), expected)
    np.savez(tmp_path / "f.npz", X=np.array(expected))
    np.testing.assert_array_equal(load_features(tmp_path / "f.npz"), expected)
    np.save(tmp_path / "f.npy", np.array(expected, dtype=np.float32))
    f = load_features(tmp_path / "f.npy")
    assert f.dtype == np.float64
    np.testing.assert_array_equal(f, expected)


def test_load_features_bad_files(tmp_path):
    np.save(tmp_path / "o.npy", np.array([{}], dtype=object))
    _refused("o.npy: holds an object", load_features, tmp_path / "o.npy")
    _refused("line 3 has 1 fields, the first row has 2", load_features, _csv(tmp_path, "1,2\n3,4\n5\n"))
    _refused("line 2, column '1': non-numeric value 'x'", load_features, _csv(tmp_path, "a,b\n1,x\n"))
    _refused("no data rows", load_features, _csv(tmp_path, "a,b\n"))
    _refused("unknown format", load_features, tmp_path / "f.json")
    _refused("file not found", load_features, tmp_path / "missing.npy")
    (tmp_path / "text.npy").write_text("just text")
    _refused("text.npy: not an .npz or .npy file", load_features, tmp_path / "text.npy")
