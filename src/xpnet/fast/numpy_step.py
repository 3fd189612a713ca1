"""The fast training step for NumPy: Dense layers, elementwise activations, SGD (with momentum
or nesterov) and Adam, proven equal to the generic step bit for bit (tests/test_fastpath.py).

Why it is faster than the generic step: the generic step pays Python overhead per operation
(array-api-compat dispatch, closures, dicts of gradients, a new array for every intermediate and
every updated parameter). For tiny layers that overhead is the whole cost; for large ones the
avoidable part is allocating and filling fresh arrays. This step runs the same arithmetic with
`out=` into buffers kept per batch size, and updates the parameters in place, each layer's
weights right after its input gradient has used them (the generic step uses the old weights for
every gradient too, so the numbers are the same).

Every matrix product is the generic step's own BLAS call, with the same shapes and layouts: a
weight gradient is one product into a buffer of the layer's size, never row blocks of it. Rows of
a product computed apart are not the same bits as the whole product's (OpenBLAS 0.3.31 on this
machine picks other kernels for the smaller shapes: checked, float32 and float64), so blocking the
product would break the bit-identity this step promises.

What it supports is stated here, field by field (`_LAYERS`, `_LOSSES`, numpy_optim.plan): a
layer, loss or transform of exactly a listed type whose configuration holds exactly the listed
fields. Anything else, including a listed type that has grown a field this file does not know,
makes `build` return None and the generic step runs: never a silent approximation.

Ownership: the arrays of `model.params` and of the optimizer state are owned by this step and
change in place. On first use (or whenever `model.params` was replaced) the parameters are copied
once, so arrays a caller held before are untouched; an optimizer state it did not create
(`init_state`) or return is copied the same way. Snapshots for a rollback come from the step
(`TrainStep.snapshot`), which copies because of this.

The gradient seam: with a hook (training/step.py) the step computes every parameter's
gradient into one flat buffer before any update, hands the hook the complete gradient, then
updates; without one it applies each layer's gradient as soon as it is computed (one buffer the
size of the largest layer, shared by all), in row blocks of at most BLOCK_BYTES, so that each
block's passes of the update read it from cache.

Memory: between ReLU (or no activation) layers the input gradient d @ W.T is written over the
layer input it replaces, which the weight gradient has just used (so the product h.T @ d comes
first, then d @ W.T, then the update: every product still reads the old weights).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from ..nn.activations import Identity, ReLU, Sigmoid, Tanh
from ..nn.dense import Dense
from ..nn.losses import MSE, HalfSSE, SoftmaxCrossEntropy
from . import numpy_kernels as K
from . import numpy_optim as _optim

# The update runs over blocks of rows of at most this size of a weight and its gradient (with the
# optimizer's scratch), so that each of its passes reads the block from cache.
BLOCK_BYTES = 512 * 1024

# exact type -> (the exact set of its config() fields, kernel factory of the layer or None)
_LAYERS: dict[type, tuple[frozenset, Callable | None]] = {
    Dense: (frozenset({"n_in", "n_out", "bias", "init"}), None),
    ReLU: (frozenset(), lambda layer: K.relu),
    Tanh: (frozenset(), lambda layer: K.tanh),
    Identity: (frozenset(), lambda layer: None),
    Sigmoid: (
        frozenset({"stable"}),
        lambda layer: K.sigmoid_stable if layer.stable is True else K.sigmoid_seed if layer.stable is False else False,
    ),
}
# exact type -> kernel factory; the losses take no configuration
_LOSSES = {HalfSSE: K.half_sse, MSE: K.mse, SoftmaxCrossEntropy: K.softmax_cross_entropy}
_NO_KERNEL = object()


def _matches(obj: Any, table: dict) -> Any:
    """table[type(obj)] when obj is exactly of a listed type with exactly the listed fields."""
    entry = table.get(type(obj))
    if entry is None:
        return None
    fields, kernel = entry
    return entry if frozenset(obj.config()) == fields else None


def _plan(model) -> list | None:
    """[(W key, b key or None, activation kernel or None)] per Dense layer, or None if any
    layer is not supported exactly."""
    stages: list = []
    for i, layer in enumerate(model.layers):
        entry = _matches(layer, _LAYERS)
        if entry is None:
            return None
        if type(layer) is Dense:
            stages.append([f"{i}.W", f"{i}.b" if layer.bias else None, None])
            continue
        act = entry[1](layer)
        if act is False or not stages:
            return None
        if act is not None:
            if stages[-1][2] is not None:
                return None  # two activations in a row: leave it to the generic path
            stages[-1][2] = act
    return stages or None


@functools.cache
def _int_max(dt) -> int:
    """The largest label a dtype holds (once per dtype: np.iinfo costs ~1 us)."""
    return int(np.iinfo(dt).max)


def row_blocks(n_i: int, n_o: int, itemsize: int, block_bytes: int) -> list[tuple[int, int]]:
    """Rows [a, b) of a (n_i, n_o) weight matrix in near-equal blocks of at most block_bytes."""
    n_blocks = -(-n_i * n_o * itemsize // block_bytes)
    rows = -(-n_i // n_blocks)
    return [(a, min(a + rows, n_i)) for a in range(0, n_i, rows)]


class FastStep:
    """What build() returns: `run(x, y, opt_state, hook) -> (loss, outputs, opt_state)` or None
    for a call it does not take, and `init_state()`, an optimizer state the step owns."""

    path = "numpy"
    in_place = True  # it updates params and optimizer state in place: snapshots must copy

    def __init__(self, run: Callable, init_state: Callable) -> None:
        self.run, self.init_state = run, init_state


def build(model, loss_fn, optimizer) -> FastStep | None:
    """The fast step for this exact configuration, or None (see the module docstring)."""
    stages, opt = _plan(model), _optim.plan(optimizer)
    entry = _LOSSES.get(type(loss_fn)) if not loss_fn.config() else None
    if stages is None or opt is None or entry is None or model.buffers:
        return None
    loss_kernel = entry
    if model.dtype_name not in ("float32", "float64"):
        return None
    if type(loss_fn) is SoftmaxCrossEntropy and stages[-1][2] is not None:
        return None  # that loss takes logits: an activation after the last layer is a mistake

    dtype = np.dtype(model.dtype_name)
    keys = [k for st in stages for k in st[:2] if k is not None]
    shapes = {k: tuple(model.params[k].shape) for k in keys}
    first_w = keys[0]
    n_in, n_out = shapes[first_w][0], shapes[stages[-1][0]][1]
    # nesterov and adam need a scratch block besides the gradient block: halve both
    block_bytes = BLOCK_BYTES // 2 if opt.kind in ("nesterov", "adam") else BLOCK_BYTES
    blocks = [row_blocks(*shapes[wk], dtype.itemsize, block_bytes) for wk, _, _ in stages]
    largest = max(
        [(b - a) * shapes[wk][1] for (wk, _, _), bl in zip(stages, blocks, strict=True) for a, b in bl]
        + [shapes[bk][0] for _, bk, _ in stages if bk is not None]
    )
    largest_layer = max(int(np.prod(shapes[wk])) for wk, _, _ in stages)
    total = sum(int(np.prod(s)) for s in shapes.values())
    prepare, update, per_step = _optim.make_update(opt, dtype, largest)
    stateful = opt.kind != "sgd"  # sgd keeps no arrays: nothing to check or adopt
    # one weight gradient buffer the size of the largest layer, shared by every layer and batch
    # size (allocated on first use): each layer's gradient is used up by its update before the
    # next is computed, so memory holds one layer's gradient, not every layer's
    grad: list = []
    flat: dict = {}  # hooked mode: the whole gradient, one flat buffer and a view per parameter
    owned: dict = {"params": None, "state": None}  # the params dict and state dicts the step owns
    views: list = []  # per stage: (W's gradient, [(W block, gradient block, state blocks)], bias entry)
    scratch: dict = {}  # batch size -> buffers
    pool: dict = {"rows": 0, "arrays": []}  # the arrays behind them (see buffers)
    last = len(stages) - 1

    def bind() -> None:
        """Views of the owned parameters and state by row block, for the update loop."""
        params, state = owned["params"], owned["state"]
        if not grad:
            grad.append(np.empty(max(largest_layer, largest), dtype))
        g_all = grad[0]
        views.clear()
        for (wk, bk, _), bl in zip(stages, blocks, strict=True):
            n_i, n_o = shapes[wk]
            gw = g_all[: n_i * n_o].reshape(n_i, n_o)
            wb = [(params[wk][a:b, ...], gw[a:b, ...], tuple(s[wk][a:b, ...] for s in state)) for a, b in bl]
            bb = (params[bk], g_all[:n_o], tuple(s[bk] for s in state)) if bk is not None else None
            views.append((gw, wb, bb))
        scratch.clear()  # the per-batch plans hold these views: rebuilt on the next step

    def params_owned() -> bool:
        params = model.params
        return params is owned["params"] and all(params[k] is owned[k] for k in keys)

    def state_owned(opt_state) -> bool:
        return owned["state"] is not None and all(
            s is o for s, o in zip(_optim.slots(opt, opt_state), owned["state"], strict=True)
        )

    def adopt(opt_state) -> bool:
        """Take model.params and the state's arrays into arrays this step owns (and updates in
        place), copying each once; False if the state does not fit (the generic step takes it)."""
        state = _optim.slots(opt, opt_state)
        for s in state:
            if any(type(s.get(k)) is not np.ndarray or s[k].dtype != dtype or s[k].shape != shapes[k] for k in keys):
                return False
        if not params_owned():
            # a new dict (a caller's keeps the old arrays), filled one copy at a time: an old array
            # is freed as soon as its copy replaces it unless a caller holds it, so memory never
            # holds a second copy of every parameter at once
            params = model.params = owned["params"] = dict(model.params)
            for k in params:
                params[k] = np.array(params[k], dtype=dtype, order="C", copy=True)
            owned.update({k: params[k] for k in keys})
        if not state_owned(opt_state):
            # a state this step did not make: copied, so that no caller's arrays change
            owned["state"] = tuple({k: np.array(v, order="C", copy=True) for k, v in s.items()} for s in state)
        bind()
        prepare(opt_state)  # the constants; again every step only if they change (per_step)
        return True

    def init_state():
        """The optimizer's initial state in arrays this step owns from the start (no copy)."""
        opt_state = optimizer.init(model.params)
        owned["state"] = tuple(_optim.slots(opt, opt_state))
        if params_owned():
            bind()
        return opt_state

    def usable(x, y) -> bool:
        if (
            type(x) is not np.ndarray
            or type(y) is not np.ndarray
            or x.dtype != dtype
            or x.ndim != 2
            or x.shape[1] != n_in
        ):
            return False
        if y.ndim == 1 and loss_kernel is K.softmax_cross_entropy:
            # integer labels; the kernel checks that each lies in [0, n_out) (it returns None
            # otherwise), and the generic step compares them with arange(n_out) of their dtype
            return y.dtype.kind in "iu" and y.shape[0] == x.shape[0] and y.size > 0 and n_out - 1 <= _int_max(y.dtype)
        return y.dtype == dtype and y.shape == (x.shape[0], n_out)

    def buffers(n: int) -> tuple:
        """The forward and backward plans (per layer: arrays, buffers, kernels) and the loss
        closure for batch size n. Every buffer's first axis is the batch: they are the first n
        rows of one set of arrays for the largest batch so far, so a last, shorter batch adds no
        memory."""
        if n > pool["rows"]:
            pool.update(rows=n, arrays=[])
            scratch.clear()  # their buffers belong to the old set
        taken = iter(range(1 << 30))

        def empty(shape, dt):
            i, arrays = next(taken), pool["arrays"]
            if i == len(arrays):
                arrays.append(np.empty((pool["rows"],) + tuple(shape[1:]), dt))
            return arrays[i][: shape[0], ...]

        params, forward, backward, zs = owned["params"], [], [], []
        for i, ((wk, bk, act), (gw, wb, bb)) in enumerate(zip(stages, views, strict=True)):
            n_i, n_o = shapes[wk]
            z = empty((n, n_o), dtype) if i != last else None  # None: the outputs, fresh each step
            if i == 0:
                dx = None  # the first layer's input gradient is never used
            elif stages[i - 1][2] in (None, K.relu):
                # the layer's input is needed by no backward pass once this layer's weight
                # gradient has read it (ReLU's keeps its own mask): d @ W.T goes over it
                dx = zs[i - 1]
            else:
                dx = empty((n, n_i), dtype)
            zs.append(z)
            fwd, bwd = act((n, n_o), dtype, empty) if act is not None else (None, None)
            forward.append((params[wk], z, params[bk] if bk is not None else None, fwd))
            backward.insert(0, (params[wk], dx, bwd, gw, wb, bb, i, wk, bk))
        scratch[n] = (forward, backward, loss_kernel((n, n_out), dtype, empty))
        return scratch[n]

    def whole_gradient() -> dict:
        """Hooked mode: one flat buffer holding every parameter's gradient, viewed per name."""
        if not flat:
            buf = np.empty(total, dtype)
            offset = 0
            for k in keys:
                size = int(np.prod(shapes[k]))
                flat[k] = buf[offset : offset + size].reshape(shapes[k])
                offset += size
        return flat

    def run(x, y, opt_state, hook=None):
        if not usable(x, y) or (
            (
                model.params is not owned["params"]
                or model.params[first_w] is not owned[first_w]
                or (stateful and not state_owned(opt_state))
            )
            and not adopt(opt_state)
        ):
            return None  # the generic step takes this call
        forward, backward, loss = scratch.get(x.shape[0]) or buffers(x.shape[0])
        if per_step:
            prepare(opt_state)
        h = x
        hs = [x]  # every layer's input, then the output
        for W, z, b, fwd in forward:
            # np.dot and matmul make the same BLAS call here; dot has less overhead per call
            z = np.dot(h, W) if z is None else np.dot(h, W, z)
            if b is not None:
                np.add(z, b, z)
            if fwd is not None:
                fwd(z)
            hs.append(z)
            h = z
        got = loss(h, y)
        if got is None:
            return None  # targets the kernel does not take; nothing has been updated yet
        value, d = got
        if hook is None:
            for W, dx, bwd, gw, wb, bb, i, _, _ in backward:
                if bwd is not None:
                    bwd(d, hs[i + 1])
                # y = h @ W, so dW = h.T @ d (first: dx may go over h) and dx = d @ W.T, both
                # with W before its update, as in the generic step
                np.dot(hs[i].T, d, gw)
                if dx is not None:
                    np.dot(d, W.T, dx)
                for Wb, g, s in wb:  # the update, a block of rows at a time
                    update(Wb, g, s)
                if bb is not None:
                    b, g, s = bb
                    K.add_reduce(d, axis=0, out=g)
                    update(b, g, s)
                d = dx
        else:
            _hooked(backward, hs, d, hook)
        return value, h, _optim.next_state(opt, opt_state, owned["state"])

    def _hooked(backward, hs, d, hook) -> None:
        """Every gradient first (the same products), the hook, then the updates."""
        g_all = whole_gradient()
        for W, dx, bwd, _, _, _, i, wk, bk in backward:
            if bwd is not None:
                bwd(d, hs[i + 1])
            np.dot(hs[i].T, d, g_all[wk])  # first: dx may go over hs[i]
            if dx is not None:
                np.dot(d, W.T, dx)
            if bk is not None:
                K.add_reduce(d, axis=0, out=g_all[bk])
            d = dx
        given = hook(dict(g_all))
        params, state = owned["params"], owned["state"]
        for k in keys:
            g = given[k]
            if g is not g_all[k]:  # a replaced gradient: into the buffer, which the update uses as scratch
                np.copyto(g_all[k], g)
            update(params[k], g_all[k], tuple(s[k] for s in state))

    return FastStep(run, init_state)
