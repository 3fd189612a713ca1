"""Fused elementwise kernels for CuPy, each beside a reference of the same formula.

On a GPU the generic step's elementwise work is many small kernels, each a launch (a few us) and
a full pass over memory: `x @ W + b` then ReLU is three passes (add, compare, maximum), ReLU's
backward one more, softmax cross-entropy's gradient four, SGD with momentum four, Adam about
twelve. Each kernel here does one such group in one pass (`cupy.ElementwiseKernel`):

    bias_relu, bias_tanh, bias_sigmoid   y = act(z + b)      (relu also writes its 0/1 slope)
    relu_backward, tanh_backward, sigmoid_backward           dz = dy * act'(.)
    softmax_ce_grad                      (softmax(z) - onehot(labels)) / n, given row max and sum
    sgd_update, sgd_momentum_update, adam_update             the optimizer step, in place

`REFERENCES[name]` computes the same formula with array-API operations in the same order (the
generic step's order: nn/activations.py, nn/losses.py, optim/transforms.py), for any namespace:
on NumPy in CI, where tests/test_cupy_kernels.py proves each reference equal to the generic
layers, loss and optimizers bit for bit, and on CuPy on a GPU, where the same test compares the
kernel with its reference. The kernels are compiled with `--fmad=false`: nvcc would otherwise
contract `a * b + c` into one fused multiply-add, rounded once instead of twice, and the fused
step would no longer give the generic step's bits.

They are the fast CuPy step's building blocks, chosen like the NumPy one's (fast/__init__.py),
once a GPU has proven them (benchmarks/gpu_check.py runs that comparison).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from ..backend import device_of


class KernelSpec(NamedTuple):
    in_params: str
    out_params: str
    body: str


# CUDA C bodies. `T` is the float type (float or double); comparisons and selections mirror the
# references exactly (NaN included: `v != v` keeps a NaN, as xp.maximum does).
SPECS: dict[str, KernelSpec] = {
    "bias_relu": KernelSpec(
        "T z, T b",
        "T y, T slope",
        "T v = z + b; y = (v > (T)0 || v != v) ? v : (T)0; slope = v > (T)0 ? (T)1 : (T)0;",
    ),
    "bias_tanh": KernelSpec("T z, T b", "T y", "y = tanh(z + b);"),
    "bias_sigmoid": KernelSpec(
        "T z, T b",
        "T y",
        "T v = z + b; T e = exp(-fabs(v)); y = v >= (T)0 ? (T)1 / ((T)1 + e) : e / ((T)1 + e);",
    ),
    "relu_backward": KernelSpec("T dy, T slope", "T dz", "dz = dy * slope;"),
    "tanh_backward": KernelSpec("T dy, T y", "T dz", "dz = dy * ((T)1 - y * y);"),
    "sigmoid_backward": KernelSpec("T dy, T y", "T dz", "dz = dy * (y * ((T)1 - y));"),
    # z (n, k) C-contiguous; m and s the rows' max and sum of exp(z - m); i is the flat index
    "softmax_ce_grad": KernelSpec(
        "T z, raw T m, raw T s, raw I labels, int32 k, T n",
        "T g",
        "int r = i / k; T e = exp(z - m[r]); g = (e / s[r] - (labels[r] == (I)(i % k) ? (T)1 : (T)0)) / n;",
    ),
    "sgd_update": KernelSpec("T g, T neg_lr", "T p", "p = p + g * neg_lr;"),
    "sgd_momentum_update": KernelSpec("T g, T mu, T neg_lr", "T p, T b", "b = mu * b + g; p = p + b * neg_lr;"),
    "adam_update": KernelSpec(
        "T g, T b1, T one_minus_b1, T b2, T one_minus_b2, T bc1, T sqrt_bc2, T eps, T neg_lr",
        "T p, T m, T v",
        "m = b1 * m + one_minus_b1 * g; v = b2 * v + one_minus_b2 * (g * g);"
        " p = p + ((m / bc1) / (sqrt(v) / sqrt_bc2 + eps)) * neg_lr;",
    ),
}


@functools.cache
def kernel(name: str):  # pragma: needs a GPU
    """The compiled CuPy kernel (compiled on first use, cached by CuPy on disk too)."""
    import cupy

    spec = SPECS[name]
    return cupy.ElementwiseKernel(*spec, f"xpnet_{name}", options=("--fmad=false",))


# --- the references: the same formulas, array API operations in the generic step's order ----------


def _bias_relu(z, b, *, xp):
    v = z + b
    return xp.maximum(v, 0.0), xp.astype(v > 0, v.dtype)


def _bias_tanh(z, b, *, xp):
    return xp.tanh(z + b)


def _bias_sigmoid(z, b, *, xp):
    v = z + b
    e = xp.exp(-xp.abs(v))
    return xp.where(v >= 0, 1 / (1 + e), e / (1 + e))


def _relu_backward(dy, slope, *, xp):
    return dy * slope


def _tanh_backward(dy, y, *, xp):
    return dy * (1 - y * y)


def _sigmoid_backward(dy, y, *, xp):
    return dy * (y * (1 - y))


def _softmax_ce_grad(z, m, s, labels, k, n, *, xp):
    e = xp.exp(z - m)
    cols = xp.arange(k, dtype=labels.dtype, device=device_of(z))
    onehot = xp.astype(xp.reshape(labels, (-1, 1)) == cols, z.dtype)
    return (e / s - onehot) / n


def _sgd_update(g, neg_lr, p, *, xp):
    return p + g * neg_lr


def _sgd_momentum_update(g, mu, neg_lr, p, b, *, xp):
    b = mu * b + g
    return p + b * neg_lr, b


def _adam_update(g, b1, one_minus_b1, b2, one_minus_b2, bc1, sqrt_bc2, eps, neg_lr, p, m, v, *, xp):
    m = b1 * m + one_minus_b1 * g
    v = b2 * v + one_minus_b2 * (g * g)
    return p + ((m / bc1) / (xp.sqrt(v) / sqrt_bc2 + eps)) * neg_lr, m, v


REFERENCES: dict[str, Any] = {
    "bias_relu": _bias_relu,
    "bias_tanh": _bias_tanh,
    "bias_sigmoid": _bias_sigmoid,
    "relu_backward": _relu_backward,
    "tanh_backward": _tanh_backward,
    "sigmoid_backward": _sigmoid_backward,
    "softmax_ce_grad": _softmax_ce_grad,
    "sgd_update": _sgd_update,
    "sgd_momentum_update": _sgd_momentum_update,
    "adam_update": _adam_update,
}


def row_stats(z, *, xp):
    """The rows' max and sum of exp(z - max), (n, 1) each: softmax_ce_grad's raw inputs, computed as
    nn/losses.py computes them."""
    m = xp.max(z, axis=1, keepdims=True)
    return m, xp.sum(xp.exp(z - m), axis=1, keepdims=True)


def run(name: str, *args):  # pragma: needs a GPU
    """The kernel on CuPy arrays: outputs that are also inputs (the optimizers' p, b, m, v) are
    updated in place; others are returned."""
    k = kernel(name)
    spec = SPECS[name]
    n_in = len(spec.in_params.split(","))
    n_out = len(spec.out_params.split(","))
    if name.endswith("_update"):  # every output is also an input: in place
        return k(*args[:n_in], *args[n_in : n_in + n_out])
    return k(*args)
