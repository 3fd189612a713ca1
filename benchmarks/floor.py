"""The matmul floor of an MLP training step: the step's matrix products alone, with the same
shapes and memory layouts, back to back, into preallocated outputs, and no other work.

For Dense layers n_0 -> n_1 -> ... -> n_L at batch n, one step makes, per layer i (input h_i of
n x n_i, weights W_i of n_i x n_(i+1)): the forward h_i @ W_i, the weight gradient h_i.T @ d_i
and, except for the first layer, the input gradient d_i @ W_i.T: 3L - 1 products,
2 n (3 sum n_i n_(i+1) - n_0 n_1) flops. No training step that computes these products with
NumPy's BLAS can be faster than this: it is the floor the step's time is measured against.

These are exactly the BLAS calls of xpnet's fast step (and of its generic step): the weight
gradient is one product per layer, not row blocks (which would give other bits, see
xpnet/fast/numpy_step.py).
"""

from __future__ import annotations

import numpy as np


def gemms(sizes, batch: int, dtype=np.float32, seed: int = 0):
    """run(steps): the products of `steps` training steps, back to back; and their flop count
    per step."""
    rng = np.random.default_rng(seed)
    Ws = [rng.standard_normal((a, b), dtype=dtype) * 0.05 for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    # the fast step's buffers (xpnet/fast/numpy_step.py): one weight gradient buffer for every
    # layer, and each input gradient written over the layer input it replaces
    zs = [np.empty((batch, b), dtype) for b in sizes[1:]]  # forward outputs, also the d_i below
    hs = [rng.standard_normal((batch, sizes[0]), dtype=dtype)] + zs[:-1]
    g_all = np.empty(max(W.size for W in Ws), dtype)
    gs = [g_all[: W.size].reshape(W.shape) for W in Ws]
    fwd = list(zip(hs, Ws, zs, strict=True))
    bwd = [(zs[i], Ws[i].T, hs[i] if i > 0 else None, hs[i].T, gs[i]) for i in reversed(range(len(Ws)))]
    dot = np.dot

    def run(steps: int) -> None:
        for _ in range(steps):
            for h, W, z in fwd:
                dot(h, W, z)
            for d, WT, dx, hT, g in bwd:
                dot(hT, d, g)
                if dx is not None:
                    dot(d, WT, dx)

    flops = 2 * batch * (3 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True)) - sizes[0] * sizes[1])
    return run, flops
