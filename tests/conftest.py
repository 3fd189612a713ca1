"""The backend fixture: every numerical test runs on each usable backend.

numpy; array_api_strict on its default device and on "device1" (which catches arrays created
without device=); torch on the CPU when installed; cupy only when a CUDA device is usable.
Unusable backends are skipped with the reason, never an error.
"""

from __future__ import annotations

import os

# scikit-learn runs its array-API estimator check only with this set (before scipy is imported)
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import pytest  # noqa: E402

try:  # torch's default of one thread per core is 100x slower for the tests' tiny matrices on a
    import torch  # shared 2-core machine; one thread changes no result, only the speed

    torch.set_num_threads(1)
except ImportError:
    pass

from xpnet import get_backend
from xpnet.errors import BackendError

BACKEND_PARAMS = [
    ("numpy", None),
    ("array_api_strict", None),
    ("array_api_strict", "device1"),
    # XPNET_TORCH_DEVICE=cuda runs the torch cases on the GPU (benchmarks/gpu_check.py)
    ("torch", os.environ.get("XPNET_TORCH_DEVICE", "cpu")),
    ("cupy", None),
]
IDS = ["numpy", "strict", "strict-device1", "torch", "cupy"]

# XPNET_TEST_BACKENDS=numpy,torch narrows the matrix (one nox session per backend).
_only = [s for s in os.environ.get("XPNET_TEST_BACKENDS", "").split(",") if s]


def _make(name, device):
    if _only and name not in _only and not (name == "array_api_strict" and "strict" in _only):
        pytest.skip(f"backend {name} not selected by XPNET_TEST_BACKENDS={','.join(_only)}")
    try:
        return get_backend(name, device=device)
    except BackendError as exc:
        pytest.skip(f"backend {name} unusable here: {exc}")


@pytest.fixture(params=BACKEND_PARAMS, ids=IDS)
def backend(request):
    """A usable xpnet Backend (skips the test where it is not)."""
    return _make(*request.param)


@pytest.fixture
def numpy_backend():
    return get_backend("numpy")


# Tolerances per dtype, used by cross-backend and gradient tests.
RTOL = {"float64": 1e-10, "float32": 1e-4}


@pytest.fixture(scope="module")
def numpy_run(tmp_path_factory):
    """A digits model trained on numpy in float64, with its evaluation and predictions on numpy:
    the reference the command-line tests compare the other backends with."""
    import json

    from cli_helpers import DIGITS_TRAIN, digits_features, run_cli

    tmp = tmp_path_factory.mktemp("run")
    out = tmp / "digits"
    r = run_cli("train", *DIGITS_TRAIN, "--backend", "numpy", "--dtype", "float64", "--out", out, "--json")
    assert r.returncode == 0, r.stderr
    digits_features(tmp)
    ev = run_cli("evaluate", out, "--dataset", "digits", "--backend", "numpy", "--json")
    pred = run_cli("predict", out, "--input", tmp / "digits_in.csv", "--backend", "numpy")
    assert ev.returncode == pred.returncode == 0, ev.stderr + pred.stderr
    return out, json.loads(r.stdout), json.loads(ev.stdout), pred.stdout
