"""The architecture's rules, checked on the sources (these read files, not arrays, so they take
no `backend` fixture):

- the math (every module of nn/, optim/ and training/, found by location) imports no array
  library: it gets `xp` from its inputs;
- only backend/ names torch, CuPy, JAX or array-api-strict, only backend/namespace.py
  imports array-api-compat, and only export/onnx.py ndonnx (the ONNX exporter's tracer);
  fast/ (the NumPy fast step) and the host side (io/, cli/, trask/, sklearn/, export/,
  distributed/) may use NumPy, fast/cupy_*.py (CuPy's fused kernels) CuPy, and
  distributed/nccl.py NCCL through CuPy;
- only distributed/ imports mpi4py;
- backend/ imports nothing of xpnet but the foundation modules errors.py and checks.py, and
  those two import nothing of xpnet but each other's base (checks -> errors);
- the import graph of src/xpnet has no cycles.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "xpnet"
ARRAY_LIBRARIES = {"numpy", "torch", "cupy", "jax", "jaxlib", "array_api_strict", "array_api_compat", "ndonnx"}
MATH_PACKAGES = ("nn", "optim", "training")
FOUNDATION = {"xpnet.errors", "xpnet.checks"}


def _module_name(path: Path) -> str:
    inside = PACKAGE in path.parents
    parts = list(path.relative_to(PACKAGE.parent if inside else path.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """(top-level names of absolute imports, xpnet modules imported), at any depth (function
    bodies too): a lazy import is still an import."""
    libraries, internal = set(), set()
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                libraries.add(alias.name.split(".")[0])
                if alias.name.startswith("xpnet"):
                    internal.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                libraries.add((node.module or "").split(".")[0])
                base = node.module or ""
            else:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            if base.startswith("xpnet"):
                # `from . import x` may name a submodule: count it as such where one exists
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    internal.add(sub if _exists(sub) else base)
    return libraries & ARRAY_LIBRARIES, internal


def _exists(module: str) -> bool:
    rel = Path(*module.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel / "__init__.py").is_file()


SOURCES = sorted(PACKAGE.rglob("*.py"))
MATH = [p for p in SOURCES if p.relative_to(PACKAGE).parts[0] in MATH_PACKAGES]


def test_the_math_modules_are_found_by_location():
    # the list below is the tree itself: a new module in nn/, optim/ or training/ is checked
    # without anyone adding it anywhere
    names = {_module_name(p) for p in MATH}
    assert {"xpnet.nn.dense", "xpnet.optim.transforms", "xpnet.training.step", "xpnet.training.loop"} <= names
    assert len(MATH) >= 20


@pytest.mark.parametrize("path", MATH, ids=[str(p.relative_to(PACKAGE)) for p in MATH])
def test_the_math_imports_no_array_library(path):
    assert _imports(path)[0] == set()


def test_only_the_backend_names_array_libraries():
    offenders = {}
    for path in SOURCES:
        rel = path.relative_to(PACKAGE)
        allowed = {"numpy"} if rel.parts[0] not in MATH_PACKAGES else set()
        if rel == Path("export/onnx.py"):
            allowed = {"numpy", "ndonnx"}  # the tracer of the ONNX export, not a backend to train on
        if rel.parts[0] == "fast" and rel.name.startswith("cupy_"):
            allowed = {"numpy", "cupy"}  # a library's own accelerator names it: fast/cupy_*.py CuPy
        if rel.parts[0] == "backend":
            allowed = {"numpy", "torch", "cupy", "jax", "array_api_strict"}
            if rel == Path("backend/namespace.py"):
                allowed = {"array_api_compat"}
        if rel == Path("distributed/nccl.py"):  # NCCL for CuPy gradients is CuPy's cupy.cuda.nccl
            allowed = {"numpy", "cupy"}
        found = _imports(path)[0] - allowed
        if found:
            offenders[str(rel)] = sorted(found)
    assert offenders == {}


def _names_mpi4py(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "mpi4py" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "mpi4py":
            return True
    return False


def test_only_distributed_imports_mpi4py():
    offenders = [str(p.relative_to(PACKAGE)) for p in SOURCES if _names_mpi4py(p)]
    assert offenders and all(o.startswith("distributed/") for o in offenders), offenders


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): {m for m in _imports(p)[1] if m != _module_name(p)} for p in SOURCES}


def test_the_backend_imports_only_the_foundation():
    graph = _graph()
    for module, deps in graph.items():
        if module.startswith("xpnet.backend"):
            outside = {d for d in deps if not d.startswith("xpnet.backend")} - FOUNDATION
            assert outside == set(), f"{module} imports {sorted(outside)}"
        if module in FOUNDATION:
            assert deps <= FOUNDATION, f"{module} imports {sorted(deps - FOUNDATION)}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle a depth-first walk meets, as the list of modules around it."""
    state: dict[str, int] = {}
    cycles = []

    def visit(node, path):
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                cycles.append(path[path.index(dep) :] + [dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return cycles


def test_the_import_graph_has_no_cycles():
    # a package's __init__ importing its own submodules is how packages re-export; it is a
    # cycle only if a submodule imports its package (or anything above that leads back) again
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_rule_sees_an_import_inside_a_function(tmp_path):
    # the check itself must not be blind to lazy imports
    source = tmp_path / "m.py"
    source.write_text("def f():\n    import torch\n    from cupy import cuda\n    from . import numpy_like\n")
    assert _imports(source)[0] == {"torch", "cupy"}
