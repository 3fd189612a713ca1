"""Will `xpnet train` fit in memory? An estimate from the options alone, checked before a single
weight is allocated: `--layers 1000000000` is refused at once with the figure, instead of taking
gigabytes for a minute and then failing.

What a run holds, in elements of --dtype (P: the number of parameters):
  parameters P, their gradients P, the optimizer's state (k P: the optimizer itself says k,
  from its state for a probe array), the updated parameters before they replace the old ones P,
  the loop's copy of the weights and optimizer state at the start of each epoch (the divergence
  guard goes back to it) (1 + k) P, with --patience the best weights P;
  activations: each layer's output, pre-activation and gradient for a batch, 3 x batch x widths;
  the data: a standardized float64 copy on the host and one in --dtype for the backend (of a
  memory-mapped data set, io/mapped.py: of its held-out rows and one batch).
The limit is the memory available now (MemAvailable, and the process's address-space limit
where one is set); --max-memory SIZE sets another (e.g. 64G, sizes as io/limits.py reads them),
--max-memory none skips the check.
On a GPU the device's memory is what counts and is not known here: the check is skipped there.

Host-side: NumPy is fine here.
"""

from __future__ import annotations

import math
import os

import numpy as np

from ..errors import ConfigError
from ..io import limits
from ..optim import optimizer_from_options
from ..tree import tree_flatten

_BYTES = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}
_PROBE = 4096  # elements of the probe parameter the optimizer's state is measured on


def parse_size(text: str | None) -> float | None:
    """--max-memory: '64G', '500M', '123456' (bytes), as the XPNET_MAX_* limits take sizes
    (io/limits.py) -> bytes; 'none' -> None (no check); not given -> NaN (the memory available)."""
    if text is None:
        return math.nan
    if str(text).strip().lower() == "none":
        return None
    return limits.parse_bytes("--max-memory", str(text))


def available_memory() -> float:
    """Bytes this process may still allocate: MemAvailable, and what RLIMIT_AS leaves."""
    limit = math.inf
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    limit = int(line.split()[1]) * 1024
    except OSError:
        try:
            limit = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            pass
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            with open("/proc/self/statm") as f:
                used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            limit = min(limit, soft - used)
    except (ImportError, OSError, ValueError):
        pass
    return limit


def state_per_parameter(optimizer) -> float:
    """Elements of optimizer state per parameter element, read off the optimizer's own init."""
    leaves, _ = tree_flatten(optimizer.init({"w": np.zeros(_PROBE)}))
    elements = sum(int(np.size(v)) for v in leaves.values())
    return math.floor(elements / _PROBE)  # scalars (a step count) are no per-parameter cost


def estimate(widths: list[int], *, batch: int, dtype: str, k: float, patience: bool, batchnorm: bool, data: tuple):
    """{part: bytes} of a run (module docstring); data: (rows, features, targets)."""
    b = _BYTES.get(str(dtype), 8)
    P = sum((a + 1) * c for a, c in zip(widths, widths[1:], strict=False))
    if batchnorm:
        P += 4 * sum(widths[1:-1])  # scale, shift and the two running statistics per hidden unit
    rows, n_in, n_out = data
    return {
        "parameters": P * b,
        "gradients, optimizer state and the loop's copies": P * b * (3 + 2 * k + (1 if patience else 0)),
        f"activations of a batch of {batch}": 3 * batch * sum(widths) * b,
        "data copies": rows * (n_in * (8 + b) + n_out * b),
    }


def check_fits(args, widths: list[int], data: tuple, on_gpu: bool) -> None:
    """ConfigError when the run's estimate exceeds the limit (module docstring); before any weight
    is allocated. data: (rows, features, targets)."""
    limit = parse_size(getattr(args, "max_memory", None))
    if limit is None or on_gpu:
        return
    given = not math.isnan(limit)
    if not given:
        limit = available_memory()
    batch = args.batch_size if isinstance(args.batch_size, int) and args.batch_size > 0 else 1
    parts = estimate(
        widths,
        batch=min(batch, max(int(data[0]), 1)),
        dtype=args.dtype,
        k=state_per_parameter(optimizer_from_options(args.optimizer, momentum=args.momentum)),
        patience=args.patience is not None,
        batchnorm=bool(args.batchnorm),
        data=data,
    )
    total = sum(parts.values())
    if total > limit:
        what = "the --max-memory limit" if given else "the memory available"
        size = limits.size_text
        detail = "; ".join(f"{name}: {size(v)}" for name, v in parts.items())
        raise ConfigError(
            f"--layers {args.layers}: the run needs about {size(total)} ({detail}), more than {what} "
            f"({size(limit)}); choose smaller --layers or --batch-size, or set the limit with --max-memory SIZE"
        )
