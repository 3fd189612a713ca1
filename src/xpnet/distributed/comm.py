"""Communicators: what data-parallel training needs of a group of processes, over MPI
(mpi4py) or, to test and to simulate N shards in one process, over threads.

A communicator moves host NumPy buffers (the capital-letter mpi4py calls: no pickling) and
small Python objects (pickled, at the start and once per epoch). Everything the training loop
and the step ask of it is written once here, on top of five transport primitives that a
subclass provides: `_allreduce_host`, `_allgather_host`, `bcast`, `allgather` and `abort`.

Reductions: "sum" (the default) lets MPI choose the order of the sum across ranks (a tree on
many ranks), so N ranks equal one process to about 1e-16 relative per step, not bit for bit;
"ordered" gathers every rank's buffer and adds them in rank order, rank 0 first, so that the
result is the same bits as a one-process simulation of the N shards (ThreadGroup), at N times
the traffic. The thread group always adds in rank order. When every rank runs on one machine,
MPICommunicator sums large buffers in a shared-memory window instead (shm.py), in rank order:
the ordered bits at the traffic of one allreduce, for either reduction.
"""

from __future__ import annotations

import pickle
import threading
from typing import Any, NamedTuple

import numpy as np

from ..errors import ConfigError, DistributedError
from . import consensus, gradients, shard, shm

REDUCTIONS = ("sum", "ordered")


