"""Every CI job is one of these sessions, and each runs the same on a developer's machine.

    nox -s lint            ruff: the lint rules and the format check (pyproject.toml)
    nox -s tests           numpy, array-api-strict and torch CPU (what .ci/run runs)
    nox -s tests -- --cov  the same with line and branch coverage of src/xpnet
    nox -s tests_numpy     one backend; likewise tests_strict, tests_torch, tests_cupy
    nox -s tests_mpi       the multi-process tests alone (mpiexec -n 2 and -n 3 as subprocesses)
    nox -s bench           the benchmark suite (writes benchmarks/results/)

The hosted workflow (.github/workflows/ci.yml) runs a matrix of these sessions over backends
and Pythons; tests/test_workflow.py checks that every job calls a session defined here.
"""

import os

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests"]

# The CPU build these machines install from a local file; an unpinned torch pulls gigabytes of
# CUDA packages.
TORCH = "torch==2.13.0"
# The backends of the test matrix: session name -> XPNET_TEST_BACKENDS and what to install.
BACKEND_SESSIONS = {
    "tests_numpy": ("numpy", ()),
    "tests_strict": ("array_api_strict", ()),
    "tests_torch": ("torch", (TORCH,)),
}


def _install(session, *extra):
    if TORCH in extra and os.environ.get("XPNET_TORCH_INDEX"):
        # hosted CI: torch's CPU wheels live on their own index (this machine has the file locally)
        session.install(TORCH, "--index-url", os.environ["XPNET_TORCH_INDEX"])
    session.install("-e", ".[test,mpi]", *extra)  # mpi: the distributed tests launch mpiexec


def _pytest(session, backends, paths=()):
    env = {"XPNET_TEST_BACKENDS": backends} if backends else {}
    args = [*paths, *session.posargs]
    if "--cov" in args:  # coverage of the package, subprocesses included (pyproject.toml)
        args = [a for a in args if a != "--cov"] + ["--cov=xpnet", "--cov-report=term", "--cov-branch"]
    session.run("python", "-m", "pytest", *args, env=env)


@nox.session
def lint(session):
    """ruff check and ruff format --check over the whole repository."""
    session.install("ruff==0.17.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def tests(session):
    """Every backend usable here: numpy, array-api-strict, torch CPU (and CuPy on a GPU)."""
    _install(session, TORCH)
    _pytest(session, None)


def _backend_session(name, backends, extra):
    def run(session):
        _install(session, *extra)
        _pytest(session, backends)

    run.__doc__ = f"The test suite on the {backends} backend only."
    run.__name__ = name
    return nox.session(name=name)(run)


for _name, (_backends, _extra) in BACKEND_SESSIONS.items():
    globals()[_name] = _backend_session(_name, _backends, _extra)


# The tests that launch several processes under mpiexec (MPICH from the mpich wheel), on every
# backend usable here; the other sessions run them too, this job shows them on their own.
MPI_TESTS = ("tests/test_distributed.py", "tests/test_memmap.py")


@nox.session
def tests_mpi(session):
    """Data-parallel training: the mpiexec tests (numpy, array-api-strict, torch CPU)."""
    _install(session, TORCH)
    _pytest(session, None, MPI_TESTS)


@nox.session
def tests_cupy(session):
    """Needs a CUDA GPU; pick the CuPy build with XPNET_CUPY (default cupy-cuda12x)."""
    _install(session, os.environ.get("XPNET_CUPY", "cupy-cuda12x"))
    _pytest(session, "cupy")


@nox.session
def bench(session):
    """Benchmarks side by side in one run; results go to benchmarks/results/. JAX is a peer here
    only, never a dependency of xpnet."""
    _install(session, TORCH, "jax[cpu]==0.10.2")
    session.run("python", "benchmarks/run.py", *session.posargs)
