"""No hangs on special files: a FIFO (opening it would block until a writer comes), a device
(/dev/zero never ends), a directory and a socket, given wherever a file is read, are refused as
"not a regular file" before anything is opened: train --dataset (CSV, NPZ, IDX), predict --input
(CSV, NPZ, NPY), evaluate --dataset, the model file of evaluate and predict, and the checkpoint
of train --resume. All cases run in one process under a 1 GiB address-space cap
(tests/isolated.py) with a timeout: one blocking open would fail the module."""

from __future__ import annotations

import os
import re
import signal
import socket

import pytest
from crafted import make_run
from isolated import assert_refused, run_cases, tree

KINDS = {
    "fifo": "a FIFO (named pipe)",
    "device": "a character device",
    "directory": "a directory",
    "socket": "a socket",
}
NUMPY = ["--backend", "numpy"]


def _special(path, kind):
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        os.symlink("/dev/zero", path)
    elif kind == "directory":
        path.mkdir()
    else:
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(path))
        s.close()  # the socket file stays; nobody listens


def _loaders(d, good):
    """{loader: (argv, the special path)} for a case directory d; `good` is a valid run."""
    run = d / "run"
    run.mkdir()
    (d / "ck").mkdir()
    (d / "train-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 1, 0]))
    return {
        "train --dataset csv": (["train", "--dataset", d / "x.csv", "--out", d / "out", *NUMPY], d / "x.csv"),
        "train --dataset npz": (["train", "--dataset", d / "x.npz", "--out", d / "out", *NUMPY], d / "x.npz"),
        "train --dataset idx": (
            ["train", "--dataset", d / "train-images-idx3-ubyte", "--out", d / "out", *NUMPY],
            d / "train-images-idx3-ubyte",
        ),
        "predict --input csv": (["predict", good, "--input", d / "in.csv", *NUMPY], d / "in.csv"),
        "predict --input npz": (["predict", good, "--input", d / "in.npz", *NUMPY], d / "in.npz"),
        "predict --input npy": (["predict", good, "--input", d / "in.npy", *NUMPY], d / "in.npy"),
        "evaluate --dataset": (["evaluate", good, "--dataset", d / "e.csv", *NUMPY], d / "e.csv"),
        "evaluate model file": (["evaluate", run, "--dataset", "xor", *NUMPY], run / "model.npz"),
        "predict model file": (["predict", run, "--input", d / "ok.csv", *NUMPY], run / "model.npz"),
        "train --resume": (
            ["train", "--dataset", "xor", "--resume", d / "ck", "--checkpoint-every", "1", *NUMPY],
            d / "ck" / "checkpoint.npz",
        ),
    }


LOADERS = [  # the keys of _loaders, in order
    "train --dataset csv",
    "train --dataset npz",
    "train --dataset idx",
    "predict --input csv",
    "predict --input npz",
    "predict --input npy",
    "evaluate --dataset",
    "evaluate model file",
    "predict model file",
    "train --resume",
]
CASES = [
    (kind, loader)
    for kind in KINDS
    for loader in LOADERS
    if not (kind == "directory" and loader == "train --dataset idx")  # a directory is a valid IDX data set
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("sp")  # short: a socket's path has at most 107 bytes
    good = make_run(root / "good")
    cases, dirs = {}, {}
    for n, (kind, loader) in enumerate(CASES):
        d = root / str(n)
        d.mkdir()
        argv, special = _loaders(d, good)[loader]
        (d / "ok.csv").write_text("a,b,c\n0,1,1\n")
        _special(special, kind)
        cases[f"{kind}: {loader}"] = (argv, {})
        dirs[f"{kind}: {loader}"] = d
    before = {name: tree(d) for name, d in dirs.items()}
    (root / "in.csv").write_text("a,b,c\n0,1,1\n1,0,1\n")
    # the controls: the same commands succeed on regular files, so the refusal is the file's kind
    cases["control: predict"] = (["predict", good, "--input", root / "in.csv", *NUMPY], {})
    cases["control: evaluate"] = (["evaluate", good, "--dataset", "xor", *NUMPY], {})
    out = run_cases(cases, timeout=120)
    return before, dirs, out


def test_the_memory_bound_holds(results):
    assert results[2]["__bound__"] is True


@pytest.mark.parametrize("kind, loader", CASES)
def test_refused_as_not_a_regular_file(results, kind, loader):
    before, dirs, out = results
    name = f"{kind}: {loader}"
    line = assert_refused(out[name], "not a regular file", KINDS[kind])
    assert str(dirs[name]) in line  # it names the file
    assert tree(dirs[name]) == before[name]  # no run directory, no staging directory


def test_the_loaders_accept_regular_files(results):
    out = results[2]
    assert out["control: predict"]["rc"] == 0, out["control: predict"]
    assert out["control: predict"]["stdout"].startswith("prediction,p_0,p_1")
    assert out["control: evaluate"]["rc"] == 0 and "4 samples" in out["control: evaluate"]["stdout"]


@pytest.mark.parametrize("kind", KINDS)
def test_the_python_loaders_refuse_them_too(tmp_path, kind):
    """load_model, load_arrays, load_dataset, load_features and the checkpoint reader, in process;
    an alarm turns a blocking open into a failure instead of a hung test run."""
    from xpnet.errors import CheckpointError, DataError
    from xpnet.io import load_arrays, load_dataset, load_features, load_model
    from xpnet.io.checkpoint_file import read_checkpoint

    calls = {
        "m.npz": (load_model, CheckpointError),
        "a.npz": (load_arrays, CheckpointError),
        "d.csv": (load_dataset, DataError),
        "d.npz": (load_dataset, DataError),
        "f.npy": (load_features, DataError),
        "f.csv": (load_features, DataError),
    }
    (tmp_path / "ck").mkdir()
    _special(tmp_path / "ck" / "checkpoint.npz", kind)
    old = signal.signal(signal.SIGALRM, lambda *a: pytest.fail("a loader blocked on a special file"))
    signal.alarm(20)
    try:
        for name, (load, error) in calls.items():
            _special(tmp_path / name, kind)
            with pytest.raises(error, match=re.escape(f"{name}: is {KINDS[kind]}, not a regular file")):
                load(tmp_path / name)
        with pytest.raises(CheckpointError, match="not a regular file"):
            read_checkpoint(tmp_path / "ck")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
