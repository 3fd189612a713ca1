"""Optimizer-state trees: flatten to named leaves, save, load, rebuild on any backend exactly,
and refuse states whose structure, names, shapes or dtypes differ from the template's."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest

from xpnet import to_numpy
from xpnet.errors import CheckpointError, ConfigError
from xpnet.io.model_file import load_arrays, save_arrays
from xpnet.optim import ScaleByLRState
from xpnet.tree import map_arrays, tree_flatten, tree_unflatten


class MomentumState(NamedTuple):
    trace: dict


def test_tree_round_trip_through_a_file_on_each_backend(backend, tmp_path):
    rng = np.random.default_rng(0)
    params = {
        "0.W": backend.asarray(rng.normal(size=(3, 5)), "float32"),
        "0.b": backend.asarray(rng.normal(size=(5,)), "float64"),
    }
    state = (MomentumState(trace=dict(params)), ScaleByLRState(5))
    leaves, spec = tree_flatten(state)
    assert set(leaves) == {f"0/trace/{k}" for k in params} | {"1/step"}
    save_arrays(tmp_path / "s.npz", leaves, {"spec": spec, "epoch": 2})
    arrays, meta = load_arrays(tmp_path / "s.npz")
    assert meta["epoch"] == 2
    template = (MomentumState(trace={k: backend.xp.zeros_like(v) for k, v in params.items()}), ScaleByLRState(0))
    restored = tree_unflatten(template, arrays, meta["spec"])
    assert type(restored[0]) is MomentumState and restored[1] == ScaleByLRState(5)
    assert type(restored[1].step) is int
    for k, v in params.items():
        got = restored[0].trace[k]
        assert type(got) is type(v) and str(got.device) == str(v.device)
        np.testing.assert_array_equal(to_numpy(got), to_numpy(v))


def test_map_arrays_reaches_every_array_and_keeps_the_containers(backend):
    w = backend.asarray([[1.0, -2.0]], "float64")
    tree = {"state": (MomentumState(trace={"0.W": w}), ScaleByLRState(4)), "list": [w, None, 2.5]}
    doubled = map_arrays(lambda a: a * 2.0, tree)
    assert type(doubled["state"][0]) is MomentumState and type(doubled["list"]) is list
    assert doubled["state"][1] == ScaleByLRState(4) and doubled["list"][1:] == [None, 2.5]  # non-arrays kept
    for got in (doubled["state"][0].trace["0.W"], doubled["list"][0]):
        assert str(got.device) == str(w.device)
        np.testing.assert_array_equal(to_numpy(got), [[2.0, -4.0]])


def test_tree_single_namedtuple_and_none_leaves():
    leaves, spec = tree_flatten(ScaleByLRState(step=3))
    assert leaves == {"step": 3}
    assert tree_unflatten(ScaleByLRState(0), leaves, spec) == ScaleByLRState(3)
    leaves, spec = tree_flatten((None, [1.5, True]))
    assert tree_unflatten((None, [0.0, False]), leaves, spec) == (None, [1.5, True])


def test_tree_mismatches_are_refused():
    w = np.zeros((2, 2), dtype=np.float32)
    leaves, spec = tree_flatten((MomentumState(trace={"0.W": w}), ScaleByLRState(1)))
    with pytest.raises(CheckpointError, match="structure"):
        tree_unflatten((ScaleByLRState(0),), leaves, spec)
    with pytest.raises(CheckpointError, match="missing"):
        tree_unflatten((MomentumState(trace={"0.W": w, "0.b": w}), ScaleByLRState(0)), leaves)
    with pytest.raises(CheckpointError, match="shape"):
        tree_unflatten((MomentumState(trace={"0.W": np.zeros((3, 2), np.float32)}), ScaleByLRState(0)), leaves)
    with pytest.raises(CheckpointError, match="dtype"):
        tree_unflatten((MomentumState(trace={"0.W": np.zeros((2, 2))}), ScaleByLRState(0)), leaves)
    with pytest.raises(ConfigError, match="leaf"):
        tree_flatten({"a": "text"})
