"""ONNX export by tracing: the predictor's own array-API code (Predictor.compute: standardisation,
every layer's eval-mode forward, the output activation, the class labels) runs on ndonnx arrays,
which record each operation as an ONNX node. No layer is implemented a second time: a layer is
exportable exactly when its forward uses only what the array API standard (and ndonnx) offers.

    export_onnx(predictor_or_model, "model.onnx")   # checked with onnxruntime, written atomically

The graph has one input "X" of shape (N, features), N symbolic, and outputs "label" and
"probabilities" (a classifier) or "prediction" (a regressor). Parameters and buffers are traced
as named graph inputs ("0.W", "1.running_mean"...) and stored as initializers; the remaining
top-level constants (the standardisation's mean and std) become initializers too.

ndonnx, onnx and onnxruntime are optional (`pip install "xpnet[onnx]"`); they are imported only
here, when an export is asked for.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..backend import Backend, to_numpy
from ..errors import ExportError, XpnetError
from ..io.npyio import atomic_write  # temp file, fsync, rename: a failed export leaves no file
from ..nn import Sequential
from .onnx_graph import drop_unused, graph_counts, unwrap_matmul_guards, weights_as_initializers
from .predictor import Predictor

INPUT = "X"
# Largest difference allowed between onnxruntime and the predictor, relative to the outputs'
# magnitude (at least 1): a few units in the last place of a deep float32 network, far below it
# in float64 (the prototype measured 3e-7 and 5e-16).
TOLERANCE = {"float16": 1e-2, "float32": 1e-5, "float64": 1e-10}
EXTRA_HINT = 'pip install "xpnet[onnx]"'


def onnx_modules():
    """(ndonnx, onnx, onnxruntime); ExportError naming the missing ones and the extra otherwise."""
    missing = []
    try:
        import ndonnx
    except ImportError:
        missing.append("ndonnx")
    try:
        import onnx
    except ImportError:
        missing.append("onnx")
    try:
        import onnxruntime
    except ImportError:
        missing.append("onnxruntime")
    if missing:
        raise ExportError(f"ONNX export needs {', '.join(missing)}: {EXTRA_HINT}")
    return ndonnx, onnx, onnxruntime


class _Named:
    """A layer during tracing: its own forward, with any failure named in one line (which
    layer, and what ndonnx could not do)."""

    def __init__(self, index: int, layer: Any) -> None:
        self.index, self.layer = index, layer

    def forward(self, params, state, x, ctx):
        try:
            return self.layer.forward(params, state, x, ctx)
        except Exception as exc:
            reason = (str(exc).strip().splitlines() or [""])[0]
            raise ExportError(
                f"layer {self.index} ({self.layer!r}) cannot be exported to ONNX: its evaluation forward "
                f"fails on ndonnx arrays ({type(exc).__name__}: {reason})"
            ) from None


def trace(predictor: Predictor, *, input_dtype: str | None = None, simplify: bool = True):
    """The predictor as an onnx.ModelProto, traced through Predictor.compute on ndonnx arrays;
    simplify: unwrap ndonnx's empty-input guards around matrix products (onnx_graph.py)."""
    ndx, onnx, _ = onnx_modules()
    model = predictor.model
    dtype = model.dtype_name
    input_dtype = input_dtype or dtype
    for what, name in (("the model's dtype", dtype), ("input_dtype", input_dtype)):
        if name not in TOLERANCE:  # ndonnx has no bfloat16; an integer input would be truncated
            raise ExportError(f"{what} {name}: ONNX export supports float16, float32 and float64")
    host = {k: _host(v) for k, v in {**model.params, **model.buffers}.items()}
    args = {k: ndx.argument(shape=v.shape, dtype=getattr(ndx, dtype)) for k, v in host.items()}
    # The same Sequential, holding ndonnx arrays: Sequential.apply's own loop runs every layer.
    traced = copy.copy(model)
    traced.backend = Backend("ndonnx", ndx, None)
    traced.dtype = getattr(ndx, dtype)
    traced.params = {k: args[k] for k in model.params}
    traced.buffers = {k: args[k] for k in model.buffers}
    traced.layers = [_Named(i, layer) for i, layer in enumerate(model.layers)]
    x = ndx.argument(shape=("N", predictor.n_in), dtype=getattr(ndx, input_dtype))
    try:
        result = predictor.compute(x, model=traced)
    except XpnetError:
        raise
    except Exception as exc:  # outside the layers: the standardisation, output activation, labels
        reason = (str(exc).strip().splitlines() or [""])[0]
        raise ExportError(f"the predictor cannot be traced to ONNX ({type(exc).__name__}: {reason})") from None
    names = ("label", "probabilities") if predictor.task == "classification" else ("prediction",)
    proto = ndx.build({INPUT: x, **args}, {n: result[n] for n in names})
    weights_as_initializers(proto, host, onnx)
    if simplify:
        unwrap_matmul_guards(proto, onnx)
        drop_unused(proto)
    onnx.checker.check_model(proto)
    return proto


def _host(v: Any) -> np.ndarray:
    return np.ascontiguousarray(to_numpy(v))


def sample_rows(predictor: Predictor, rows: int = 64, seed: int = 0) -> np.ndarray:
    """Rows like the training inputs for the check: the training mean plus standard normal noise
    scaled by each feature's standard deviation (standard normal rows without standardisation)."""
    z = np.random.default_rng(seed).standard_normal((rows, predictor.n_in))
    s = predictor.standardizer
    return z if s is None else np.asarray(s.mean) + z * np.asarray(s.std)


