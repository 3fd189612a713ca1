"""A compiled training step for NumPy: Dense layers, elementwise activations, SGD (with momentum
or nesterov) and Adam.

Why it is faster than the generic step: the generic step pays Python overhead per operation
(array-api-compat dispatch, closures, dicts of gradients, a new array for every intermediate and
every updated parameter). For tiny layers that overhead is the whole cost; for large ones the
avoidable part is allocating and filling fresh arrays. This step runs the same arithmetic with
`out=` into buffers kept per batch size, and updates the parameters in place, each layer's
weights right after its input gradient has used them (the generic step uses the old weights for
every gradient too, so the numbers are the same).

Semantics kept: it returns (loss, outputs, opt_state) like `train.train_step`, the state in
optim.py's layout; `outputs` is a fresh array (callers may keep it across steps); `model.params`
holds the updated arrays. The arrays in `model.params` are owned by the step and change in place:
on first use (or whenever `model.params` was replaced) they are copied once, so arrays a caller
held before are untouched. The optimizer state is taken over as given (no copy: that would hold
it twice): its arrays, and those of every state the step returns, are updated in place by the
next step, so a caller who keeps a state for later (a snapshot, a rollback) copies it, as
`Trainer.state_dict` does. Anything it does not recognise (another dtype or array type of x or of
the state, labels out of range) runs through the generic `train_step` for that call.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import activations as _act
from .. import losses as _losses
from ..layers import Dense
from . import numpy_kernels as K
from . import numpy_optim as _optim

# The weight gradient is computed and applied in blocks of rows of at most this size (with the
# optimizer's scratch): memory then holds one block, not a whole layer's gradient, and the
# update reads it from cache (see benchmarks/README.md for the cost).
BLOCK_BYTES = 512 * 1024
_ACTIVATIONS = {_act.ReLU: K.relu, _act.Tanh: K.tanh, _act.Identity: None}  # exact type -> kernel
_LOSSES = {_losses.HalfSSE: K.half_sse, _losses.MSE: K.mse,
           _losses.SoftmaxCrossEntropy: K.softmax_cross_entropy}


def _activation(layer):
    """The kernel factory, None for the identity, False when unsupported."""
    if type(layer) is _act.Sigmoid:
        return K.sigmoid_stable if layer.stable else K.sigmoid_seed
    return _ACTIVATIONS.get(type(layer), False)


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


def _row_blocks(n_i: int, n_o: int, itemsize: int, block_bytes: int) -> list[tuple[int, int]]:
    """Rows [a, b) of a (n_i, n_o) weight matrix in near-equal blocks of at most block_bytes."""
    n_blocks = -(-n_i * n_o * itemsize // block_bytes)
    rows = -(-n_i // n_blocks)
    return [(a, min(a + rows, n_i)) for a in range(0, n_i, rows)]


def compile_numpy_step(model, loss_fn, optimizer) -> Callable | None:
    """The fast step for this configuration, or None (see the module docstring)."""
    stages, opt = _plan(model), _optim.plan(optimizer)
    loss_kernel = _LOSSES.get(type(loss_fn))
    if stages is None or opt is None or loss_kernel is None or model.buffers:
        return None
    if model.dtype_name not in ("float32", "float64"):
        return None
    if type(loss_fn) is _losses.SoftmaxCrossEntropy and stages[-1][2] is not None:
        return None  # that loss takes logits: an activation after the last layer is a mistake
    from ..step import train_step  # the generic path, for calls the fast one does not take

    dtype = np.dtype(model.dtype_name)
    keys = [k for st in stages for k in st[:2] if k is not None]
    shapes = {k: tuple(model.params[k].shape) for k in keys}
    first_w = keys[0]
    n_in, n_out = shapes[first_w][0], shapes[stages[-1][0]][1]
    # nesterov and adam need a scratch block besides the gradient block: halve both
    block_bytes = BLOCK_BYTES // 2 if opt.kind in ("nesterov", "adam") else BLOCK_BYTES
    blocks = [_row_blocks(*shapes[wk], dtype.itemsize, block_bytes) for wk, _, _ in stages]
    largest = max([(b - a) * shapes[wk][1] for (wk, _, _), bl in zip(stages, blocks) for a, b in bl]
                  + [shapes[bk][0] for _, bk, _ in stages if bk is not None])
    prepare, update, per_step = _optim.make_update(opt, dtype, largest)
    stateful = opt.kind != "sgd"  # sgd keeps no arrays: nothing to check or adopt
    # one gradient block, shared by every layer and batch size (allocated on first use): each
    # block is used up by its update before the next is computed, so memory holds one block, not
    # every layer's gradient
    grad: list = []
    owned: dict = {"params": None, "state": None}  # the params dict and state dicts the step owns
    views: list = []  # per stage: ([(rows, W block, gradient block, state blocks)], bias entry or None)
    scratch: dict = {}  # batch size -> buffers
    pool: dict = {"rows": 0, "arrays": []}  # the arrays behind them (see buffers)
    last = len(stages) - 1

    def bind() -> None:
        """Views of the owned parameters and state by row block, for the update loop."""
        params, state = owned["params"], owned["state"]
        if not grad:
            grad.append(np.empty(largest, dtype))
        g_all = grad[0]
        views.clear()
        for (wk, bk, _), bl in zip(stages, blocks):
            n_o = shapes[wk][1]
            wb = [(slice(a, b) if len(bl) > 1 else None, params[wk][a:b, ...],
                   g_all[:(b - a) * n_o].reshape(b - a, n_o), tuple(s[wk][a:b, ...] for s in state)) for a, b in bl]
            bb = (params[bk], g_all[:n_o], tuple(s[bk] for s in state)) if bk is not None else None
            views.append((wb, bb))
        scratch.clear()  # the per-batch plans hold these views: rebuilt on the next step

    def params_owned() -> bool:
        params = model.params
        return params is owned["params"] and all(params[k] is owned[k] for k in keys)

    def state_owned(opt_state) -> bool:
        return owned["state"] is not None and all(
            s is o for s, o in zip(_optim.slots(opt, opt_state), owned["state"]))

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
            # the step takes over the state it is given and updates its arrays in place (copying
            # only those it cannot write): a copy would hold the optimizer state twice
            owned["state"] = tuple({k: v if v.flags.c_contiguous and v.flags.writeable else np.array(v, order="C")
                                    for k, v in s.items()} for s in state)
        bind()
        prepare(opt_state)  # the constants; again every step only if they change (per_step)
        return True

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
            return arrays[i][:shape[0], ...]

        params, forward, backward = owned["params"], [], []
        for i, ((wk, bk, act), (wb, bb)) in enumerate(zip(stages, views)):
            n_i, n_o = shapes[wk]
            z = empty((n, n_o), dtype) if i != last else None  # None: the outputs, fresh each step
            dx = empty((n, n_i), dtype) if i > 0 else None  # the first layer's is never used
            fwd, bwd = act((n, n_o), dtype, empty) if act is not None else (None, None)
            forward.append((params[wk], z, params[bk] if bk is not None else None, fwd))
            backward.insert(0, (params[wk], dx, bwd, wb, bb, i))
        scratch[n] = (forward, backward, loss_kernel((n, n_out), dtype, empty))
        return scratch[n]

    def step(x, y, opt_state, rng=None):
        if not usable(x, y) or ((model.params is not owned["params"] or model.params[first_w] is not owned[first_w]
                                 or (stateful and not state_owned(opt_state))) and not adopt(opt_state)):
            return train_step(model, loss_fn, optimizer, opt_state, x, y, rng=rng)
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
        value, d = loss(h, y)
        for W, dx, bwd, wb, bb, i in backward:
            if bwd is not None:
                bwd(d, hs[i + 1])
            if dx is not None:
                np.dot(d, W.T, dx)  # uses W before its update, as the generic step
            hT = hs[i].T
            for rows, Wb, g, s in wb:  # gradient of a block of rows of W, then its update
                if rows is None:
                    np.dot(hT, d, g)
                else:  # matmul: np.dot would copy the block, which is not contiguous
                    np.matmul(hT[rows], d, out=g)
                update(Wb, g, s)
            if bb is not None:
                b, g, s = bb
                K._sum(d, axis=0, out=g)
                update(b, g, s)
            d = dx
        return value, h, _optim.next_state(opt, opt_state, owned["state"])

    step.fast = "numpy"  # for tests and benchmarks: which path this is
    return step
