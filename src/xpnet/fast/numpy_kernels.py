"""In-place NumPy versions of the activations and losses the fast step supports.

Each function does exactly the arithmetic of its generic counterpart (activations.py,
losses.py), operation for operation, but writes into buffers the caller owns instead of
allocating, so results are bit-identical. Where it is not (noted), the test states a tolerance.
`s` is the step's scratch dict for one batch size; keys are unique per layer index `i`.
"""

from __future__ import annotations

import numpy as np

# --- activations: forward in place on z (batch, n); backward scales d in place by the slope ---


def _buf(s, key, shape, dtype):
    b = s.get(key)
    if b is None:
        b = s[key] = np.empty(shape, dtype=dtype)
    return b


def _const(s, dtype, value):
    # a 0-d array of the dtype: the same arithmetic as the Python scalar, and NumPy converts it
    # faster (a Python scalar costs ~0.6 us per call, which is most of a tiny layer's time)
    c = s.get(("const", value))
    if c is None:
        c = s[("const", value)] = np.asarray(value, dtype=dtype)
    return c


_sum = np.add.reduce  # np.sum without its Python wrapper (~2 us per call on tiny arrays)


def relu_forward(z, s, i):
    # generic: where(x > 0, x, 0). The mask of zeroed places is kept for the backward pass.
    neg = _buf(s, ("neg", i), z.shape, bool)
    zero = _const(s, z.dtype, 0)
    np.less_equal(z, zero, out=neg)
    np.copyto(z, zero, where=neg)


def relu_backward(d, y, s, i):
    # generic: where(x > 0, dy, 0), with the forward's mask
    np.copyto(d, _const(s, d.dtype, 0), where=s[("neg", i)])


def sigmoid_seed_forward(z, s, i):
    # generic (stable=False): 1 / (1 + exp(-z))
    one = _const(s, z.dtype, 1)
    np.negative(z, out=z)
    np.exp(z, out=z)
    np.add(z, one, out=z)
    np.divide(one, z, out=z)


def sigmoid_stable_forward(z, s, i):
    # generic (stable=True): e = exp(-|z|); where(z >= 0, 1 / (1 + e), e / (1 + e))
    e = _buf(s, ("e", i), z.shape, z.dtype)
    den = _buf(s, ("den", i), z.shape, z.dtype)
    pos = _buf(s, ("pos", i), z.shape, bool)
    one = _const(s, z.dtype, 1)
    np.greater_equal(z, _const(s, z.dtype, 0), out=pos)
    np.abs(z, out=e)
    np.negative(e, out=e)
    np.exp(e, out=e)
    np.add(e, one, out=den)  # 1 + e
    np.divide(e, den, out=z)
    np.divide(one, den, out=z, where=pos)


def sigmoid_backward(d, y, s, i):
    # generic: dy * (y * (1 - y)), the slope taken from the output
    t = _buf(s, ("t", i), y.shape, y.dtype)
    np.subtract(_const(s, y.dtype, 1), y, out=t)
    np.multiply(y, t, out=t)
    np.multiply(d, t, out=d)


def tanh_forward(z, s, i):
    np.tanh(z, out=z)


def tanh_backward(d, y, s, i):
    # generic: dy * (1 - y * y)
    t = _buf(s, ("t", i), y.shape, y.dtype)
    np.multiply(y, y, out=t)
    np.subtract(_const(s, y.dtype, 1), t, out=t)
    np.multiply(d, t, out=d)


# --- losses: (value, dout) with dout in a scratch buffer; `out` itself is never modified ---


def half_sse(out, y, s):
    # generic: diff = out - y; 0.5 * sum(diff * diff), summed in the output dtype
    d = _buf(s, "d", out.shape, out.dtype)
    t = _buf(s, "t", out.shape, out.dtype)
    np.subtract(out, y, out=d)
    np.multiply(d, d, out=t)
    return 0.5 * _sum(t, axis=None, dtype=out.dtype), d


def mse(out, y, s):
    # generic: sum(diff * diff) / n, diff * (2 / n)
    d = _buf(s, "d", out.shape, out.dtype)
    t = _buf(s, "t", out.shape, out.dtype)
    np.subtract(out, y, out=d)
    np.multiply(d, d, out=t)
    n = d.size
    value = _sum(t, axis=None, dtype=out.dtype) / n
    np.multiply(d, 2.0 / n, out=d)
    return value, d


def softmax_cross_entropy(z, y, s):
    """generic: shifted = z - max(z); e = exp(shifted); log_p = shifted - log(sum(e));
    value = -sum(onehot * log_p) / n; dout = (e / sum(e) - onehot) / n.

    With one-hot targets this is bit-identical. With integer labels dout is too (e / s - 0 and
    e / s - 1 are the same operations), but the value sums only the picked log-probabilities
    instead of all n * k products, so it may differ from the generic one in the last bits."""
    n, k = z.shape
    sh = _buf(s, "sh", z.shape, z.dtype)
    e = _buf(s, "d", z.shape, z.dtype)
    m = _buf(s, "m", (n, 1), z.dtype)
    tot = _buf(s, "tot", (n, 1), z.dtype)
    np.maximum.reduce(z, axis=1, keepdims=True, out=m)
    np.subtract(z, m, out=sh)  # logsumexp without overflow
    np.exp(sh, out=e)
    _sum(e, axis=1, keepdims=True, out=tot)
    np.divide(e, tot, out=e)  # softmax, the gradient before subtracting the targets
    np.log(tot, out=tot)
    np.subtract(sh, tot, out=sh)  # log_p
    if y.ndim == 1:
        rows = s.get("rows")
        if rows is None:
            rows = s["rows"] = np.arange(n)
        value = -_sum(sh[rows, y], axis=None, dtype=z.dtype) / n
        e[rows, y] -= 1
    else:
        np.multiply(y, sh, out=sh)
        value = -_sum(sh, axis=None, dtype=z.dtype) / n
        np.subtract(e, y, out=e)
    np.divide(e, n, out=e)
    return value, e
