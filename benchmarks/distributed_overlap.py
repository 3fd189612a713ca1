"""Would bucketing or overlapping the gradient allreduce with the backward pass pay here?

    mpiexec -n 2 python benchmarks/distributed_overlap.py     (OMP_NUM_THREADS=1)

784-512-512-10's gradient (float32, 2.68 MB) in one flat buffer, per rank of a global batch of 256
on 2 ranks: the first layer's weight gradient (the backward pass's last product, 60% of the
buffer) alone; then that product followed by one allreduce of the flat buffer, by one allreduce
per parameter (buckets), and with the other parameters' allreduces started (non-blocking)
before the product and waited for after it (overlap). Best of 30, milliseconds, rank 0 prints.
"""

from __future__ import annotations

import time

import numpy as np
from mpi4py import MPI

SIZES = [784 * 512, 512, 512 * 512, 512, 512 * 10, 10]


def main() -> None:
    comm = MPI.COMM_WORLD
    rng = np.random.default_rng(comm.rank)
    flat = np.ones(sum(SIZES), np.float32)
    parts, offset = [], 0
    for size in SIZES:
        parts.append(flat[offset : offset + size])
        offset += size
    h = rng.standard_normal((784, 256 // comm.size)).astype(np.float32)  # the first layer's input, transposed
    d = rng.standard_normal((256 // comm.size, 512)).astype(np.float32)
    g = np.empty((784, 512), np.float32)

    def product():
        np.dot(h, d, g)

    def one():
        product()
        comm.Allreduce(MPI.IN_PLACE, flat)

    def buckets():
        product()
        for p in parts:
            comm.Allreduce(MPI.IN_PLACE, p)

    def overlapped():
        requests = [comm.Iallreduce(MPI.IN_PLACE, p) for p in parts[1:]]
        product()
        comm.Allreduce(MPI.IN_PLACE, parts[0])
        MPI.Request.Waitall(requests)

    def best(fn, n=30):
        fastest = float("inf")
        for _ in range(n):
            comm.Barrier()
            t0 = time.perf_counter()
            fn()
            fastest = min(fastest, time.perf_counter() - t0)
        return 1e3 * fastest

    times = {
        name: best(fn)
        for name, fn in [("product", product), ("one", one), ("buckets", buckets), ("overlap", overlapped)]
    }
    if comm.rank == 0:
        print(
            f"first layer's product {times['product']:.3f} ms; with one flat allreduce {times['one']:.3f}, "
            f"per-parameter buckets {times['buckets']:.3f}, the others overlapped {times['overlap']:.3f}"
        )


if __name__ == "__main__":
    main()
