"""Bounded resources when reading files: what a file declares (zip sizes, NPY and IDX headers,
its metadata record, its architecture, its size on disk) is checked against the limits of
xpnet/io/limits.py before anything is decompressed or allocated, and refused with one line
naming the file and the limit. Every case runs through the command line in one process capped
at 1 GiB of address space (tests/isolated.py) while the files claim several GiB: a loader that
allocated what they claim would fail there with a MemoryError instead of the line asserted.
Each limit is also raised through its environment variable and the same file then loads."""

from __future__ import annotations

import gzip
import os
import zipfile

import numpy as np
import pytest
from crafted import claim_size, make_run, npy_header, read_members, rewrite_model, write_members
from isolated import assert_refused, run_cases, tree

GIB = 1 << 30
NUMPY = ["--backend", "numpy"]


def _data_bomb(path):
    """An .npz whose X claims (7.8e6, 64) float64, 3.7 GiB, compressed to a few bytes."""
    claim = npy_header((7_800_000, 64))
    np.savez(path, y=np.zeros(3))
    members = read_members(path)
    members["X.npy"] = claim + bytes(1024)
    write_members(path, members, zipfile.ZIP_DEFLATED)
    claim_size(path, "X.npy", len(claim) + 7_800_000 * 64 * 8)


def _model_with_member(run, name, data, *, claimed=None):
    members = read_members(run / "model.npz")
    members[name] = data
    write_members(run / "model.npz", members)
    if claimed is not None:
        claim_size(run / "model.npz", name, claimed)


