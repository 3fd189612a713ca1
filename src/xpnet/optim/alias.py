"""The named optimizers (torch.optim's, as chains of transforms), `get_optimizer` for names
and `optimizer_from_options` for the few options the command line and the estimators share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..checks import check_fraction, check_lr, check_non_negative
from ..errors import ConfigError
from .base import GradientTransformation, chain
from .clipping import clip_by_global_norm
from .regularization import add_decayed_weights, l2
from .transforms import scale_by_adam, scale_by_learning_rate, scale_by_momentum, scale_by_rms

Schedule = Callable[[int], float]


def sgd(lr: float | Schedule = 0.01, momentum: float = 0.0, nesterov: bool = False) -> GradientTransformation:
    """torch.optim.SGD: p <- p - lr * g, or with momentum p <- p - lr * b (see scale_by_momentum)."""
    lr = check_lr(lr)
    momentum = check_fraction("momentum", momentum)
    if nesterov and momentum == 0:
        raise ConfigError("nesterov: requires momentum in (0, 1), got momentum=0.0")
    if momentum == 0:
        return scale_by_learning_rate(lr)
    return chain(scale_by_momentum(momentum, nesterov), scale_by_learning_rate(lr))


def rmsprop(
    lr: float | Schedule = 0.01, alpha: float = 0.99, eps: float = 1e-8, momentum: float = 0.0
) -> GradientTransformation:
    """torch.optim.RMSprop (not centered): momentum, if any, is applied to g / (sqrt(v) + eps)."""
    lr = check_lr(lr)
    momentum = check_fraction("momentum", momentum)
    parts = [scale_by_rms(alpha, eps)]
    if momentum > 0:
        parts.append(scale_by_momentum(momentum))
    return chain(*parts, scale_by_learning_rate(lr))


def adam(lr: float | Schedule = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> GradientTransformation:
    """torch.optim.Adam."""
    return chain(scale_by_adam(b1, b2, eps), scale_by_learning_rate(check_lr(lr)))


def adamw(
    lr: float | Schedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.01,
    *,
    include: Callable[[str], bool] | None = None,
) -> GradientTransformation:
    """torch.optim.AdamW: p <- p - lr * (adam(g) + weight_decay * p). The decay is decoupled from
    the gradient (it bypasses Adam's scaling), and is scaled by the (scheduled) learning rate, as
    in torch. Unlike torch, biases and batch-norm gamma/beta are not decayed unless `include`
    says so (pass `include=lambda name: True` for torch's behaviour)."""
    weight_decay = check_non_negative("weight_decay", weight_decay)
    return chain(
        scale_by_adam(b1, b2, eps),
        add_decayed_weights(weight_decay, include=include),
        scale_by_learning_rate(check_lr(lr)),
    )


OPTIMIZERS: dict[str, Callable[..., GradientTransformation]] = {
    "sgd": sgd,
    "momentum": lambda lr=0.01, momentum=0.9: sgd(lr, momentum=momentum),
    "nesterov": lambda lr=0.01, momentum=0.9: sgd(lr, momentum=momentum, nesterov=True),
    "rmsprop": rmsprop,
    "adam": adam,
    "adamw": adamw,
}
# the named optimizers that take a `momentum`
MOMENTUM_OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop")


def get_optimizer(name: str | GradientTransformation, **kwargs: Any) -> GradientTransformation:
    """A named optimizer ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw") built with
    the given hyperparameters (the CLI's --optimizer)."""
    if isinstance(name, GradientTransformation):
        return name
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise ConfigError(f"optimizer: unknown name {name!r}; expected one of: {', '.join(OPTIMIZERS)}")
    try:
        return OPTIMIZERS[name](**kwargs)
    except TypeError as exc:  # an unexpected keyword: name the optimizer, not the lambda
        raise ConfigError(f"optimizer {name!r}: bad arguments {sorted(kwargs)} ({exc})") from None


def optimizer_from_options(
    name: str = "adam",
    *,
    lr: float | Schedule | None = None,
    momentum: float | None = None,
    l2_rate: float = 0.0,
    clip_norm: float | None = None,
) -> GradientTransformation:
    """A named optimizer, after global-norm clipping and an L2 penalty on the weights (not biases):
    clipping sees the data gradient only, as torch's clip_grad_norm_ before a weight-decay step."""
    kwargs: dict[str, Any] = {}
    if lr is not None:
        kwargs["lr"] = lr
    if momentum is not None:
        if name not in MOMENTUM_OPTIMIZERS:
            raise ConfigError(
                f"momentum: optimizer {name!r} takes no momentum; it applies to: {', '.join(MOMENTUM_OPTIMIZERS)}"
            )
        kwargs["momentum"] = momentum
    parts = []
    if clip_norm is not None:
        parts.append(clip_by_global_norm(clip_norm))
    if l2_rate:  # the penalty checks its own rate (a negative one is refused there)
        try:
            parts.append(l2(l2_rate))
        except ConfigError as exc:
            raise ConfigError(f"l2 {exc}") from None
    opt = get_optimizer(name, **kwargs)
    return chain(*parts, opt) if parts else opt
