"""ONNX export through the predictor's own array-API code on ndonnx arrays: every layer type and
every output activation, float32 and float64, classifier and regressor, models trained on every
backend, run with onnxruntime and compared with the predictor; the command line's round trip
train -> export -> onnxruntime on the raw CSV rows against `xpnet predict`; the refusals.

Tolerances: onnxruntime's kernels sum in other orders than NumPy's, so outputs agree to a few
units in the last place: 1e-5 relative in float32, 1e-10 in float64 (the exporter's own check
uses the same, export/onnx.py TOLERANCE).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import xpnet
from helpers import host
from xpnet.cli import main
from xpnet.errors import ExportError
from xpnet.io import load_features
from xpnet.nn import BatchNorm, Dense, Dropout, Identity, Layer, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh

pytest.importorskip("ndonnx")
pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from xpnet.export.onnx import TOLERANCE, run_onnx  # noqa: E402

N_IN = 5


def _every_layer(n_out: int, last=()):
    """Each xpnet layer type at least once (activations stacked: each is an elementwise map or a
    row-wise softmax, and fewer Dense layers keep the tracing quick), then n_out outputs and `last`."""
    return [
        Dense(N_IN, 8),
        BatchNorm(8),
        ReLU(),
        Dropout(0.3),
        Dense(8, 6),
        LeakyReLU(0.1),
        Tanh(),
        Sigmoid(stable=False),
        Sigmoid(),
        Softmax(),
        Identity(),
        Dense(6, n_out),
        *last,
    ]


def _predictor(loss, n_out, dtype, backend="numpy", last=(), classes=None):
    rng = np.random.default_rng(1)
    model = xpnet.Sequential(_every_layer(n_out, last), seed=2, backend=backend, dtype=dtype)
    # running statistics that are not the initial 0 and 1, so that evaluation mode shows
    model.buffers = {
        "1.running_mean": model.backend.asarray(rng.normal(size=8), dtype),
        "1.running_var": model.backend.asarray(rng.uniform(0.5, 2.0, size=8), dtype),
    }
    scaler = xpnet.nn.Standardizer(rng.normal(size=N_IN) * 10, rng.uniform(0.1, 5.0, size=N_IN))
    return xpnet.Predictor(model, loss=loss, standardizer=scaler, classes=classes)


CASES = {
    # loss: (outputs, output layer, classes), one per output activation
    "softmax_cross_entropy": (3, (), ["cat", "dog", "eel"]),
    "bce_logits": (1, (), [-1, 1]),
    "bce": (1, (Sigmoid(),), None),  # probabilities from a Sigmoid layer, identity output
    "mse": (2, (), None),
}


def _rows(predictor, n=50, seed=7):
    s = predictor.standardizer
    return np.asarray(s.mean) + np.random.default_rng(seed).standard_normal((n, N_IN)) * 3 * np.asarray(s.std)


def _check(predictor, path, X, tol):
    """onnxruntime's outputs of the file against the predictor's, on raw rows X."""
    got = run_onnx(path, X)
    scale = lambda a: max(1.0, float(np.max(np.abs(a))))  # noqa: E731
    if predictor.task == "classification":
        want = host(predictor.predict_proba(X))
        assert got["probabilities"].shape == want.shape
        assert np.max(np.abs(got["probabilities"] - want)) <= tol * scale(want)
        np.testing.assert_array_equal(got["label"], predictor.predict(X))
    else:
        want = host(predictor.predict(X)).reshape(len(X), -1)
        assert np.max(np.abs(got["prediction"] - want)) <= tol * scale(want)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss", list(CASES))
def test_every_layer_and_output_activation_through_onnxruntime(loss, dtype, tmp_path):
    n_out, last, classes = CASES[loss]
    predictor = _predictor(loss, n_out, dtype, last=last, classes=classes)
    path = tmp_path / "m.onnx"
    report = xpnet.export_onnx(predictor, path)
    assert path.stat().st_size == report["bytes"] and report["max_difference"] <= TOLERANCE[dtype]
    _check(predictor, path, _rows(predictor), TOLERANCE[dtype])
    proto = onnx.load(path)
    # one input, X, with a symbolic batch dimension; the weights are initializers, by name
    (x,) = proto.graph.input
    dims = x.type.tensor_type.shape.dim
    assert x.name == "X" and dims[0].dim_param and not dims[0].HasField("dim_value") and dims[1].dim_value == N_IN
    init = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    for name, value in {**predictor.model.params, **predictor.model.buffers}.items():
        np.testing.assert_array_equal(init[name], host(value).astype(dtype))
    assert not [n for n in proto.graph.node if n.op_type == "Constant"]
    # the outputs of a classifier or a regressor, as their names say
    expect = ["label", "probabilities"] if predictor.task == "classification" else ["prediction"]
    assert [o.name for o in proto.graph.output] == report["outputs"] == expect
    assert report["nodes"] == len(proto.graph.node) and report["initializers"] == len(init)


def test_a_float64_input_for_a_float32_model_and_an_empty_batch(tmp_path):
    predictor = _predictor("softmax_cross_entropy", 3, "float32", classes=["a", "b", "c"])
    path = tmp_path / "m.onnx"
    report = xpnet.export_onnx(predictor, path, input_dtype="float64")
    assert report["input_dtype"] == "float64"
    X = _rows(predictor)
    _check(predictor, path, X, TOLERANCE["float32"])
    empty = run_onnx(path, X[:0])
    assert empty["probabilities"].shape == (0, 3) and empty["label"].shape == (0,)


def test_the_guards_ndonnx_puts_around_matmul_are_what_simplify_removes(tmp_path):
    predictor = xpnet.Predictor(xpnet.mlp([N_IN, 4, 2], backend="numpy", dtype="float64"), loss="mse")
    a = xpnet.export_onnx(predictor, tmp_path / "a.onnx")
    b = xpnet.export_onnx(predictor, tmp_path / "b.onnx", simplify=False)
    assert a["nodes_total"] < b["nodes_total"] and a["bytes"] < b["bytes"]
    X = np.random.default_rng(0).normal(size=(20, N_IN))
    np.testing.assert_array_equal(
        run_onnx(tmp_path / "a.onnx", X)["prediction"], run_onnx(tmp_path / "b.onnx", X)["prediction"]
    )


def test_a_model_trained_on_each_backend(backend, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, N_IN)) * 4 + 2
    y = (X[:, 0] + X[:, 1] > 4).astype(np.int64) + (X[:, 2] > 2)
    scaler = xpnet.nn.Standardizer.fit(X)
    model = xpnet.mlp([N_IN, 8, 3], batchnorm=True, backend=backend, dtype="float32", seed=0)
    data = backend.asarray(scaler(X), "float32")
    xpnet.fit(model, data, backend.asarray(y), loss="softmax_cross_entropy", epochs=3, batch_size=16, seed=0)
    predictor = xpnet.Predictor(model, loss="softmax_cross_entropy", standardizer=scaler)
    path = tmp_path / "m.onnx"
    xpnet.export_onnx(predictor, path)
    _check(predictor, path, X, TOLERANCE["float32"])


def test_cli_train_export_run_matches_xpnet_predict(tmp_path, capsys):
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True)
    header = ",".join(f"f{i}" for i in range(X.shape[1]))
    np.savetxt(tmp_path / "rows.csv", X, delimiter=",", header=header, comments="")
    run, out = tmp_path / "wine", tmp_path / "wine.onnx"
    args = ["--layers", "16", "--epochs", "5", "--batchnorm", "--backend", "numpy", "--quiet"]
    assert main(["train", "--dataset", "wine", *args, "--out", str(run)]) == 0
    assert main(["export", str(run), "--onnx", str(out), "--json"]) == 0
    capsys.readouterr()
    assert main(["predict", str(run), "--input", str(tmp_path / "rows.csv"), "--output", str(tmp_path / "p.npz")]) == 0
    with np.load(tmp_path / "p.npz", allow_pickle=False) as f:
        labels, proba = f["prediction"], f["probabilities"]
    got = run_onnx(out, load_features(tmp_path / "rows.csv"))  # the raw CSV rows, as predict reads them
    np.testing.assert_array_equal(got["label"], labels)
    np.testing.assert_allclose(got["probabilities"], proba, rtol=TOLERANCE["float32"], atol=1e-7)
    assert main(["export", str(run), "--onnx", str(out)]) == 2  # exists: refused, file untouched
    assert capsys.readouterr().err.strip() == f"xpnet: error: --onnx {out}: exists; pass --overwrite to replace it"
    before = out.read_bytes()
    assert main(["export", str(run), "--onnx", str(out), "--overwrite", "--sample", str(tmp_path / "rows.csv")]) == 0
    line = capsys.readouterr().out
    assert line.startswith(f"wrote {out}: ") and "on 178 rows" in line  # checked on the whole file
    assert out.read_bytes() == before  # the same model traces to the same bytes
    # bad input on the command line: one line, status 2, nothing written
    assert main(["export", str(tmp_path / "nope"), "--onnx", str(tmp_path / "n.onnx")]) == 2
    assert "xpnet: error: " in capsys.readouterr().err and not (tmp_path / "n.onnx").exists()
    assert main(["export", str(run), "--onnx", str(tmp_path / "n.onnx"), "--sample", str(tmp_path / "p.npz")]) == 2
    assert capsys.readouterr().err.startswith("xpnet: error: ") and not (tmp_path / "n.onnx").exists()


class ValueBranch(Layer):
    """A layer whose evaluation forward reads an array value on the host: no graph can hold that."""

    def forward(self, params, state, x, ctx):
        return (x * 2 if float(ctx.xp.max(x)) > 0 else x), state, None


class NeedsLinalg(Layer):
    def forward(self, params, state, x, ctx):
        return x / ctx.xp.linalg.vector_norm(x, axis=1, keepdims=True), state, None


@pytest.mark.parametrize("layer", [ValueBranch(), NeedsLinalg()], ids=["value-branch", "linalg"])
def test_a_layer_that_cannot_be_traced_is_named_and_nothing_is_written(layer, tmp_path):
    model = xpnet.Sequential([Dense(3, 4), layer, Dense(4, 2)], backend="numpy")
    path = tmp_path / "m.onnx"
    with pytest.raises(ExportError, match=rf"^layer 1 \({type(layer).__name__}\(\)\) cannot be exported to ONNX: "):
        xpnet.export_onnx(model, path)
    assert os.listdir(tmp_path) == []


def test_a_graph_that_differs_from_the_predictor_is_refused(tmp_path, monkeypatch):
    import xpnet.export.onnx as exporter

    predictor = _predictor("mse", 2, "float64")
    real = exporter.run_onnx
    monkeypatch.setattr(exporter, "run_onnx", lambda p, X: {k: v + 1e-6 for k, v in real(p, X).items()})
    with pytest.raises(ExportError, match=r"^the ONNX graph differs from the predictor by .* beyond the float64"):
        xpnet.export_onnx(predictor, tmp_path / "m.onnx")
    assert os.listdir(tmp_path) == []


def test_refusals_missing_extra_existing_file_bad_dtype(tmp_path, monkeypatch):
    model = xpnet.mlp([3, 2], backend="numpy")
    (tmp_path / "taken.onnx").write_bytes(b"keep")
    with pytest.raises(ExportError, match=r"taken.onnx: exists; pass overwrite=True \(--overwrite\)"):
        xpnet.export_onnx(model, tmp_path / "taken.onnx")
    assert (tmp_path / "taken.onnx").read_bytes() == b"keep"
    with pytest.raises(ExportError, match=r"^onnxruntime cannot run the graph \("):
        run_onnx(tmp_path / "taken.onnx", np.zeros((1, 3)))  # not an ONNX file
    with pytest.raises(ExportError, match="input_dtype int32: ONNX export supports float16, float32 and float64"):
        xpnet.export_onnx(model, tmp_path / "m.onnx", input_dtype="int32")
    with pytest.raises(ExportError, match="expected an xpnet Predictor or Sequential, got str"):
        xpnet.export_onnx("model", tmp_path / "m.onnx")
    monkeypatch.setitem(__import__("sys").modules, "ndonnx", None)  # as if it were not installed
    with pytest.raises(ExportError, match=r'^ONNX export needs ndonnx: pip install "xpnet\[onnx\]"$'):
        xpnet.export_onnx(model, tmp_path / "m.onnx")
    assert sorted(os.listdir(tmp_path)) == ["taken.onnx"]


def test_the_command_line_names_the_missing_extra(tmp_path, monkeypatch, capsys):
    model = xpnet.mlp([3, 2], backend="numpy")
    xpnet.save_model(tmp_path / "bare.npz", model)
    monkeypatch.setitem(__import__("sys").modules, "onnxruntime", None)
    assert main(["export", str(tmp_path / "bare.npz"), "--onnx", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert err == 'xpnet: error: ONNX export needs onnxruntime: pip install "xpnet[onnx]"\n'
    assert not (tmp_path / "m.onnx").exists()
