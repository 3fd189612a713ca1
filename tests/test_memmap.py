"""Memory-mapped data (xpnet.io.open_memmap) and distributed training on it: each rank gathers
only its rows of every batch, so an epoch never copies the data set."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import xpnet
from xpnet import distributed
from xpnet.errors import DataError
from xpnet.io import open_memmap, save_mappable


def test_npy_and_aligned_npz_are_mapped_read_only(tmp_path):
    X, y = np.arange(24.0).reshape(6, 4), np.arange(6)
    np.save(tmp_path / "a.npy", X)
    save_mappable(tmp_path / "b.npz", X=X, y=y)
    with np.load(tmp_path / "b.npz") as plain:  # an ordinary .npz for NumPy
        np.testing.assert_array_equal(plain["X"], X)
    np.save(tmp_path / "f.npy", np.asfortranarray(X))
    a, b, f = (open_memmap(tmp_path / n) for n in ("a.npy", "b.npz", "f.npy"))
    assert set(a) == {"X"} and set(b) == {"X", "y"}
    for got, want in [(a["X"], X), (b["X"], X), (b["y"], y), (f["X"], X)]:
        assert isinstance(got, np.memmap) and not got.flags.writeable
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype
        assert got.flags.aligned  # else NumPy would copy the whole array on every take


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: np.savez_compressed(p, X=np.ones((3, 2))), "X is compressed and cannot be memory-mapped"),
        (lambda p: np.savez(p, X=np.ones((3, 2))), "not aligned for float64 (np.savez does not align members)"),
        (lambda p: p.write_bytes(b"hello world, not numpy"), "not an .npy or .npz file"),
        (lambda p: np.save(p, np.array([{"a": 1}], dtype=object)), "holds an object (pickled) array"),
        (lambda p: p.write_bytes(_npy_bytes(np.ones((10, 3)))[:-16]), "(10, 3) float64 (240 bytes) but the file holds"),
    ],
    ids=["compressed", "unaligned", "not-numpy", "pickle", "truncated"],
)
def test_bad_files_are_refused_with_one_line(tmp_path, make, message):
    path = tmp_path / "d.npz"
    make(path)
    if not path.exists():  # np.save / savez may have added a suffix
        path = next(tmp_path.iterdir())
    with pytest.raises(DataError) as err:
        open_memmap(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        open_memmap(tmp_path / "nope.npy")


def _npy_bytes(a):
    import io

    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def _train(X, y, comm, peaks):
    class Peak(xpnet.Callback):  # what an epoch allocates beyond what was live when it began
        def on_epoch_begin(self, epoch):
            tracemalloc.reset_peak()
            self.live = tracemalloc.get_traced_memory()[0]

        def on_epoch_end(self, epoch, logs):
            peaks.append(tracemalloc.get_traced_memory()[1] - self.live)

    model = xpnet.mlp([X.shape[1], 8, 2], dtype="float64", backend="numpy", seed=0)
    xpnet.fit(model, X, y, optimizer=xpnet.optim.sgd(0.05), batch_size=64, epochs=2, callbacks=[Peak()], comm=comm)
    return {k: np.array(v) for k, v in model.params.items()}


def test_ranks_read_their_rows_of_a_memory_mapped_data_set(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4096, 64))
    y = (X[:, 0] > 0).astype(np.int64)
    save_mappable(tmp_path / "big.npz", X=X, y=y)
    mapped = open_memmap(tmp_path / "big.npz")
    tracemalloc.start()
    try:
        one_peaks, ranks_peaks = [], []
        want = _train(mapped["X"], mapped["y"], None, one_peaks)
        got = distributed.simulate(2, lambda comm: _train(mapped["X"], mapped["y"], comm, ranks_peaks))
    finally:
        tracemalloc.stop()
    # one process gathers the shuffled epoch (a copy of X); two ranks together hold a few batches
    assert min(one_peaks) > X.nbytes
    assert max(ranks_peaks) < X.nbytes / 8
    for params in got:
        for k in want:
            np.testing.assert_allclose(params[k], want[k], rtol=0, atol=1e-12, err_msg=k)
