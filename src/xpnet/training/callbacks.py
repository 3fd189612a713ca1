"""Hooks into the training loop, and the History it returns.

A callback sees the loop at five points, each an explicit event: train begin and end, epoch
begin and end, batch end, and a divergence (with a typed `DivergenceEvent`). None of them
receives a per-step loss: reading one would force a device-to-host copy (a GPU sync) every step;
the loss arrives once per epoch in `logs`.
Plain functions `f(epoch, logs)` are accepted wherever a callback is, as an `on_epoch_end`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError


@dataclass(frozen=True)
class DivergenceEvent:
    """A non-finite loss or gradient in epoch `epoch` (0-based): its first bad batch `batch`
    (0-based in the epoch) was optimizer step `step`. The loop has already put back the state of
    the start of that epoch (weights, buffers, optimizer state, step count, random streams):
    `restored_step` steps taken, the end of epoch `epoch - 1`."""

    epoch: int
    step: int
    batch: int
    n_batches: int
    restored_step: int


class Callback:
    """Base class: override the hooks you need; every hook does nothing by default."""

    def on_train_begin(self, trainer: Any) -> None:
        """Once per `Trainer.fit` call, before the first epoch it runs (which may be a resumed one)."""

    def on_epoch_begin(self, epoch: int) -> None:
        """Before epoch `epoch` (0-based, counting from the very first fit)."""

    def on_batch_end(self, step: int, n_batches: int) -> None:
        """After batch `step` (0-based within the epoch) of `n_batches`; the loss is not synced."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        """After epoch `epoch` with its metrics (host floats); return True to stop training."""
        return None

    def on_divergence(self, trainer: Any, event: DivergenceEvent) -> None:
        """After a divergence has been rolled back to the start of its epoch, before the
        DivergenceError is raised (a checkpoint then saves the last finite state)."""

    def on_train_end(self, trainer: Any) -> None:
        """Once per `Trainer.fit` call, after the last epoch (also after early stopping, a
        divergence or an interrupt)."""


class LambdaCallback(Callback):
    """A plain function `f(epoch, logs) -> bool | None` as a callback's `on_epoch_end`."""

    def __init__(self, on_epoch_end: Callable[[int, dict], Any]) -> None:
        self._fn = on_epoch_end

    def on_epoch_end(self, epoch, logs):
        return self._fn(epoch, logs)

    def __repr__(self):
        return f"LambdaCallback({getattr(self._fn, '__name__', self._fn)!r})"


def as_callbacks(callbacks: Any) -> list[Callback]:
    """A list of Callback objects from a callback, a callable, or a sequence of either."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback) or callable(callbacks):
        callbacks = [callbacks]
    out = []
    for i, cb in enumerate(callbacks):
        if isinstance(cb, Callback):
            out.append(cb)
        elif callable(cb):
            out.append(LambdaCallback(cb))
        else:
            raise ConfigError(
                f"callbacks[{i}]: expected a Callback or a function f(epoch, logs), got {type(cb).__name__}"
            )
    return out


class History:
    """Every metric of every epoch run so far.

    history: metric name ("loss", "accuracy", "val_loss", "val_accuracy") -> one float per epoch.
    epoch: the 0-based index of each recorded epoch (a resumed run continues the numbering).
    best_epoch: the epoch with the best monitored value (val_loss, else loss), None before any.
    stopped_early: whether early stopping ended the last fit.
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.best_epoch: int | None = None
        self.stopped_early = False

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch.append(epoch)
        for name, value in logs.items():
            self.history.setdefault(name, []).append(float(value))

    def as_dict(self) -> dict:
        """A JSON-serialisable copy."""
        return {
            "history": {k: list(v) for k, v in self.history.items()},
            "epoch": list(self.epoch),
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
        }

    @classmethod
    def from_dict(cls, d: dict) -> History:
        h = cls()
        h.history = {k: [float(x) for x in v] for k, v in d["history"].items()}
        h.epoch = [int(e) for e in d["epoch"]]
        h.best_epoch = d["best_epoch"]
        h.stopped_early = bool(d["stopped_early"])
        return h

    def __repr__(self):
        last = {k: round(v[-1], 6) for k, v in self.history.items() if v}
        return f"History(epochs={len(self.epoch)}, best_epoch={self.best_epoch}, last={last})"
