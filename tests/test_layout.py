"""The architecture's one rule, checked on the sources: only the backend package (and the fast
paths it hands out) names array libraries; the math never imports NumPy. These read source
files, not arrays, so they take no `backend` fixture."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "xpnet"
ARRAY_LIBRARIES = {"numpy", "torch", "cupy", "jax", "jaxlib", "array_api_strict"}
# forward/backward math, optimizers and the training loop: written once against the array API
MATH = ("activations", "batchnorm", "callbacks", "dropout", "hyperparams", "init", "layers", "losses",
        "metrics", "optim", "regularization", "schedules", "step", "train", "training_data", "tree")
# the only places that may import any array library: the backend package and the per-library
# fast paths it returns (backend.compile_train_step)
LIBRARY_OWNERS = ("backend", "fast")


def _imported_libraries(path: Path) -> set[str]:
    """Top-level names of every absolute import in the file, at any depth (function bodies too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & ARRAY_LIBRARIES


@pytest.mark.parametrize("module", MATH)
def test_the_math_imports_no_array_library(module):
    assert _imported_libraries(PACKAGE / f"{module}.py") == set()


def test_only_the_backend_names_gpu_and_test_libraries():
    """NumPy may serve host-side I/O (data, checkpoints, CLI); torch, CuPy, JAX and strict only
    ever come in through the backend package."""
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).parts[0] in LIBRARY_OWNERS:
            continue
        found = _imported_libraries(path) - {"numpy"}
        if found:
            offenders[str(path.relative_to(PACKAGE))] = sorted(found)
    assert offenders == {}


def test_the_rule_sees_an_import_inside_a_function(tmp_path):
    # the check itself must not be blind to the lazy imports the backend uses
    source = tmp_path / "m.py"
    source.write_text("def f():\n    import torch\n    from cupy import cuda\n    from . import numpy_like\n")
    assert _imported_libraries(source) == {"torch", "cupy"}
