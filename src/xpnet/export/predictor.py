"""The predictor: a trained model as something that answers for raw inputs, the way `xpnet
predict` does. Standardisation, the network, the output activation and the class labels are one
function written against the array API (`Predictor.compute`): `predict` runs it on the model's
backend, and the ONNX exporter (onnx.py) runs the very same function on ndonnx arrays.

    predictor = xpnet.load("runs/digits")      # a run directory or a model file
    predictor.predict(X)                        # class labels (or values, for a regressor)
    predictor.predict_proba(X)                  # a classifier's probabilities
    predictor.decision_function(X)              # the network's raw outputs (logits)

Host data (NumPy, lists) gives NumPy results; arrays of the predictor's backend (torch, CuPy...)
give arrays of that library, on their device.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..backend import check_on, device_of, is_array, library_name, namespace_of, to_numpy
from ..errors import CheckpointError, ConfigError, DataError, ShapeError
from ..io import load_model
from ..io.run_record import check_run_record
from ..nn import Sequential, Standardizer, get_loss
from ..nn.sequential import as_rows
from ..nn.summary import summary_dict, summary_text

MODEL_FILE = "model.npz"  # what `xpnet train` writes in its run directory
RUN_KEY = "xpnet_run"  # the model file's metadata record of a run: loss, standardisation, classes


class Predictor:
    """A network with what surrounds it in use: the input standardisation, the output activation
    of its loss (softmax, sigmoid, none) and the class labels.

    model: a Sequential. loss: the loss it was trained with (a name or Loss), which decides the
    task and the output activation; None for raw outputs. standardizer: a nn.Standardizer (or its
    dict) applied to raw inputs first. classes: the class labels, index i naming output class i
    (default 0..k-1 for a classifier). target_name: a regressor's one target.
    """

    def __init__(
        self,
        model: Sequential,
        *,
        loss: Any = None,
        standardizer: Standardizer | dict | None = None,
        classes: list | None = None,
        target_name: str | None = None,
        run: dict | None = None,
        source: str | os.PathLike | None = None,
    ) -> None:
        if not isinstance(model, Sequential):
            raise ConfigError(f"model: expected an xpnet Sequential, got {type(model).__name__}")
        self.model = model
        self.loss = get_loss(loss) if loss is not None else None
        if isinstance(standardizer, dict):
            standardizer = Standardizer.from_dict(standardizer)
        if standardizer is not None and standardizer.n_features != model.n_in:
            raise ShapeError(f"standardizer: holds {standardizer.n_features} features but the model takes {model.n_in}")
        self.standardizer = standardizer
        self.task = self.loss.task if self.loss is not None else "regression"
        self.classes = None
        if self.task == "classification":
            n_classes = 2 if model.n_out == 1 else model.n_out  # one sigmoid output: P(class 1) of two
            classes = list(range(n_classes)) if classes is None else [_plain(c) for c in classes]
            if len(classes) != n_classes:
                raise ShapeError(f"classes: {len(classes)} labels but the model has {n_classes} classes")
            self.classes = classes
        self.target_name = target_name
        self.run = dict(run or {})
        self.source = None if source is None else Path(source)

    @classmethod
    def from_run(cls, model: Sequential, run: dict, *, source: str | os.PathLike = "model") -> Predictor:
        """The predictor of a run record (the metadata `xpnet train` saves with the model);
        CheckpointError naming `source` for a record that does not fit the model."""
        if not isinstance(run, dict) or not isinstance(run.get("standardize"), dict) or "loss" not in run:
            raise CheckpointError(f"{source}: the run record has no standardisation or loss")
        try:
            predictor = cls(
                model,
                loss=run["loss"],
                standardizer=Standardizer.from_dict(run["standardize"]),
                classes=run.get("classes"),
                target_name=run.get("target_name"),
                run=run,
                source=source,
            )
        except (ConfigError, ShapeError, KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{source}: the run record does not fit the model ({exc})") from None
        check_run_record(source, run, model, required=("loss", "standardize"))  # each field's JSON type and value
        return predictor

    # --- what it is ---------------------------------------------------------------------------

    @property
    def backend(self):
        return self.model.backend

    @property
    def n_in(self) -> int:
        return int(self.model.n_in)

    @property
    def output(self) -> str:
        """The output activation: "softmax", "sigmoid" or "identity"."""
        return self.loss.output if self.loss is not None else "identity"

    def to(self, backend: Any, *, device: Any = None) -> Predictor:
        """Move the network to another backend or device (Sequential.to); returns self."""
        self.model.to(backend, device=device)
        return self

    def summary(self) -> str:
        """The network's summary (Sequential.summary) and what surrounds it: input and output."""
        return summary_text(self.model) + "\n" + "\n".join(self._surroundings())

    def summary_dict(self) -> dict:
        d = summary_dict(self.model)
        d.update(task=self.task, output=self.output, standardized=self.standardizer is not None, classes=self.classes)
        return d

    def _surroundings(self) -> list[str]:
        std = "standardised with the training rows' mean and std" if self.standardizer else "used as given"
        lines = [f"input: {self.n_in} features, {std}"]
        if self.task == "classification":
            names = ", ".join(map(str, self.classes))
            lines.append(f"output: {self.output} probabilities of {len(self.classes)} classes ({names})")
        else:
            target = f" ({self.target_name})" if self.target_name else ""
            lines.append(f"output: {self.model.n_out} value(s){target}, {self.output}")
        return lines

    def __repr__(self):
        return f"Predictor({self.task}, {self.n_in} -> {self.model.n_out}, output={self.output!r})"

    # --- the one function: raw inputs -> outputs, on arrays of any array-API library -------------

    def compute(self, X: Any, *, model: Sequential | None = None, labels: bool = True) -> dict:
        """The predictor on X, an array of the network's library (any floating or integer dtype):
        {"outputs": the network's raw outputs, "prediction": a regressor's values, or for a
        classifier "probabilities" and (with labels) "label"}. model: the network to run (the
        exporter passes one whose arrays are ndonnx's); default this predictor's."""
        model = self.model if model is None else model
        xp = namespace_of(X)
        if self.standardizer is not None:
            # in float64, as `xpnet predict` does on the host, whatever the model's dtype
            X = self.standardizer(xp.astype(X, xp.float64))
        raw = model.forward(xp.astype(X, model.dtype))[0]
        values = self.loss.predictions(raw) if self.loss is not None else raw  # softmax, sigmoid or as is
        if self.task != "classification":
            return {"outputs": raw, "prediction": values}
        if model.n_out == 1:  # one sigmoid output is P(class 1): spell out both, as softmax does
            # (n_out, not values.shape: a traced array may not know its width)
            values = xp.concat([1 - values, values], axis=1)
        result = {"outputs": raw, "probabilities": values}
        if labels:
            result["label"] = self._labels(xp.argmax(values, axis=1), xp=xp)
        return result

    def label_array(self, *, xp: Any, device: Any = None) -> Any:
        """The class labels as an array of xp (int64 for integer labels, strings where the library
        holds them: NumPy, ndonnx); None when it cannot hold them (torch, CuPy with text labels)."""
        values = np.asarray(self.classes)
        if values.dtype.kind in "iub":
            values = values.astype(np.int64)
        elif values.dtype.kind != "f":
            values = values.astype(str)
        try:
            return xp.asarray(values, device=device)
        except (TypeError, ValueError, RuntimeError):
            return None

    def _labels(self, index: Any, *, xp: Any) -> Any:
        labels = self.label_array(xp=xp, device=device_of(index))
        if labels is None:  # text labels and a library without strings: look them up on the host
            return np.asarray(self.classes)[to_numpy(index)]
        return xp.take(labels, index, axis=0)

    # --- the public calls: checked inputs in, the caller's library out -------------------------

    def predict(self, X: Any) -> Any:
        """Class labels for a classifier (an array of the labels: text labels come as a NumPy array
        from libraries that hold no text, torch and CuPy); a regressor's predicted values, shape
        (rows,) for one target, (rows, targets) otherwise."""
        x, host = self._input(X)
        if self.task == "classification":
            return self._out(self.compute(x)["label"], host)
        values = self.compute(x)["prediction"]
        if values.shape[1] == 1:
            values = namespace_of(values).reshape(values, (-1,))
        return self._out(values, host)

    def predict_proba(self, X: Any) -> Any:
        """A classifier's class probabilities, (rows, classes), columns in the order of `classes`."""
        if self.task != "classification":
            raise ConfigError("predict_proba: this model is a regressor; use predict")
        x, host = self._input(X)
        return self._out(self.compute(x, labels=False)["probabilities"], host)

    def decision_function(self, X: Any) -> Any:
        """The network's raw outputs for raw inputs (standardised first): logits for a classifier
        trained with softmax_cross_entropy or bce_logits, (rows, outputs)."""
        x, host = self._input(X)
        return self._out(self.compute(x, labels=False)["outputs"], host)

    def _input(self, X: Any, name: str = "X") -> tuple[Any, bool]:
        """(X as a 2-D real array of the model's backend, whether it came from the host)."""
        b = self.model.backend
        host = not (is_array(X) and library_name(X) != "numpy")
        if host:
            X = np.asarray(X)
            if X.dtype.kind not in "biuf":
                raise DataError(f"{name}: expected real numbers, got dtype {X.dtype}")
            # float64 when standardising (as the command line does), else the model's dtype
            X = b.asarray(X, "float64" if self.standardizer is not None else self.model.dtype_name)
        else:
            check_on(b, X, name)
            if not b.xp.isdtype(X.dtype, ("real floating", "integral", "bool")):
                raise DataError(f"{name}: expected real numbers, got dtype {X.dtype}")
        return as_rows(X, self.n_in, name, xp=b.xp), host

    def _out(self, y: Any, host: bool) -> Any:
        if isinstance(y, np.ndarray) or not host:
            return y
        xp = namespace_of(y)
        if self.model.dtype_name == "bfloat16" and y.dtype == getattr(xp, "bfloat16", None):
            y = xp.astype(y, xp.float32)  # NumPy has no bfloat16; float32 holds every value exactly
        return to_numpy(y)


def load(path: str | os.PathLike, *, backend: Any = None, device: Any = None) -> Predictor:
    """The predictor of a run directory `xpnet train` wrote (or of its model.npz, or of any model
    file save_model wrote), on `backend`/`device` (default: XPNET_BACKEND, else auto): it
    predicts from raw inputs exactly as `xpnet predict` does. A model file without a run record
    gives a predictor of the bare network's outputs."""
    path = Path(path)
    file = path / MODEL_FILE if path.is_dir() else path
    if path.is_dir() and not file.is_file():
        raise CheckpointError(f"{file}: no model file (expected a run directory of xpnet train, or a model file)")
    model, metadata = load_model(file, backend=backend, device=device)
    run = metadata.get(RUN_KEY) if isinstance(metadata, dict) else None
    if run is None:
        return Predictor(model, run={}, source=file)
    return Predictor.from_run(model, run, source=file)


def _plain(v):
    return v.item() if hasattr(v, "item") else v
