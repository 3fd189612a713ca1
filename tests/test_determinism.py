"""Determinism: the same seed, backend and dtype give identical bits run after run (also in a fresh
process); different backends agree to within what matrix-product summation order explains.

Measured on this project's CPU machine (README "Reliability"): after 570 Adam steps of a 64-64-10
network on digits, torch CPU differs from NumPy by at most 7.7e-16 (float64) and 5.8e-7 (float32)
relative to each tensor's largest weight; array-api-strict wraps NumPy and agrees exactly. The
tests hold every backend to 1e-12 (float64) and 1e-5 (float32) after 54 steps.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import xpnet
from helpers import SRC
from xpnet.io import load_dataset

TOL = {"float64": 1e-12, "float32": 1e-5}  # relative to each tensor's largest magnitude
EPOCHS, BATCH = 6, 32  # 270 training rows: 9 batches per epoch, 54 steps


def digits_run(backend, dtype, seed=0):
    """Mini-batches, shuffling, dropout and Adam on real data; host float64 weights and history."""
    ds = load_dataset("digits")
    X, y = ds.X[:300] / 16.0, ds.y[:300]
    layers = [xpnet.Dense(64, 32), xpnet.ReLU(), xpnet.Dropout(0.1), xpnet.Dense(32, 10)]
    model = xpnet.Sequential(layers, seed=seed, backend=backend, dtype=dtype)
    h = xpnet.fit(
        model, X, y, optimizer=xpnet.adam(1e-3), epochs=EPOCHS, batch_size=BATCH, seed=seed, validation_split=0.1
    )
    return {k: xpnet.to_numpy(v).astype(np.float64) for k, v in model.params.items()}, h.history


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_seed_same_bits_run_after_run(backend, dtype):
    w1, h1 = digits_run(backend, dtype)
    w2, h2 = digits_run(backend, dtype)
    for k in w1:
        np.testing.assert_array_equal(w1[k], w2[k], err_msg=k)
    assert h1 == h2
    w3, _ = digits_run(backend, dtype, seed=1)
    assert not np.array_equal(w1["0.W"], w3["0.W"])  # the seed is what fixes the bits


@pytest.mark.parametrize("name", ["numpy", "torch"])
def test_same_bits_in_a_fresh_process(tmp_path, name):
    """Nothing process-dependent (hash seeds, allocation addresses, thread start-up) leaks in."""
    pytest.importorskip(name)
    out = tmp_path / "w.npz"
    code = (
        f"import sys; sys.path[:0] = [{str(SRC.parent / 'tests')!r}, {str(SRC)!r}]\n"
        "import numpy as np, test_determinism as t\n"
        "try:\n    import torch; torch.set_num_threads(1)\nexcept ImportError:\n    pass\n"
        f"w, h = t.digits_run({name!r}, 'float64')\nnp.savez({str(out)!r}, **w)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300, env=dict(os.environ, PYTHONHASHSEED="12345"))
    here, _ = digits_run(name, "float64")
    with np.load(out) as there:
        for k in here:
            np.testing.assert_array_equal(there[k], here[k], err_msg=k)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_backends_agree_within_summation_order_error(backend, dtype):
    ref, ref_hist = digits_run("numpy", dtype)
    got, hist = digits_run(backend, dtype)
    for k in ref:
        scale = np.max(np.abs(ref[k]))
        assert np.max(np.abs(got[k] - ref[k])) <= TOL[dtype] * scale, k
    for name in ("loss", "val_loss"):  # (accuracy is a count: one flipped prediction is not noise)
        np.testing.assert_allclose(hist[name], ref_hist[name], rtol=TOL[dtype] * 10, err_msg=name)
