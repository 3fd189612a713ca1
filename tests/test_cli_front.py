"""The command line as a new user meets it (issue 11): the data set listing, the learning-rate
schedules, what a run records and reports (learning rate, regression scores, early stopping,
epochs counted from 1), evaluation on the held-out rows, and examples that write nothing unasked."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from cli_helpers import run_cli
from xpnet.cli import main
from xpnet.io import EMBEDDED_NAMES, load_dataset


@pytest.fixture
def cli(capfd):
    """The command line in this process (what `xpnet ARGS` runs, without a new interpreter's
    start-up): (returncode, stdout, stderr) like a subprocess'. capfd: the progress display
    writes to the stderr it found at import."""

    def run(*args):
        capfd.readouterr()
        code = main([str(a) for a in args])
        out, err = capfd.readouterr()
        return SimpleNamespace(returncode=code, stdout=out, stderr=err)

    return run


def test_datasets_lists_every_embedded_set_with_shape_task_and_source(cli):
    r = run_cli("datasets", "--json")
    assert r.returncode == 0, r.stderr
    rows = {d["name"]: d for d in json.loads(r.stdout)}
    assert list(rows) == list(EMBEDDED_NAMES)
    for name, row in rows.items():
        ds = load_dataset(name)
        assert (row["samples"], row["features"], row["task"], row["classes"]) == ds.X.shape + (ds.task, ds.n_classes)
        assert row["source"] == ds.source and row["source"]
    text = cli("datasets").stdout.splitlines()
    assert text[0].split() == ["name", "shape", "task", "source"]
    digits = next(line for line in text if line.startswith("digits "))
    assert "1797 x 64" in digits and "classification, 10 classes" in digits and "scikit-learn" in digits


# --- early stopping, epochs counted from 1, curves ------------------------------------------------

IRIS_EARLY = ("train", "--dataset", "iris", "--lr", "0.05", "--patience", "3", "--epochs", "300", "--quiet")


def test_early_stopping_is_said_and_epochs_count_from_1_everywhere(tmp_path, cli):
    r = cli(*IRIS_EARLY, "--out", tmp_path / "a")
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

    r = cli(*IRIS_EARLY, "--out", tmp_path / "b", "--json")
    result = json.loads(r.stdout)
    assert (result["stopped_epoch"], result["best_epoch"], result["restored_epoch"]) == (n, best, best)
    assert result["metrics"]["val_loss"] == history["history"]["val_loss"][best - 1]
    stderr = cli(*IRIS_EARLY[:-1], "--epochs", "2", "--out", tmp_path / "c").stderr.splitlines()
    progress = [line for line in stderr if line.startswith("epoch")]
    assert len(progress) == 2 and progress[0].startswith("epoch 1/2") and progress[1].startswith("epoch 2/2")


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


def _run_record(run_dir):
    from xpnet.io import load_model

    _, meta = load_model(run_dir / "model.npz")
    return meta["xpnet_run"]


def _training_record(run_dir):
    return _run_record(run_dir)["training"]


def test_the_learning_rate_used_and_its_schedule_are_recorded(tmp_path, cli):
    common = ("train", "--dataset", "iris", "--epochs", "3", "--quiet", "--json")
    runs = {
        "adam-default": [],
        "cosine": ["--lr", "0.01", "--lr-schedule", "cosine"],
        "constant": ["--lr", "0.01"],
    }
    results = {}
    for name, extra in runs.items():
        r = cli(*common, *extra, "--out", tmp_path / name)
        assert r.returncode == 0, r.stderr
        results[name] = json.loads(r.stdout)["metrics"]["loss"]
    assert _training_record(tmp_path / "adam-default")["lr"] == 0.001  # adam's default, not None
    cosine = _training_record(tmp_path / "cosine")
    assert cosine["lr"] == 0.01 and cosine["lr_schedule"] == "cosine"
    # 120 training rows in batches of 32: 4 steps an epoch, 3 epochs
    assert _run_record(tmp_path / "cosine")["learning_rate"] == "cosine_decay(0.01, 12, min_lr=0.0)"
    assert results["cosine"] != results["constant"]  # the schedule is the one training used
    r = cli(*common, "--lr-schedule", "cosin", "--out", tmp_path / "bad")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "--lr-schedule" in r.stderr
    assert not (tmp_path / "bad").exists()


# --- regression scores; evaluation on the held-out rows --------------------------------------------


def _regression_csv(tmp_path, n=200):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3))
    t = X @ np.array([1.5, -2.0, 0.5]) + 3.0 + rng.normal(scale=0.3, size=n)
    rows = "\n".join(",".join(f"{v:.6f}" for v in (*x, ty)) for x, ty in zip(X, t, strict=True))
    (tmp_path / "reg.csv").write_text("a,b,c,price\n" + rows + "\n")
    return tmp_path / "reg.csv", X, t


def test_regression_reports_rmse_mae_and_r2(tmp_path, cli):
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    data, X, t = _regression_csv(tmp_path)
    out = tmp_path / "reg"
    r = cli(
        "train", "--dataset", data, "--target", "price", "--layers", "16", "--epochs", "40", "--lr", "0.01",
        "--dtype", "float64", "--out", out, "--json", "--quiet",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)["metrics"]
    assert {"rmse", "mae", "r2", "val_rmse", "val_mae", "val_r2"} <= set(m)
    assert m["val_rmse"] ** 2 == pytest.approx(m["val_loss"], rel=1e-9)  # mse: the mean squared error
    assert 0.9 < m["r2"] <= 1 and m["mae"] <= m["rmse"]
    line = cli("evaluate", out, "--dataset", data, "--split", "all").stdout
    assert "rmse " in line and "mae " in line and "r2 " in line
    ev = json.loads(cli("evaluate", out, "--dataset", data, "--split", "all", "--json").stdout)
    # the training CSV, target column included: the target is dropped by name, said in one line
    r = cli("predict", out, "--input", data, "--output", tmp_path / "p.npz")
    assert r.returncode == 0 and r.stderr == f"xpnet: {data}: dropped column 'price', the training target\n"
    with np.load(tmp_path / "p.npz") as f:
        pred = f["prediction"][:, 0]
    np.save(tmp_path / "x.npy", np.loadtxt(data, delimiter=",", skiprows=1)[:, :3])  # the CSV's values
    assert cli("predict", out, "--input", tmp_path / "x.npy", "--output", tmp_path / "q.npz").returncode == 0
    with np.load(tmp_path / "q.npz") as f:
        np.testing.assert_array_equal(f["prediction"][:, 0], pred)  # the same rows as features alone
    assert ev["rmse"] == pytest.approx(np.sqrt(mean_squared_error(t, pred)), rel=1e-6)
    assert ev["mae"] == pytest.approx(mean_absolute_error(t, pred), rel=1e-6)
    assert ev["r2"] == pytest.approx(r2_score(t, pred), rel=1e-6)
    # the default on the training data: the held-out rows, the same scores as training's validation
    ev = json.loads(cli("evaluate", out, "--dataset", data, "--json").stdout)
    assert ev["split"] == "val" and ev["samples"] == 40
    assert ev["rmse"] == pytest.approx(m["val_rmse"], rel=1e-9) and ev["r2"] == pytest.approx(m["val_r2"], rel=1e-9)


def test_evaluate_scores_the_held_out_rows_by_default(tmp_path, cli):
    out = tmp_path / "iris"
    r = cli("train", "--dataset", "iris", "--epochs", "5", "--quiet", "--json", "--out", out)
    trained = json.loads(r.stdout)["metrics"]
    runs = {s: cli("evaluate", out, "--dataset", "iris", "--json", *(["--split", s] if s else [])) for s in
            ("", "val", "train", "all")}  # fmt: skip
    ev = {s: json.loads(r.stdout) for s, r in runs.items()}
    assert ev[""] == ev["val"] and ev["val"]["split"] == "val"
    assert ev["val"]["samples"] == 30 and ev["train"]["samples"] == 120 and ev["all"]["samples"] == 150
    assert ev["val"]["loss"] == pytest.approx(trained["val_loss"], rel=1e-5)  # the rows training validated on
    assert ev["val"]["accuracy"] == pytest.approx(trained["val_accuracy"])
    # the scores of the two parts make up the whole
    assert 30 * ev["val"]["accuracy"] + 120 * ev["train"]["accuracy"] == pytest.approx(150 * ev["all"]["accuracy"])
    text = cli("evaluate", out, "--dataset", "iris").stdout.splitlines()[0]
    assert text.startswith("iris: 30 samples (the validation rows held out in training)  loss ")
    # another data set (iris' first 20 rows as a CSV): all its rows are scored, and it says why
    from xpnet.io import load_dataset

    ds = load_dataset("iris")
    (tmp_path / "part.csv").write_text(
        "a,b,c,d,target\n"
        + "\n".join(",".join(map(str, (*x, ds.label_names[y]))) for x, y in zip(ds.X[:20], ds.y[:20], strict=True))
    )
    r = cli("evaluate", out, "--dataset", tmp_path / "part.csv", "--target", "target")
    assert r.returncode == 0, r.stderr
    assert "20 samples (all rows; not the data set the run held rows out of)" in r.stdout
    r = cli("predict", out, "--input", tmp_path / "part.csv", "--json")  # a text target column too
    assert r.returncode == 0 and "dropped column 'target', the training target" in r.stderr, r.stderr
    assert json.loads(r.stdout)["rows"] == 20
    r = cli("evaluate", out, "--dataset", tmp_path / "part.csv", "--target", "target", "--split", "val")
    assert r.returncode == 2 and "--split val: the run held out rows of another data set" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


# --- examples write nothing unasked; --plot checked before anything runs ---------------------------


def test_examples_write_files_only_when_asked(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pytest.importorskip("matplotlib")
    r = cli("example", "cross-entropy")
    assert r.returncode == 0 and "Output After Training" in r.stdout, r.stderr
    assert list(tmp_path.iterdir()) == []  # no cross_entropy_loss.png in the current directory
    r = cli("example", "cross-entropy", "--plot", "curve.png")
    assert r.returncode == 0 and "Loss curve saved to curve.png" in r.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["curve.png"]
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "plot, words",
    [("curve.xyz", ["--plot curve.xyz: extension .xyz", ".png", ".svg"]), ("curve", ["no extension"])],
)
def test_a_plot_file_matplotlib_cannot_write_is_refused_before_training(tmp_path, cli, monkeypatch, plot, words):
    monkeypatch.chdir(tmp_path)
    pytest.importorskip("matplotlib")
    r = cli("example", "cross-entropy", "--plot", plot)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stdout == ""  # refused before the program ran
    for w in words:
        assert w in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []
    r = cli("example", "three-layer", "--plot", "x.png")
    assert r.returncode == 2 and "only the cross-entropy example draws a curve" in r.stderr


def test_a_crafted_held_out_record_is_refused_in_one_line(tmp_path, cli):
    from xpnet.io import load_model, save_model

    out = tmp_path / "iris"
    assert cli("train", "--dataset", "iris", "--epochs", "1", "--quiet", "--out", out).returncode == 0
    model, meta = load_model(out / "model.npz")
    for name, split in {"beyond": {"val_rows": [0, 150]}, "type": {"rows": "150"}}.items():
        run = dict(meta["xpnet_run"], split={**meta["xpnet_run"]["split"], **split})
        (tmp_path / name).mkdir()
        save_model(tmp_path / name / "model.npz", model, metadata={"xpnet_run": run})
        r = cli("evaluate", tmp_path / name, "--dataset", "iris")
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "run.split" in r.stderr, r.stderr
