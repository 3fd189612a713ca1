"""NumPy files on disk: reading .npz/.npy without ever unpickling (checkpoints, data sets) and
writing any file atomically (checkpoints, models, predictions).

`np.load` falls back to pickle for files that are neither zip nor .npy, and object arrays inside
an archive are pickles too. `read_npy_file` checks the magic bytes first and loads with
allow_pickle=False, and turns every failure into one line of the caller's error class.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

ZIP_MAGIC = b"PK\x03\x04"
NPY_MAGIC = b"\x93NUMPY"


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its class name if it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read_npy_file(path: Path, error: type[Exception], *, allow_npy: bool = True) -> dict[str, np.ndarray] | np.ndarray:
    """Every array in an .npz (as a dict, in file order) or the array in an .npy file.

    Raises `error` naming `path` for a missing or unreadable file, wrong magic bytes, an object
    (pickled) array, and a truncated or corrupted archive (bad CRC, zlib errors).
    """
    try:
        with open(path, "rb") as f:
            magic = f.read(len(NPY_MAGIC))
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or first_line(exc)})") from None
    kinds = "an .npz or .npy file" if allow_npy else "an .npz (zip) archive"
    if not (magic.startswith(ZIP_MAGIC) or (allow_npy and magic == NPY_MAGIC)):
        raise error(f"{path}: not {kinds} (its first bytes are {magic!r})")
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return loaded
        with loaded as npz:
            return {name: npz[name] for name in npz.files}
    except ValueError as exc:
        if "pickle" in str(exc):
            raise error(f"{path}: holds an object (pickled) array; refused, as loading never runs code") from None
        raise error(f"{path}: corrupt ({first_line(exc)})") from None
    except Exception as exc:  # BadZipFile, zlib.error, bad CRC, EOF: whatever a damaged archive raises
        raise error(f"{path}: corrupt or truncated ({type(exc).__name__}: {first_line(exc)})") from None


def atomic_write(path: Path, write: Callable[[IO[bytes]], Any], error: type[Exception]) -> None:
    """Call `write(f)` on a temporary file next to `path`, then flush, fsync and rename it over
    `path`: a crash or an error at any point leaves a previous file at `path` whole and no
    temporary file behind. `error` (naming `path`) when the directory does not exist."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise error(f"{path}: directory {directory} does not exist")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); give it the mode an ordinary open() would
        umask = os.umask(0)
        os.umask(umask)
        with contextlib.suppress(AttributeError, OSError):  # no fchmod on Windows
            os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    # the rename itself is only durable once the directory entry is on disk
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
