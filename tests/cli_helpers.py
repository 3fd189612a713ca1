"""Shared by the command-line tests: the subprocess runner, the fixture's backend as options, a
digits features file, and a reference digits model trained on numpy."""

from __future__ import annotations

import numpy as np

from helpers import run_cli as _run_cli

# One BLAS/OpenMP thread per subprocess: on a small shared machine torch's default of one thread
# per core oversubscribes the CPU and a few seconds of training take a minute.
_ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}

DIGITS_TRAIN = ("--dataset", "digits", "--layers", "32", "--epochs", "8", "--batch-size", "32", "--seed", "0")


def run_cli(*args):
    return _run_cli(*args, env=_ONE_THREAD)


def backend_args(backend) -> list[str]:
    """--backend/--device naming the fixture's backend for a subprocess."""
    args = ["--backend", backend.name]
    if "device1" in str(backend.device):
        args += ["--device", "device1"]
    return args


def digits_features(tmp_path, n=40):
    """digits_in.npz and digits_in.csv (with a header) holding the first n digits; their labels."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    np.savez(tmp_path / "digits_in.npz", X=X[:n])
    np.savetxt(
        tmp_path / "digits_in.csv", X[:n], delimiter=",", header=",".join(f"x{i}" for i in range(64)), comments=""
    )
    return y[:n]


def assert_refused(r, *words):
    """Exit status 2, one line on stderr naming each of `words`, no traceback."""
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in r.stderr, (w, r.stderr)


def run_main(capsys, *args):
    """`xpnet ARGS` in this process, saving an interpreter's start-up per case: a CompletedProcess."""
    import subprocess

    from xpnet.cli import main

    capsys.readouterr()
    try:
        status = main([str(a) for a in args])
    except SystemExit as exc:  # argparse
        status = exc.code
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), status, out, err)
