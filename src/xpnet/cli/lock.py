"""One writer per run directory: an exclusive, non-blocking `flock` on PARENT/.NAME.xpnet-lock,
held by `xpnet train` from before it trains until its directory is in place.

flock locks belong to the open file, so the kernel releases them when the process dies however
it dies (SIGKILL included): a lock is never stale. The lock file is removed by its holder before
it lets go, and a process that took the lock on a file already removed (it opened the file
just before the holder removed it) sees that the path names another file or none, and tries
again; so at most one process holds the lock of a path, and no lock file stays behind.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no locking; a second writer is not detected there
    fcntl = None

LOCK_SUFFIX = ".xpnet-lock"


def lock_path(out: Path) -> Path:
    return out.parent / f".{out.name}{LOCK_SUFFIX}"


def try_lock(out: Path) -> int | None:
    """The open file descriptor holding `out`'s lock, or None if another process holds it.
    OSError if the lock file cannot be created (the parent is not writable)."""
    path = lock_path(out)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        if fcntl is None:
            return fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            now = os.stat(path)
            mine = os.fstat(fd)
            if (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino):
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())  # for the message a second writer gets
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # the holder removed this file after we opened it: lock the new one


def holder(out: Path) -> str:
    """The process id written in `out`'s lock file ('?' when it cannot be read)."""
    try:
        return lock_path(out).read_text().strip() or "?"
    except OSError:
        return "?"


def release(out: Path, fd: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(lock_path(out))  # while still holding it: see the module docstring
    os.close(fd)
