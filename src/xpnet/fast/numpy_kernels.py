"""In-place NumPy versions of the activations and losses the fast step supports.

Each kernel does exactly the arithmetic of its generic counterpart (activations.py, losses.py),
operation for operation, but writes into buffers it owns instead of allocating, so the results
are bit-identical. A kernel is a factory
called once per batch size: `make(shape, dtype, empty)` allocates its buffers with `empty(shape,
dtype)` (every buffer's first axis is the batch) and returns closures bound to them, because
on tiny layers every dict lookup per call is a measurable share of the step.

Scalars are 0-d arrays of the dtype: the same arithmetic as Python scalars (NEP 50 casts those
to the array's dtype too), but NumPy converts a Python scalar on every call (~0.6 us), which is
most of a tiny layer's time. `np.add.reduce` is `np.sum` without its Python wrapper (~2 us), and
the output buffer is passed positionally, which NumPy parses faster than `out=`.
"""

from __future__ import annotations

import numpy as np

add_reduce = np.add.reduce  # np.sum without its Python wrapper (~2 us a call)


# --- activations: forward in place on z (batch, n); backward scales d in place by the slope ---


def relu(shape, dtype, empty=np.empty):
    zero = np.zeros((), dtype)
    pos = empty(shape, bool)  # where the forward let z through: kept for the backward pass

    def forward(z):
        # generic: where(x > 0, x, 0). maximum(z, 0) is the same number except for NaN (kept,
        # where the generic gives 0) and z = -0.0 (kept as -0.0): it runs ~5x faster than
        # copyto(where=), the masked copy this replaced (45 us vs 9 us at 32 x 512 float32)
        np.greater(z, zero, pos)
        np.maximum(z, zero, out=z)

    def backward(d, y):
        # generic: where(x > 0, dy, 0). dy * 1 == dy and dy * 0 == 0 (or -0.0) for finite dy;
        # only a non-finite dy (training already diverged) gives NaN instead of 0
        np.multiply(d, pos, d)

    return forward, backward


def _sigmoid_backward(shape, dtype, empty=np.empty):
    one, t = np.ones((), dtype), empty(shape, dtype)

    def backward(d, y):
        # generic: dy * (y * (1 - y)), the slope taken from the output
        np.subtract(one, y, t)
        np.multiply(y, t, t)
        np.multiply(d, t, d)

    return backward


def sigmoid_seed(shape, dtype, empty=np.empty):
    one = np.ones((), dtype)

    def forward(z):
        # generic (stable=False): 1 / (1 + exp(-z))
        np.negative(z, z)
        np.exp(z, z)
        np.add(z, one, z)
        np.divide(one, z, z)

    return forward, _sigmoid_backward(shape, dtype, empty)


def sigmoid_stable(shape, dtype, empty=np.empty):
    one, zero = np.ones((), dtype), np.zeros((), dtype)
    e, den, pos = empty(shape, dtype), empty(shape, dtype), empty(shape, bool)

    def forward(z):
        # generic (stable=True): e = exp(-|z|); where(z >= 0, 1 / (1 + e), e / (1 + e))
        np.greater_equal(z, zero, pos)
        np.abs(z, e)
        np.negative(e, e)
        np.exp(e, e)
        np.add(e, one, den)  # 1 + e
        np.divide(e, den, z)
        np.divide(one, den, out=z, where=pos)

    return forward, _sigmoid_backward(shape, dtype, empty)


def tanh(shape, dtype, empty=np.empty):
    one, t = np.ones((), dtype), empty(shape, dtype)

    def forward(z):
        np.tanh(z, z)

    def backward(d, y):
        # generic: dy * (1 - y * y)
        np.multiply(y, y, t)
        np.subtract(one, t, t)
        np.multiply(d, t, d)

    return forward, backward


# --- losses: loss(out, y) -> (value, dout), dout in an owned buffer; `out` is not modified; or
# None for targets the kernel does not take (the step then hands the call to the generic one) ---


def half_sse(shape, dtype, empty=np.empty):
    d, t, half = empty(shape, dtype), empty(shape, dtype), 0.5

    def loss(out, y):
        # generic: diff = out - y; 0.5 * sum(diff * diff), summed in the output dtype
        np.subtract(out, y, d)
        np.multiply(d, d, t)
        return half * add_reduce(t, None, dtype), d

    return loss


def mse(shape, dtype, empty=np.empty):
    d, t = empty(shape, dtype), empty(shape, dtype)
    n = d.size
    scale = np.asarray(2.0 / n, dtype)  # generic: diff * (2.0 / n)

    def loss(out, y):
        # generic: sum(diff * diff) / n
        np.subtract(out, y, d)
        np.multiply(d, d, t)
        value = add_reduce(t, None, dtype) / n
        np.multiply(d, scale, d)
        return value, d

    return loss


def softmax_cross_entropy(shape, dtype, empty=np.empty):
    """generic: shifted = z - max(z); e = exp(shifted); log_p = shifted - log(sum(e));
    value = -sum(onehot * log_p) / n; dout = (e / sum(e) - onehot) / n.

    Bit-identical, with one-hot targets and with integer labels: the labels become a boolean
    one-hot mask (`labels == arange(k)`), which the ufuncs read as the generic's 0.0 and 1.0, so
    the products and the sum are the generic's own (the fancy indexing this replaced summed only
    the picked log-probabilities, and cost ~6 us a step). A label outside [0, k) leaves its row
    of the mask empty: the loss then returns None, before any parameter has changed, and the
    step hands the call to the generic one (which gives such a row a zero target)."""
    n, k = shape
    sh, e = empty(shape, dtype), empty(shape, dtype)
    m, tot = empty((n, 1), dtype), empty((n, 1), dtype)
    mask = empty(shape, bool)
    classes, n_ = np.arange(k), np.asarray(n, dtype)
    count_nonzero = np.count_nonzero

    def loss(z, y):
        if y.ndim == 1:
            np.equal(y[:, None], classes, mask)
            if count_nonzero(mask) != n:  # a label outside [0, k): one row matched no class
                return None
            y = mask
        np.maximum.reduce(z, axis=1, keepdims=True, out=m)
        np.subtract(z, m, sh)  # logsumexp without overflow
        np.exp(sh, e)
        add_reduce(e, axis=1, keepdims=True, out=tot)
        np.divide(e, tot, e)  # softmax: the gradient before the targets are subtracted
        np.log(tot, tot)
        np.subtract(sh, tot, sh)  # log_p
        np.multiply(y, sh, sh)
        value = -add_reduce(sh, axis=None, dtype=dtype) / n
        np.subtract(e, y, e)
        np.divide(e, n_, e)
        return value, e

    return loss
