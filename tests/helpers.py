"""Shared test helpers: host conversion and finite-difference gradient checks."""

from __future__ import annotations

import numpy as np

from xpnet import to_numpy


def host(x):
    """A float64 host copy of an array of any backend."""
    return np.array(to_numpy(x), dtype=np.float64, copy=True)


def numerical_grad(f, x_host, backend, dtype="float64", eps=1e-6):
    """Central differences of the scalar f(array) with respect to every element of x_host."""
    g = np.zeros_like(x_host)
    flat = x_host.reshape(-1)
    gf = g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = float(to_numpy(f(backend.asarray(x_host, dtype))))
        flat[i] = old - eps
        fm = float(to_numpy(f(backend.asarray(x_host, dtype))))
        flat[i] = old
        gf[i] = (fp - fm) / (2 * eps)
    return g


def assert_param_grads_match(model, grads, loss_value, backend, *, rtol, atol):
    """Every parameter's backpropagated gradient in `grads` equals central differences of
    `loss_value()` (a 0-d array computed from `model.params`), element by element."""
    assert set(grads) == set(model.params)
    for name, value in model.params.items():

        def f(v, name=name):
            saved = model.params[name]
            model.params[name] = v
            try:
                return loss_value()
            finally:
                model.params[name] = saved

        np.testing.assert_allclose(
            host(grads[name]), numerical_grad(f, host(value).copy(), backend), rtol=rtol, atol=atol, err_msg=name
        )


SRC = __import__("pathlib").Path(__file__).resolve().parents[1] / "src"


def run_cli(*args, check=False, timeout=600, env=None, **kwargs):
    """Run `python -m xpnet ARGS` on this tree's sources; returns CompletedProcess (text)."""
    import os
    import subprocess
    import sys

    full_env = dict(os.environ, PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "xpnet", *map(str, args)],
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
        env=full_env,
        **kwargs,
    )
