"""MNIST-style IDX files (http://yann.lecun.com/exdb/mnist/), optionally gzipped.

An IDX file is: two zero bytes, a type code, the number of dimensions, each dimension as a
big-endian uint32, then the values, big-endian. A data set is an images file
(`*images-idx3-ubyte`, 3 dims: n, rows, cols) and a labels file (`*labels-idx1-ubyte`, 1 dim: n)
with the same prefix, given as a directory holding them or as the path of the images file.
Pixels are returned as they are stored (0..255 for MNIST), flattened to (n, rows * cols).
"""

from __future__ import annotations

import gzip
import math
import re
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from . import limits
from .dataset import Dataset, classification
from .npyio import first_line

# type code -> big-endian NumPy dtype, from the format's description
_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IMAGES = re.compile(r"^(?P<prefix>.*)images[-.]idx3-ubyte(?P<gz>\.gz)?$")


def is_idx_images(path: Path) -> bool:
    return bool(_IMAGES.match(path.name))


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """The array in an IDX file that must have `ndim` dimensions; DataError naming the file and
    the problem for a bad magic number, wrong dims, or a size that does not match the header.
    The header is read first and what it declares is checked against the read limit
    (XPNET_MAX_READ_BYTES, counting the 8 bytes a value takes once converted) and, for a plain
    file, against its size; a gzipped file is then decompressed no further than that."""
    size = limits.regular_file(path, DataError)
    gz = path.suffix == ".gz"
    try:
        with gzip.open(path, "rb") if gz else open(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _TYPES:
                raise DataError(
                    f"{path}: bad IDX magic number {head.hex() or '(empty file)'}; "
                    "expected 0000 then a type code and dims"
                )
            if head[3] != ndim:
                raise DataError(f"{path}: IDX file has {head[3]} dimensions, expected {ndim}")
            header = 4 + 4 * ndim
            raw_dims = f.read(4 * ndim)
            if len(raw_dims) < 4 * ndim:
                raise DataError(f"{path}: truncated IDX header ({4 + len(raw_dims)} bytes, needs {header})")
            dims = tuple(int(d) for d in np.frombuffer(raw_dims, dtype=">u4"))
            dtype = np.dtype(_TYPES[head[2]])
            expected = math.prod(dims) * dtype.itemsize
            limits.check_bytes(path, "its header declares", math.prod(dims) * max(8, dtype.itemsize), DataError)
            if not gz and size - header != expected:
                what = "truncated" if size - header < expected else "has trailing bytes"
                raise DataError(f"{path}: {what}: dims {dims} need {expected} data bytes, found {size - header}")
            raw = f.read(expected + 1)  # one byte more than declared shows trailing data
    except DataError:
        raise
    except (OSError, EOFError, zlib.error) as exc:  # gzip raises these for damaged or truncated archives
        raise DataError(f"{path}: unreadable ({first_line(exc)})") from None
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "has trailing bytes"
        found = len(raw) if len(raw) < expected else "more"
        raise DataError(f"{path}: {what}: dims {dims} need {expected} data bytes, found {found}")
    return np.frombuffer(raw, dtype=dtype).reshape(dims)


def _with_optional_gz(path: Path) -> Path | None:
    for candidate in (path, path.with_name(path.name + ".gz"), path.with_name(path.name.removesuffix(".gz"))):
        if candidate.is_file():
            return candidate
    return None


def _find_pair(path: Path) -> tuple[Path, Path]:
    """(images, labels) for a directory or an images file."""
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if is_idx_images(p))
        if not images:
            raise DataError(f"{path}: no *images-idx3-ubyte[.gz] file in this directory")
        prefixes = {_IMAGES.match(p.name)["prefix"] for p in images}
        if len(prefixes) > 1:
            train = [p for p in images if _IMAGES.match(p.name)["prefix"].startswith("train")]
            if not train:
                raise DataError(f"{path}: several image sets ({', '.join(p.name for p in images)}); give one file")
            images = train
        image_path = images[0]
    else:
        limits.regular_file(path, DataError)  # missing, or a FIFO, device or socket: refused now
        image_path = path
    m = _IMAGES.match(image_path.name)
    labels_name = f"{m['prefix']}labels{image_path.name[len(m['prefix']) + 6]}idx1-ubyte"
    labels = _with_optional_gz(image_path.with_name(labels_name))
    if labels is None:
        raise DataError(f"{image_path}: no labels file {labels_name}[.gz] beside it")
    return image_path, labels


def load_idx(path: str | Path) -> Dataset:
    """A classification Dataset from an IDX images file and its labels file."""
    images_path, labels_path = _find_pair(Path(path))
    images = read_idx(images_path, 3)
    labels = read_idx(labels_path, 1)
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{labels_path}: {labels.shape[0]} labels for {images.shape[0]} images in {images_path.name}")
    if images.shape[0] == 0:
        raise DataError(f"{images_path}: holds no images")
    X = images.reshape(images.shape[0], -1).astype(np.float64)
    if not np.isfinite(X).all():
        raise DataError(f"{images_path}: contains NaN or inf")
    rows, cols = images.shape[1:]
    names = [f"pixel_{r}_{c}" for r in range(rows) for c in range(cols)]
    return classification(
        X,
        labels.astype(np.int64),
        name=images_path.name.split(".")[0],
        source=str(images_path),
        feature_names=names,
        target_name="label",
    )
