"""Command lines run under a memory bound: many `xpnet` invocations in one fresh Python process
whose address space is capped with resource.setrlimit(RLIMIT_AS), each through xpnet.cli.main
with its output captured, so that a family of hostile files costs one interpreter start.

    results = run_cases({"name": (["predict", run, "--input", f], {"XPNET_MAX_READ_BYTES": "1M"})})
    results["name"] -> {"rc": 2, "stdout": "...", "stderr": "...", "seconds": 0.01}

An exception escaping main() is recorded as rc "exception" with its traceback in stderr; the
worker also checks that the bound holds (a 2 GiB allocation must fail) and reports it as
results["__bound__"]. Files and directories crafted for a case are listed before and after by
`tree` so that a test can assert nothing was left behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from helpers import SRC

ADDRESS_SPACE = 1 << 30  # 1 GiB: the CLI needs about 200 MB; every crafted file here claims several GiB

_WORKER = r"""
import contextlib, io, json, os, resource, sys, time, traceback
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
import numpy as np
from xpnet.cli import main
cases = json.loads(sys.stdin.read())
results = {}
try:
    np.ones(2 << 30, dtype=np.uint8)
    results["__bound__"] = False
except MemoryError:
    results["__bound__"] = True
for name, (argv, env) in cases.items():
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 2
        except BaseException:
            rc = "exception"
            traceback.print_exc()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    results[name] = {"rc": rc, "stdout": out.getvalue(), "stderr": err.getvalue(),
                     "seconds": time.perf_counter() - start}
sys.stdout.write(json.dumps(results))
"""


def run_cases(cases: dict, *, cwd=None, timeout: float = 180, address_space: int = ADDRESS_SPACE) -> dict:
    """{name: (argv, env)} -> {name: result}; see the module's docstring. A case that hangs makes
    the whole worker time out (subprocess.TimeoutExpired), which fails the calling test."""
    payload = {name: ([str(a) for a in argv], dict(env or {})) for name, (argv, env) in cases.items()}
    env = dict(
        os.environ,
        PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        MPLBACKEND="Agg",
    )
    for name in ("XPNET_MAX_READ_BYTES", "XPNET_MAX_META_BYTES", "XPNET_MAX_LAYERS"):
        env.pop(name, None)
    r = subprocess.run(
        [sys.executable, "-c", _WORKER, str(address_space)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


def tree(root: Path) -> list[str]:
    """Every path under `root`, relative, sorted (hidden staging files included)."""
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*"))


def assert_refused(result: dict, *words: str) -> str:
    """Exit status 2, exactly one line on stderr, no traceback, nothing on stdout, and each of
    `words` in the line; returns the line."""
    err = result["stderr"]
    assert result["rc"] == 2, (result["rc"], err[-2000:])
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert result["stdout"] == "", result["stdout"]
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]
