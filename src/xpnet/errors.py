"""Typed exceptions, at the bottom of the package: this module imports nothing of xpnet.

Every error xpnet raises on bad input is one of these, with a one-line
message naming the parameter, file or value and what was expected; the CLI turns them into
exit status 2 without a traceback."""


class XpnetError(Exception):
    """Base class of every error xpnet raises on purpose."""


class ConfigError(XpnetError, ValueError):
    """An invalid hyperparameter or model description (a bad name, value or range)."""


class ShapeError(XpnetError, ValueError):
    """Arrays or layers whose shapes do not fit together."""


class DataError(XpnetError, ValueError):
    """Training or prediction data that cannot be used: unreadable, non-numeric, mismatched."""


class BackendError(XpnetError, RuntimeError):
    """An array library that is unknown, not installed, or has no usable device."""


class BackendMismatchError(XpnetError, ValueError):
    """Arrays from different libraries or devices passed to one call."""


class CheckpointError(XpnetError, ValueError):
    """A model file that is missing, truncated, tampered with, or of an unknown format."""


class ExportError(XpnetError, RuntimeError):
    """A model that cannot be exported (a layer the exporter cannot trace, a graph that does not
    reproduce the model, a missing optional package, an output file in the way)."""


class OutOfMemoryError(XpnetError, MemoryError):
    """A training step ran out of (device) memory: the message names the batch size and what the
    failed allocation asked for; the model holds the weights of the epoch's start."""


class DistributedError(XpnetError, RuntimeError):
    """Processes of one distributed job that disagree (data, options, versions), a batch too
    small for them, or a rank that failed. `collective`: every rank raises it together (no rank
    is left waiting in a collective call)."""

    def __init__(self, message: str, *, collective: bool = True) -> None:
        super().__init__(message)
        self.collective = collective


class DivergenceError(XpnetError, FloatingPointError):
    """Training produced a non-finite loss or gradient.

    epoch: the 0-based epoch that diverged; step: the optimizer step (counted over the whole
    run) of its first non-finite batch; batch: that batch's 0-based index in the epoch;
    history: the History of the epochs before it (the model holds their last finite weights).
    """

    def __init__(self, message: str, *, epoch: int, step: int, batch: int, history=None) -> None:
        super().__init__(message)
        self.epoch, self.step, self.batch, self.history = epoch, step, batch, history

    def __reduce__(self):  # keyword-only fields: pickle (multiprocessing, MPI) needs the whole call
        return (_rebuild_divergence, (str(self), self.epoch, self.step, self.batch, self.history))


def _rebuild_divergence(message, epoch, step, batch, history):
    return DivergenceError(message, epoch=epoch, step=step, batch=batch, history=history)
