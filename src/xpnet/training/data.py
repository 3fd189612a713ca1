"""Training data: conversion to the model's backend, checks before training, the default loss,
and the seeded validation split.

Every check runs here, once, before the first step, and fails with a one-line DataError,
ShapeError or BackendMismatchError naming the argument. The checks are device reductions read
back as a few scalars, so data already on a GPU is never copied to the host whole.
"""

from __future__ import annotations

from typing import Any

from .. import backend as _backend
from ..errors import DataError, ShapeError
from ..io.split import split_rows
from ..nn.losses import DEFAULT_LOSS, get_loss


def _as_array(model, data: Any, name: str) -> Any:
    """`data` as an array of the model's backend: host data (lists, NumPy arrays) is converted,
    arrays of another library or device are refused rather than copied behind the user's back."""
    b = model.backend
    if _backend.is_array(data) and _backend.library_name(data) != "numpy":
        _backend.check_on(b, data, name)
        return data
    try:
        if not _backend.is_array(data):
            # NumPy infers the dtype of host lists (float64, int64) the same way for every backend
            # (torch would read floats as float32)
            data = _backend.get_backend("numpy").asarray(data)
        return b.asarray(data)
    except Exception as exc:
        raise DataError(f"{name}: expected numeric data, got {type(data).__name__} ({exc})") from None


def all_finite(a: Any, *, xp: Any) -> bool:
    """True when every element of `a` is finite. The sum is finite then (one scalar, no
    temporary the size of the data: a boolean mask of 2e6 x 64 rows would take 128 MB); only a
    non-finite sum (a NaN or an infinity, or finite values large enough to overflow) pays for
    the element-wise test."""
    if bool(xp.isfinite(xp.sum(a))):
        return True
    return bool(xp.all(xp.isfinite(a)))


def _default_loss(y, n_out: int, xp) -> str:
    """softmax_cross_entropy for class labels or one-hot rows with several outputs, bce_logits
    for 0/1 labels with one output, mse otherwise."""
    if y.ndim == 1 and n_out > 1:
        return DEFAULT_LOSS["classification"]
    zero_one = bool(xp.all((y == 0) | (y == 1)))
    if n_out == 1 and zero_one:
        return "bce_logits"
    if y.ndim == 2 and n_out > 1 and zero_one and bool(xp.all(xp.sum(xp.astype(y, xp.int64), axis=1) == 1)):
        return DEFAULT_LOSS["classification"]
    return DEFAULT_LOSS["regression"]


def prepare_data(model, X: Any, y: Any, loss: Any, *, name: str = "", transform=None) -> tuple[Any, Any, Any]:
    """(X, y, loss) ready for training: X a 2-D array of the model's dtype, y integer labels
    (samples,) for softmax cross-entropy with labels, else a (samples, n_out) array of the model's
    dtype; loss resolved (None: the default for these targets). name prefixes error messages.
    transform (fit's input_transform): X is kept as given (not cast whole: it may be memory-mapped),
    its first row checked through the transform for the shape and dtype the model takes."""
    xp, dtype, n_out = model.backend.xp, model.dtype, model.n_out
    if transform is None:
        X = model.as_input(_as_array(model, X, f"{name}X"), name=f"{name}X")
    else:
        X = _as_array(model, X, f"{name}X")
        if X.ndim != 2:
            raise ShapeError(f"{name}X: expected a 2-D array (samples, features), got shape {tuple(X.shape)}")
        if X.shape[0]:
            model.as_input(transform(X[:1, ...]), name=f"{name}X")
    y = _as_array(model, y, f"{name}y")
    if not xp.isdtype(y.dtype, ("real floating", "integral", "bool")):
        raise DataError(f"{name}y: expected real numbers, got dtype {y.dtype}")
    if xp.isdtype(y.dtype, "bool"):
        y = xp.astype(y, dtype)
    if y.ndim not in (1, 2):
        raise ShapeError(f"{name}y: expected 1-D labels or a 2-D array, got shape {tuple(y.shape)}")
    if X.shape[0] == 0:
        raise DataError(f"{name}X: no samples (0 rows)")
    if y.shape[0] != X.shape[0]:
        raise DataError(f"{name}X and {name}y: different numbers of samples ({X.shape[0]} rows vs {y.shape[0]})")
    if not all_finite(X, xp=xp):
        raise DataError(f"{name}X: contains NaN or infinite values")
    if xp.isdtype(y.dtype, "real floating") and not bool(xp.all(xp.isfinite(y))):
        raise DataError(f"{name}y: contains NaN or infinite values")
    loss = get_loss(_default_loss(y, n_out, xp) if loss is None else loss)

    if y.ndim == 1 and loss.name == "softmax_cross_entropy":
        if xp.isdtype(y.dtype, "real floating") and not bool(xp.all(y == xp.round(y))):
            raise DataError(f"{name}y: softmax_cross_entropy needs integer class labels, got non-integer values")
        low, high = float(xp.min(y)), float(xp.max(y))
        if low < 0 or high >= n_out:
            raise DataError(
                f"{name}y: class labels must lie in [0, {n_out}) for a model with {n_out} outputs, "
                f"got labels from {low:g} to {high:g}"
            )
        return X, xp.astype(y, xp.int64), loss
    if y.ndim == 1:
        if n_out != 1:
            raise ShapeError(
                f"{name}y: 1-D targets fit a model with one output, this one has {n_out} "
                f"(use loss='softmax_cross_entropy' for class labels)"
            )
        y = xp.reshape(y, (y.shape[0], 1))
    if y.shape[1] != n_out:
        raise ShapeError(f"{name}y: expected {n_out} columns (the model's outputs), got {y.shape[1]}")
    y = xp.astype(y, dtype)
    if loss.non_negative and not bool(xp.all(y >= 0)):
        raise DataError(f"{name}y: {loss.name} needs non-negative targets, got a negative one")
    if loss.binary and not bool(xp.all((y >= 0) & (y <= 1))):
        raise DataError(f"{name}y: {loss.name} needs targets in [0, 1], got values outside")
    return X, y, loss


