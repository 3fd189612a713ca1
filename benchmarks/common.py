"""What every benchmark shares: best-of-N timing, the machine's description, table rows."""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))  # benchmark this tree's sources, installed or not


def xpnet_step(model, loss, opt, fast: bool):
    """step(x, y, opt_state) -> (loss, outputs, opt_state): the fast step (an error if it does
    not apply: a benchmark must not silently time the generic one) or the generic, built once."""
    from xpnet.training import make_train_step

    step = make_train_step(model, loss, opt, use_fast=fast)
    if fast and step.path == "generic":
        raise RuntimeError(f"no fast step applies to {model!r}")
    return step


def best_of(fn, reps: int, sync=None) -> float:
    """The fastest of `reps` runs of fn() in seconds. The minimum, not the mean: on a shared,
    noisy machine the other processes only ever add time."""
    best = float("inf")
    for _ in range(reps):
        if sync:
            sync()
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        best = min(best, time.perf_counter() - t0)
    return best


def best_of_each(fns: dict, reps: int, sync=None) -> dict:
    """{name: fastest time} for several contenders, run interleaved (a, b, c, a, b, c, ...) so
    that a burst of load from other processes hits all of them alike, not one block."""
    best = {k: float("inf") for k in fns}
    for _ in range(reps):
        for k, fn in fns.items():
            best[k] = min(best[k], best_of(fn, 1, sync))
    return best


def best_of_each_sliced(fns: dict, n: int, step: int, reps: int, slices: int = 20) -> dict:
    """{name: time for all n samples} where fns[name](a, b) runs samples [a, b): the work is cut
    into `slices` slices (multiples of `step`), each run by every contender in turn, `reps` times;
    a contender's time is the sum over slices of its fastest run of each slice. A burst of load
    from other processes (seconds long, here) then spoils one slice of one repetition instead of
    a whole 60000-sample epoch, and every contender still does the whole epoch's work."""
    size = max(step, -(-n // slices) // step * step)
    cuts = [(a, min(a + size, n)) for a in range(0, n, size)]
    best = {k: [float("inf")] * len(cuts) for k in fns}
    for _ in range(reps):
        for i, (a, b) in enumerate(cuts):
            for k, fn in fns.items():
                t0 = time.perf_counter()
                fn(a, b)
                best[k][i] = min(best[k][i], time.perf_counter() - t0)
    return {k: sum(v) for k, v in best.items()}


def machine() -> dict:
    """Versions, cores and BLAS threads: enough to know whether two result files compare."""
    import numpy as np

    info = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
    }
    try:
        import torch

        info.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
    except ImportError:
        info["torch"] = None
    try:
        import jax

        info.update(jax=jax.__version__, jax_backend=jax.default_backend(), xla_flags=os.environ.get("XLA_FLAGS"))
    except ImportError:
        info["jax"] = None
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [f"{p['internal_api']} {p.get('version')} x{p['num_threads']}" for p in threadpool_info()]
    except ImportError:
        pass
    return info


def row(
    benchmark: str,
    config: str,
    metric: str,
    xpnet: float,
    reference: float,
    ref_name: str,
    target: float | None,
    higher_is_better: bool,
    **extra,
) -> dict:
    """One line of the results table. ratio > 1 means xpnet is better (faster or higher rate)."""
    ratio = xpnet / reference if higher_is_better else reference / xpnet
    met = None if target is None else ratio >= target
    return {
        "benchmark": benchmark,
        "config": config,
        "metric": metric,
        "xpnet": xpnet,
        "reference": reference,
        "reference_name": ref_name,
        "ratio": ratio,
        "target": target,
        "met": met,
        **extra,
    }


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "-" if v is None else str(v)
