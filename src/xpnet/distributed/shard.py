"""A rank's part of a global batch: its rows, its share of the gradient, its dropout masks and
the batch-norm statistics of the whole batch.

Semantics (what makes N processes train the same model as one): `batch_size` is the global
batch; rank r of N takes the contiguous rows [a + r*m//N, a + (r+1)*m//N) of every global batch
[a, a + m) in the global (seeded) shuffle order. A mean loss on rank r averages over its n_r rows;
the global batch's gradient is the sum over ranks of (n_r / m) times that, so each rank scales
its share by w_r = n_r / m before the allreduce sums them (w_r = 1 for a summed loss). Dropout
masks are drawn for the whole global batch from the seeded stream every rank advances alike,
and each rank keeps its rows: the masks do not depend on N.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .. import backend as _backend
from ..errors import DistributedError, ShapeError


class Shard(NamedTuple):
    """Rows [start, stop) of the global batch [first, first + rows) belong to this rank."""

    start: int
    stop: int
    first: int
    rows: int


def shard_rows(start: int, stop: int, rank: int, size: int) -> Shard:
    m = stop - start
    return Shard(start + rank * m // size, start + (rank + 1) * m // size, start, m)


class ShardedRandom:
    """A dropout generator for one rank: each mask is drawn for the global batch, the rank's
    rows kept, so every rank's stream advances alike and the masks equal one process's."""

    def __init__(self, rng: Any, shard: Shard) -> None:
        self.rng, self.shard = rng, shard

    def keep_mask(self, shape: tuple[int, ...], keep_prob: float, *, xp: Any, device: Any, dtype: Any) -> Any:
        s = self.shard
        full = self.rng.keep_mask((s.rows, *shape[1:]), keep_prob, xp=xp, device=device, dtype=dtype)
        a = s.start - s.first
        return full[a : a + shape[0], ...]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.rng, name)


class GlobalBatch:
    """`ctx.batch` in a distributed forward pass: batch norm asks it for the global batch's row
    count and for sums over every rank's rows (a host round trip of a few feature vectors)."""

    def __init__(self, comm, backend, rows: int) -> None:
        self.comm, self.backend, self.rows = comm, backend, rows

    def sum(self, arrays: list) -> list:
        """Each array (per-feature sums of this rank's rows) summed over the ranks."""
        hosts = [np.asarray(_backend.to_numpy(a)) for a in arrays]
        flat = np.concatenate([h.reshape(-1) for h in hosts])  # one allreduce for all of them
        self.comm.allreduce(flat)
        out, offset = [], 0
        for a, h in zip(arrays, hosts, strict=True):
            part = flat[offset : offset + h.size].reshape(h.shape)
            out.append(self.backend.asarray(np.array(part, copy=True), a.dtype))
            offset += h.size
        return out


def local_batch(comm, x, y, rng, shard: Shard | None, *, loss_fn, backend):
    """(x, y, rng, batch, weight) of this rank for a step on a global batch. shard=None: x and y
    are the whole global batch, and this rank takes its rows of them; else they are already the
    rank's rows `shard`."""
    if shard is None:
        if x.shape[0] < comm.size:
            raise DistributedError(
                f"x: a global batch of {x.shape[0]} row(s) for {comm.size} processes; each needs at least one row"
            )
        shard = comm.shard(0, x.shape[0])
        x, y = x[shard.start : shard.stop, ...], y[shard.start : shard.stop, ...]
    elif x.shape[0] != shard.stop - shard.start:
        raise ShapeError(f"x: a shard of {shard.stop - shard.start} rows expected, got {x.shape[0]}")
    rows = shard.stop - shard.start
    weight = rows / shard.rows if loss_fn.reduction == "mean" else 1.0
    rng = ShardedRandom(rng, shard) if rng is not None else None
    return x, y, rng, GlobalBatch(comm, backend, shard.rows), weight
