"""A compiled training step for NumPy: Dense layers, elementwise activations, plain SGD.

Why it is faster than the generic step: the generic step pays Python overhead per operation
(array-api-compat dispatch, closures, dicts of gradients, a new array for every intermediate and
every updated parameter). For tiny layers that overhead is the whole cost; for large ones the
avoidable part is allocating and filling fresh arrays. This step runs the same arithmetic with
`out=` into buffers kept per batch size, and updates the parameters in place, each layer's
weights right after its input gradient has used them (the generic step uses the old weights for
every gradient too, so the numbers are the same).

Semantics kept: it returns (loss, outputs, opt_state) like `train.train_step`; `outputs` is a
fresh array (callers may keep it across steps); `model.params` holds the updated arrays. The
arrays in `model.params` are owned by the step and change in place: on first use (or whenever
`model.params` was replaced) they are copied once, so arrays a caller held before are untouched.
Anything it does not recognise (another dtype or array type of x, labels out of range) runs
through the generic `train_step` for that call.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import numpy as np

from .. import activations as _act
from .. import losses as _losses
from ..layers import Dense
from . import numpy_kernels as K

_ACTIVATIONS = {_act.ReLU: K.relu, _act.Tanh: K.tanh, _act.Identity: None}  # exact type -> kernel
_LOSSES = {_losses.HalfSSE: K.half_sse, _losses.MSE: K.mse,
           _losses.SoftmaxCrossEntropy: K.softmax_cross_entropy}


def _activation(layer):
    """The kernel factory, None for the identity, False when unsupported."""
    if type(layer) is _act.Sigmoid:
        return K.sigmoid_stable if layer.stable else K.sigmoid_seed
    return _ACTIVATIONS.get(type(layer), False)


def sgd_rate(optimizer: Any) -> float | Callable | None:
    """The learning rate (or schedule) of an `optim.sgd` optimizer; None for any other."""
    update = getattr(optimizer, "update", None)
    if getattr(update, "__qualname__", "") != "scale_by_learning_rate.<locals>.update":
        return None
    lr = inspect.getclosurevars(update).nonlocals.get("lr")
    return lr if callable(lr) or isinstance(lr, float) else None


def _plan(model) -> list | None:
    """[(W key, b key or None, activation or None)] per Dense layer, or None if unsupported."""
    stages: list = []
    for i, layer in enumerate(model.layers):
        if type(layer) is Dense:
            stages.append([f"{i}.W", f"{i}.b" if layer.bias else None, None])
            continue
        act = _activation(layer)
        if act is False or not stages:
            return None
        if act is not None:
            if stages[-1][2] is not None:
                return None  # two activations in a row: leave it to the generic path
            stages[-1][2] = act
    return stages or None


def compile_numpy_step(model, loss_fn, optimizer) -> Callable | None:
    """The fast step for this configuration, or None (see the module docstring)."""
    stages, lr = _plan(model), sgd_rate(optimizer)
    loss_kernel = _LOSSES.get(type(loss_fn))
    if stages is None or lr is None or loss_kernel is None or model.buffers:
        return None
    if model.dtype_name not in ("float32", "float64"):
        return None
    if type(loss_fn) is _losses.SoftmaxCrossEntropy and stages[-1][2] is not None:
        return None  # that loss takes logits: an activation after the last layer is a mistake
    from ..train import train_step  # the generic path, for calls the fast one does not take

    dtype = np.dtype(model.dtype_name)
    keys = [k for st in stages for k in st[:2] if k is not None]
    first_w = keys[0]
    n_in, n_out = model.params[stages[0][0]].shape[0], model.params[stages[-1][0]].shape[1]
    owned: dict = {}  # the params dict the step owns, once adopted
    scratch: dict = {}  # batch size -> buffers
    last = len(stages) - 1

    def adopt() -> dict:
        """model.params, copied once into arrays this step owns (and updates in place)."""
        params = model.params
        if params is owned.get("dict"):
            for k in keys:
                if params[k] is not owned[k]:
                    break
            else:
                return params
        params = {k: np.array(v, dtype=dtype, order="C", copy=True) for k, v in params.items()}
        model.params = params
        owned.clear()
        owned.update({k: params[k] for k in keys}, dict=params)
        return params

    def usable(x, y) -> bool:
        if type(x) is not np.ndarray or type(y) is not np.ndarray or x.dtype != dtype or x.ndim != 2 \
                or x.shape[1] != n_in:
            return False
        if y.ndim == 1 and loss_kernel is K.softmax_cross_entropy:
            # integer labels in [0, k); the unsigned view turns negative labels into huge ones
            return (y.dtype.kind in "iu" and y.shape[0] == x.shape[0] and y.size > 0
                    and int(np.max(y.view(f"u{y.itemsize}"))) < n_out)
        return y.dtype == dtype and y.shape == (x.shape[0], n_out)

    def buffers(n: int) -> tuple:
        """Per layer (W key, b key, z, dx, gW, gb, activation closures), and the loss closure,
        for batch size n."""
        params = model.params
        layers = []
        # one weight-gradient buffer shared by all layers and batch sizes: each gradient is used
        # up by its layer's update before the next one is computed, so memory holds one, not all
        flat = scratch.get("gW")
        if flat is None:
            flat = scratch["gW"] = np.empty(max(params[wk].size for wk, _, _ in stages), dtype)
        for i, (wk, bk, act) in enumerate(stages):
            n_i, n_o = params[wk].shape
            layers.append((wk, bk, np.empty((n, n_o), dtype) if i != last else None,
                           np.empty((n, n_i), dtype) if i > 0 else None,
                           flat[:n_i * n_o].reshape(n_i, n_o), np.empty((n_o,), dtype) if bk else None,
                           act((n, n_o), dtype) if act is not None else (None, None)))
        scratch[n] = (layers, layers[::-1], loss_kernel((n, n_out), dtype))
        return scratch[n]

    # 1 * g == g: a rate of 1 skips the multiplication; a constant rate is converted once
    const_rate = None if callable(lr) else (None if lr == 1.0 else np.asarray(lr, dtype=dtype))
    scheduled = callable(lr)

    def step(x, y, opt_state, rng=None):
        if not usable(x, y):
            return train_step(model, loss_fn, optimizer, opt_state, x, y, rng=rng)
        params = model.params
        if params is not owned.get("dict") or params[first_w] is not owned[first_w]:
            params = adopt()
        layers, backwards, loss = scratch.get(x.shape[0]) or buffers(x.shape[0])
        rate = const_rate
        if scheduled:
            rate = lr(opt_state.step)
            rate = None if rate == 1.0 else np.asarray(rate, dtype=dtype)
        h = x
        hs = [x]  # every layer's input, then the output
        for wk, bk, z, _, _, _, (fwd, _) in layers:
            # np.dot and matmul make the same BLAS call here; dot has less overhead per call
            z = np.dot(h, params[wk]) if z is None else np.dot(h, params[wk], z)  # None: fresh outputs
            if bk is not None:
                np.add(z, params[bk], z)
            if fwd is not None:
                fwd(z)
            hs.append(z)
            h = z
        value, d = loss(h, y)
        i = len(layers)
        for wk, bk, _, dx, gW, gb, (_, bwd) in backwards:
            W = params[wk]
            if bwd is not None:
                bwd(d, hs[i])
            i -= 1
            if dx is not None:  # the first layer's input gradient is never used
                np.dot(d, W.T, dx)  # uses W before its update, as the generic step
            # sgd: p + -(lr * g) is the same number as p - lr * g
            np.dot(hs[i].T, d, gW)
            if rate is not None:
                np.multiply(gW, rate, gW)
            np.subtract(W, gW, W)
            if bk is not None:
                b = params[bk]
                K._sum(d, axis=0, out=gb)
                if rate is not None:
                    np.multiply(gb, rate, gb)
                np.subtract(b, gb, b)
            d = dx
        return value, h, type(opt_state)(opt_state.step + 1)

    step.fast = "numpy"  # for tests and benchmarks: which path this is
    return step
