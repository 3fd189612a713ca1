"""The fused training step for CuPy: the generic step's arithmetic with cupy_kernels.py's fused
elementwise kernels, for Dense layers (with bias) each followed by ReLU, Tanh, Sigmoid or nothing,
softmax cross-entropy from logits with integer labels, and sgd (constant or scheduled rate, with
or without momentum) or adam, in float32 or float64, without buffers and without gradient hooks.
Anything else: `build` returns None and the generic step runs.

Per Dense layer and step it launches three matrix products and three fused kernels (bias plus
activation, activation backward, and one update per parameter) instead of about fifteen
elementwise kernels. Parameters and optimizer state are owned by the step and updated in place
(each layer's after its input gradient used the old weights, as the generic step does); an array
it did not make is copied once first, so no caller's array is written, and snapshots copy
(`in_place`).

`kernels(name, *args)` runs one kernel: CuPy's compiled ones by default; tests/test_cupy_step.py
passes `reference_kernels(numpy namespace)`, the same formulas as array-API operations, so this
step's logic is proven equal to the generic step in CI, and on a GPU with the compiled kernels.
Until benchmarks/gpu_check.py has shown that on a GPU, fast.select picks it only when the
environment variable XPNET_CUPY_FUSED is 1.
"""

from __future__ import annotations

from collections.abc import Callable

from ..nn.activations import Identity, ReLU, Sigmoid, Tanh
from ..nn.dense import Dense
from ..nn.losses import SoftmaxCrossEntropy
from . import cupy_kernels as CK
from . import numpy_optim as _plan

_ACTS = {ReLU: "relu", Tanh: "tanh", Sigmoid: "sigmoid", Identity: None}


def reference_kernels(xp) -> Callable:
    """The kernels' calling convention over cupy_kernels.REFERENCES: updates write into their
    output arguments, other kernels return their results."""

    def call(name: str, *args):
        out = CK.REFERENCES[name](*args, xp=xp)
        if not name.endswith("_update"):
            return out
        outs = out if isinstance(out, tuple) else (out,)
        for target, value in zip(args[len(args) - len(outs) :], outs, strict=True):
            target[...] = value
        return None

    return call


def _stages(model) -> list | None:
    """[(W key, b key, activation name or None)], or None if the model is not supported exactly."""
    stages: list = []
    for i, layer in enumerate(model.layers):
        if type(layer) is Dense:
            if not layer.bias or set(layer.config()) != {"n_in", "n_out", "bias", "init"}:
                return None
            stages.append([f"{i}.W", f"{i}.b", None])
        elif type(layer) in _ACTS and stages and stages[-1][2] is None:
            if type(layer) is Sigmoid and layer.stable is not True:
                return None  # the seeds' sigmoid is another formula
            if type(layer) is not Sigmoid and layer.config():
                return None
            stages[-1][2] = _ACTS[type(layer)]
        else:
            return None
    return stages or None


class FastStep:
    path = "cupy"
    in_place = True

    def __init__(self, run: Callable, init_state: Callable) -> None:
        self.run, self.init_state = run, init_state


def build(model, loss_fn, optimizer, *, kernels: Callable | None = None) -> FastStep | None:
    stages, opt = _stages(model), _plan.plan(optimizer)
    if (
        stages is None
        or opt is None
        or opt.kind == "nesterov"
        or type(loss_fn) is not SoftmaxCrossEntropy
        or loss_fn.config()
        or stages[-1][2] is not None  # that loss takes logits
        or model.buffers
        or model.dtype_name not in ("float32", "float64")
    ):
        return None
    kernels = kernels or CK.run
    b, xp = model.backend, model.backend.xp
    owned: dict = {"params": None, "arrays": (), "state": None}

    def copy(a):
        return xp.asarray(a, copy=True, device=b.device)

    def take_params() -> dict:
        params = model.params
        if params is not owned["params"] or any(params[k] is not a for k, a in owned["arrays"]):
            made = dict(owned["arrays"])
            params = dict(params)
            for k, v in params.items():
                if made.get(k) is not v:
                    params[k] = copy(v)
            model.params = owned["params"] = params
            owned["arrays"] = tuple(params.items())
        return params

    def take_state(opt_state) -> tuple:
        slots = tuple(_plan.slots(opt, opt_state))
        mine = owned["state"]
        if mine is None or any(s is not o for s, o in zip(slots, mine, strict=True)):
            mine = owned["state"] = tuple({k: copy(v) for k, v in s.items()} for s in slots)
        return mine

    def init_state():
        opt_state = optimizer.init(model.params)
        owned["state"] = tuple(_plan.slots(opt, opt_state))
        return opt_state

    def usable(x, y) -> bool:
        return (
            x.dtype == model.dtype
            and x.ndim == 2
            and y.ndim == 1
            and xp.isdtype(y.dtype, "integral")
            and y.shape[0] == x.shape[0]
        )

    def update(key, g, state, rate, consts):
        p = owned["params"][key]
        if opt.kind == "sgd":
            kernels("sgd_update", g, -rate, p)
        elif opt.kind == "momentum":
            kernels("sgd_momentum_update", g, opt.hyper["momentum"], -rate, p, state[0][key])
        else:
            kernels("adam_update", g, *consts, -rate, p, state[0][key], state[1][key])

    def run(x, y, opt_state, hook=None):
        if hook is not None or not usable(x, y):
            return None  # the generic step takes this call
        params, state = take_params(), take_state(opt_state)
        rate = float(opt.lr(_plan.lr_step(opt, opt_state))) if callable(opt.lr) else opt.lr
        consts = ()
        if opt.kind == "adam":
            h, t = opt.hyper, opt_state[0].count + 1
            # the host floats optim/transforms.py computes for step t
            consts = (h["b1"], 1 - h["b1"], h["b2"], 1 - h["b2"], 1 - h["b1"] ** t, (1 - h["b2"] ** t) ** 0.5, h["eps"])
        hs, aux, h_ = [x], [], x
        for wk, bk, act in stages:
            z = h_ @ params[wk]
            if act is None:
                z += params[bk]
                a = None
            elif act == "relu":
                z, a = kernels("bias_relu", z, params[bk])
            else:
                z = a = kernels(f"bias_{act}", z, params[bk])
            hs.append(z)
            aux.append(a)
            h_ = z
        n, k = h_.shape
        m, s = CK.row_stats(h_, xp=xp)
        picked = xp.take_along_axis(h_, xp.reshape(y, (-1, 1)), axis=1)
        value = xp.sum(xp.log(s) + m - picked, dtype=h_.dtype) / n  # the picked -log p, averaged
        d = kernels("softmax_ce_grad", h_, m, s, y, k, float(n))
        for i in range(len(stages) - 1, -1, -1):
            wk, bk, _ = stages[i]
            # y = x @ W + b: dW = x.T @ d, db = sum(d), dx = d @ W.T with W before its update
            gW = xp.matrix_transpose(hs[i]) @ d
            gb = xp.sum(d, axis=0)
            dx = d @ xp.matrix_transpose(params[wk]) if i > 0 else None
            update(wk, gW, state, rate, consts)
            update(bk, gb, state, rate, consts)
            if i > 0:
                prev = stages[i - 1][2]
                d = dx if prev is None else kernels(f"{prev}_backward", dx, aux[i - 1])
        return value, h_, _plan.next_state(opt, opt_state, state)

    return FastStep(run, init_state)