class Communicator:
    """The rank of this process among `size`, and the collective operations training needs."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0  # the rank among the processes on this machine (which GPU to use)
    transport_name = "host"

    def __init__(self, reduction: str = "sum") -> None:
        if reduction not in REDUCTIONS:
            raise ConfigError(f"reduction: expected one of {', '.join(REDUCTIONS)}, got {reduction!r}")
        self.reduction = reduction
        self.started = False  # True once the first collective call of a fit has been made
        self.command_options: dict = {}  # more options every rank must share (the CLI's)
        self._gathered: dict = {}  # (size, dtype) -> the preallocated receive buffer of "ordered"

    # --- transport primitives (subclasses) ---------------------------------------------------

    def _allreduce_host(self, buf: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _allgather_host(self, buf: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def bcast(self, obj: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def allgather(self, obj: Any) -> list:  # pragma: no cover - abstract
        raise NotImplementedError

    def abort(self, code: int = 1) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # --- reductions on host buffers ----------------------------------------------------------

    def allreduce(self, buf: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """Sum `scale * buf` (a contiguous host buffer) over the ranks, in place; returns it."""
        if scale != 1.0:
            np.multiply(buf, scale, out=buf)
        if self.reduction == "sum":
            self._allreduce_host(buf)
            return buf
        flat = buf.reshape(-1)
        gathered = self._gather(flat)
        np.copyto(flat, gathered[0])
        for r in range(1, self.size):  # rank order, one addition at a time: the same bits everywhere
            np.add(flat, gathered[r], out=flat)
        return buf

    def _gather(self, buf: np.ndarray) -> np.ndarray:
        key = (buf.size, buf.dtype.str)
        out = self._gathered.get(key)
        if out is None:
            out = self._gathered[key] = np.empty((self.size, buf.size), buf.dtype)
        self._allgather_host(buf, out)
        return out

    def combine(self, values: np.ndarray, *, min_at: tuple[int, ...] = ()) -> np.ndarray:
        """Per-rank host values (a small vector) combined: summed in rank order, except the
        entries `min_at`, whose minimum over the ranks is taken. The same on every rank."""
        values = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
        rows = self._gather(values)
        total = rows[0].copy()
        for r in range(1, self.size):
            total += rows[r]
        for i in min_at:
            total[i] = rows[:, i].min()
        return total

    def any(self, flag: bool) -> bool:
        """True on every rank if `flag` is true on any (e.g. a callback on rank 0 stops training)."""
        return bool(self.combine(np.array([1.0 if flag else 0.0]))[0] > 0)

    def agree(self, what: str, value: Any) -> None:
        """Refuse, on every rank together, a `value` (JSON-like) that is not rank 0's, with one
        line naming the first differing rank."""
        values = self.allgather(value)
        self.started = True
        for r, v in enumerate(values):
            if isinstance(v, _Failure):
                raise DistributedError(f"rank {r} of {self.size}: {v.message}")
        for r, v in enumerate(values):
            if v != values[0]:
                where = _difference(v, values[0])
                raise DistributedError(
                    f"rank {r} of {self.size}: its {what} differ from rank 0's"
                    f"{where}; every process must be started with the same data and options"
                )

    def report_failure(self, message: str) -> None:
        """This rank failed before training started: join the first collective call (agree's)
        with the error instead of a value, so every rank stops there together."""
        self.allgather(_Failure(message))
        self.started = True

    # --- what the training loop and the step ask --------------------------------------------

    def shard(self, start: int, stop: int):
        """This rank's rows of the global batch [start, stop)."""
        return shard.shard_rows(start, stop, self.rank, self.size)

    def check_batches(self, n: int, batch_size: int | None, *, weighted: bool = False) -> None:
        """Refuse a global batch (the last one too) with fewer rows than there are ranks, and
        sample weights (not supported in distributed training yet)."""
        if weighted:
            raise DistributedError("sample_weight: not supported in distributed training (comm) yet")
        bs = n if batch_size is None else min(batch_size, n)
        smallest = n % bs or bs
        if smallest < self.size:
            raise DistributedError(
                f"batch_size: {batch_size} makes a global batch of {smallest} row(s) from {n} samples, "
                f"fewer than the {self.size} processes; each process needs at least one row of every "
                "batch: choose a batch size (and data size) with at least that many rows per batch"
            )

    def gradient_transport(self, backend) -> str:
        """How gradients of `backend`'s arrays are summed: "nccl" (CuPy, NCCL available, reduction
        "sum", over MPI) or "host" (staged through NumPy buffers and MPI)."""
        if backend.name != "cupy" or self.reduction != "sum" or not isinstance(self, MPICommunicator):
            return "host"
        from .nccl import nccl_module  # pragma: needs a GPU

        return "nccl" if nccl_module() is not None else "host"  # pragma: needs a GPU

    def gradient_reducer(self, model):
        """The gradient seam's allreduce for this model (gradients.py)."""
        return gradients.GradientReducer(self, model)

    def local_batch(self, x, y, rng, rows, *, loss_fn, backend):
        """This rank's part of a training step: (x, y, rng, batch context, weight), see step.py;
        rows: this rank's Shard of the global batch, or None when x, y are the whole batch."""
        return shard.local_batch(self, x, y, rng, rows, loss_fn=loss_fn, backend=backend)

    def check(self, trainer, X, y, val=None) -> None:
        """At the start of fit, before its callbacks: every rank holds the same data and options
        as rank 0, or every rank refuses together (consensus.py)."""
        consensus.check(self, trainer, X, y, val)

    def share_state(self, trainer) -> None:
        """Then, after the callbacks (a checkpoint resumed on rank 0): rank 0's weights, optimizer
        state and loop state on every rank (consensus.py)."""
        consensus.share_state(self, trainer)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rank={self.rank}, size={self.size}, reduction={self.reduction!r})"


class _Failure(NamedTuple):
    message: str


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _difference(mine: Any, theirs: Any, path: str = "") -> str:
    """' (at KEY: MINE vs RANK 0's)', the first place two nested values differ."""
    if isinstance(mine, dict) and isinstance(theirs, dict):
        for k in sorted(set(mine) | set(theirs), key=str):
            if mine.get(k, _MISSING) != theirs.get(k, _MISSING):
                return _difference(mine.get(k, _MISSING), theirs.get(k, _MISSING), f"{path}.{k}" if path else str(k))
    at = f" at {path}" if path else ""
    return f" ({at.strip()}{': ' if at else ''}{_short(mine)} vs {_short(theirs)})"


_MISSING = "<missing>"


