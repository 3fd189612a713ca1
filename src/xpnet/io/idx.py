"""MNIST-style IDX files (http://yann.lecun.com/exdb/mnist/), optionally gzipped.

An IDX file is: two zero bytes, a type code, the number of dimensions, each dimension as a
big-endian uint32, then the values, big-endian. A data set is an images file
(`*images-idx3-ubyte`, 3 dims: n, rows, cols) and a labels file (`*labels-idx1-ubyte`, 1 dim: n)
with the same prefix, given as a directory holding them or as the path of the images file.
Pixels are returned as they are stored (0..255 for MNIST), flattened to (n, rows * cols).
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np

from ..errors import DataError
from .dataset import Dataset, classification
from .npyio import first_line

# type code -> big-endian NumPy dtype, from the format's description
_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IMAGES = re.compile(r"^(?P<prefix>.*)images[-.]idx3-ubyte(?P<gz>\.gz)?$")


def is_idx_images(path: Path) -> bool:
    return bool(_IMAGES.match(path.name))


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """The array in an IDX file that must have `ndim` dimensions; DataError naming the file and
    the problem for a bad magic number, wrong dims, or a size that does not match the header."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, EOFError) as exc:  # gzip raises these for damaged or truncated archives
        raise DataError(f"{path}: unreadable ({first_line(exc)})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        raise DataError(
            f"{path}: bad IDX magic number {raw[:4].hex() or '(empty file)'}; expected 0000 then a type code and dims"
        )
    if raw[3] != ndim:
        raise DataError(f"{path}: IDX file has {raw[3]} dimensions, expected {ndim}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header ({len(raw)} bytes, needs {header})")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_TYPES[raw[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != expected:
        what = "truncated" if len(raw) - header < expected else "has trailing bytes"
        raise DataError(f"{path}: {what}: dims {dims} need {expected} data bytes, found {len(raw) - header}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


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
    elif not path.is_file():
        raise DataError(f"{path}: file not found")
    else:
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
