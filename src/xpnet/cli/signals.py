"""SIGINT and SIGTERM while a command runs: one line, status 128 + the signal, nothing left behind.

Python turns SIGINT into KeyboardInterrupt and leaves SIGTERM to kill the process on the spot,
which skips every `finally` (a staging directory would stay behind). While a command runs both
raise `Interrupted` instead, so the cleanup that runs for an error runs for a signal too; the
command line prints the signal's line and exits 128 + signum (130, 143), as a shell reports a
process killed by the signal. The cleanups that must not be cut short (removing a staging
directory, letting go of a lock) run in `deferred()`: a second Ctrl-C pressed then waits, and
is not raised at all when the first one's Interrupted is already on its way out. Outside them
every signal raises, so a library that swallowed the first one cannot make the process deaf.
A signal ignored by whoever started the process (background jobs ignore SIGINT) stays ignored.

Before main() runs, the package's import takes a few tenths of a second; xpnet._startup covers
that window (see there). `deferred()` holds both signals back over a few lines that must not
be split, such as the swap of a run directory (outdir.py).
"""

from __future__ import annotations

import contextlib
import signal
import sys
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
    active = False  # handled() is in force
    pending: int | None = None  # received inside deferred(): raised at its end
    deferring = 0  # depth of nested deferred() blocks


@contextlib.contextmanager
def handled():
    """Within the block SIGINT and SIGTERM raise Interrupted; the previous handlers come back
    afterwards. Outside the main thread signals cannot be handled: no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum, frame):
        if _State.deferring:
            if _State.pending is None:
                _State.pending = signum
            return
        raise Interrupted(signum)

    previous = {s: signal.signal(s, on_signal) for s in HANDLED if signal.getsignal(s) != signal.SIG_IGN}
    _State.active = True
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _State.active, _State.pending = False, None


@contextlib.contextmanager
def deferred():
    """Hold SIGINT and SIGTERM back for the duration of the block; one that arrived meanwhile is
    raised right after it, unless an Interrupted is already on its way out. Within handled() its
    handler holds them back (wherever the kernel delivers them: another thread may take them);
    outside it they are blocked in this thread, for Python's own handlers."""
    block = not _State.active and threading.current_thread() is threading.main_thread()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED) if block and hasattr(signal, "pthread_sigmask") else None
    _State.deferring += 1
    leaving = isinstance(sys.exc_info()[1], KeyboardInterrupt)  # a cleanup on the way out of one
    try:
        yield
    except KeyboardInterrupt:
        leaving = True
        raise
    finally:
        _State.deferring -= 1
        if old is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)  # a blocked signal is handled here
        if not _State.deferring and _State.pending is not None:
            signum, _State.pending = _State.pending, None
            if not leaving:
                raise Interrupted(signum)
