"""Data-parallel training over MPI (mpi4py), with NCCL for CuPy gradients: N processes train
the same model as one.

    comm = xpnet.distributed.init()           # in each of `mpiexec -n N python train.py`
    xpnet.fit(model, X, y, batch_size=256, comm=comm)

`batch_size` is the global batch; each rank steps on its rows of it (shard.py), the gradient
seam sums the ranks' shares with one allreduce of one flat buffer per step (gradients.py), batch
norm normalises with the global batch's statistics, the epoch's metrics and divergence flag are
combined so every rank logs and stops alike, and fit starts every rank from rank 0's state after
checking that all hold the same data and options (consensus.py). `comm=None` is the
single-process path, unchanged. `simulate(N, fn)` runs N ranks as threads of one process.

Only this package imports mpi4py (and only when `init` is called).
"""

from __future__ import annotations

import os
import sys

from ..errors import BackendError, DistributedError
from .comm import REDUCTIONS, Communicator, MPICommunicator, ThreadCommunicator, simulate
from .shard import GlobalBatch, Shard, ShardedRandom, shard_rows

__all__ = [
    "REDUCTIONS",
    "Communicator",
    "DistributedError",
    "GlobalBatch",
    "MPICommunicator",
    "Shard",
    "ShardedRandom",
    "ThreadCommunicator",
    "abort_job",
    "init",
    "launched_by_mpi",
    "require_mpi4py",
    "shard_rows",
    "simulate",
]

# what MPI launchers put in the environment of the processes they start (MPICH's hydra, Open MPI,
# PMIx, Intel MPI, Slurm's srun)
_LAUNCHER_VARS = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALRANKID", "SLURM_PROCID")

MISSING_MPI4PY = "needs mpi4py and an MPI library: pip install 'xpnet[mpi]' (mpi4py and the mpich wheel)"
HOW_TO_LAUNCH = "start N processes with an MPI launcher: mpiexec -n N xpnet train ... --distributed"


def launched_by_mpi() -> bool:
    """Whether an MPI launcher (mpiexec, srun) started this process."""
    return any(v in os.environ for v in _LAUNCHER_VARS)


def require_mpi4py(who: str) -> None:
    """BackendError naming the extra to install when mpi4py is missing."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        raise BackendError(f"{who} {MISSING_MPI4PY}") from None


def init(*, reduction: str = "sum", abort_on_error: bool = True, shared_memory: bool = True) -> MPICommunicator:
    """The communicator of this process in MPI's COMM_WORLD.

    reduction: "sum" (MPI's order) or "ordered" (rank order, bit for bit a one-process
    simulation of the shards). abort_on_error: an uncaught exception on any rank prints one
    line naming the rank and aborts the whole job (MPI_Abort), so no rank is left waiting in a
    collective call forever. shared_memory: when every rank is on one machine, sum large
    buffers in an MPI shared-memory window (shm.py; rank order) instead of MPI's allreduce.
    """
    require_mpi4py("xpnet.distributed")
    comm = MPICommunicator(reduction=reduction, shared_memory=shared_memory)
    if abort_on_error:
        install_abort_hook(comm)
    return comm


def install_abort_hook(comm) -> None:
    """sys.excepthook: one line naming the rank and the error on stderr, then abort the job."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        if issubclass(kind, KeyboardInterrupt):
            previous(kind, value, tb)
        else:
            print(f"xpnet: rank {comm.rank} of {comm.size} failed: {kind.__name__}: {value}", file=sys.stderr)
        abort_job(comm, 1)

    sys.excepthook = hook


def abort_job(comm, code: int) -> None:
    """Abort the job after this rank's line has had a moment to reach the launcher (mpiexec
    forwards output asynchronously and stops forwarding once it tears the job down)."""
    import time

    sys.stderr.flush()
    time.sleep(0.2)
    comm.abort(code)
