"""`xpnet info RUN [--json]`: the model's summary with the data set, training options, best epoch
and final metrics of the run, read back from what `xpnet train` wrote; and its refusals."""

from __future__ import annotations

import json

import pytest

from xpnet.cli import main


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("info") / "iris"
    args = ["train", "--dataset", "iris", "--layers", "8,6", "--epochs", "6", "--patience", "2", "--seed", "3"]
    assert main([*args, "--backend", "numpy", "--dropout", "0.1", "--out", str(out), "--quiet", "--json"]) == 0
    return out, json.loads((out / "history.json").read_text())


def test_info_json_holds_the_runs_facts(run, capsys):
    out, history = run
    capsys.readouterr()
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    # 4-8-6-3: (4*8 + 8) + (8*6 + 6) + (6*3 + 3)
    assert info["model"]["params"] == 40 + 54 + 21 and info["model"]["n_in"] == 4 and info["model"]["n_out"] == 3
    assert [r["name"] for r in info["model"]["layers"]] == [
        "Dense(4->8)",
        "ReLU",
        "Dropout(0.1)",
        "Dense(8->6)",
        "ReLU",
        "Dropout(0.1)",
        "Dense(6->3)",
    ]
    assert info["dataset"]["name"] == "iris" and info["dataset"]["classes"] == ["setosa", "versicolor", "virginica"]
    assert info["training"]["layers"] == "8,6" and info["training"]["seed"] == 3 and info["training"]["patience"] == 2
    assert info["loss"] == "softmax_cross_entropy" and info["trained_on"] == "numpy"
    assert info["best_epoch"] == history["best_epoch"] and info["epochs_run"] == len(history["epoch"])
    # early stopping restored the best epoch's weights: its metrics are the final ones
    i = history["epoch"].index(history["best_epoch"])
    assert info["metrics"] == {k: v[i] for k, v in history["history"].items()}


def test_info_text_shows_summary_options_and_metrics(run, capsys):
    out, history = run
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"{out}: a classification model trained with softmax_cross_entropy\n")
    assert "Sequential: 4 inputs, 3 outputs, float32 on numpy (cpu)" in text
    assert "parameters: 115 trainable" in text and "Dropout(rate=0.1)" in text
    assert "data set: iris, 4 features" in text and "--layers 8,6" in text and "--seed 3" in text
    assert f"best epoch {history['best_epoch']}" in text and "final metrics: loss " in text


def test_info_refuses_what_is_not_a_run(tmp_path, capsys):
    assert main(["info", str(tmp_path / "missing")]) == 2
    assert (
        capsys.readouterr().err.strip() == f"xpnet: error: {tmp_path / 'missing'}: no such run directory or model file"
    )
    assert main(["info", str(tmp_path)]) == 2
    assert "no model file" in capsys.readouterr().err


def test_info_on_a_bare_model_file(tmp_path, capsys):
    import xpnet

    xpnet.save_model(tmp_path / "bare.npz", xpnet.mlp([3, 4, 1], backend="numpy"))
    assert main(["info", str(tmp_path / "bare.npz"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model"]["params"] == 3 * 4 + 4 + 4 + 1 and info["loss"] is None and info["metrics"] is None
    assert main(["info", str(tmp_path / "bare.npz")]) == 0
    assert "a regression model trained with an unknown loss" in capsys.readouterr().out
