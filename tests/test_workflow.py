"""The hosted CI workflow runs only what a developer can run: every job's command is a nox
session defined in noxfile.py, every backend of the test matrix has a job at the lowest and the
newest supported Python, and the lint runs. These read files; nothing is installed."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def _nox_sessions() -> set[str]:
    """Session names noxfile.py defines: decorated functions and the BACKEND_SESSIONS table."""
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and any(
            (isinstance(d, ast.Attribute) and d.attr == "session")
            or (isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "session")
            for d in node.decorator_list
        ):
            names.add(node.name)
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "BACKEND_SESSIONS" for t in node.targets):
            names.update(k.value for k in node.value.keys)
    return names


def _jobs() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]


def _commands(job: dict) -> list[str]:
    return [s["run"] for s in job.get("steps", []) if "run" in s]


def _expand(command: str, job: dict) -> list[str]:
    """The nox sessions a command names, with ${{ matrix.x }} expanded over the matrix."""
    m = re.search(r"\bnox -s (\$\{\{ matrix\.\w+ \}\}|\S+)", command)
    if not m:
        return []
    name = m.group(1)
    ref = re.fullmatch(r"\$\{\{ matrix\.(\w+) \}\}", name)
    if ref:
        return list(job["strategy"]["matrix"][ref.group(1)])
    return [name]


def test_every_job_runs_an_existing_nox_session():
    sessions = _nox_sessions()
    assert {"lint", "tests", "tests_numpy", "tests_strict", "tests_torch", "tests_mpi", "tests_cupy"} <= sessions
    for name, job in _jobs().items():
        called = [s for c in _commands(job) for s in _expand(c, job)]
        assert called, f"job {name} runs no nox session"
        assert set(called) <= sessions, f"job {name} calls unknown sessions {set(called) - sessions}"
        # nothing but installing nox and running it: the job is what a developer runs
        for c in _commands(job):
            assert c.startswith(("nox ", "python -m pip install nox", "python3 -m pip install nox")), (name, c)


def test_every_backend_has_a_job_on_the_lowest_and_newest_python():
    jobs = _jobs()
    matrix = jobs["tests"]["strategy"]["matrix"]
    # each backend, and the multi-process tests (mpiexec) on their own
    assert set(matrix["session"]) == {"tests_numpy", "tests_strict", "tests_torch", "tests_mpi"}
    lowest = re.search(r'requires-python = ">=([0-9.]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    assert lowest in matrix["python"] and "3.13" in matrix["python"]
    assert "--force-python ${{ matrix.python }}" in _commands(jobs["tests"])[-1]


def test_lint_and_coverage_and_gpu_jobs():
    jobs = _jobs()
    assert _commands(jobs["lint"])[-1] == "nox -s lint"
    assert _commands(jobs["coverage"])[-1] == "nox -s tests -- --cov"
    gpu = jobs["gpu"]
    assert "self-hosted" in gpu["runs-on"] and "gpu" in gpu["runs-on"]
    assert "HAS_GPU_RUNNER" in gpu["if"]  # skipped, not queued forever, where no GPU runner exists
    assert _commands(gpu)[-1] == "nox -s tests_cupy"


def test_ci_script_lints_then_runs_the_readme_test_command():
    script = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    command = "python -m pip install nox && nox -s tests"
    assert command in readme and command in script
    assert script.index("nox -s lint") < script.index(command)
