"""Test sessions, one per backend, plus `tests` (every backend usable here) and `bench`.

    nox -s tests           numpy, array-api-strict and torch CPU (what CI runs)
    nox -s tests_numpy     one backend; likewise tests_strict, tests_torch, tests_cupy
    nox -s bench           the benchmark suite (writes benchmarks/results/)
"""

import os

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests"]

# The CPU build these machines install from a local file; an unpinned torch pulls gigabytes of
# CUDA packages.
TORCH = "torch==2.13.0"


def _install(session, *extra):
    session.install("-e", ".[test]", *extra)


def _pytest(session, backends):
    env = {"XPNET_TEST_BACKENDS": backends} if backends else {}
    session.run("python", "-m", "pytest", *session.posargs, env=env)


@nox.session
def tests(session):
    """Every backend usable here: numpy, array-api-strict, torch CPU (and CuPy on a GPU)."""
    _install(session, TORCH)
    _pytest(session, None)


@nox.session
def tests_numpy(session):
    _install(session)
    _pytest(session, "numpy")


@nox.session
def tests_strict(session):
    _install(session)
    _pytest(session, "array_api_strict")


@nox.session
def tests_torch(session):
    _install(session, TORCH)
    _pytest(session, "torch")


@nox.session
def tests_cupy(session):
    """Needs a CUDA GPU; pick the CuPy build with XPNET_CUPY (default cupy-cuda12x)."""
    _install(session, os.environ.get("XPNET_CUPY", "cupy-cuda12x"))
    _pytest(session, "cupy")


@nox.session
def bench(session):
    """Benchmarks side by side in one run; results go to benchmarks/results/."""
    _install(session, TORCH)
    session.run("python", "benchmarks/run.py", *session.posargs)
