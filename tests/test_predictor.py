"""xpnet.load: a run directory (or model file) as a predictor that answers for raw inputs the way
`xpnet predict` does (standardisation, network, output activation, class labels), on every
backend, in the caller's array library; model.summary(); bad input.

The runs are trained in process through the command line's own entry point (no interpreter
start-up per run), on small data, for a few epochs: what is tested is the plumbing around the
network, which the numbers of a short run exercise as well as a long one's.
"""

from __future__ import annotations

import numpy as np
import pytest

import xpnet
from helpers import host
from xpnet.cli import main
from xpnet.errors import BackendMismatchError, CheckpointError, ConfigError, DataError, ShapeError
from xpnet.io import load_features

RTOL = {"float64": 1e-12, "float32": 1e-5}


def _train(out, *args):
    assert main(["train", *args, "--backend", "numpy", "--out", str(out), "--quiet", "--json"]) == 0


def _predict_npz(run, rows_file, out):
    """`xpnet predict RUN --input rows_file` as arrays (prediction, probabilities, classes)."""
    assert main(["predict", str(run), "--input", str(rows_file), "--output", str(out), "--backend", "numpy"]) == 0
    with np.load(out, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A digits classifier (float32, batch norm and dropout), a text-label CSV classifier trained
    with bce_logits, a two-target float64 regressor, and raw-feature files for each."""
    tmp = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(0)
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    np.savetxt(tmp / "digits.csv", X[:300], delimiter=",", header=",".join(f"x{i}" for i in range(64)), comments="")
    _train(tmp / "digits", "--dataset", "digits", "--layers", "32", "--epochs", "4", "--batchnorm", "--dropout", "0.1")

    Xb = rng.normal(size=(120, 3)) * [1.0, 10.0, 0.1] + [5.0, -3.0, 0.0]
    yb = np.where(Xb[:, 0] - 5 + (Xb[:, 1] + 3) / 10 > 0, "yes", "no")
    lines = [f"{a:.5f},{b:.5f},{c:.5f},{t}" for (a, b, c), t in zip(Xb, yb, strict=True)]
    (tmp / "binary.csv").write_text("a,b,c,answer\n" + "\n".join(lines) + "\n")
    np.savetxt(tmp / "binary_x.csv", Xb, delimiter=",")
    _train(tmp / "binary", "--dataset", str(tmp / "binary.csv"), "--target", "answer", "--loss", "bce_logits")

    Xr = rng.normal(size=(100, 4)) * 3 + 1
    T = np.stack([Xr @ [1.0, -2.0, 0.5, 0.0], np.tanh(Xr[:, 0])], axis=1)
    np.savez(tmp / "reg.npz", X=Xr, y=T)
    np.savez(tmp / "reg_x.npz", X=Xr[:30])
    _train(tmp / "reg", "--dataset", str(tmp / "reg.npz"), "--layers", "8", "--dtype", "float64", "--epochs", "5")
    return tmp, (X, y)


def test_the_predictor_answers_for_raw_inputs_as_xpnet_predict_does(runs, tmp_path):
    tmp, (X, y) = runs
    predictor = xpnet.load(tmp / "digits", backend="numpy")
    ref = _predict_npz(tmp / "digits", tmp / "digits.csv", tmp_path / "p.npz")
    rows = load_features(tmp / "digits.csv")
    np.testing.assert_array_equal(predictor.predict_proba(rows), ref["probabilities"])
    np.testing.assert_array_equal(predictor.predict(rows).astype(str), ref["prediction"].astype(str))
    # the trap the predictor closes: the bare network on raw pixels is another (worse) classifier
    model, _ = xpnet.load_model(tmp / "digits" / "model.npz", backend="numpy")
    raw = np.argmax(model.predict(rows.astype(np.float32)), axis=1)
    accuracy = np.mean(predictor.predict(rows).astype(int) == y[:300])
    assert accuracy >= 0.85 and accuracy > np.mean(raw == y[:300])


def test_each_stage_by_hand_standardise_network_softmax_labels(runs):
    tmp, (X, _) = runs
    predictor = xpnet.load(tmp / "digits", backend="numpy")
    s = predictor.standardizer
    z = ((X[:50] - np.asarray(s.mean)) / np.asarray(s.std)).astype(np.float32)
    logits = np.asarray(predictor.model.predict(z), dtype=np.float64)
    np.testing.assert_array_equal(predictor.decision_function(X[:50]), predictor.model.predict(z))
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(predictor.predict_proba(X[:50]), e / e.sum(axis=1, keepdims=True), rtol=1e-5)
    assert predictor.classes == list(range(10)) or predictor.classes == [str(i) for i in range(10)]
    np.testing.assert_array_equal(predictor.predict(X[:50]), np.asarray(predictor.classes)[logits.argmax(axis=1)])
    one = predictor.predict(X[0])  # one row as a 1-D array
    assert one.shape == (1,) and one[0] == predictor.predict(X[:1])[0]


def test_a_sigmoid_classifier_with_text_labels(runs, tmp_path):
    tmp, _ = runs
    predictor = xpnet.load(tmp / "binary")  # default backend
    assert predictor.task == "classification" and predictor.output == "sigmoid"
    assert sorted(predictor.classes) == ["no", "yes"] and predictor.model.n_out == 1
    rows = load_features(tmp / "binary_x.csv")
    ref = _predict_npz(tmp / "binary", tmp / "binary_x.csv", tmp_path / "b.npz")
    proba = predictor.predict_proba(rows)
    assert proba.shape == (120, 2)
    np.testing.assert_allclose(proba, ref["probabilities"], rtol=RTOL["float32"], atol=1e-7)
    labels = predictor.predict(rows)
    np.testing.assert_array_equal(labels, ref["prediction"])
    p1 = 1 / (1 + np.exp(-np.asarray(predictor.decision_function(rows), dtype=np.float64)))
    np.testing.assert_allclose(proba[:, 1], p1[:, 0], rtol=1e-5)


def test_a_regressor_gives_its_values_and_refuses_predict_proba(runs, tmp_path):
    tmp, _ = runs
    predictor = xpnet.load(tmp / "reg" / "model.npz", backend="numpy")  # the model file works too
    assert predictor.task == "regression" and predictor.classes is None
    rows = load_features(tmp / "reg_x.npz")
    ref = _predict_npz(tmp / "reg", tmp / "reg_x.npz", tmp_path / "r.npz")
    np.testing.assert_array_equal(predictor.predict(rows), ref["prediction"])
    np.testing.assert_array_equal(predictor.decision_function(rows), ref["prediction"])  # identity output
    with pytest.raises(ConfigError, match="predict_proba: this model is a regressor"):
        predictor.predict_proba(rows)


@pytest.mark.parametrize("run", ["digits", "binary", "reg"])
def test_every_backend_gives_the_same_answers_in_the_callers_library(backend, runs, run):
    tmp, (X, _) = runs
    rows = {"digits": X[:40], "binary": load_features(tmp / "binary_x.csv"), "reg": load_features(tmp / "reg_x.npz")}[
        run
    ]
    ref = xpnet.load(tmp / run, backend="numpy")
    predictor = xpnet.load(tmp / run, backend=backend.name, device=backend.device)
    assert predictor.backend.name == backend.name
    rtol = RTOL[predictor.model.dtype_name]
    method = "predict_proba" if ref.task == "classification" else "predict"
    # host data in: NumPy out
    got = getattr(predictor, method)(rows)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, getattr(ref, method)(rows), rtol=rtol, atol=rtol * 1e-2)
    # the backend's own arrays in: that library's arrays out, on their device
    device_rows = backend.asarray(rows, "float64")
    out = getattr(predictor, method)(device_rows)
    assert xpnet.backend_of(out).name == backend.name and xpnet.backend.device_of(out) == backend.device
    np.testing.assert_allclose(host(out), got, rtol=rtol, atol=rtol * 1e-2)
    labels = predictor.predict(device_rows)
    if ref.task == "classification" and not isinstance(ref.classes[0], str):
        assert xpnet.backend_of(labels).name == backend.name  # integer labels stay on the device
    if ref.task == "classification":
        np.testing.assert_array_equal(np.asarray(xpnet.to_numpy(labels)), ref.predict(rows))


def test_a_bare_model_file_gives_the_networks_outputs(tmp_path):
    model = xpnet.mlp([3, 5, 2], backend="numpy", dtype="float64", seed=1)
    xpnet.save_model(tmp_path / "bare.npz", model)
    predictor = xpnet.load(tmp_path / "bare.npz", backend="numpy")
    X = np.arange(12.0).reshape(4, 3)
    assert predictor.task == "regression" and predictor.standardizer is None
    np.testing.assert_array_equal(predictor.predict(X), model.predict(X))
    assert "load(" in xpnet.load_model.__doc__  # the low-level loader points to the predictor


def test_a_predictor_built_in_python(numpy_backend):
    model = xpnet.mlp([2, 4, 3], backend="numpy", dtype="float64", seed=0)
    scaler = xpnet.nn.Standardizer([1.0, 2.0], [2.0, 4.0])
    p = xpnet.Predictor(model, loss="softmax_cross_entropy", standardizer=scaler, classes=["a", "b", "c"])
    X = np.array([[1.0, 2.0], [3.0, -2.0]])
    z = model.predict((X - [1.0, 2.0]) / [2.0, 4.0])
    assert list(p.predict(X)) == [["a", "b", "c"][i] for i in np.argmax(z, axis=1)]
    with pytest.raises(ShapeError, match="classes: 2 labels but the model has 3 classes"):
        xpnet.Predictor(model, loss="softmax_cross_entropy", classes=["a", "b"])
    with pytest.raises(ShapeError, match="standardizer: holds 3 features but the model takes 2"):
        xpnet.Predictor(model, standardizer=xpnet.nn.Standardizer([0, 0, 0], [1, 1, 1]))


def test_bad_inputs_are_named_in_one_line(runs, tmp_path):
    tmp, (X, _) = runs
    predictor = xpnet.load(tmp / "digits", backend="numpy")
    with pytest.raises(ShapeError, match="X: the model expects 64 features per row, got 3"):
        predictor.predict(np.zeros((2, 3)))
    with pytest.raises(ShapeError, match="X: expected a 2-D array"):
        predictor.predict(np.zeros((2, 8, 8)))
    with pytest.raises(DataError, match="X: expected real numbers, got dtype <U1"):
        predictor.predict(np.full((2, 64), "a"))
    with pytest.raises(CheckpointError, match="no model file"):
        xpnet.load(tmp_path)
    with pytest.raises(CheckpointError, match="file not found"):
        xpnet.load(tmp_path / "nothing.npz")
    torch = pytest.importorskip("torch")
    with pytest.raises(BackendMismatchError, match="X is a torch array but the model's parameters are on numpy"):
        predictor.predict(torch.zeros((2, 64)))


def test_summary_names_layers_shapes_and_parameter_counts(runs):
    tmp, _ = runs
    predictor = xpnet.load(tmp / "digits", backend="numpy")
    text = predictor.model.summary()
    lines = text.splitlines()
    assert lines[0] == "Sequential: 64 inputs, 10 outputs, float32 on numpy (cpu)"
    # Dense 64->32 (64*32 + 32), BatchNorm (2*32), ReLU, Dropout, Dense 32->10 (32*10 + 10)
    assert [line.split()[0] for line in lines[2:7]] == ["0", "1", "2", "3", "4"]
    assert "(None, 32)" in lines[2] and lines[2].endswith("2,080") and lines[3].endswith("64")
    assert "(None, 10)" in lines[6] and lines[6].endswith("330")
    assert lines[7] == "parameters: 2,474 trainable, 64 in buffers (layer state, not trained)"
    assert sum(int(np.prod(v.shape)) for v in predictor.model.params.values()) == 2474
    full = predictor.summary()
    assert full.startswith(text) and "input: 64 features, standardised" in full
    assert "output: softmax probabilities of 10 classes" in full
    d = predictor.summary_dict()
    assert d["params"] == 2474 and d["buffers"] == 64 and [r["params"] for r in d["layers"]] == [2080, 64, 0, 0, 330]
    assert d["layers"][0]["output_shape"] == [None, 32] and d["task"] == "classification"


def test_to_moves_the_predictor_to_another_backend(runs):
    tmp, (X, _) = runs
    predictor = xpnet.load(tmp / "reg", backend="numpy")
    rows = load_features(tmp / "reg_x.npz")
    ref = predictor.predict(rows)
    torch = pytest.importorskip("torch")
    assert predictor.to("torch") is predictor and predictor.backend.name == "torch"
    out = predictor.predict(torch.asarray(rows))
    assert isinstance(out, torch.Tensor)
    np.testing.assert_allclose(host(out), ref, rtol=RTOL["float64"])


def test_a_run_record_that_does_not_fit_is_refused_in_one_line(tmp_path):
    model = xpnet.mlp([3, 2], backend="numpy")
    std = {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}
    records = {
        "no-std": ({"loss": "mse"}, "the run record has no standardisation or loss"),
        "bad-loss": ({"loss": "nope", "standardize": std}, "does not fit the model .*unknown name 'nope'"),
        "width": ({"loss": "mse", "standardize": {"mean": [0.0], "std": [1.0]}}, "holds 1 features"),
        "classes": ({"loss": "softmax_cross_entropy", "standardize": std, "classes": [1, 2, 3]}, "3 labels"),
    }
    for name, (run, message) in records.items():
        xpnet.save_model(tmp_path / f"{name}.npz", model, metadata={"xpnet_run": run})
        with pytest.raises(CheckpointError, match=message) as info:
            xpnet.load(tmp_path / f"{name}.npz", backend="numpy")
        assert str(info.value).startswith(str(tmp_path / f"{name}.npz")) and "\n" not in str(info.value)
