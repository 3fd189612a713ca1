"""The first tenths of a second of the `xpnet` command: importing the package (NumPy and the rest)
takes that long, and a Ctrl-C in it would end in a KeyboardInterrupt traceback from deep inside
an import. When this process is the command (`python -m xpnet ...` or the `xpnet` script, and
only then: importing xpnet as a library changes no signal handler), SIGINT and SIGTERM end it
with one line and status 130 or 143 until cli/signals.py takes over in main(). Nothing is on
disk yet at that point, so exiting at once leaves nothing behind.

Imported first by xpnet/__init__.py; it imports nothing but the standard library.
"""

from __future__ import annotations

import os
import signal
import sys

_LINES = {signal.SIGINT: b"xpnet: interrupted\n", signal.SIGTERM: b"xpnet: terminated (SIGTERM)\n"}


def is_the_command() -> bool:
    """True when this interpreter was started as the xpnet command."""
    argv = list(getattr(sys, "orig_argv", []))  # the interpreter's own command line (Python >= 3.10)
    skip = False
    for i, arg in enumerate(argv[1:], 1):
        if skip or arg in ("-X", "-W"):  # options that take the next word as their value
            skip = not skip
            continue
        if arg == "-c" or arg.startswith("-c"):
            return False
        if arg == "-m":
            return argv[i + 1 : i + 2] == ["xpnet"]
        if arg.startswith("-m"):
            return arg == "-mxpnet"
        if not arg.startswith("-"):  # a script: the console script `xpnet` or anything else
            return os.path.basename(arg) in ("xpnet", "xpnet.exe", "xpnet-script.py")
    return False


def _exit_now(signum, frame):
    try:
        os.write(2, _LINES.get(signum, b"xpnet: signal\n"))
    finally:  # even with stderr closed
        os._exit(128 + signum)


def guard() -> None:
    if is_the_command():
        for s in _LINES:
            if signal.getsignal(s) != signal.SIG_IGN:  # ignored by whoever started us (a background job): stays so
                signal.signal(s, _exit_now)


guard()
