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


# --- learning rate: the schedules, and the rate recorded ------------------------------------------


def test_each_lr_schedule_is_the_librarys():
    from xpnet.cli.schedule import lr_schedule, run_steps
    from xpnet.optim import schedules

    total = run_steps(1438, 32, 10)
    assert total == 45 * 10  # 1438 rows in batches of 32: 45 steps an epoch
    assert lr_schedule("constant", 0.1, total) == 0.1
    cos, ref = lr_schedule("cosine", 0.1, total), schedules.cosine_decay(0.1, total)
    assert [cos(s) for s in (0, 100, 449, 450)] == [ref(s) for s in (0, 100, 449, 450)]
    step = lr_schedule("step", 0.1, total)
    assert step(0) == 0.1 and step(149) == 0.1 and step(150) == pytest.approx(0.01) and step(449) == pytest.approx(1e-3)
    exp = lr_schedule("exponential", 0.1, total)
    assert exp(0) == 0.1 and exp(total) == pytest.approx(1e-3)
    warm = lr_schedule("warmup-cosine", 0.1, total)
    n_warm = round(total * 0.05)
    ramp = [warm(s) for s in range(n_warm + 1)]
    assert ramp == sorted(ramp) and ramp[0] == pytest.approx(0.1 / n_warm) and ramp[-1] == 0.1
    assert warm(total - 1) < 1e-3
    with pytest.raises(Exception, match="--lr-schedule: expected one of constant, cosine, step"):
        lr_schedule("cosin", 0.1, total)


def _training_record(run_dir):
    from xpnet.io import load_model

    _, meta = load_model(run_dir / "model.npz")
    return meta["xpnet_run"]["training"]


def test_the_learning_rate_used_and_its_schedule_are_recorded(tmp_path):
    common = ("train", "--dataset", "iris", "--epochs", "3", "--quiet", "--json")
    runs = {
        "adam-default": [],
        "cosine": ["--lr", "0.01", "--lr-schedule", "cosine"],
        "constant": ["--lr", "0.01"],
    }
    results = {}
    for name, extra in runs.items():
        r = run_cli(*common, *extra, "--out", tmp_path / name)
        assert r.returncode == 0, r.stderr
        results[name] = json.loads(r.stdout)["metrics"]["loss"]
    assert _training_record(tmp_path / "adam-default")["lr"] == 0.001  # adam's default, not None
    cosine = _training_record(tmp_path / "cosine")
    assert cosine["lr"] == 0.01 and cosine["lr_schedule"] == "cosine"
    assert cosine["lr_schedule_detail"] == "cosine_decay(0.01, 12, min_lr=0.0)"  # 120 rows / 32: 4 steps x 3
    assert results["cosine"] != results["constant"]  # the schedule is the one training used
    r = run_cli(*common, "--lr-schedule", "cosin", "--out", tmp_path / "bad")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "--lr-schedule" in r.stderr
    assert not (tmp_path / "bad").exists()
