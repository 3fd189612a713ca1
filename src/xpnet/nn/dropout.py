"""Inverted dropout (Srivastava et al. 2014, in the form every framework uses).

Training: each unit is kept with probability 1 - rate and kept units are scaled by
1 / (1 - rate), so a unit's expected output equals its input and evaluation needs no rescaling.
Evaluation: the identity (thinc's pattern). The mask is drawn once per forward from ctx.rng and
captured by the backprop closure, so backward zeroes exactly the units forward dropped.
"""

from __future__ import annotations

from ..checks import check_fraction
from ..errors import ConfigError
from .layer import Layer, passthrough


class Dropout(Layer):
    def __init__(self, rate: float = 0.5) -> None:
        self.rate = check_fraction("rate", rate)

    def forward(self, params, state, x, ctx):
        if not ctx.training:
            return x, state, passthrough
        if ctx.rng is None:
            raise ConfigError(
                f"{self!r}: training needs a random generator; pass rng=xpnet.HostRandom(seed) to forward/train_step"
            )
        keep = 1.0 - self.rate
        # (batch, features) of 0 and 1/keep: mask and rescaling in one multiply
        scale = ctx.rng.keep_mask(tuple(x.shape), keep, xp=ctx.xp, device=ctx.device, dtype=x.dtype) * (1.0 / keep)
        y = x * scale

        def backprop(dy, need_dx=True):
            # y = x * scale elementwise, so dx = dy * scale: dropped units pass no gradient
            return dy * scale, {}

        return y, state, backprop
