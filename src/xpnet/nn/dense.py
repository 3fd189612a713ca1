"""The fully connected layer."""

from __future__ import annotations

from ..checks import check_int  # a Python int even from a NumPy integer: architectures are JSON
from ..errors import ShapeError
from .init import get_initializer, initializer_name
from .layer import Layer


class Dense(Layer):
    """y = x @ W + b, with W of shape (n_in, n_out) as in the seeds (`syn0`).

    init: an initialiser's name (nn/init.py) or a function (rng, shape, fan_in, fan_out) ->
    host array; a function is recorded by name in model files, so only named ones rebuild.
    """

    def __init__(self, n_in: int, n_out: int, *, bias: bool = True, init: str = "glorot_uniform") -> None:
        self.n_in = check_int("n_in", n_in)
        self.n_out = check_int("n_out", n_out)
        self.bias = bool(bias)
        self._init_fn = get_initializer(init)
        self.init = initializer_name(init)

    def shapes(self, n_in):
        if n_in != self.n_in:
            raise ShapeError(f"{self!r}: expects {self.n_in} inputs but the previous layer gives {n_in}")
        params = {"W": (self.n_in, self.n_out)}
        if self.bias:
            params["b"] = (self.n_out,)
        return params, {}, self.n_out

    def build(self, n_in, *, rng, backend, dtype):
        shapes, _, n_out = self.shapes(n_in)
        params = {"W": backend.asarray(self._init_fn(rng, shapes["W"], self.n_in, self.n_out), dtype)}
        if self.bias:
            params["b"] = backend.asarray(get_initializer("zeros")(rng, shapes["b"], self.n_in, self.n_out), dtype)
        return params, {}, n_out

    def forward(self, params, state, x, ctx):
        W = params["W"]  # (n_in, n_out)
        y = x @ W  # (batch, n_out)
        if self.bias:
            # into the product's fresh array where the library writes in place (a new one on JAX)
            y += params["b"]

        def backprop(dy, need_dx=True):
            xp = ctx.xp
            # y = x @ W + b, so dW = x.T @ dy (summed over the batch) and db = sum(dy, axis=0)
            grads = {"W": xp.matrix_transpose(x) @ dy}
            if self.bias:
                grads["b"] = xp.sum(dy, axis=0)
            # dx = dy @ W.T; the first layer's input gradient is never used: skip that matmul
            dx = dy @ xp.matrix_transpose(W) if need_dx else None
            return dx, grads

        return y, state, backprop