def prepare_weights(model, weights: Any, n_rows: int, *, name: str = "sample_weight") -> Any:
    """Sample weights ready for training: a 1-D array of the model's dtype, one per row, finite,
    non-negative and not all zero (checked on the device, a few scalars read back)."""
    xp = model.backend.xp
    w = _as_array(model, weights, name)
    if not xp.isdtype(w.dtype, ("real floating", "integral", "bool")):
        raise DataError(f"{name}: expected real numbers, got dtype {w.dtype}")
    if w.ndim != 1 or w.shape[0] != n_rows:
        raise ShapeError(f"{name}: expected one weight per sample, shape ({n_rows},), got {tuple(w.shape)}")
    w = xp.astype(w, model.dtype)
    if not bool(xp.all(xp.isfinite(w))):
        raise DataError(f"{name}: contains NaN or infinite values")
    if not bool(xp.all(w >= 0)):
        raise DataError(f"{name}: weights must be non-negative, got a negative one")
    if not bool(xp.any(w > 0)):
        raise DataError(f"{name}: every weight is zero; at least one sample must count")
    return w


def prepare_rows(model, rows: Any, n_rows: int) -> Any:
    """Row indices to train on: a 1-D integer array of the model's backend, each in [0, n_rows),
    none repeated, at least one."""
    xp = model.backend.xp
    r = _as_array(model, rows, "rows")
    if r.ndim != 1 or r.shape[0] < 1 or not xp.isdtype(r.dtype, "integral"):
        raise ShapeError(f"rows: expected a non-empty 1-D array of integer row indices, got shape {tuple(r.shape)}")
    r = xp.astype(r, xp.int64)
    if not bool(xp.all((r >= 0) & (r < n_rows))):
        raise DataError(f"rows: indices must lie in [0, {n_rows}), the rows of X")
    ordered = xp.sort(r)
    if r.shape[0] > 1 and bool(xp.any(ordered[1:] == ordered[:-1])):
        raise DataError("rows: an index appears twice; give each row at most once")
    return r


def split_weights(model, w: Any, fraction: float, seed: int | None) -> tuple[Any, Any]:
    """(w_train, w_val): sample weights split like the rows by `split_data` for `seed`."""
    b, xp = model.backend, model.backend.xp
    kept, held = (b.asarray(rows) for rows in split_rows(w.shape[0], fraction, seed))
    return xp.take(w, kept, axis=0), xp.take(w, held, axis=0)


def split_data(model, X: Any, y: Any, fraction: float, seed: int | None) -> tuple[Any, Any, Any, Any]:
    """(X_train, y_train, X_val, y_val): the rows io.split.split_rows holds out for `seed`."""
    b, xp = model.backend, model.backend.xp
    kept, held = (b.asarray(rows) for rows in split_rows(X.shape[0], fraction, seed))
    return xp.take(X, kept, axis=0), xp.take(y, kept, axis=0), xp.take(X, held, axis=0), xp.take(y, held, axis=0)


def check_batch_rows(model, n: int, batch_size: int | None) -> None:
    """Batch norm estimates a variance from each training batch: refuse, before the first step,
    a batch size whose last (or only) batch would be too small for it."""
    bs = n if batch_size is None else min(batch_size, n)
    smallest = n % bs or bs
    for layer in model.layers:
        rows = getattr(layer, "min_train_rows", 1)
        if smallest < rows:
            raise ShapeError(
                f"batch_size: {batch_size} makes a training batch of {smallest} row(s) from {n} "
                f"samples, and {type(layer).__name__} needs at least {rows} rows to train; choose another"
            )
