"""`xpnet train ... --distributed` under `mpiexec -n N` (or srun): the communicator, which rank
prints and writes, and how errors end the job.

Every rank runs the same command on the same data; rank 0 alone shows progress, writes DIR and
prints the result; the others are silent. Errors end the whole job, never leaving a rank waiting:
- found by every rank alike (bad options, a refused consensus check, a divergence): rank 0
  prints the one line, every rank exits 2;
- found on some ranks before training starts: they join the first collective call of the run
  with their error, so every rank stops there and rank 0 prints the line naming the rank;
- anything else during training: the rank prints one line naming itself and aborts the job
  (MPI_Abort), which mpiexec turns into a non-zero exit of the whole job within a second.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import ConfigError, DistributedError, DivergenceError

_ACTIVE: dict = {"comm": None}


def open_comm(args):
    """The communicator for --distributed (None without it); checked before anything else."""
    _ACTIVE["comm"] = None
    if not getattr(args, "distributed", False):
        return None
    from .. import distributed

    distributed.require_mpi4py("--distributed")
    if not distributed.launched_by_mpi():
        raise ConfigError(f"--distributed: this process was not started by mpiexec; {distributed.HOW_TO_LAUNCH}")
    comm = distributed.init(abort_on_error=True)
    _ACTIVE["comm"] = comm
    return comm


def is_root(comm) -> bool:
    return comm is None or comm.rank == 0


def comm_route(comm, backend) -> str:
    """How this run's gradients travel, for the one line rank 0 prints."""
    if comm.gradient_transport(backend) == "nccl":  # pragma: needs a GPU
        return "on the GPUs by NCCL"
    return "through the host by MPI" + (" (staged from the GPU: no NCCL)" if backend.is_gpu else "")


def local_device(comm, args):
    """`args` for choosing the backend: one process per GPU, so with --distributed, --device gpu
    becomes this rank's GPU among the machine's (a copy: the options every rank compares stay)."""
    device = args.device
    if comm is None or device is None or device.lower() != "gpu":
        return args
    from ..backend import cuda_device_count

    count = cuda_device_count()
    if not count:
        return args
    return argparse.Namespace(**{**vars(args), "device": f"cuda:{comm.local_rank % count}"})  # pragma: needs a GPU


def handle_error(exc: BaseException, message: str | None = None) -> int | None:
    """main()'s handling of an error in a distributed run: the exit status, or None when this
    process is not part of one."""
    comm = _ACTIVE["comm"]
    if comm is None:
        return None
    # exc: an XpnetError or OSError (message: its line, naming the flag), or a KeyboardInterrupt
    # (signals.Interrupted for SIGINT and SIGTERM, with its status)
    interrupted = isinstance(exc, KeyboardInterrupt)
    text = (str(exc) or "interrupted") if interrupted else (message if message is not None else str(exc))
    status = getattr(exc, "status", 130) if interrupted else 2
    message = text if interrupted else f"error: {text}"
    collective = isinstance(exc, DivergenceError) or (isinstance(exc, DistributedError) and exc.collective)
    if not collective and not comm.started:
        comm.report_failure(text)  # the others stop at the first collective call: see agree()
        collective = True
    if collective:
        if comm.rank == 0:
            print(f"xpnet: {message}", file=sys.stderr)
        return status
    print(f"xpnet: rank {comm.rank} of {comm.size}: {message}", file=sys.stderr)
    from ..distributed import abort_job

    abort_job(comm, status)
    return status  # pragma: no cover - abort ends the process
