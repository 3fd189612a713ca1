"""How much a loader may take from a file, and which files it opens at all.

Every loader checks what a file declares (its size on disk, an archive's member sizes, NPY and
IDX headers, a metadata record, a saved architecture) against these limits before it
decompresses or allocates anything, and refuses with one line naming the file and the limit.
Each limit is raised for real large data with an environment variable:

    XPNET_MAX_READ_BYTES  (default 1 GiB)   the array data one file may declare, counted as it
                          will be held: 8 bytes a value for data sets (they become float64), as
                          stored for model files and checkpoints; also the size of a CSV file
    XPNET_MAX_META_BYTES  (default 16 MiB)  a model or checkpoint file's JSON metadata record,
                          and an archive's directory of members
    XPNET_MAX_LAYERS      (default 10000)   layers in a saved architecture

Sizes take a K, M, G or T suffix (powers of 1024): XPNET_MAX_READ_BYTES=8G.

A memory-mapped data set (an .npy table, an uncompressed aligned .npz: io/mapped.py) is not read
into memory, so its X is not counted against XPNET_MAX_READ_BYTES: it is mapped whatever its size,
and read a chunk of rows at a time.

Only regular files are read: a FIFO or a socket would block forever, a device (/dev/zero) never
ends, and a directory is not a file; `regular_file` refuses them before anything is opened.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import ConfigError

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
_SUFFIXES = {"K": KiB, "M": MiB, "G": GiB, "T": 1 << 40}

READ_BYTES = "XPNET_MAX_READ_BYTES"
META_BYTES = "XPNET_MAX_META_BYTES"
LAYERS = "XPNET_MAX_LAYERS"
DEFAULTS = {READ_BYTES: 1 * GiB, META_BYTES: 16 * MiB, LAYERS: 10_000}


def _parse(name: str, text: str) -> int:
    t = text.strip().upper().removesuffix("B").removesuffix("I")  # 8G, 8GB, 8GiB
    scale = _SUFFIXES.get(t[-1:], 1) if t else 1
    digits = t[:-1] if t[-1:] in _SUFFIXES else t
    if not digits.isdigit() or int(digits) <= 0:
        raise ConfigError(f"{name}: expected a positive number of bytes like 8G or 500M, got {text!r}")
    return int(digits) * scale


parse_bytes = _parse  # the command line's --max-memory takes sizes the same way (cli/sizing.py)


def limit(name: str) -> int:
    """The limit `name` (one of DEFAULTS), from the environment or its default."""
    text = os.environ.get(name)
    return DEFAULTS[name] if text is None or not text.strip() else _parse(name, text)


def read_bytes() -> int:
    return limit(READ_BYTES)


def meta_bytes() -> int:
    return limit(META_BYTES)


def max_layers() -> int:
    return limit(LAYERS)


def max_members() -> int:
    """Members an .npz archive may hold: a checkpoint has at most a dozen tensors a layer
    (weights, batch-norm buffers, their best copies, the optimizer's moments) and some history."""
    return 16 * max_layers() + 64


def size_text(n: int) -> str:
    """1073741824 -> '1 GiB', 1500 -> '1500 bytes'."""
    for unit, scale in (("TiB", 1 << 40), ("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= scale:
            value = n / scale
            return f"{value:.3g} {unit}" if value != int(value) else f"{int(value)} {unit}"
    return f"{n} bytes"


def over_limit(path, what: str, declared: int, name: str = READ_BYTES) -> str:
    """The one line saying that `what` of `path` (declared bytes) exceeds the limit `name`."""
    cap = limit(name)
    return (
        f"{path}: {what} {size_text(declared)}, over the {size_text(cap)} limit "
        f"(set {name}, e.g. {name}={_advice(declared)}, to read larger files)"
    )


def _advice(declared: int) -> str:
    return f"{max(1, -(-declared // GiB))}G" if declared >= GiB // 2 else f"{max(1, -(-declared // MiB))}M"


def check_bytes(path, what: str, declared: int, error: type[Exception], name: str = READ_BYTES) -> None:
    """`error` unless `declared` bytes are within the limit `name`."""
    if declared > limit(name):
        raise error(over_limit(path, what, declared, name))


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def regular_file(path: str | os.PathLike, error: type[Exception]) -> int:
    """The size of `path` when it is a regular file (or a symbolic link to one); otherwise `error`
    naming it: missing, unreadable, or not a regular file (a FIFO, socket, device or directory,
    which would block, never end, or is not a file). Nothing is opened."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    if not stat.S_ISREG(st.st_mode):
        kind = next((k for test, k in _KINDS if test(st.st_mode)), "a special file")
        raise error(f"{path}: is {kind}, not a regular file")
    return int(st.st_size)
