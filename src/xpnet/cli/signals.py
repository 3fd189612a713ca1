"""SIGINT and SIGTERM while a command runs: one line, status 128 + the signal, nothing left behind.

Python turns SIGINT into KeyboardInterrupt and leaves SIGTERM to kill the process on the spot,
which skips every `finally` (a staging directory would stay behind). While a command runs both
raise `Interrupted` instead, so the cleanup that runs for an error runs for a signal too; the
command line prints the signal's line and exits 128 + signum (130, 143), as a shell reports a
process killed by the signal. Only the first signal raises: a second Ctrl-C pressed while the
first one's cleanup runs must not cut that cleanup short.

Before main() runs, the package's import takes a few tenths of a second; xpnet._startup covers
that window (see there). `deferred()` holds both signals back over a few lines that must not
be split, such as the swap of a run directory (outdir.py).
"""

from __future__ import annotations

import contextlib
import signal
import threading

HANDLED = (signal.SIGINT, signal.SIGTERM)
MESSAGES = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated (SIGTERM)"}


class Interrupted(KeyboardInterrupt):
    """The process received SIGINT or SIGTERM. A KeyboardInterrupt, so code that cleans up after
    Ctrl-C cleans up after SIGTERM too; `status` is the exit status to end with."""

    def __init__(self, signum: int) -> None:
        super().__init__(MESSAGES.get(signum, f"signal {signum}"))
        self.signum = int(signum)
        self.status = 128 + self.signum


@contextlib.contextmanager
def handled():
    """Within the block SIGINT and SIGTERM raise Interrupted (the first one only); the previous
    handlers come back afterwards. Outside the main thread signals cannot be handled: no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def on_signal(signum, frame):
        if not received:  # later ones arrive during the cleanup of the first: let it finish
            received.append(signum)
            raise Interrupted(signum)

    previous = {s: signal.signal(s, on_signal) for s in HANDLED}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def deferred():
    """Hold SIGINT and SIGTERM back (blocked, not lost) for the duration of the block; one that
    arrived meanwhile is delivered, and handled, right after it."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