def run_onnx(proto_or_path: Any, X: np.ndarray) -> dict[str, np.ndarray]:
    """onnxruntime's outputs (by name) of an exported graph (a ModelProto, bytes or a file) for X."""
    _, _, ort = onnx_modules()
    if hasattr(proto_or_path, "SerializeToString"):
        proto_or_path = proto_or_path.SerializeToString()
    dtype = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16}
    try:
        session = ort.InferenceSession(
            proto_or_path if isinstance(proto_or_path, bytes) else str(proto_or_path),
            providers=["CPUExecutionProvider"],
        )
        want = dtype[session.get_inputs()[0].type]
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(names, {INPUT: np.asarray(X, dtype=want)}), strict=True))
    except Exception as exc:  # onnxruntime's own errors (a missing kernel, a bad file) in one line
        reason = (str(exc).strip().splitlines() or [""])[0]
        raise ExportError(f"onnxruntime cannot run the graph ({type(exc).__name__}: {reason})") from None


def check_against(predictor: Predictor, proto, X: np.ndarray, input_dtype: str) -> float:
    """The largest difference between onnxruntime's and the predictor's outputs on X (relative to
    their magnitude); ExportError when it passes the dtype's tolerance or a label differs where
    the predictor's top two probabilities are further apart than that."""
    X = np.asarray(X, dtype=input_dtype)
    got = run_onnx(proto, X)
    dtype = predictor.model.dtype_name
    tol = TOLERANCE[dtype]  # both sides see the same rows, already rounded to input_dtype
    name = "probabilities" if predictor.task == "classification" else "prediction"
    x, _ = predictor._input(X)
    want = np.asarray(predictor._out(predictor.compute(x, labels=False)[name], True), dtype=np.float64)
    value = np.asarray(got[name], dtype=np.float64)
    if value.shape != want.shape:
        raise ExportError(
            f"the ONNX graph's {name} have shape {value.shape}, the predictor's {want.shape}; nothing was written"
        )
    scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
    both_nan = np.isnan(value) & np.isnan(want)
    diff = float(np.max(np.where(both_nan, 0.0, np.abs(value - want)), initial=0.0)) / scale
    if not diff <= tol:  # also refuses NaN where the predictor has a number
        raise ExportError(
            f"the ONNX graph differs from the predictor by {diff:.3g} (relative) on {len(X)} sample rows, "
            f"beyond the {dtype} tolerance {tol:g}; nothing was written"
        )
    empty = run_onnx(proto, X[:0])  # a batch of no rows gives no rows (see onnx_graph.py on the guards)
    if any(v.shape[:1] != (0,) for v in empty.values()):
        raise ExportError("the ONNX graph gives rows for an empty batch; nothing was written")
    if predictor.task == "classification":
        labels = np.asarray(predictor.predict(X))
        top = np.sort(want, axis=1)
        clear = top[:, -1] - top[:, -2] > 2 * tol * scale  # a near tie may go either way
        wrong = np.flatnonzero(clear & (np.asarray(got["label"]) != labels))
        if wrong.size:
            raise ExportError(
                f"the ONNX graph predicts another class than the predictor for sample row {int(wrong[0])}; "
                "nothing was written"
            )
    return diff


def export_onnx(
    predictor: Predictor | Sequential,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    input_dtype: str | None = None,
    sample: Any = None,
    simplify: bool = True,
) -> dict:
    """Write `predictor` (a Predictor, e.g. from xpnet.load, or a bare Sequential, whose raw
    outputs are then the "prediction") to `path` as an ONNX model, after onnxruntime reproduced
    it on sample rows (`sample`, raw inputs; default 64 rows drawn around the training mean).

    input_dtype: the dtype of the graph's input X (default: the model's). An existing file is
    replaced only with overwrite=True; on any failure nothing is written. simplify=False keeps
    ndonnx's graph as traced (with its guards around matrix products, onnx_graph.py). Returns a report:
    path, bytes, nodes (top level), nodes_total (with the subgraphs), initializers, inputs,
    outputs, opset, max_difference, sample_rows."""
    if isinstance(predictor, Sequential):
        predictor = Predictor(predictor)
    if not isinstance(predictor, Predictor):
        raise ExportError(f"export_onnx: expected an xpnet Predictor or Sequential, got {type(predictor).__name__}")
    path = Path(path)
    if path.exists() and not overwrite:
        raise ExportError(f"{path}: exists; pass overwrite=True (--overwrite) to replace it")
    if path.is_dir():
        raise ExportError(f"{path}: is a directory, expected an .onnx file name")
    input_dtype = input_dtype or predictor.model.dtype_name
    proto = trace(predictor, input_dtype=input_dtype, simplify=simplify)
    X = sample_rows(predictor) if sample is None else _sample(sample, predictor)
    diff = check_against(predictor, proto, X, input_dtype)
    data = proto.SerializeToString()
    atomic_write(path, lambda f: f.write(data), ExportError)
    return {
        "path": str(path),
        "bytes": len(data),
        **graph_counts(proto),
        "inputs": [i.name for i in proto.graph.input],
        "outputs": [o.name for o in proto.graph.output],
        "opset": max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
        "input_dtype": input_dtype,
        "max_difference": diff,
        "sample_rows": int(len(X)),
    }


def _sample(sample: Any, predictor: Predictor) -> np.ndarray:
    X = np.asarray(to_numpy(sample) if not isinstance(sample, (list, tuple, np.ndarray)) else sample)
    if X.ndim != 2 or X.shape[1] != predictor.n_in or len(X) == 0:
        raise ExportError(f"sample: expected rows of {predictor.n_in} features, got an array of shape {tuple(X.shape)}")
    return X
