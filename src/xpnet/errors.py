"""Typed exceptions. Every error xpnet raises on bad input is one of these, with a one-line
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


class DivergenceError(XpnetError, FloatingPointError):
    """Training produced a non-finite loss or gradient."""
