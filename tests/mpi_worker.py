"""Run under `mpiexec -n N` by tests/test_distributed.py (never collected by pytest itself).

python mpi_worker.py equal OUT [CKPT]   every case of CASES with both reductions; each rank
                                        writes OUT/rank{r}.npz and OUT/rank{r}.json. CKPT: N=2
                                        trains 2 epochs checkpointing there, N=3 resumes to 4
python mpi_worker.py raise|kill         rank 1 raises / is SIGKILLed at its third step
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import distributed_cases as cases  # noqa: E402

from xpnet import distributed  # noqa: E402
from xpnet.training.checkpoints import CheckpointCallback  # noqa: E402


class Counting(distributed.MPICommunicator):
    """Counts the allreduces by buffer size (the gradient's: one per step)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.allreduces = {}

    def allreduce(self, buf, scale=1.0):
        self.allreduces[buf.size] = self.allreduces.get(buf.size, 0) + 1
        return super().allreduce(buf, scale)


# what the tests name each run: the reduction asked for, and whether a shared-memory window sums
# (every buffer here: these networks' gradients are smaller than the window's usual threshold)
VARIANTS = {"ordered": ("ordered", False), "sum": ("sum", True), "mpi": ("sum", False)}


def equal(out: Path, ckpt: str | None) -> None:
    comm0 = distributed.init(reduction="ordered")  # installs the abort hook
    rank, size = comm0.rank, comm0.size
    arrays, info = {}, {}
    for name in cases.CASES:
        for variant, (reduction, shared_memory) in VARIANTS.items():
            comm = Counting(reduction=reduction, shared_memory=shared_memory, shm_min_bytes=0)
            params, history, path = cases.train(name, comm=comm)
            arrays.update({f"{name}/{variant}/{k}": v for k, v in params.items()})
            info[f"{name}/{variant}"] = {"history": history, "allreduces": comm.allreduces, "path": path}
            info[f"{name}/{variant}"]["shared_memory"] = comm.shared_memory
            info[f"{name}/{variant}"]["shm_calls"] = sum(r.calls for r in comm._node_reducers.values())
    X, y = cases.data()
    for what in ("data", "options"):  # the last rank differs: every rank refuses, naming it
        Xr, seed = X.copy(), 0
        if rank == size - 1:
            if what == "data":
                Xr[5, 2] += 1e-9
            else:
                seed = 1
        try:
            cases.train("fast_f64", comm=comm0, X=Xr, seed=seed)
            info[f"refused_{what}"] = None
        except distributed.DistributedError as exc:
            info[f"refused_{what}"] = str(exc)
    if ckpt is not None:
        resume = size != 2
        cb = CheckpointCallback(ckpt, every=1, resume=resume)
        params, history, _ = cases.train(cases.RESUME_CASE, comm=comm0, epochs=4 if resume else 2, callbacks=[cb])
        arrays.update({f"resume/{k}": v for k, v in params.items()})
    np.savez(out / f"rank{rank}.npz", **arrays)
    (out / f"rank{rank}.json").write_text(json.dumps(info))


def fail(how: str) -> None:
    comm = distributed.init()
    seen = []

    def hook(grads):
        seen.append(1)
        if comm.rank == 1 and len(seen) == 3:
            if how in ("kill", "interrupt"):
                os.kill(os.getpid(), signal.SIGKILL if how == "kill" else signal.SIGINT)
            raise RuntimeError("a planted failure")
        return grads

    cases.train("fast_f64", comm=comm, epochs=1000, grad_hooks=[hook])


if __name__ == "__main__":
    if sys.argv[1] == "equal":
        equal(Path(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
    else:
        fail(sys.argv[1])
