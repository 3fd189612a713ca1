"""Memory-mapped data (xpnet.io.open_memmap) and distributed training on it: each rank gathers
only its rows of every batch, so an epoch never copies the data set."""

from __future__ import annotations

import json
import sys
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


# --- the command line on a memory-mapped data set ------------------------------------------------


def _table(n=600, d=5, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(2.0, 3.0, size=(n, d))
    return X, (X[:, 0] + X[:, 1] > 4).astype(np.int64)


def _cli_train(tmp_path, data, *extra, env=None):
    from helpers import run_cli

    out = tmp_path / f"run-{data.name}"
    args = ["train", "--dataset", data, "--out", out, "--epochs", "3", "--batch-size", "32", "--json", "--quiet"]
    proc = run_cli(*args, *extra, "--backend", "numpy", env={"OMP_NUM_THREADS": "1", **(env or {})})
    assert proc.returncode == 0, proc.stderr
    with np.load(out / "model.npz") as z:
        params = {k: z[k] for k in z.files if k.startswith("params/")}
    return json.loads(proc.stdout)["metrics"], params


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cli_trains_on_a_mapped_npz_and_npy_exactly_as_on_the_loaded_file(tmp_path, dtype):
    from xpnet.io import load_dataset

    X, y = _table()
    save_mappable(tmp_path / "mapped.npz", X=X, y=y)
    np.savez(tmp_path / "loaded.npz", X=X, y=y)  # np.savez does not align: read into memory
    np.save(tmp_path / "table.npy", np.column_stack([X, y]))  # the last column is the target
    kinds = {n: type(load_dataset(tmp_path / n).X) for n in ("mapped.npz", "loaded.npz", "table.npy")}
    assert kinds == {"mapped.npz": np.memmap, "loaded.npz": np.ndarray, "table.npy": np.memmap}
    save_mappable(tmp_path / "stored32.npz", X=X.astype(np.float32), y=y)  # cast a batch at a time
    np.savez(tmp_path / "loaded32.npz", X=X.astype(np.float32), y=y)
    want = _cli_train(tmp_path, tmp_path / "loaded.npz", "--dtype", dtype)
    assert set(want[0]) >= {"loss", "val_loss", "accuracy"}  # a validation split was held out
    pairs = [("mapped.npz", want), ("table.npy", want)]
    pairs.append(("stored32.npz", _cli_train(tmp_path, tmp_path / "loaded32.npz", "--dtype", dtype)))
    assert type(load_dataset(tmp_path / "stored32.npz").X) is np.memmap
    for name, want in pairs:
        got = _cli_train(tmp_path, tmp_path / name, "--dtype", dtype)
        assert got[0] == want[0], name  # the same rows, standardised alike: the same numbers exactly
        for k in want[1]:
            np.testing.assert_array_equal(got[1][k], want[1][k], err_msg=f"{name} {k}")


def test_a_mapped_file_is_not_refused_by_the_read_limit(tmp_path):
    # the limit is on what a loader reads into memory; a mapped X is read a batch at a time
    X, y = _table()
    save_mappable(tmp_path / "mapped.npz", X=X, y=y)
    _cli_train(tmp_path, tmp_path / "mapped.npz", env={"XPNET_MAX_READ_BYTES": "10K"})  # X is 23 KiB
    np.savez(tmp_path / "loaded.npz", X=X, y=y)
    from helpers import run_cli

    proc = run_cli(
        "train", "--dataset", tmp_path / "loaded.npz", "--out", tmp_path / "r", env={"XPNET_MAX_READ_BYTES": "10K"}
    )
    assert proc.returncode == 2 and "XPNET_MAX_READ_BYTES" in proc.stderr


def test_the_standardiser_in_chunks_equals_numpy_to_float64_rounding():
    X, _ = _table(n=1000)
    rows = np.random.default_rng(2).permutation(1000)[:700]
    one = xpnet.nn.Standardizer.fit(X[rows])  # one chunk: exactly numpy's formula
    np.testing.assert_array_equal(one.mean, X[rows].mean(axis=0))
    np.testing.assert_array_equal(one.std, X[rows].std(axis=0))
    # 70 chunks of 10 rows, gathered by index: only the order the chunk sums are added differs
    many = xpnet.nn.Standardizer.fit(X, rows, chunk_bytes=10 * 8 * X.shape[1])
    np.testing.assert_allclose(many.mean, one.mean, rtol=1e-14, atol=0)
    np.testing.assert_allclose(many.std, one.std, rtol=1e-14, atol=0)


def test_a_cli_run_on_a_mapped_file_allocates_far_less_than_the_file(tmp_path, monkeypatch):
    # the whole run in this process, traced: loading, checks, statistics, fingerprints, epochs
    from xpnet.cli import main
    from xpnet.io import checkpoint_file, mapped
    from xpnet.nn import preprocessing
    from xpnet.training import loop

    for module, name in [
        (loop, "GATHER_BYTES"),
        (preprocessing, "CHUNK_BYTES"),
        (checkpoint_file, "HASH_CHUNK_BYTES"),
        (mapped, "CHUNK_BYTES"),
    ]:
        monkeypatch.setattr(module, name, 64 * 2**10)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8192, 256))  # 16 MiB
    y = (X[:, 0] > 0).astype(np.int64)
    save_mappable(tmp_path / "big.npz", X=X, y=y)
    del X
    import matplotlib.pyplot  # noqa: F401  (imported before tracing: its first import is not the run's)

    args = ["train", "--dataset", str(tmp_path / "big.npz"), "--out", str(tmp_path / "run"), "--quiet"]
    args += ["--epochs", "1", "--batch-size", "64", "--layers", "8", "--val-split", "0.01", "--backend", "numpy"]
    assert main([*args[:3], "--out", str(tmp_path / "warm"), *args[5:]]) == 0  # imports, caches: not the run's
    tracemalloc.start()
    try:
        assert main(args) == 0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    size = (tmp_path / "big.npz").stat().st_size
    # a copy of X would be 16 MiB; the run holds about 2.4 MiB whatever the file's size: the 82 held-out
    # rows (as read, standardised, cast to float32), a few chunks of 64 KiB, the targets, the model,
    # the run's bookkeeping and what its lazily imported modules allocate
    assert peak < size / 4, f"{peak} bytes allocated for a {size}-byte file"


