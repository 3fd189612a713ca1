"""Metrics: the loss and the accuracy of a model, kept on the device.

Everything here returns 0-d device arrays (sums, not means) so that the training loop can add
them up over batches and bring one small vector to the host per epoch.
"""

from __future__ import annotations

import math
from typing import Any

from ..backend import namespace_of, to_numpy
from ..errors import ConfigError
from ..nn.losses import get_loss

METRICS = ("loss", "accuracy")


def resolve_metrics(metrics: Any, loss: Any) -> tuple[str, ...]:
    """The metric names to record. None: loss, plus accuracy when `loss` is a classification loss."""
    if metrics is None:
        return ("loss", "accuracy") if loss.task == "classification" else ("loss",)
    if isinstance(metrics, str):
        metrics = [metrics]
    names = []
    for m in metrics:
        if m not in METRICS:
            raise ConfigError(f"metrics: unknown metric {m!r}; expected any of: {', '.join(METRICS)}")
        names.append(m)
    if "loss" not in names:
        names.insert(0, "loss")  # the loop needs it for early stopping and the divergence guard
    return tuple(dict.fromkeys(names))


def correct_count(out: Any, y: Any, loss: Any, *, xp: Any = None) -> Any:
    """How many rows of `out` predict their target, as a 0-d array of out's dtype.

    Several outputs: the class is the argmax (softmax is monotonic, so logits give the same
    answer as probabilities); targets are class labels (batch,) or one-hot rows. One output: the
    prediction is positive where the loss' output activation exceeds 0.5; for a sigmoid that is
    where the logit exceeds 0, so the sigmoid itself is never computed.
    """
    xp = xp if xp is not None else namespace_of(out, y)
    if out.shape[1] > 1:
        pred = xp.argmax(out, axis=1)  # (batch,)
        labels = y if y.ndim == 1 else xp.argmax(y, axis=1)
        hits = pred == xp.astype(labels, pred.dtype)
    else:
        threshold = 0.0 if getattr(loss, "output", "identity") == "sigmoid" else 0.5
        # integer labels as out's dtype first: the standard compares a Python float only with a
        # floating-point array (array-api-strict raises TypeError otherwise)
        target = xp.astype(xp.reshape(y, out.shape), out.dtype)
        hits = (out > threshold) == (target > 0.5)  # (batch, 1)
    return xp.sum(xp.astype(hits, out.dtype), dtype=out.dtype)


def batch_total(value: Any, n_rows: Any, loss: Any) -> Any:
    """A batch's contribution to the loss over all rows: a mean loss's value times the batch's
    rows, a summed loss's value as it is. The epoch's loss is then the total over the rows
    divided by their number for a mean loss, the total itself for a summed one (`epoch_loss`).
    With sample weights n_rows is the batch's total weight (a 0-d array): the weighted mean."""
    if loss.reduction != "mean":
        return value
    return value * (float(n_rows) if isinstance(n_rows, int) else n_rows)


def epoch_loss(total: float, n_rows: float, loss: Any) -> float:
    """The loss over all `n_rows` rows from the sum of their `batch_total`s, as the loss defines it."""
    return total / n_rows if loss.reduction == "mean" else total


def evaluate_sums(
    model: Any, X: Any, y: Any, loss: Any, *, batch_size: int | None = None, weights: Any = None
) -> tuple[Any, ...]:
    """(sum of the batches' `batch_total`s, number correct) of `model` on (X, y) in evaluation
    mode, both 0-d device arrays. Batches bound the memory a large validation set needs.
    weights (one per row): the loss is weighted, and their sum comes third."""
    n = X.shape[0]
    bs = n if batch_size is None else min(batch_size, n)
    xp = model.backend.xp
    total = correct = None
    for a in range(0, n, bs):
        stop = min(a + bs, n)  # strict refuses slice stops past the end
        xb, yb = X[a:stop, ...], y[a:stop, ...]
        out = model.forward(xb, training=False)[0]
        if weights is None:
            value, _ = loss(out, yb)
            batch_loss = batch_total(value, xb.shape[0], loss)
        else:
            wb = weights[a:stop]
            value, _ = loss(out, yb, wb)
            batch_loss = batch_total(value, xp.sum(wb, dtype=wb.dtype), loss)
        batch_correct = correct_count(out, yb, loss, xp=xp)
        total = batch_loss if total is None else total + batch_loss
        correct = batch_correct if correct is None else correct + batch_correct
    if weights is None:
        return total, correct
    return total, correct, xp.sum(weights, dtype=weights.dtype)


def accuracy(outputs: Any, y: Any, *, loss: Any = None) -> float:
    """The fraction of rows of `outputs` that predict `y` (one host transfer). loss: the loss (or
    its name) the outputs were trained with, for its output activation; None: probabilities."""
    loss = None if loss is None else get_loss(loss)
    return float(to_numpy(correct_count(outputs, y, loss))) / outputs.shape[0]


def regression_scores(pred: Any, y: Any, *, xp: Any = None) -> dict[str, float]:
    """RMSE, MAE and R² of predictions `pred` against targets `y` (both (rows, outputs)), as
    scikit-learn's mean_squared_error (square-rooted), mean_absolute_error and r2_score define
    them: means over every value, and R² averaged uniformly over the outputs. Summed on the
    device; one small vector comes to the host."""
    xp = xp if xp is not None else namespace_of(pred, y)
    pred, y = xp.reshape(pred, (pred.shape[0], -1)), xp.reshape(y, (y.shape[0], -1))
    err = pred - y
    n = y.shape[0]
    # R² = 1 - SS_res / SS_tot per output, SS_tot the spread of y around its mean
    ss_res = xp.sum(err * err, axis=0, dtype=y.dtype)
    centred = y - xp.sum(y, axis=0, keepdims=True, dtype=y.dtype) / n
    ss_tot = xp.sum(centred * centred, axis=0, dtype=y.dtype)
    abs_sum = xp.reshape(xp.sum(xp.abs(err), dtype=y.dtype), (1,))
    host = to_numpy(xp.concat([ss_res, ss_tot, abs_sum])).tolist()
    k = y.shape[1]
    res, tot, abs_total = host[:k], host[k : 2 * k], host[2 * k]
    # a constant target: R² is 1 for a perfect fit, else 0 (scikit-learn's convention)
    r2 = [1 - r / t if t > 0 else (1.0 if r == 0 else 0.0) for r, t in zip(res, tot, strict=True)]
    return {
        "rmse": math.sqrt(sum(res) / (n * k)),
        "mae": abs_total / (n * k),
        "r2": sum(r2) / k,
    }