class MPICommunicator(Communicator):
    """A communicator over an mpi4py communicator (COMM_WORLD by default)."""

    def __init__(
        self, mpi_comm=None, *, reduction: str = "sum", shared_memory: bool = True, shm_min_bytes: int | None = None
    ) -> None:
        super().__init__(reduction)
        from mpi4py import MPI

        self.MPI = MPI
        self.comm = MPI.COMM_WORLD if mpi_comm is None else mpi_comm
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.node = self.comm.Split_type(MPI.COMM_TYPE_SHARED)  # the ranks on this machine
        self.local_rank = self.node.Get_rank()
        # every rank on one machine: large buffers are summed in a shared-memory window (shm.py)
        self.shared_memory = bool(shared_memory) and self.size > 1 and self.node.Get_size() == self.size
        self._node_reducers: dict = {}
        self.shm_min_bytes = shm.SHM_MIN_BYTES if shm_min_bytes is None else int(shm_min_bytes)

    def allreduce(self, buf: np.ndarray, scale: float = 1.0) -> np.ndarray:
        if not self.shared_memory or buf.nbytes < self.shm_min_bytes:
            return super().allreduce(buf, scale)
        # rank order, so both reductions give the "ordered" bits here (every rank calls this
        # with the same sizes at the same time, so the window is allocated collectively)
        key = (buf.size, buf.dtype.str)
        reducer = self._node_reducers.get(key)
        if reducer is None:
            reducer = self._node_reducers[key] = shm.NodeReducer(self.MPI, self.node, buf.size, buf.dtype)
        return reducer(buf, scale)

    def _allreduce_host(self, buf):
        self.comm.Allreduce(self.MPI.IN_PLACE, buf, op=self.MPI.SUM)

    def _allgather_host(self, buf, out):
        self.comm.Allgather(buf, out)

    def bcast(self, obj):
        return self.comm.bcast(obj, root=0)

    def allgather(self, obj):
        return self.comm.allgather(obj)

    def abort(self, code: int = 1) -> None:
        self.comm.Abort(code)


class ThreadGroup:
    """N communicators in one process, one per thread: `run(fn)` calls fn(comm) on N threads
    and returns their results by rank. Reductions add in rank order, so an MPI run with
    reduction="ordered" gives the same bits. A thread that raises breaks every barrier, so the
    others stop too, and run() raises the first error."""

    def __init__(self, size: int) -> None:
        self.size = int(size)
        self.barrier = threading.Barrier(self.size)
        self.slots: list = [None] * self.size

    def exchange(self, rank: int, value: Any) -> list:
        self.slots[rank] = value
        self.barrier.wait()
        values = list(self.slots)
        self.barrier.wait()  # nobody writes the slots again before everyone has read them
        return values

    def run(self, fn) -> list:
        results: list = [None] * self.size
        errors: list = []

        def work(rank):
            try:
                results[rank] = fn(ThreadCommunicator(self, rank))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                errors.append((rank, exc))
                self.barrier.abort()

        threads = [threading.Thread(target=work, args=(r,)) for r in range(self.size)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        real = [e for e in errors if not isinstance(e[1], threading.BrokenBarrierError)]
        if real or errors:
            raise (real or errors)[0][1]
        return results


class ThreadCommunicator(Communicator):
    """One rank of a ThreadGroup (always reduces in rank order)."""

    def __init__(self, group: ThreadGroup, rank: int) -> None:
        super().__init__("ordered")
        self.group, self.rank, self.size = group, rank, group.size

    def _allreduce_host(self, buf):  # pragma: no cover - reduction is always "ordered" here
        raise NotImplementedError

    def _allgather_host(self, buf, out):
        for r, part in enumerate(self.group.exchange(self.rank, buf.copy())):
            out[r] = part

    def bcast(self, obj):
        # a pickled copy: threads must not share the arrays they go on to update in place
        return pickle.loads(self.group.exchange(self.rank, pickle.dumps(obj))[0])

    def allgather(self, obj):
        return [pickle.loads(v) for v in self.group.exchange(self.rank, pickle.dumps(obj))]

    def abort(self, code: int = 1) -> None:
        self.group.barrier.abort()
        raise DistributedError(f"rank {self.rank}: aborted with code {code}", collective=False)


def simulate(size: int, fn) -> list:
    """fn(comm) on `size` threads of this process, one rank each: the one-process simulation of
    N shards that an MPI run with reduction="ordered" equals bit for bit. Returns the results."""
    return ThreadGroup(size).run(fn)