MPI_WORKER = __import__("pathlib").Path(__file__).resolve().parent / "mpi_memmap_worker.py"


def test_two_ranks_standardise_and_train_on_their_rows_only(tmp_path):
    test_distributed = pytest.importorskip("test_distributed")
    if test_distributed.MPIEXEC is None or not test_distributed.HAVE_MPI4PY:
        pytest.skip("no mpiexec or mpi4py (pip install 'xpnet[mpi]')")
    n, epochs = 512, 2
    X = np.random.default_rng(3).normal(size=(n, 4))
    X[:, 0] = np.arange(n)  # column 0 names the row: the worker records the rows it standardises
    y = (X[:, 1] > 0).astype(np.int64)
    save_mappable(tmp_path / "d.npz", X=X, y=y)
    args = ["train", "--dataset", tmp_path / "d.npz", "--out", tmp_path / "run", "--epochs", epochs]
    args += ["--batch-size", "64", "--val-split", "0", "--backend", "numpy", "--dtype", "float64", "--quiet"]
    proc = test_distributed.mpiexec(2, sys.executable, MPI_WORKER, tmp_path, *args, "--distributed", timeout=120)
    assert proc.returncode == 0, proc.stderr
    from helpers import run_cli

    alone = run_cli(*[str(a) for a in args[:4]], tmp_path / "alone", *args[5:], env={"OMP_NUM_THREADS": "1"})
    assert alone.returncode == 0, alone.stderr
    with np.load(tmp_path / "run" / "model.npz") as two, np.load(tmp_path / "alone" / "model.npz") as one:
        for k in (k for k in one.files if k.startswith("params/")):  # as one process, to 1e-12 (float64)
            np.testing.assert_allclose(two[k], one[k], rtol=0, atol=1e-12, err_msg=k)
    calls = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    batches = [[c for c in rank if len(c) > 1] for rank in calls]  # besides the one-row check of fit
    for rank in batches:  # a rank standardises its 32 rows of each global batch of 64, nothing more
        assert len(rank) == epochs * n // 64 and all(len(c) == 32 for c in rank)
    for e in range(epochs):  # in each epoch the two ranks' rows are disjoint and cover every row
        per_epoch = [sum(rank[e * 8 : (e + 1) * 8], []) for rank in batches]
        assert not set(per_epoch[0]) & set(per_epoch[1])
        assert sorted(per_epoch[0] + per_epoch[1]) == list(range(n))


