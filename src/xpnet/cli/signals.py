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


class _State:
    received: int | None = None  # the first signal while handled(): the one that raises
    pending: int | None = None  # received inside deferred(): raised at its end
    deferring = 0  # depth of nested deferred() blocks


@contextlib.contextmanager
def handled():
    """Within the block SIGINT and SIGTERM raise Interrupted (the first one only); the previous
    handlers come back afterwards. Outside the main thread signals cannot be handled: no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum, frame):
        if _State.received is not None:  # later ones arrive during the cleanup of the first: let it finish
            return
        _State.received = signum
        if _State.deferring:
            _State.pending = signum
            return
        raise Interrupted(signum)

    previous = {s: signal.signal(s, on_signal) for s in HANDLED}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _State.received = _State.pending = None


@contextlib.contextmanager
def deferred():
    """Hold SIGINT and SIGTERM back for the duration of the block; one that arrived meanwhile is
    raised right after it. Blocked in this thread (for Python's own handlers, outside handled())
    and, since the kernel may hand the signal to another thread (BLAS, OpenMP), also held back
    by the handler of handled()."""
    main = threading.current_thread() is threading.main_thread()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED) if main and hasattr(signal, "pthread_sigmask") else None
    _State.deferring += 1
    try:
        yield
    finally:
        _State.deferring -= 1
        if old is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)  # a blocked signal is handled here
        if not _State.deferring and _State.pending is not None:
            signum, _State.pending = _State.pending, None
            raise Interrupted(signum)
