"""`xpnet evaluate RUN --dataset D`: the loss and metrics of a trained model on a data set: by
default on the rows training held out, when it is the data set the run was trained on (heldout.py)."""

from __future__ import annotations

import json

import numpy as np

from ..backend import to_float, to_numpy
from ..errors import DataError
from ..io import load_dataset
from ..nn import Standardizer, get_loss
from ..training.metrics import regression_scores
from .device import cli_backend
from .heldout import select_rows
from .report import confusion_matrix, format_confusion, format_metrics
from .rundir import check_width, labels_for_model, load_run


def cmd_evaluate(args) -> int:
    model, run = load_run(args.dir, cli_backend(args))
    target = args.target
    if target is None and str(args.dataset).lower().endswith(".csv"):
        target = run.get("target_name")  # a CSV like the training one: the same column by default
    ds = load_dataset(args.dataset, target=target)
    check_width(ds.X, model.n_in, args.dataset)
    ds, scored, split = select_rows(ds, run, args.split, args.dataset)  # heldout.py
    if ds.task != run["task"]:
        raise DataError(f"{args.dataset}: a {ds.task} data set, but the model was trained for {run['task']}")
    if ds.task == "classification":
        y = labels_for_model(ds, run, args.dataset)
    else:
        y = ds.y.reshape(len(ds.y), -1)
        if y.shape[1] != model.n_out:
            raise DataError(f"{args.dataset}: {y.shape[1]} target columns but the model predicts {model.n_out}")
    result = evaluate_model(model, Standardizer.from_dict(run["standardize"])(ds.X), y, run["loss"], ds.task)
    predicted = result.pop("predicted", None)
    result.update(samples=int(len(y)), split=split, rows=scored)
    if predicted is not None:
        counts = confusion_matrix(y, predicted, len(run["classes"]))
        result.update(classes=run["classes"], confusion_matrix=counts.tolist())
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.dataset}: {result['samples']} samples ({scored})  {format_metrics(result)}")
        if predicted is not None:
            print(format_confusion(counts, run["classes"]))
    return 0


def evaluate_model(model, X_host: np.ndarray, y_host: np.ndarray, loss_name: str, task: str) -> dict:
    """Loss (and accuracy, predicted class per row) of a model on host data, computed on the
    model's backend; the loss and the outputs are then read on the host once each."""
    b = model.backend
    X = b.asarray(X_host, model.dtype_name)
    out = model.predict(X)
    if task == "classification":
        y = b.asarray(y_host.reshape(-1, 1), model.dtype_name) if model.n_out == 1 else b.asarray(y_host)
    else:
        y = b.asarray(y_host, model.dtype_name)
    value, _ = get_loss(loss_name)(out, y)
    result = {"loss": to_float(value)}
    if task == "classification":
        out_host = to_numpy(out)
        pred = (out_host[:, 0] > 0).astype(np.int64) if model.n_out == 1 else out_host.argmax(axis=1)
        result["accuracy"] = float(np.mean(pred == y_host))
        result["predicted"] = pred
    else:  # the loss alone says little to a reader: the scores scikit-learn's users know
        result.update(regression_scores(get_loss(loss_name).predictions(out), y))
    return result


def regression_metrics(model, loss_name: str, train: tuple, validation: tuple | None) -> dict[str, float]:
    """RMSE, MAE and R² of a regressor on the (X_host, y_host) it was trained on and on its
    validation pair, if any, keyed like the history's metrics ("rmse", "val_rmse", ...)."""
    out = {}
    for prefix, pair in (("", train), ("val_", validation)):
        if pair is None:
            continue
        scores = evaluate_model(model, *pair, loss_name, "regression")
        out.update({f"{prefix}{k}": scores[k] for k in ("rmse", "mae", "r2")})
    return out
