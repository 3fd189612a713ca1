"""Batch normalisation over the batch axis of (batch, features) inputs (Ioffe & Szegedy 2015),
with PyTorch's BatchNorm1d conventions.

Training normalises with the batch's mean and biased variance and returns updated running
statistics as its new state (the training step commits them; forward changes nothing):
    running <- (1 - momentum) * running + momentum * batch_statistic,
where the running variance takes the *unbiased* batch variance (n / (n - 1) times the biased
one), as torch does. Evaluation normalises with the running statistics.
"""

from __future__ import annotations

from ..checks import check_float, check_int, check_positive
from ..errors import ShapeError
from .layer import Layer


class BatchNorm(Layer):
    min_train_rows = 2  # a variance needs two rows; Trainer checks every batch has them before training

    def __init__(self, n_features: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        self.n_features = check_int("n_features", n_features)
        self.momentum = check_float("momentum", momentum, 0.0, 1.0)
        self.eps = check_positive("eps", eps)

    def shapes(self, n_in):
        if n_in != self.n_features:
            raise ShapeError(f"{self!r}: expects {self.n_features} features but the previous layer gives {n_in}")
        shape = (self.n_features,)
        return {"gamma": shape, "beta": shape}, {"running_mean": shape, "running_var": shape}, self.n_features

    def build(self, n_in, *, rng, backend, dtype):
        self.shapes(n_in)  # the shapes, checked
        xp, dev, shape = backend.xp, backend.device, (self.n_features,)
        params = {"gamma": xp.ones(shape, dtype=dtype, device=dev), "beta": xp.zeros(shape, dtype=dtype, device=dev)}
        state = {
            "running_mean": xp.zeros(shape, dtype=dtype, device=dev),
            "running_var": xp.ones(shape, dtype=dtype, device=dev),
        }
        return params, state, self.n_features

    def forward(self, params, state, x, ctx):
        xp = ctx.xp
        gamma, beta = params["gamma"], params["beta"]  # (features,)
        if not ctx.training:
            inv_std = 1 / xp.sqrt(state["running_var"] + self.eps)
            xhat = (x - state["running_mean"]) * inv_std

            def backprop_eval(dy, need_dx=True):
                # the statistics are constants here, so x -> y is an elementwise affine map
                grads = {"gamma": xp.sum(dy * xhat, axis=0), "beta": xp.sum(dy, axis=0)}
                return (dy * (gamma * inv_std) if need_dx else None), grads

            return gamma * xhat + beta, state, backprop_eval

        glob = ctx.batch  # distributed: this process holds some rows of a global batch
        n = x.shape[0] if glob is None else glob.rows
        if n < 2:
            raise ShapeError(f"{self!r}: training needs a batch of at least 2 rows to estimate a variance, got {n}")
        if glob is None:
            mean = xp.mean(x, axis=0)  # (features,)
            xc = x - mean
            var = xp.mean(xc * xc, axis=0)  # biased: what normalises the batch
        else:  # the global batch's statistics, in the same two passes: sums over every process's rows
            mean = glob.sum([xp.sum(x, axis=0, dtype=x.dtype)])[0] / n
            xc = x - mean
            var = glob.sum([xp.sum(xc * xc, axis=0, dtype=x.dtype)])[0] / n
        inv_std = 1 / xp.sqrt(var + self.eps)
        xhat = xc * inv_std  # (batch, features)
        y = gamma * xhat + beta

        def backprop(dy, need_dx=True):
            grads = {"gamma": xp.sum(dy * xhat, axis=0), "beta": xp.sum(dy, axis=0)}
            if not need_dx:
                return None, grads
            # mean and var depend on every row, so each dx gathers the whole batch:
            # dx = inv_std / n * (n * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat))
            # (distributed: both sums run over the global batch, dy being each row's part of its loss)
            dxhat = dy * gamma
            s1, s2 = xp.sum(dxhat, axis=0), xp.sum(dxhat * xhat, axis=0)
            if glob is not None:
                s1, s2 = glob.sum([s1, s2])
            dx = (inv_std / n) * (n * dxhat - s1 - xhat * s2)
            return dx, grads

        m = self.momentum
        new_state = {
            "running_mean": (1 - m) * state["running_mean"] + m * mean,
            "running_var": (1 - m) * state["running_var"] + m * (var * (n / (n - 1))),
        }
        return y, new_state, backprop
