"""The command line, run as a subprocess: train -> evaluate -> predict on digits on every backend,
regression and every training option, --json outputs, the progress display, --overwrite.
Bad input is in test_cli_errors.py."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from cli_helpers import DIGITS_TRAIN, backend_args, digits_features, run_cli

# --- the round trip ------------------------------------------------------------------------------


def test_train_evaluate_predict_round_trip(backend, tmp_path):
    out = tmp_path / "digits"
    r = run_cli("train", *DIGITS_TRAIN, *backend_args(backend), "--out", out, "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["epochs_run"] == 8 and result["backend"] == backend.name
    assert result["metrics"]["val_accuracy"] >= 0.9
    assert sorted(p.name for p in out.iterdir()) == ["curves.png", "history.csv", "history.json", "model.npz"]
    assert {k: v.split("/")[-1] for k, v in result["files"].items()} == {
        "model": "model.npz",
        "history_json": "history.json",
        "history_csv": "history.csv",
        "curves": "curves.png",
    }
    history = json.loads((out / "history.json").read_text())["history"]
    assert len(history["loss"]) == 8 and history["loss"][-1] < history["loss"][0]
    csv_rows = (out / "history.csv").read_text().splitlines()
    assert csv_rows[0] == "epoch,loss,accuracy,val_loss,val_accuracy" and len(csv_rows) == 9

    r = run_cli("evaluate", out, "--dataset", "digits", "--split", "all", *backend_args(backend), "--json")
    assert r.returncode == 0, r.stderr
    ev = json.loads(r.stdout)
    assert ev["accuracy"] >= 0.9 and ev["samples"] == 1797 and ev["loss"] < 0.5
    counts = np.array(ev["confusion_matrix"])
    assert counts.shape == (10, 10) and counts.sum() == 1797
    assert np.trace(counts) / 1797 == pytest.approx(ev["accuracy"])

    y = digits_features(tmp_path)
    pred = tmp_path / "pred.npz"
    r = run_cli("predict", out, "--input", tmp_path / "digits_in.npz", "--output", pred, *backend_args(backend))
    assert r.returncode == 0, r.stderr
    with np.load(pred, allow_pickle=False) as f:
        labels, proba, classes = f["prediction"], f["probabilities"], f["classes"]
    assert proba.shape == (40, 10) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert list(classes) == [str(i) for i in range(10)]
    assert np.mean(labels.astype(int) == y) >= 0.9


def test_evaluate_and_predict_on_another_backend_agree(backend, numpy_run, tmp_path):
    """A model trained on numpy gives the same loss and probabilities on every backend."""
    out, _, ref, ref_pred = numpy_run
    r = run_cli("evaluate", out, "--dataset", "digits", *backend_args(backend), "--json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["loss"] == pytest.approx(ref["loss"], rel=1e-10)  # float64 model
    assert got["confusion_matrix"] == ref["confusion_matrix"]

    digits_features(tmp_path)
    r = run_cli("predict", out, "--input", tmp_path / "digits_in.csv", *backend_args(backend))
    assert r.returncode == 0, r.stderr
    rows_a = [line.split(",") for line in ref_pred.splitlines()]
    rows_b = [line.split(",") for line in r.stdout.splitlines()]
    assert rows_a[0] == rows_b[0] == ["prediction", *(f"p_{i}" for i in range(10))] and len(rows_a) == 41
    assert [r[0] for r in rows_a] == [r[0] for r in rows_b]
    np.testing.assert_allclose(
        np.array([r[1:] for r in rows_a[1:]], float), np.array([r[1:] for r in rows_b[1:]], float), rtol=1e-5
    )  # 6 printed digits


def test_predict_csv_file_and_json(numpy_run, tmp_path):
    out = numpy_run[0]
    y = digits_features(tmp_path)
    r = run_cli("predict", out, "--input", tmp_path / "digits_in.csv", "--output", tmp_path / "p.csv", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"rows": 40, "output": str(tmp_path / "p.csv")}
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert len(lines) == 41 and np.mean([int(line.split(",")[0]) for line in lines[1:]] == y) >= 0.9
    r = run_cli("predict", out, "--input", tmp_path / "digits_in.npz", "--json")
    cols = json.loads(r.stdout)["columns"]
    assert len(cols["prediction"]) == 40 and np.allclose(np.sum([cols[f"p_{i}"] for i in range(10)], axis=0), 1)


def test_regression_csv_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    t = X @ np.array([1.5, -2.0, 0.5]) + 3.0
    rows = "\n".join(",".join(f"{v:.6f}" for v in (*x, ty)) for x, ty in zip(X, t, strict=True))
    (tmp_path / "reg.csv").write_text("a,b,c,price\n" + rows + "\n")
    out = tmp_path / "reg"
    r = run_cli(
        "train",
        "--dataset",
        tmp_path / "reg.csv",
        "--target",
        "price",
        "--layers",
        "16",
        "--epochs",
        "60",
        "--lr",
        "0.01",
        "--backend",
        "numpy",
        "--out",
        out,
        "--json",
        "--quiet",
    )
    assert r.returncode == 0, r.stderr
    assert "accuracy" not in json.loads(r.stdout)["metrics"]
    ev = json.loads(run_cli("evaluate", out, "--dataset", tmp_path / "reg.csv", "--json").stdout)
    assert ev["loss"] < 0.1 * np.var(t) and "accuracy" not in ev  # the target column defaults to training's
    np.savetxt(tmp_path / "x.csv", X[:5], delimiter=",")
    lines = run_cli("predict", out, "--input", tmp_path / "x.csv").stdout.splitlines()
    assert lines[0] == "price"
    np.testing.assert_allclose([float(v) for v in lines[1:]], t[:5], atol=0.5 * np.std(t))


def _has_torch() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def test_every_training_option_and_a_binary_loss(tmp_path):
    """Dropout, batch norm, L2, clipping, momentum, early stopping (and torch's own generator) in
    one run; the model file rebuilds those layers; bce_logits gives one output and two columns."""
    out = tmp_path / "bc"
    r = run_cli(
        "train",
        "--dataset",
        "breast-cancer",
        "--layers",
        "16,8",
        "--activation",
        "tanh",
        "--loss",
        "bce_logits",
        "--optimizer",
        "momentum",
        "--lr",
        "0.05",
        "--momentum",
        "0.8",
        "--batch-size",
        "64",
        "--epochs",
        "40",
        "--dropout",
        "0.1",
        "--batchnorm",
        "--l2",
        "1e-4",
        "--clip-norm",
        "1.0",
        "--patience",
        "3",
        "--seed",
        "1",
        "--dtype",
        "float64",
        "--out",
        out,
        "--json",
        "--quiet",
        *(["--backend", "torch", "--device-rng"] if _has_torch() else []),
    )
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["metrics"]["val_accuracy"] >= 0.9
    if result["stopped_early"]:  # the kept weights are the best epoch's, and so are the metrics
        history = json.loads((out / "history.json").read_text())
        assert result["metrics"]["val_loss"] == min(history["history"]["val_loss"])
    ev = json.loads(run_cli("evaluate", out, "--dataset", "breast-cancer", "--json").stdout)
    assert ev["accuracy"] >= 0.9 and np.array(ev["confusion_matrix"]).shape == (2, 2)
    from sklearn.datasets import load_breast_cancer

    np.save(tmp_path / "x.npy", load_breast_cancer().data[:10])
    lines = run_cli("predict", out, "--input", tmp_path / "x.npy").stdout.splitlines()
    assert lines[0] == "prediction,p_malignant,p_benign" and len(lines) == 11  # the labels by name
    assert all(abs(float(p0) + float(p1) - 1) < 1e-5 for _, p0, p1 in (line.split(",") for line in lines[1:]))


# --- progress and summary ------------------------------------------------------------------------


def test_plain_progress_lines_when_not_a_tty_and_nothing_with_quiet(tmp_path):
    r = run_cli(
        "train", "--dataset", "xor", "--layers", "4", "--epochs", "3", "--backend", "numpy", "--out", tmp_path / "a"
    )
    assert r.returncode == 0, r.stderr
    first, *lines = r.stderr.splitlines()
    # the first line names the architecture and its parameter count: 3*4 + 4 + 4*2 + 2 for the 3-4-2 xor net
    assert first == "model: Dense(3->4) ReLU Dense(4->2): 26 parameters, float32 on numpy (cpu)"
    assert [line.split()[:2] for line in lines] == [["epoch", "1/3"], ["epoch", "2/3"], ["epoch", "3/3"]]
    assert "loss" in lines[0] and "accuracy" in lines[0]
    assert r.stdout.startswith("trained 3 epochs in ") and len(r.stdout.splitlines()) == 1
    r = run_cli("train", "--dataset", "xor", "--layers", "4", "--epochs", "3", "--out", tmp_path / "b", "--quiet")
    assert r.returncode == 0 and r.stderr == "" and r.stdout.startswith("trained 3 epochs")


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal():
    from xpnet.cli.report import ProgressReporter, progress_mode

    assert progress_mode(False, _Terminal()) == "bar"
    assert progress_mode(False, io.StringIO()) == "lines"
    assert progress_mode(True, _Terminal()) == "none"
    stream = _Terminal()
    bar = ProgressReporter(2, "bar", stream)
    bar.on_train_begin(None)
    bar.on_epoch_end(0, {"loss": 0.5, "accuracy": 0.75})
    bar.on_epoch_end(1, {"loss": 0.25, "accuracy": 0.875})
    bar.on_train_end(None)
    text = stream.getvalue()
    assert "2/2" in text and "loss 0.2500" in text and "accuracy 0.8750" in text and "\r" in text  # tqdm redraws


def test_train_json_names_metrics_and_files(numpy_run):
    out, result = numpy_run[:2]
    assert set(result) >= {"metrics", "epochs_run", "files", "out", "backend", "seconds", "best_epoch"}
    assert set(result["metrics"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert result["out"] == str(out) and result["files"]["model"] == str(out / "model.npz")


def test_overwrite_replaces_a_run_directory(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "old.txt").write_text("old")
    r = run_cli("train", "--dataset", "xor", "--epochs", "2", "--out", out, "--quiet")
    assert r.returncode == 2 and "--overwrite" in r.stderr and (out / "old.txt").exists()
    r = run_cli("train", "--dataset", "xor", "--epochs", "2", "--out", out, "--quiet", "--overwrite")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["curves.png", "history.csv", "history.json", "model.npz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no staging directory left
