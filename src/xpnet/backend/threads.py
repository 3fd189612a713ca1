"""CPU threads for torch on the CPU.

torch starts one intra-op thread per core. The networks xpnet trains are small, so those threads
mostly wait for each other; and on a shared machine (a CI runner, a busy 2-core box) they fight
other processes for the cores: measured here, 20 epochs of digits took 3.6 s with torch's 2
threads and 0.4 s with 1 while two other processes ran. The command line therefore starts torch
with half the cores it may use, at most 4; XPNET_NUM_THREADS=N (or OMP_NUM_THREADS) chooses.
"""

from __future__ import annotations

import os

from ..errors import ConfigError

THREADS_ENV = "XPNET_NUM_THREADS"


def available_cpus() -> int:
    """The cores this process may run on: its CPU affinity, bounded by a cgroup v2 CPU quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        n = os.cpu_count() or 1
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]
        if quota != "max":
            n = min(n, max(1, int(int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


def default_threads() -> int:
    return min(4, max(1, available_cpus() // 2))


def chosen_threads() -> tuple[int | None, str]:
    """(threads to set, where the number comes from); None where OMP_NUM_THREADS already tells
    torch (it reads it itself)."""
    text = os.environ.get(THREADS_ENV)
    if text:
        if not text.strip().isdigit() or int(text) < 1:
            raise ConfigError(f"{THREADS_ENV}: expected a positive integer, got {text!r}")
        return int(text), THREADS_ENV
    if os.environ.get("OMP_NUM_THREADS"):
        return None, "OMP_NUM_THREADS"
    return default_threads(), "default"


def limit_cpu_threads(backend) -> str | None:
    """Set torch's intra-op threads for a torch backend on the CPU; a short description of the
    choice ("1 thread (default; XPNET_NUM_THREADS=N to change)"), None for other backends."""
    if backend.name != "torch" or backend.is_gpu:
        return None
    import torch

    n, source = chosen_threads()
    if n is not None and torch.get_num_threads() != n:
        torch.set_num_threads(n)
    n = torch.get_num_threads()
    return f"{n} thread{'s' if n != 1 else ''} ({source}; {THREADS_ENV}=N to change)"
