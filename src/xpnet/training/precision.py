"""Mixed precision: matrix products and activations in a narrow compute dtype (bfloat16 or
float16), master weights and optimizer state in float32, and dynamic loss scaling for float16.

The model keeps its parameters in the master dtype (`model.dtype`, float32): that is what the
optimizer updates, what checkpoints and model files hold and what `predict` uses. Each training
step (training/step.py) casts the parameters, buffers and the batch to the compute dtype, runs
the model's own forward and backprop there, and casts the outputs back to the master dtype for
the loss (a softmax or a sum over a batch in float16 loses too many digits). The gradients are
cast back to the master dtype before the gradient seam, so hooks, clipping and an allreduce see
float32 gradients shaped and typed like the parameters.

Loss scaling (float16 only: bfloat16 has float32's exponent range). float16's smallest normal
number is 6e-5: a gradient smaller than that loses digits, one under 6e-8 becomes 0. Multiplying
the loss gradient by a scale S (a power of two, so the scaling itself is exact) moves gradients
into float16's range; they are divided by S again in float32. When a scaled gradient overflows
(inf or NaN anywhere, after the seam, so every process of a data-parallel run sees the same
gradient and decides the same), the update is skipped, the optimizer state is left as it was and
S is halved; after `growth_interval` finite steps in a row S doubles (torch.amp.GradScaler's rule
and defaults). The scale, the run of finite steps and the number of skipped steps live in the
optimizer state (`ScaledState`), so checkpoints and exact resume carry them; the loop records the
skipped steps of each epoch in the history ("skipped_steps").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from ..checks import check_int, check_positive
from ..errors import ConfigError


class LossScaleState(NamedTuple):
    scale: float  # the current loss scale S (a host float: no device synchronisation to read it)
    good_steps: int  # finite steps since S last changed
    skipped: int  # steps skipped for an overflow, over the whole run


class ScaledState(NamedTuple):
    """The optimizer state of a loss-scaled run: the optimizer's own, and the scaler's."""

    inner: Any
    loss_scale: LossScaleState


@dataclass(frozen=True)
class DynamicLossScale:
    """torch.amp.GradScaler's dynamic loss scale: start at `init_scale`, halve on an overflow
    (and skip that step), double after `growth_interval` finite steps in a row."""

    init_scale: float = 2.0**16
    growth_factor: float = 2.0
    backoff_factor: float = 0.5
    growth_interval: int = 2000

    def __post_init__(self):
        check_positive("init_scale", self.init_scale)
        if not self.growth_factor > 1:
            raise ConfigError(f"growth_factor: expected a number > 1, got {self.growth_factor!r}")
        if not 0 < self.backoff_factor < 1:
            raise ConfigError(f"backoff_factor: expected a number in (0, 1), got {self.backoff_factor!r}")
        check_int("growth_interval", self.growth_interval, 1)

    def init(self) -> LossScaleState:
        return LossScaleState(float(self.init_scale), 0, 0)

    def next(self, state: LossScaleState, finite: bool) -> LossScaleState:
        if not finite:
            return LossScaleState(state.scale * self.backoff_factor, 0, state.skipped + 1)
        if state.good_steps + 1 >= self.growth_interval:
            return LossScaleState(state.scale * self.growth_factor, 0, state.skipped)
        return LossScaleState(state.scale, state.good_steps + 1, state.skipped)


@dataclass(frozen=True)
class Precision:
    """A mixed-precision policy: `compute` dtype for the forward and backward passes, `master`
    dtype for the weights and the optimizer state (the model's dtype), and a loss scale (None:
    no scaling)."""

    name: str
    compute: str
    master: str = "float32"
    loss_scale: DynamicLossScale | None = None

    def check(self, model) -> None:
        """ConfigError in one line unless this model and its backend can run this policy."""
        if model.dtype_name != self.master:
            raise ConfigError(
                f"precision {self.name}: the model holds the {self.master} master weights, so its dtype must be "
                f"{self.master}, got {model.dtype_name} (leave --dtype at {self.master})"
            )
        if not hasattr(model.backend.xp, self.compute):
            other = "mixed-f16" if self.compute == "bfloat16" else "mixed-bf16"
            raise ConfigError(
                f"precision {self.name}: the {model.backend.name} backend has no {self.compute}; "
                f"use {other} or another backend (torch, jax)"
            )

    # --- the step's parts (training/step.py calls these in order) ----------------------------

    def init_state(self, inner_state):
        return inner_state if self.loss_scale is None else ScaledState(inner_state, self.loss_scale.init())

    def forward(self, model, x, opt_state, *, rng=None):
        """(outputs, new buffers, backprop) like model.forward, run in the compute dtype: outputs
        and buffers come back in the master dtype, and backprop(dout) takes the loss gradient in
        the master dtype and returns the gradients there, unscaled."""
        xp = model.backend.xp
        low, high = getattr(xp, self.compute), model.dtype
        scale = opt_state.loss_scale.scale if self.loss_scale is not None else 1.0

        def cast(tree, dtype):
            return {k: v if v.dtype == dtype else xp.astype(v, dtype) for k, v in tree.items()}

        x = x if x.dtype == low or not xp.isdtype(x.dtype, "real floating") else xp.astype(x, low)
        out, new_buffers, backprop_low = model.apply(
            cast(model.params, low), cast(model.buffers, low), x, training=True, rng=rng
        )

        def backprop(dout):
            # the loss scale: exact (a power of two) in float32, before float16's range is reached
            d = dout * scale if scale != 1.0 else dout
            _, grads = backprop_low(xp.astype(d, low))
            inv = 1.0 / scale  # exact too: dividing by S undoes the scaling bit for bit
            return None, {k: xp.astype(g, high) * inv if scale != 1.0 else xp.astype(g, high) for k, g in grads.items()}

        return xp.astype(out, high), cast(new_buffers, high), backprop

    def split_state(self, opt_state):
        """(the optimizer's own state, the scaler's or None)."""
        return (opt_state, None) if self.loss_scale is None else (opt_state.inner, opt_state.loss_scale)

    def finish(self, grads: dict, scaler_state, *, xp) -> tuple[bool, Any]:
        """After the seam: (whether to update, the scaler's next state). One device-to-host
        transfer of a single flag per step, as torch's GradScaler."""
        if scaler_state is None:
            return True, None
        flags = [xp.all(xp.isfinite(g)) for g in grads.values()]
        finite = bool(xp.all(xp.stack(flags))) if flags else True
        return finite, self.loss_scale.next(scaler_state, finite)

    def join_state(self, inner_state, scaler_state):
        return inner_state if scaler_state is None else ScaledState(inner_state, scaler_state)


PRECISIONS = {
    "mixed-bf16": lambda: Precision("mixed-bf16", "bfloat16"),
    "mixed-f16": lambda: Precision("mixed-f16", "float16", loss_scale=DynamicLossScale()),
}


def get_precision(name: str | Precision | None) -> Precision | None:
    """A policy by name ("mixed-bf16", "mixed-f16"), a Precision as is; None (or "float32",
    "full") for none: everything in the model's dtype."""
    if name is None or isinstance(name, Precision):
        return name
    if name in ("full", "float32"):
        return None
    if not isinstance(name, str) or name not in PRECISIONS:
        raise ConfigError(f"precision: unknown name {name!r}; expected one of: {', '.join(PRECISIONS)}")
    return PRECISIONS[name]()


def skipped_steps(opt_state) -> int | None:
    """Steps skipped for an overflow so far (None where no loss scale runs)."""
    return opt_state.loss_scale.skipped if isinstance(opt_state, ScaledState) else None
