"""`xpnet train --lr-schedule`: the library's learning-rate schedules (optim/schedules.py) over
the run's optimizer steps, and the learning rate the run starts from (the optimizer's default
when --lr is not given), which the model file records."""

from __future__ import annotations

import inspect
import math

from ..errors import ConfigError
from ..optim import schedules
from ..optim.alias import OPTIMIZERS

LR_SCHEDULES = ("constant", "cosine", "step", "exponential", "warmup-cosine")
WARMUP_FRACTION = 0.05  # warmup-cosine: the first 5% of the steps ramp up linearly
STEP_EVERY = 1 / 3  # step: the rate is divided by 10 after each third of the run
EXPONENTIAL_END = 0.01  # exponential: the rate falls to 1% of --lr by the last step


def base_lr(optimizer: str, lr: float | None) -> float | None:
    """--lr, else the named optimizer's default rate; None for a name get_optimizer will refuse."""
    if lr is not None:
        return float(lr)
    fn = OPTIMIZERS.get(optimizer)
    if fn is None:
        return None
    default = inspect.signature(fn).parameters["lr"].default
    return float(default)


def lr_schedule(name: str, lr: float, total_steps: int):
    """The learning rate for `total_steps` optimizer steps: `lr` itself for "constant", else a
    schedule step -> rate from optim/schedules.py."""
    if name not in LR_SCHEDULES:
        raise ConfigError(f"--lr-schedule: expected one of {', '.join(LR_SCHEDULES)}, got {name!r}")
    total_steps = max(1, int(total_steps))
    if name == "constant":
        return lr
    if name == "cosine":
        return schedules.cosine_decay(lr, total_steps)
    if name == "step":
        return schedules.step_decay(lr, max(1, math.ceil(total_steps * STEP_EVERY)), 0.1)
    if name == "exponential":
        return schedules.exponential_decay(lr, EXPONENTIAL_END ** (1 / total_steps))
    warm = max(1, round(total_steps * WARMUP_FRACTION))
    return schedules.warmup(schedules.cosine_decay(lr, max(1, total_steps - warm)), warm)


def run_steps(n_train: int, batch_size: int, epochs: int) -> int:
    """Optimizer steps of a run: batches per epoch (the last one may be smaller) times epochs."""
    return math.ceil(n_train / max(1, min(batch_size, n_train))) * epochs


def cli_learning_rate(args, n_train: int):
    """(the base learning rate, what the optimizer gets: that rate or a schedule over the run)
    for train's --optimizer, --lr, --lr-schedule, --batch-size and --epochs; (None, None) for an
    optimizer name get_optimizer then refuses."""
    lr = base_lr(args.optimizer, args.lr)
    if lr is None:
        return None, None
    return lr, lr_schedule(args.lr_schedule, lr, run_steps(n_train, args.batch_size, args.epochs))
