"""The 'lbfgs' solver: scipy's L-BFGS-B on the whole training set, as scikit-learn's MLPs run it
(maxiter=max_iter, maxfun=max_fun, gtol=tol), with xpnet's forward, loss and backward computing
the objective and its gradient on the model's backend. The parameters travel to the host as one
float64 vector per evaluation (scipy works on the host).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning

from ..backend import to_numpy


def fit_lbfgs(model, loss, penalty, X, y, weights, *, max_iter: int, max_fun: int, tol: float, verbose) -> tuple:
    """Minimise the mean (weighted) loss plus the penalty over (X, y); the model keeps the
    result. Returns (iterations, final objective). Warns ConvergenceWarning, as scikit-learn
    does, when scipy stops before its tolerance is met."""
    b, keys = model.backend, list(model.params)
    shapes = [tuple(model.params[k].shape) for k in keys]
    sizes = [int(np.prod(s)) for s in shapes]
    batch_weight = float(X.shape[0]) if weights is None else b.xp.sum(weights, dtype=weights.dtype)

    def unpack(vector) -> dict:
        out, start = {}, 0
        for k, shape, size in zip(keys, shapes, sizes, strict=True):
            out[k] = b.asarray(np.reshape(vector[start : start + size], shape), model.dtype_name)
            start += size
        return out

    def objective(vector):
        model.params = unpack(vector)
        out, _, backprop = model.forward(X, training=True)
        value, dout = loss(out, y) if weights is None else loss(out, y, weights)
        _, grads = backprop(dout)
        if penalty is not None:
            extra, grads = penalty(model.params, grads, batch_weight)
            value = value + extra
        flat = np.concatenate([np.asarray(to_numpy(grads[k]), dtype=np.float64).reshape(-1) for k in keys])
        return float(to_numpy(value)), flat

    start = np.concatenate([np.asarray(to_numpy(model.params[k]), dtype=np.float64).reshape(-1) for k in keys])
    result = scipy.optimize.minimize(
        objective,
        start,
        method="L-BFGS-B",
        jac=True,
        options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol},
    )
    model.params = unpack(result.x)
    if verbose:
        print(f"L-BFGS-B: {result.nit} iterations, {result.nfev} evaluations, loss {result.fun:.8f}: {result.message}")
    if result.status != 0:
        warnings.warn(
            f"lbfgs failed to converge after {result.nit} iteration(s) (status={result.status}): {result.message}. "
            "Increase the number of iterations (max_iter) or scale the data.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return min(int(result.nit), max_iter), float(result.fun)
