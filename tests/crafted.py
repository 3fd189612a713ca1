"""Hostile files, built small and fast in a test's directory: a run directory like `xpnet train`
writes (built in process), model files rewritten field by field, zip members whose recorded size
lies, NPY headers claiming more than they hold."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import numpy as np

from xpnet.io.arrays_file import META_KEY, digest
from xpnet.io.model_file import save_model
from xpnet.nn import Dense, Identity, Sequential

XOR_X = [[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]]


def run_record(n_in: int = 3, classes=(0, 1)) -> dict:
    """The run record `xpnet train` stores for a classifier of n_in inputs."""
    return {
        "task": "classification",
        "loss": "softmax_cross_entropy",
        "classes": list(classes),
        "target_name": "y",
        "feature_names": [f"x{i}" for i in range(n_in)],
        "standardize": {"mean": [0.5] * n_in, "std": [0.5] * n_in},
        "training": {},
        "backend": "numpy",
        "epochs_run": 1,
    }


def make_run(directory: Path, *, identities: int = 0) -> Path:
    """DIR/model.npz: Dense(3, 4), `identities` Identity layers, Dense(4, 2), with its run record."""
    directory.mkdir(parents=True, exist_ok=True)
    layers = [Dense(3, 4), *[Identity() for _ in range(identities)], Dense(4, 2)]
    model = Sequential(layers, seed=0, backend="numpy", dtype="float32")
    save_model(directory / "model.npz", model, metadata={"xpnet_run": run_record()})
    return directory


def read_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def write_members(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> None:
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in members.items():
            z.writestr(name, data)


def rewrite_model(path: Path, edit, *, rehash: bool = True) -> None:
    """Rewrite a model file's arrays and record: edit(arrays, record) mutates them; with rehash
    the record's tensor list and checksum describe the edited arrays (a self-consistent file)."""
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    record = json.loads(arrays.pop(META_KEY).tobytes())
    edit(arrays, record)
    if rehash:
        record["tensors"] = {k: {"shape": list(a.shape), "dtype": a.dtype.str} for k, a in arrays.items()}
        record["sha256"] = digest(arrays)
    write_record(path, arrays, json.dumps(record))


def write_record(path: Path, arrays: dict, text: str) -> None:
    """A model file of `arrays` and the metadata record `text`, as given."""
    meta = np.frombuffer(text.encode(), dtype=np.uint8)
    np.savez(path, **arrays, **{META_KEY: meta})


def npy_header(shape, dtype="<f8") -> bytes:
    """The bytes of an NPY 1.0 header declaring `shape` and `dtype`, without the values."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue()


def claim_size(path: Path, member: str, size: int) -> None:
    """Make the zip's central directory record `size` as `member`'s uncompressed size (what a
    reader would allocate), leaving its data as it is."""
    data = bytearray(path.read_bytes())
    end = data.rindex(b"PK\x05\x06")
    (offset,) = struct.unpack_from("<I", data, end + 16)
    while data[offset : offset + 4] == b"PK\x01\x02":
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, offset + 28)
        name = data[offset + 46 : offset + 46 + name_len].decode()
        if name == member:
            struct.pack_into("<I", data, offset + 24, size)
            path.write_bytes(bytes(data))
            return
        offset += 46 + name_len + extra_len + comment_len
    raise KeyError(member)
