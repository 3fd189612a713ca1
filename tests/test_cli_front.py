"""The command line as a new user meets it (issue 11): the data set listing, the learning-rate
schedules, what a run records and reports (learning rate, regression scores, early stopping,
epochs counted from 1), evaluation on the held-out rows, and examples that write nothing unasked."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cli_helpers import run_cli
from xpnet.io import EMBEDDED_NAMES, load_dataset


def test_datasets_lists_every_embedded_set_with_shape_task_and_source():
    r = run_cli("datasets", "--json")
    assert r.returncode == 0, r.stderr
    rows = {d["name"]: d for d in json.loads(r.stdout)}
    assert list(rows) == list(EMBEDDED_NAMES)
    for name, row in rows.items():
        ds = load_dataset(name)
        assert (row["samples"], row["features"], row["task"], row["classes"]) == ds.X.shape + (ds.task, ds.n_classes)
        assert row["source"] == ds.source and row["source"]
    text = run_cli("datasets").stdout.splitlines()
    assert text[0].split() == ["name", "shape", "task", "source"]
    digits = next(line for line in text if line.startswith("digits "))
    assert "1797 x 64" in digits and "classification, 10 classes" in digits and "scikit-learn" in digits


# --- early stopping, epochs counted from 1, curves ------------------------------------------------

IRIS_EARLY = ("train", "--dataset", "iris", "--lr", "0.05", "--patience", "3", "--epochs", "300", "--quiet")


def test_early_stopping_is_said_and_epochs_count_from_1_everywhere(tmp_path):
    r = run_cli(*IRIS_EARLY, "--out", tmp_path / "a")
    assert r.returncode == 0, r.stderr
    history = json.loads((tmp_path / "a" / "history.json").read_text())
    n = len(history["history"]["loss"])
    assert n < 300 and history["stopped_early"]
    assert history["epoch"] == list(range(1, n + 1))
    best = int(np.argmin(history["history"]["val_loss"])) + 1  # the monitored value's best epoch
    assert history["best_epoch"] == best
    rows = (tmp_path / "a" / "history.csv").read_text().splitlines()[1:]
    assert [int(row.split(",")[0]) for row in rows] == list(range(1, n + 1))
    summary = r.stdout.strip()
    assert f"stopped at epoch {n}, best epoch {best}, weights of epoch {best} restored" in summary, summary

    r = run_cli(*IRIS_EARLY, "--out", tmp_path / "b", "--json")
    result = json.loads(r.stdout)
    assert (result["stopped_epoch"], result["best_epoch"], result["restored_epoch"]) == (n, best, best)
    assert result["metrics"]["val_loss"] == history["history"]["val_loss"][best - 1]
    progress = run_cli(*IRIS_EARLY[:-1], "--epochs", "2", "--out", tmp_path / "c").stderr.splitlines()
    assert progress[0].startswith("epoch 1/2") and progress[1].startswith("epoch 2/2")


def test_the_best_epoch_is_marked_on_the_curves():
    pytest.importorskip("matplotlib")
    from xpnet.cli.report import draw_curves
    from xpnet.training import History

    h = History()
    for epoch, (loss, val) in enumerate([(1.0, 0.9), (0.5, 0.4), (0.3, 0.6)]):
        h.append(epoch, {"loss": loss, "accuracy": 0.5, "val_loss": val, "val_accuracy": 0.5})
    h.best_epoch = 1
    fig = draw_curves(h)
    for ax in fig.axes:
        marks = [line for line in ax.get_lines() if line.get_label() == "best epoch 2"]
        assert len(marks) == 1 and list(marks[0].get_xdata()) == [2, 2]
        assert list(ax.get_lines()[0].get_xdata()) == [1, 2, 3]  # epochs from 1
        assert "best epoch 2" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_missing_matplotlib_says_curves_were_skipped_in_one_line(tmp_path):
    blocker = tmp_path / "no_matplotlib" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('No module named matplotlib')\n")
    from helpers import SRC
    from helpers import run_cli as raw_run_cli

    r = raw_run_cli(
        "train", "--dataset", "xor", "--epochs", "2", "--quiet", "--out", tmp_path / "run",
        env={"PYTHONPATH": f"{SRC}:{blocker.parent}", "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    skipped = "xpnet: curves.png skipped: matplotlib is not installed (pip install 'xpnet[plot]' to get it)"
    assert r.stderr.strip() == skipped
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["history.csv", "history.json", "model.npz"]