def _build(root):
    """{case: (argv, env, words, dir)}: every hostile file, each in its own directory."""
    cases = {}

    def case(name, argv, words, env=None):
        d = root / name
        cases[name] = (argv, env or {}, words, d)
        return d

    def folder(name):
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        return d

    d = folder("npz claiming 3.7 GiB")
    _data_bomb(d / "bomb.npz")
    case(d.name, ["predict", make_run(root / "good"), "--input", d / "bomb.npz", *NUMPY], ["bomb.npz", "GiB limit"])
    d = folder("train on npz claiming 3.7 GiB")
    _data_bomb(d / "bomb.npz")
    case(d.name, ["train", "--dataset", d / "bomb.npz", "--out", d / "run", *NUMPY], ["XPNET_MAX_READ_BYTES"])

    d = make_run(folder("model member compressed"))
    members = read_members(d / "model.npz")
    write_members(d / "model.npz", members, zipfile.ZIP_DEFLATED)
    case(d.name, ["evaluate", d, "--dataset", "xor", *NUMPY], ["model.npz", "compressed"])

    d = make_run(folder("model member claiming 4 GiB"))
    data = read_members(d / "model.npz")["params/0.W.npy"]
    _model_with_member(d, "params/0.W.npy", data, claimed=4 * GIB - 1)
    case(d.name, ["evaluate", d, "--dataset", "xor", *NUMPY], ["model.npz", "claims 4294967295 bytes"])

    d = make_run(folder("extra member of 4 GiB"))
    header = npy_header((GIB // 2 - 16,))
    _model_with_member(d, "extra.npy", header + bytes(64), claimed=4 * GIB - 256)
    case(d.name, ["evaluate", d, "--dataset", "xor", *NUMPY], ["model.npz", "extra.npy", "claims"])

    d = make_run(folder("metadata record of 400 MB"))
    header = npy_header((400_000_000,), "|u1")
    _model_with_member(d, "__xpnet_meta__.npy", header + bytes(1000), claimed=len(header) + 400_000_000)
    case(d.name, ["evaluate", d, "--dataset", "xor", *NUMPY], ["model.npz", "__xpnet_meta__.npy", "claims"])
    d = make_run(folder("metadata over a lowered limit"))
    env = {"XPNET_MAX_META_BYTES": "100"}
    case(
        d.name,
        ["evaluate", d, "--dataset", "xor", *NUMPY],
        ["model.npz", "100 bytes limit", "XPNET_MAX_META_BYTES"],
        env,
    )

    d = make_run(folder("architecture of Dense(40000, 40000)"))
    big = [{"type": "Dense", "n_in": 40000, "n_out": 40000}, {"type": "Dense", "n_in": 40000, "n_out": 2}]
    rewrite_model(d / "model.npz", lambda a, r: r["meta"].update(architecture=big))  # 6.4 GB of weights
    case(d.name, ["evaluate", d, "--dataset", "xor", *NUMPY], ["model.npz", "needs (40000, 40000)"])

    d = make_run(folder("a million layers"))
    rewrite_model(d / "model.npz", lambda a, r: r["meta"].update(architecture=[{"type": "ReLU"}] * 1_000_000))
    case(d.name, ["evaluate", d, "--dataset", "xor", *NUMPY], ["model.npz", "XPNET_MAX_META_BYTES"])

    d = make_run(folder("20000 layers"), identities=20_000)
    case(d.name, ["evaluate", d, "--dataset", "xor", *NUMPY], ["model.npz", "20002 layers", "XPNET_MAX_LAYERS"])
    cases["20000 layers, limit raised"] = (
        ["evaluate", d, "--dataset", "xor", *NUMPY],
        {"XPNET_MAX_LAYERS": "20002"},
        None,
        d,
    )

    d = make_run(folder("model over a lowered read limit"))
    env = {"XPNET_MAX_READ_BYTES": "200"}
    case(d.name, ["predict", d, "--input", root / "good.csv", *NUMPY], ["model.npz", "200 bytes limit"], env)

    d = folder("gzipped IDX claiming 7.5 GiB")
    with gzip.open(d / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + np.array([100_000, 100, 100], ">u4").tobytes() + bytes(4096))
    with gzip.open(d / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + np.array([100_000], ">u4").tobytes() + bytes(100_000))
    case(d.name, ["train", "--dataset", d, "--out", d / "run", *NUMPY], ["train-images", "XPNET_MAX_READ_BYTES"])

    d = folder("IDX claiming more than the file")
    (d / "train-images-idx3-ubyte").write_bytes(bytes([0, 0, 8, 3]) + np.array([1000, 28, 28], ">u4").tobytes())
    (d / "train-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1]) + np.array([1000], ">u4").tobytes())
    case(d.name, ["train", "--dataset", d, "--out", d / "run", *NUMPY], ["truncated", "784000"])

    d = folder("npy claiming more than the file")
    (d / "x.npy").write_bytes(npy_header((GIB, 64)) + bytes(512))
    case(d.name, ["predict", root / "good", "--input", d / "x.npy", *NUMPY], ["x.npy", "header declares"])

    d = folder("sparse CSV of 2 GiB")
    (d / "big.csv").touch()
    os.truncate(d / "big.csv", 2 * GIB)  # sparse: nothing is written
    case(
        d.name,
        ["train", "--dataset", d / "big.csv", "--out", d / "run", *NUMPY],
        ["big.csv", "2 GiB", "XPNET_MAX_READ_BYTES"],
    )
    cases["sparse CSV of 2 GiB, limit raised"] = (
        ["train", "--dataset", d / "big.csv", "--out", d / "run", *NUMPY],
        {"XPNET_MAX_READ_BYTES": "3G"},
        ["big.csv", "a line longer than 64 MiB"],
        d,
    )
    d = folder("CSV of NULs")
    (d / "nul.csv").touch()
    os.truncate(d / "nul.csv", 100 << 20)
    case(d.name, ["predict", root / "good", "--input", d / "nul.csv", *NUMPY], ["nul.csv", "a line longer than 64 MiB"])

    d = folder("CSV over a lowered read limit")
    rows = "\n".join(",".join(str((i * j) % 7) for j in range(4)) for i in range(20_000))
    (d / "big.csv").write_text("a,b,c,y\n" + rows + "\n")
    train = ["train", "--dataset", d / "big.csv", "--out", d / "run", *NUMPY]
    case(d.name, train, ["big.csv", "its size is", "100 KiB limit"], {"XPNET_MAX_READ_BYTES": "100K"})
    cases["CSV whose values exceed the limit"] = (train, {"XPNET_MAX_READ_BYTES": "300K"}, ["as float64", "300 KiB"], d)
    cases["CSV at the default read limit"] = (
        [
            "train",
            "--dataset",
            d / "big.csv",
            "--target",
            "y",
            "--epochs",
            "1",
            "--out",
            root / "control",
            "--quiet",
            *NUMPY,
        ],
        {},
        None,
        root / "control",
    )

    d = folder("bad limit value")
    case(
        d.name,
        ["predict", root / "good", "--input", root / "good.csv", *NUMPY],
        ["XPNET_MAX_READ_BYTES", "lots"],
        {"XPNET_MAX_READ_BYTES": "lots"},
    )
    return cases


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("limits")
    (root / "good.csv").write_text("a,b,c\n0,1,1\n1,1,1\n")
    cases = _build(root)
    before = {name: tree(d) for name, (_, _, _, d) in cases.items()}
    out = run_cases({name: (argv, env) for name, (argv, env, _, _) in cases.items()})
    return cases, before, out


CASES = [
    "npz claiming 3.7 GiB",
    "train on npz claiming 3.7 GiB",
    "model member compressed",
    "model member claiming 4 GiB",
    "extra member of 4 GiB",
    "metadata record of 400 MB",
    "architecture of Dense(40000, 40000)",
    "a million layers",
    "20000 layers",
    "model over a lowered read limit",
    "gzipped IDX claiming 7.5 GiB",
    "IDX claiming more than the file",
    "npy claiming more than the file",
    "sparse CSV of 2 GiB",
    "sparse CSV of 2 GiB, limit raised",
    "CSV of NULs",
    "CSV over a lowered read limit",
    "CSV whose values exceed the limit",
    "metadata over a lowered limit",
    "bad limit value",
]


def test_the_memory_bound_holds(results):
    assert results[2]["__bound__"] is True  # a 2 GiB allocation failed in the worker


@pytest.mark.parametrize("name", CASES)
def test_refused_in_one_line_before_allocating(results, name):
    cases, before, out = results
    _, _, words, d = cases[name]
    assert_refused(out[name], *words)
    assert tree(d) == before[name]  # no run directory, no staging directory, no temporary file


def test_a_raised_limit_loads_the_same_files(results):
    cases, _, out = results
    r = out["20000 layers, limit raised"]
    assert r["rc"] == 0 and "4 samples" in r["stdout"], r["stderr"]
    r = out["CSV at the default read limit"]
    assert r["rc"] == 0 and r["stdout"].startswith("trained 1 epochs"), r["stderr"]
    assert (cases["CSV at the default read limit"][3] / "model.npz").is_file()
