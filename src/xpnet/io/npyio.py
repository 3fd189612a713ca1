"""NumPy files on disk: reading .npz/.npy without ever unpickling (checkpoints, data sets) and
writing any file atomically (checkpoints, models, predictions).

`np.load` falls back to pickle for files that are neither zip nor .npy, and object arrays inside
an archive are pickles too. `read_npy_file` checks the magic bytes first and loads with
allow_pickle=False, and turns every failure into one line of the caller's error class.
"""

from __future__ import annotations

import contextlib
import math
import os
import struct
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np

from . import limits

ZIP_MAGIC = b"PK\x03\x04"
NPY_MAGIC = b"\x93NUMPY"


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its class name if it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Member(NamedTuple):
    """What an NPY header declares: shape, dtype, and where the values start."""

    shape: tuple[int, ...]
    dtype: np.dtype
    offset: int  # bytes of magic and header before the values

    @property
    def count(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.count * self.dtype.itemsize

    def held_bytes(self, per_value: int | None) -> int:
        """Bytes the array takes once loaded: as stored, or `per_value` bytes a value when it is
        converted to something wider (float64: 8); at least a byte a value (zero-width dtypes)."""
        return self.count * max(per_value or 0, self.dtype.itemsize, 1)


_KINDS = "biufcUS"  # numbers, booleans and text; never objects (pickles) or structured records


def _read_header(f: IO[bytes], where: str, error: type[Exception]) -> Member:
    """The header of the NPY stream `f` (positioned at its start), checked: magic, a readable
    header of bounded length, a plain dtype. Reads only the header."""
    magic = f.read(len(NPY_MAGIC))
    if magic != NPY_MAGIC:
        raise error(f"{where}: not an NPY array (its first bytes are {magic[:8]!r})")
    try:
        major, minor = f.read(2)
        if major not in (1, 2) or minor != 0:  # 3.0 is only for structured dtypes, refused anyway
            raise ValueError(f"unsupported NPY format version {major}.{minor}")
        reader = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, _, dtype = reader(f, max_header_size=_MAX_HEADER)
    except Exception as exc:  # a short read, a malformed or oversized header: what numpy raises
        raise error(f"{where}: bad NPY header ({first_line(exc)})") from None
    if dtype.hasobject:
        raise error(f"{where}: holds an object (pickled) array; refused, as loading never runs code")
    if dtype.kind not in _KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise error(f"{where}: holds dtype {dtype}; expected numbers, booleans or text")
    return Member(tuple(int(d) for d in shape), dtype, f.tell())


_MAX_HEADER = 10_000  # numpy's own default: a header holds a dtype and a shape, no more


def _zip_directory(f: IO[bytes], size: int) -> tuple[int, int] | None:
    """(number of members, bytes of the central directory) from a zip's end record (zip64's when
    there is one), read from the last 64 KiB; None when there is none (zipfile then says why)."""
    tail = min(size, 22 + 0xFFFF)
    f.seek(size - tail)
    data = f.read(tail)
    i = data.rfind(b"PK\x05\x06")
    if i < 0 or len(data) - i < 22:
        return None
    count, cd_size = struct.unpack_from("<HI", data, i + 10)
    if count != 0xFFFF and cd_size != 0xFFFFFFFF:
        return count, cd_size
    locator = i - 20  # zip64: a locator just before the end record points at zip64's end record
    if locator < 0 or data[locator : locator + 4] != b"PK\x06\x07":
        return None
    (offset,) = struct.unpack_from("<Q", data, locator + 8)
    f.seek(offset)
    record = f.read(56)
    if len(record) < 56 or record[:4] != b"PK\x06\x06":
        return None
    count, cd_size = struct.unpack_from("<QQ", record, 32)
    return count, cd_size


class Archive:
    """An .npz opened for reading. Opening reads the zip's directory and every member's NPY
    header, and checks them against each other and the limits (io/limits.py) before any value is
    read: how many members, the directory's size, each header's data size against the size the
    zip records for the member, and (with `stored_only`) that no member is compressed, so that
    nothing read can be larger than the file itself. `members` maps each array's name (without
    .npy) to its header; `check_total(names)` checks what reading them would take against the
    read limit, and `read(name)` reads one array.
    """

    def __init__(self, path: Path, error: type[Exception], *, stored_only: bool = False) -> None:
        self.path, self.error = path, error
        size = limits.regular_file(path, error)
        try:
            with open(path, "rb") as f:
                directory = _zip_directory(f, size)
        except OSError as exc:
            raise error(f"{path}: cannot read ({exc.strerror or first_line(exc)})") from None
        if directory is not None:
            count, cd_size = directory
            if count > limits.max_members():
                raise error(
                    f"{path}: holds {count} members, over the limit of {limits.max_members()} "
                    f"(16 per layer of {limits.LAYERS}={limits.max_layers()}, plus 64)"
                )
            limits.check_bytes(path, "its zip directory takes", cd_size, error, limits.META_BYTES)
        try:
            self._zip = zipfile.ZipFile(path)
        except Exception as exc:  # BadZipFile, a short read, a bad directory
            raise error(f"{path}: corrupt or truncated ({type(exc).__name__}: {first_line(exc)})") from None
        try:
            self.members = self._headers(stored_only)
        except BaseException:
            self._zip.close()
            raise

    def _headers(self, stored_only) -> dict[str, Member]:
        path, error = self.path, self.error
        members: dict[str, Member] = {}
        self._infos: dict[str, zipfile.ZipInfo] = {}
        for info in self._zip.infolist():
            where = f"{path}: member {info.filename!r}"
            name = info.filename.removesuffix(".npy")
            if not info.filename.endswith(".npy") or not name:
                raise error(f"{where} is not an .npy array")
            if name in members:
                raise error(f"{where} appears twice")
            if stored_only and info.compress_type != zipfile.ZIP_STORED:
                raise error(f"{where} is compressed; xpnet writes these files uncompressed (np.savez)")
            if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
                raise error(f"{where} claims {info.file_size} bytes but stores {info.compress_size}")
            try:
                with self._zip.open(info) as f:
                    member = _read_header(f, f"{path}: member {info.filename!r}", error)
            except error:
                raise
            except Exception as exc:  # a damaged member: zlib, CRC, encryption, unknown compression
                raise error(f"{where}: corrupt ({type(exc).__name__}: {first_line(exc)})") from None
            if member.offset + member.nbytes != info.file_size:
                raise error(
                    f"{where}: its header declares {member.nbytes} bytes of {member.dtype} {member.shape}, "
                    f"the archive holds {info.file_size - member.offset}"
                )
            members[name] = member
            self._infos[name] = info
        return members

    def check_total(self, names, per_value: int | None = None) -> None:
        """`error` unless the arrays `names` fit the read limit (XPNET_MAX_READ_BYTES), counted as
        Member.held_bytes(per_value)."""
        total = sum(self.members[n].held_bytes(per_value) for n in names)
        limits.check_bytes(self.path, "its arrays declare", total, self.error)

    def read(self, name: str) -> np.ndarray:
        """The array `name`, read after its header was checked; a damaged member (bad CRC, zlib
        error, short data) is `error`."""
        member = self.members[name]
        try:
            with self._zip.open(self._infos[name]) as f:
                array = np.lib.format.read_array(f, allow_pickle=False, max_header_size=_MAX_HEADER)
        except Exception as exc:
            raise self.error(
                f"{self.path}: corrupt or truncated member {name!r} ({type(exc).__name__}: {first_line(exc)})"
            ) from None
        if array.shape != member.shape or array.dtype != member.dtype:  # pragma: no cover - same bytes read twice
            raise self.error(f"{self.path}: member {name!r} changed while it was read")
        return array

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _named(archive: Archive, names: list[str]) -> dict:
    """The arrays `names`, and every member's name mapped to None (so a caller can say which
    arrays a file holds without their values having been read)."""
    out = dict.fromkeys(archive.members)
    out.update({name: archive.read(name) for name in names})
    return out


def read_npy_file(
    path: Path,
    error: type[Exception],
    *,
    allow_npy: bool = True,
    per_value: int | None = None,
    keys: tuple[str, ...] | None = None,
) -> dict[str, np.ndarray] | np.ndarray:
    """Every array in an .npz (as a dict, in file order; with `keys`, only those are read and the
    other members map to None) or the array in an .npy file.

    Raises `error` naming `path` for a missing file or one that is not a regular file, wrong magic
    bytes, a member that is not an NPY array, an object (pickled) array, a header whose size
    disagrees with the file or exceeds the limits (io/limits.py), and
    a truncated or corrupted archive (bad CRC, zlib errors). Sizes are checked before reading:
    those of the arrays read, counted as stored or `per_value` bytes a value (8 for data that
    becomes float64), against XPNET_MAX_READ_BYTES.
    """
    size = limits.regular_file(path, error)
    try:
        with open(path, "rb") as f:
            magic = f.read(len(NPY_MAGIC))
            if allow_npy and magic == NPY_MAGIC:
                f.seek(0)
                member = _read_header(f, str(path), error)
                if member.offset + member.nbytes != size:
                    raise error(
                        f"{path}: its header declares {member.nbytes} bytes of {member.dtype} {member.shape}, "
                        f"the file holds {size - member.offset}"
                    )
                limits.check_bytes(path, "its array declares", member.held_bytes(per_value), error)
                f.seek(0)
                return np.lib.format.read_array(f, allow_pickle=False, max_header_size=_MAX_HEADER)
    except error:
        raise
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or first_line(exc)})") from None
    except Exception as exc:
        raise error(f"{path}: corrupt or truncated ({type(exc).__name__}: {first_line(exc)})") from None
    kinds = "an .npz or .npy file" if allow_npy else "an .npz (zip) archive"
    if not magic.startswith(ZIP_MAGIC):
        raise error(f"{path}: not {kinds} (its first bytes are {magic!r})")
    with Archive(path, error) as archive:
        names = list(archive.members) if keys is None else [k for k in keys if k in archive.members]
        archive.check_total(names, per_value)
        return {name: archive.read(name) for name in names} if keys is None else _named(archive, names)


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
