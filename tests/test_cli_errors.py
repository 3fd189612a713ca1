"""Bad input to the command line: each case exits with status 2 and one line on stderr, no
traceback, and leaves no output directory (or predictions file) behind."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from cli_helpers import digits_features, run_cli


def assert_refused(r, *words):
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in r.stderr, (w, r.stderr)


def write(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    return tmp_path / name


BAD_TRAIN = {
    "missing file": (["--dataset", "{tmp}/nope.csv", "--target", "y"], ["nope.csv"]),
    "unknown name": (["--dataset", "digitz"], ["digitz", "digits"]),
    "unreadable npz": (["--dataset", "{tmp}/junk.npz"], ["junk.npz"]),
    "non-numeric feature": (["--dataset", "{tmp}/text.csv", "--target", "y"], ["text.csv", "abc"]),
    "missing target": (["--dataset", "{tmp}/good.csv", "--target", "label"], ["good.csv", "label"]),
    "nan feature": (["--dataset", "{tmp}/nan.csv", "--target", "y"], ["nan.csv"]),
    "lr zero": (["--dataset", "xor", "--lr", "0"], ["lr"]),
    "lr negative": (["--dataset", "xor", "--lr", "-0.1"], ["lr"]),
    "dropout one": (["--dataset", "xor", "--dropout", "1.0"], ["dropout"]),
    "dropout negative": (["--dataset", "xor", "--dropout", "-0.2"], ["dropout"]),
    "momentum": (["--dataset", "xor", "--optimizer", "sgd", "--momentum", "1.5"], ["momentum"]),
    "momentum for adam": (["--dataset", "xor", "--momentum", "0.9"], ["momentum", "adam"]),
    "epochs": (["--dataset", "xor", "--epochs", "0"], ["epochs"]),
    "batch size": (["--dataset", "xor", "--batch-size", "0"], ["--batch-size"]),
    "val split": (["--dataset", "xor", "--val-split", "1.0"], ["val-split"]),
    "patience": (["--dataset", "xor", "--patience", "-1"], ["patience"]),
    "l2": (["--dataset", "xor", "--l2", "-1"], ["l2"]),
    "clip norm": (["--dataset", "xor", "--clip-norm", "-1"], ["norm"]),
    "layers": (["--dataset", "xor", "--layers", "8,x"], ["layers", "8,x"]),
    "activation": (["--dataset", "xor", "--activation", "swish"], ["swish", "relu"]),
    "optimizer": (["--dataset", "xor", "--optimizer", "adagrad"], ["adagrad", "adam"]),
    "loss for task": (["--dataset", "xor", "--loss", "mse"], ["mse", "softmax_cross_entropy"]),
    "dtype": (["--dataset", "xor", "--dtype", "float8"], ["float8"]),
    "backend": (["--dataset", "xor", "--backend", "tensorflow"], ["tensorflow"]),
    "device rng": (["--dataset", "xor", "--backend", "numpy", "--device-rng"], ["--device-rng", "numpy"]),
}


@pytest.mark.parametrize("case", list(BAD_TRAIN), ids=list(BAD_TRAIN))
def test_train_bad_input_exits_2_without_output(tmp_path, case):
    write(tmp_path, "junk.npz", "this is not a zip file")
    write(tmp_path, "text.csv", "a,b,y\n1,2,0\n3,abc,1\n")
    write(tmp_path, "good.csv", "a,b,y\n1,2,0\n3,4,1\n")
    write(tmp_path, "nan.csv", "a,b,y\n1,2,0\n3,nan,1\n")
    args, words = BAD_TRAIN[case]
    before = sorted(p.name for p in tmp_path.iterdir())
    epochs = [] if "--epochs" in args else ["--epochs", "2"]
    r = run_cli("train", *(a.format(tmp=tmp_path) for a in args), *epochs, "--out", tmp_path / "run")
    assert_refused(r, *words)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no DIR, no staging directory


def _tamper(model_file, how):
    """Rewrite model.npz: truncated, one tensor changed, or claiming a newer format."""
    data = model_file.read_bytes()
    if how == "truncated":
        model_file.write_bytes(data[: len(data) // 2])
        return
    with np.load(model_file, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    if how == "tampered":
        key = next(k for k in arrays if k.startswith("params/"))
        arrays[key] = arrays[key] + 1e-3
    else:
        record = json.loads(arrays["__xpnet_meta__"].tobytes())
        record["format_version"] = 99
        arrays["__xpnet_meta__"] = np.frombuffer(json.dumps(record).encode(), dtype=np.uint8)
    np.savez(model_file, **arrays)


@pytest.mark.parametrize("how", ["truncated", "tampered", "newer"])
def test_bad_checkpoint_is_refused(numpy_run, tmp_path, how):
    run = tmp_path / "copy"
    shutil.copytree(numpy_run[0], run)
    _tamper(run / "model.npz", how)
    digits_features(tmp_path)
    word = {"truncated": "model.npz", "tampered": "checksum", "newer": "newer"}[how]
    assert_refused(run_cli("evaluate", run, "--dataset", "digits"), word)
    assert_refused(run_cli("predict", run, "--input", tmp_path / "digits_in.npz", "--output", tmp_path / "p.csv"), word)
    assert not (tmp_path / "p.csv").exists()


def test_evaluate_and_predict_bad_input(numpy_run, tmp_path):
    out = numpy_run[0]
    assert_refused(run_cli("evaluate", tmp_path / "none", "--dataset", "digits"), "none")
    assert_refused(run_cli("evaluate", tmp_path, "--dataset", "digits"), "model.npz")
    assert_refused(run_cli("evaluate", out, "--dataset", "iris"), "iris", "4", "64")  # width
    np.savez(tmp_path / "wide.npz", X=np.zeros((3, 5)))
    assert_refused(
        run_cli("predict", out, "--input", tmp_path / "wide.npz", "--output", tmp_path / "p.npz"), "wide.npz", "5", "64"
    )
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "labels.npz", X=rng.random((4, 64)), y=np.array([0, 3, 12, 1]))
    assert_refused(run_cli("evaluate", out, "--dataset", tmp_path / "labels.npz"), "labels.npz", "12")
    bad = rng.random((2, 64))
    bad[1, 7] = np.inf
    np.savez(tmp_path / "inf.npz", X=bad)
    assert_refused(run_cli("predict", out, "--input", tmp_path / "inf.npz"), "inf.npz")
    assert_refused(run_cli("predict", out, "--input", tmp_path / "missing.csv"), "missing.csv")
    assert_refused(run_cli("predict", out, "--input", tmp_path / "wide.npz", "--output", tmp_path / "p.txt"), "p.txt")
    assert not any(p.name.startswith("p.") for p in tmp_path.iterdir())
