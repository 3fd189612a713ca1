"""Arrays larger than memory: an .npy file, or the uncompressed members of an .npz (np.savez),
opened memory-mapped and read-only, so that a process reads from disk only the rows it touches.

Every header is read and checked before anything is mapped: the magic bytes, the declared dtype
(no object arrays: nothing is ever unpickled), shape and order, and that the file holds all the
bytes the header declares; only regular files are opened (io/limits.py). The mapped bytes are not
counted against XPNET_MAX_READ_BYTES: they are read from disk only where a process touches them.
A compressed member (np.savez_compressed) cannot be mapped and is refused with one line saying so.
"""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from .limits import regular_file
from .npyio import NPY_MAGIC, ZIP_MAGIC, first_line

_LOCAL_HEADER = struct.Struct("<4s22xHH")  # zip local file header: signature ... name and extra lengths


def _npy_header(f, path: Path, what: str) -> tuple[np.dtype, tuple[int, ...], bool, int]:
    """(dtype, shape, fortran_order, data offset) of the .npy stream at f's position."""
    start = f.tell()
    if f.read(len(NPY_MAGIC)) != NPY_MAGIC:
        raise DataError(f"{path}: {what} is not an .npy array (wrong magic bytes)")
    f.seek(start)
    try:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(f)
    except ValueError as exc:
        raise DataError(f"{path}: {what} has a corrupt header ({first_line(exc)})") from None
    if dtype.hasobject:
        raise DataError(f"{path}: {what} holds an object (pickled) array; refused, as loading never runs code")
    return dtype, tuple(shape), fortran, f.tell()


def _map(path: Path, what: str, dtype, shape, fortran: bool, offset: int, end: int) -> np.memmap:
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if offset + nbytes > end:
        raise DataError(
            f"{path}: {what} declares {shape} {dtype} ({nbytes} bytes) but the file holds "
            f"{max(end - offset, 0)}: truncated"
        )
    if nbytes == 0:
        raise DataError(f"{path}: {what} is empty (shape {shape})")
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")


def open_memmap(path: str | os.PathLike) -> dict[str, np.memmap]:
    """{name: read-only memory-mapped array}: an .npy file's array as "X", or every member of an
    uncompressed .npz by its name (X, y, ...)."""
    path = Path(path)
    size = regular_file(path, DataError)  # a FIFO or a device would block or never end
    try:
        with open(path, "rb") as f:
            magic = f.read(len(NPY_MAGIC))
            if magic == NPY_MAGIC:
                f.seek(0)
                return {"X": _map(path, "the array", *_npy_header(f, path, "the array"), end=size)}
            if not magic.startswith(ZIP_MAGIC):
                raise DataError(f"{path}: not an .npy or .npz file (its first bytes are {magic!r})")
            with zipfile.ZipFile(f) as z:
                infos = [i for i in z.infolist() if i.filename.endswith(".npy")]
            out = {}
            for info in infos:
                name = info.filename[: -len(".npy")]
                if info.compress_type != zipfile.ZIP_STORED:
                    raise DataError(
                        f"{path}: {name} is compressed and cannot be memory-mapped; save it with np.savez, "
                        "not np.savez_compressed"
                    )
                f.seek(info.header_offset)
                sig, n_name, n_extra = _LOCAL_HEADER.unpack(f.read(_LOCAL_HEADER.size))
                if sig != ZIP_MAGIC:
                    raise DataError(f"{path}: {name} has a corrupt zip entry")
                f.seek(info.header_offset + _LOCAL_HEADER.size + n_name + n_extra)
                data_start = f.tell()
                header = _npy_header(f, path, name)
                if header[3] % max(header[0].alignment, 1):
                    # NumPy copies an unaligned array whole on every take: a batch would read the file
                    raise DataError(
                        f"{path}: {name} starts at byte {header[3]}, not aligned for {header[0]} (np.savez does "
                        "not align members); re-save it with xpnet.io.save_mappable or as an .npy file"
                    )
                out[name] = _map(path, name, *header, end=min(size, data_start + info.file_size))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (zipfile.BadZipFile, struct.error, EOFError) as exc:
        raise DataError(f"{path}: corrupt or truncated ({type(exc).__name__}: {first_line(exc)})") from None
    if not out:
        raise DataError(f"{path}: holds no arrays")
    return out


ALIGN = 64  # the .npy header pads the data to 64 bytes; the zip entry's extra field pads the rest


def save_mappable(path: str | os.PathLike, **arrays) -> Path:
    """An uncompressed .npz that open_memmap can map: every member's data starts on a 64-byte
    boundary (padding in the zip entry's extra field, as Android's zipalign does). np.load
    reads it like any .npz. Written atomically."""
    from .npyio import atomic_write

    path = Path(path)

    def write(f) -> None:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as z:
            for name, value in arrays.items():
                a = np.asarray(value)
                if a.dtype.hasobject:
                    raise DataError(f"{path}: {name} is an object array; only numeric arrays are stored")
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_STORED
                start = f.tell() + _LOCAL_HEADER.size + len(info.filename.encode())
                # Zip64 sizes (20 bytes of extra) come first when the member may exceed 4 GiB
                zip64 = a.nbytes + 1024 > zipfile.ZIP64_LIMIT
                start += 20 if zip64 else 0
                pad = (-(start + 4)) % ALIGN
                info.extra = struct.pack("<HH", 0xD935, pad) + b"\0" * pad
                with z.open(info, "w", force_zip64=zip64) as member:
                    np.lib.format.write_array(member, a, allow_pickle=False)

    atomic_write(path, write, DataError)
    return path
