"""Errors in the words of the command line: one line for argparse's own errors (the usage stays
in --help), and a library error that names a Python parameter (`batch_size: ...`) told by the
command-line flag it came from (`--batch-size: ...`).

The library names its parameters, as it must for Python callers; the command line knows which
flag fills which parameter: the same name with dashes, or one of the few below that differ.
"""

from __future__ import annotations

import argparse
import re

from ..errors import BackendError
from ..training.loop import DIVERGENCE_ADVICE

# a parameter's name in library messages -> the argparse dest of the flag that sets it
_PARAMETERS = {"dropout rate": "dropout", "l2 rate": "l2", "max_norm": "clip_norm"}


class OneLineParser(argparse.ArgumentParser):
    """argparse's errors in one line: the message and where to read the usage."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def flag_message(exc: Exception, args: argparse.Namespace | None) -> str:
    """exc's message with the parameter it names (at its start, or as `name=value`) written as
    the command-line flag; a backend that cannot be used is named by --backend."""
    message = str(exc)
    options = set(vars(args)) if args is not None else set()
    head, sep, rest = message.partition(": ")
    dest = _PARAMETERS.get(head, head)
    if sep and dest in options:  # "or None" is the Python value of a flag not given
        message = f"{flag(dest)}: {rest.replace(' or None, got', ', got')}"
    for dest in sorted(options, key=len, reverse=True):
        message = re.sub(rf"(?<![\w-]){dest}=False\b", f"without {flag(dest)}", message)
        message = re.sub(rf"(?<![\w-]){dest}=True\b", flag(dest), message)
    message = message.replace(DIVERGENCE_ADVICE, "lower --lr, or try --clip-norm")  # no flag trains on
    if isinstance(exc, BackendError) and "--" not in message and "backend" in options:
        message = f"--backend {args.backend or 'auto'}: {message}"
    return message
