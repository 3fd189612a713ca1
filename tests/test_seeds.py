"""The seed programs reproduce every published digit on NumPy float64 and agree with NumPy on
every other backend to 1e-9 relative."""

import json

import numpy as np
import pytest

from helpers import run_cli
from xpnet.trask import get_program


def _printed(values, digits=8):
    return np.round(np.asarray(values, dtype=float), digits)


def test_single_neuron_published():
    r = get_program("single-neuron").run("numpy")
    np.testing.assert_array_equal(_printed(r["start_weights"][0]).ravel(), [-0.16595599, 0.44064899, -0.99977125])
    np.testing.assert_array_equal(_printed(r["weights"][0]).ravel(), [9.67299303, -0.2078435, -4.62963669])
    assert round(r["prediction"], 8) == 0.99993704


def test_two_layer_published():
    r = get_program("two-layer").run("numpy")
    np.testing.assert_array_equal(_printed(r["outputs"]).ravel(), [0.00966449, 0.00786506, 0.99358898, 0.99211957])


def test_three_layer_published():
    r = get_program("three-layer").run("numpy")
    published = [
        "0.496410031903",
        "0.00858452565325",
        "0.00578945986251",
        "0.00462917677677",
        "0.00395876528027",
        "0.00351012256786",
    ]
    assert [f"{e:.12g}" for e in r["errors"]] == published
    np.testing.assert_array_equal(_printed(r["outputs"]).ravel(), [0.00260572, 0.99672209, 0.99701711, 0.00386759])


def test_cross_entropy_published(tmp_path):
    r = get_program("cross-entropy").run("numpy", plot=str(tmp_path / "loss.png"))
    np.testing.assert_array_equal(_printed(r["outputs_before"]).ravel(), [0.2689864, 0.36375058, 0.23762817, 0.3262757])
    np.testing.assert_array_equal(_printed(r["outputs"]).ravel(), [0.07553274, 0.06168483, 0.95008079, 0.93870164])
    np.testing.assert_array_equal(_printed(r["weights"][0]).ravel(), [5.45668723, -0.21743969, -2.50760127])
    assert r["loss"][0] == 0.8306371261530696
    assert r["loss"][-1] == 0.06416821821477073
    assert len(r["loss"]) == 200
    pytest.importorskip("matplotlib")
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", ["single-neuron", "two-layer", "three-layer", "cross-entropy"])
def test_every_backend_agrees_with_numpy(name, backend):
    mod = get_program(name)
    kwargs = {}
    if name == "three-layer" and "device1" in str(backend.device):
        # device1 is there to catch arrays created without device=; 10000 iterations show that
        # as well as 60000 (the default device runs the full 60000)
        kwargs["iterations"] = 10000
    ref = mod.run("numpy", **kwargs)
    got = mod.run(backend, **kwargs)
    for key in ("outputs", "errors", "loss", "prediction"):
        if key in ref:
            np.testing.assert_allclose(
                np.asarray(got[key], dtype=float), np.asarray(ref[key], dtype=float), rtol=1e-9, atol=0, err_msg=key
            )
    assert len(got["weights"]) == len(ref["weights"])
    for i, (w, w_ref) in enumerate(zip(got["weights"], ref["weights"], strict=True)):
        np.testing.assert_allclose(np.asarray(w), np.asarray(w_ref), rtol=1e-9, atol=0, err_msg=f"layer {i}")


def test_example_command_json_prints_published_numbers():
    out = run_cli("example", "three-layer", "--json", "--backend", "numpy", check=True)
    r = json.loads(out.stdout)
    assert f"{r['errors'][0]:.12g}" == "0.496410031903"
    assert set(r) >= {"outputs", "weights", "errors"}


def test_example_command_prints_like_the_seed():
    out = run_cli("example", "two-layer", check=True)
    assert out.stdout.startswith(
        "Output After Training:\n[[ 0.00966449]\n [ 0.00786506]\n [ 0.99358898]\n [ 0.99211957]]"
    )


def test_unknown_example_exits_2():
    out = run_cli("example", "four-layer")
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "unknown name 'four-layer'" in out.stderr
    assert "Traceback" not in out.stderr


def test_unknown_backend_exits_2():
    out = run_cli("example", "two-layer", "--backend", "tensorflow")
    assert out.returncode == 2 and "expected one of" in out.stderr and "Traceback" not in out.stderr