def test_max_memory_counts_a_mapped_file_s_held_out_rows_and_a_batch_not_all_rows(tmp_path):
    from helpers import run_cli

    X, y = _table(n=20000, d=20)  # 3.1 MiB of X; its standardised copies would need 9 MiB
    save_mappable(tmp_path / "mapped.npz", X=X, y=y)
    np.savez(tmp_path / "loaded.npz", X=X, y=y)
    flags = ["--epochs", "1", "--batch-size", "64", "--val-split", "0.01", "--max-memory", "2M", "--quiet"]
    proc = run_cli("train", "--dataset", tmp_path / "mapped.npz", "--out", tmp_path / "a", *flags)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("train", "--dataset", tmp_path / "loaded.npz", "--out", tmp_path / "b", *flags)
    assert proc.returncode == 2 and "--max-memory" in proc.stderr


def test_fingerprints_of_a_mapped_x_hash_its_rows_in_chunks_to_the_whole_digest(tmp_path, monkeypatch):
    import hashlib

    from xpnet.cli.heldout import data_fingerprint as split_fingerprint
    from xpnet.io import checkpoint_file, load_dataset

    X, y = _table(n=4096, d=64)  # 2 MiB
    save_mappable(tmp_path / "m.npz", X=X.astype(np.float32), y=y)
    ds = load_dataset(tmp_path / "m.npz")
    whole = hashlib.sha256()
    for a in (np.ascontiguousarray(ds.X, dtype=np.float64), y):  # the digest as it was, from whole copies
        whole.update(str((a.dtype.str, a.shape)).encode())
        whole.update(a.tobytes())
    monkeypatch.setattr(checkpoint_file, "HASH_CHUNK_BYTES", 16 * 2**10)
    tracemalloc.start()
    try:
        got = split_fingerprint(ds)
        training = checkpoint_file.data_fingerprint(ds.X, ds.y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got == whole.hexdigest()
    rows = hashlib.sha256()
    for a in (np.asarray(ds.X), y):
        rows.update(f"{a.dtype.str}{a.shape}".encode())
        rows.update(a.tobytes())
    assert training == rows.hexdigest()
    assert peak < X.nbytes / 16  # chunks of 16 KiB, never a copy of X


@pytest.mark.parametrize(
    "table, target, message",
    [
        (np.arange(6.0), None, "expected a 2-D table (samples, features + target), got shape (6,)"),
        (np.ones((4, 1)), None, "expected a 2-D table (samples, features + target), got shape (4, 1)"),
        (np.array([[1.0, np.nan], [2.0, 0.0]]), None, "the target column contains NaN or inf"),
        (np.array([[np.inf, 1.0], [2.0, 0.0]]), None, "X[0, 0] is inf (NaN and inf are not allowed)"),
        (np.ones((4, 3)), "x0", "an .npy table's target is its last column"),
    ],
    ids=["1-D", "no-features", "nan-target", "inf-feature", "target"],
)
def test_bad_npy_tables_are_refused_with_one_line(tmp_path, table, target, message):
    from xpnet.errors import ConfigError
    from xpnet.io import load_dataset

    np.save(tmp_path / "t.npy", table)
    with pytest.raises((DataError, ConfigError)) as err:
        load_dataset(tmp_path / "t.npy", target=target)
    assert message in str(err.value) and "\n" not in str(err.value)
