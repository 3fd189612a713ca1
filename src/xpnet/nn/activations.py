"""Activation layers. Each backward rule sits right after its forward math and, where it can,
takes the derivative from the output (sigmoid's slope is y * (1 - y), as in the seeds), so the
closure keeps only what the backward pass needs."""

from __future__ import annotations

from ..backend.elementwise import relu_slope
from ..checks import check_fraction
from ..errors import ConfigError
from .layer import Layer, passthrough


class Sigmoid(Layer):
    """Logistic sigmoid.

    stable=True (default) never overflows: exp is only taken of -|z|. stable=False is the seeds'
    `1 / (1 + exp(-z))` (the "trask_sigmoid" activation), kept because it reproduces their
    published digits bit for bit; it overflows (to the correct limit 0) for z < -88 in float32.
    """

    def __init__(self, stable: bool = True) -> None:
        self.stable = stable

    def forward(self, params, state, x, ctx):
        xp = ctx.xp
        if self.stable:
            e = xp.exp(-xp.abs(x))
            y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
        else:
            y = 1 / (1 + xp.exp(-x))

        def backprop(dy, need_dx=True):
            return dy * (y * (1 - y)), {}

        return y, state, backprop

    def __repr__(self):
        return f"Sigmoid(stable={self.stable})"


class Tanh(Layer):
    def forward(self, params, state, x, ctx):
        y = ctx.xp.tanh(x)

        def backprop(dy, need_dx=True):
            return dy * (1 - y * y), {}

        return y, state, backprop


class ReLU(Layer):
    """max(x, 0); the slope is 1 where x > 0, else 0.

    maximum and a multiplication by the 0/1 slope, not `where`: torch's CPU `where` takes ~60x
    as long as its `maximum` (650 us against 10 for 128x512 float32), NumPy's ~15x. For finite
    inputs the values are those of `where(x > 0, x, 0)` (a zero may differ in sign, which no sum
    or product downstream sees); a NaN input stays NaN, as in the NumPy fast step.

    The slope (backend.relu_slope) is `astype(y > 0, dtype)`, made in one pass where the library
    has a function with the same bits (torch's sign), the compare and the cast elsewhere."""

    def forward(self, params, state, x, ctx):
        xp = ctx.xp
        y = xp.maximum(x, 0.0)
        slope = relu_slope(y, xp=xp)

        def backprop(dy, need_dx=True):
            return dy * slope, {}

        return y, state, backprop


class LeakyReLU(Layer):
    def __init__(self, negative_slope: float = 0.01) -> None:
        # a slope of 1 or more would no longer be a rectifier (and NaN would poison every output)
        self.negative_slope = check_fraction("negative_slope", negative_slope)

    def forward(self, params, state, x, ctx):
        xp = ctx.xp
        mask = x > 0
        y = xp.where(mask, x, x * self.negative_slope)

        def backprop(dy, need_dx=True):
            return xp.where(mask, dy, dy * self.negative_slope), {}

        return y, state, backprop

    def __repr__(self):
        return f"LeakyReLU(negative_slope={self.negative_slope})"


class Softmax(Layer):
    """Softmax over the last axis. For training a classifier prefer a linear output and the
    fused `softmax_cross_entropy` loss, whose gradient is simply `p - y`."""

    def forward(self, params, state, x, ctx):
        xp = ctx.xp
        # subtracting the row maximum keeps exp from overflowing; it cancels in the ratio
        e = xp.exp(x - xp.max(x, axis=-1, keepdims=True))
        y = e / xp.sum(e, axis=-1, keepdims=True)

        def backprop(dy, need_dx=True):
            # Jacobian-vector product: y * (dy - sum(dy * y))
            return y * (dy - xp.sum(dy * y, axis=-1, keepdims=True)), {}

        return y, state, backprop


class Exp(Layer):
    """exp(x): the inverse of the log link, a Poisson model's mean from its log (losses.Poisson)."""

    def forward(self, params, state, x, ctx):
        y = ctx.xp.exp(x)

        def backprop(dy, need_dx=True):
            return dy * y, {}  # d exp(x) / dx = exp(x), the output itself

        return y, state, backprop


class Identity(Layer):
    def forward(self, params, state, x, ctx):
        return x, state, passthrough


ACTIVATIONS = {
    "sigmoid": Sigmoid,
    "trask_sigmoid": lambda: Sigmoid(stable=False),
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "softmax": Softmax,
    "identity": Identity,
    "linear": Identity,
}
# Exp is not offered between layers (it overflows for large inputs, and no hidden layer wants
# it): it is the output of losses.Poisson only.


def get_activation(name: str | Layer) -> Layer:
    if isinstance(name, Layer):
        return name
    try:
        return ACTIVATIONS[name]()
    except (KeyError, TypeError):
        raise ConfigError(f"activation: unknown name {name!r}; expected one of: {', '.join(ACTIVATIONS)}") from None
