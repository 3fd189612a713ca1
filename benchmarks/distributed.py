"""Data-parallel scaling on this machine: 784-512-512-10, float32, SGD, global batch 256, the
NumPy fast step, one BLAS thread per process, at 1 (no communicator: the single-process path), 2
and 4 ranks (`mpiexec -n N`), launched interleaved; samples/s as ratios to 1 process, and the
allreduce's share of a step.

    python benchmarks/distributed.py [--steps 60] [--reps 3]     (or run.py --only distributed)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402, F401  (puts this tree's src/ on the path)

SIZES, BATCH = [784, 512, 512, 10], 256
TARGET_2 = 1.8  # 2 ranks vs 1 process, one thread each, on 2 cores


def _mpiexec() -> str | None:
    return shutil.which("mpiexec", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))


def unavailable() -> str | None:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "mpi4py is not installed (pip install 'xpnet[mpi]')"
    return None if _mpiexec() else "no mpiexec"


def worker(steps: int, distributed_run: bool, shared_memory: bool = True) -> dict:
    """In each rank: time `steps` steps after 3 warm-up steps; rank 0 returns the timings."""
    import numpy as np

    import xpnet

    comm = None
    if distributed_run:
        from xpnet import distributed

        comm = distributed.init(shared_memory=shared_memory)
    rng = np.random.default_rng(0)
    n = BATCH * 8
    X = rng.standard_normal((n, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], n)
    model = xpnet.mlp(SIZES, dtype="float32", backend="numpy", seed=0)
    step = xpnet.make_train_step(model, xpnet.losses.SoftmaxCrossEntropy(), xpnet.optim.sgd(0.01), comm=comm)
    state = step.init_state()
    comm_time = [0.0]
    if comm is not None:
        reduce = comm.allreduce

        def timed(buf, scale=1.0):
            t0 = time.perf_counter()
            reduce(buf, scale)
            comm_time[0] += time.perf_counter() - t0
            return buf

        comm.allreduce = timed

    def run(i):
        a = (i % (n // BATCH)) * BATCH
        if comm is None:
            return step(X[a : a + BATCH], y[a : a + BATCH], state)[2]
        s = comm.shard(a, a + BATCH)
        return step(X[s.start : s.stop], y[s.start : s.stop], state, shard=s)[2]

    for i in range(3):
        state = run(i)
    if comm is not None:
        comm.comm.Barrier()
    comm_time[0] = 0.0
    t0 = time.perf_counter()
    for i in range(steps):
        state = run(i)
    if comm is not None:
        comm.comm.Barrier()
    seconds = time.perf_counter() - t0
    assert step.last_path == "numpy", step.last_path
    alone = 0.0  # the allreduce of the step's flat gradient buffer by itself, back to back (no waiting)
    if comm is not None:
        buf = step._reduce.flat
        comm.comm.Barrier()
        t1 = time.perf_counter()
        for _ in range(20):
            reduce(buf)
        alone = (time.perf_counter() - t1) / 20
    return {
        "seconds": seconds,
        "comm_seconds": comm_time[0],
        "allreduce_alone_s": alone,
        "steps": steps,
        "rank": 0 if comm is None else comm.rank,
    }


# (ranks, how large buffers are summed): None is one process without a communicator
CONFIGS = ((1, None), (2, "shm"), (2, "mpi"), (4, "shm"))


def _launch(ranks: int, how: str | None, steps: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    me = [sys.executable, str(Path(__file__).resolve()), "--worker", str(steps)]
    flags = ["--distributed"] + (["--no-shm"] if how == "mpi" else [])
    cmd = me if ranks == 1 else [_mpiexec(), "-n", str(ranks), *me, *flags]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(steps: int, reps: int) -> dict:
    """{(ranks, how): best result} over `reps` interleaved launches of every config."""
    best: dict = {}
    for _ in range(reps):
        for key in CONFIGS:
            r = _launch(*key, steps)
            if key not in best or r["seconds"] < best[key]["seconds"]:
                best[key] = r
    return best


LABELS = {"shm": "shared-memory window", "mpi": "MPI's allreduce"}


def run(quick: bool, reps: int) -> list[dict]:
    steps = 6 if quick else 60
    best = measure(steps, reps)
    rate = {k: BATCH * v["steps"] / v["seconds"] for k, v in best.items()}
    config = "784-512-512-10 float32 sgd, global batch 256, 1 BLAS thread per process"
    rows = []
    for key in CONFIGS[1:]:
        ranks, how = key
        ratio = rate[key] / rate[CONFIGS[0]]
        target = TARGET_2 if key == (2, "shm") else None
        rows.append(
            {
                "benchmark": f"distributed, {ranks} ranks",
                "config": config,
                "path": f"numpy fast step, {LABELS[how]}",
                "metric": "samples/s",
                "xpnet": rate[key],
                "reference": rate[CONFIGS[0]],
                "reference_name": "1 process",
                "ratio": ratio,
                "target": target,
                "met": None if target is None else ratio >= target,
                "comm_fraction": best[key]["comm_seconds"] / best[key]["seconds"],
                "comm_ms_per_step": 1e3 * best[key]["comm_seconds"] / best[key]["steps"],
                "allreduce_alone_ms": 1e3 * best[key]["allreduce_alone_s"],
            }
        )
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    p.add_argument("--distributed", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--no-shm", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--reps", type=int, default=3)
    a = p.parse_args(argv)
    if a.worker is not None:
        result = worker(a.worker, a.distributed, shared_memory=not a.no_shm)
        if result["rank"] == 0:
            print(json.dumps(result), flush=True)
        return 0
    best = measure(a.steps, a.reps)
    base = BATCH * best[CONFIGS[0]]["steps"] / best[CONFIGS[0]]["seconds"]
    for (ranks, how), r in best.items():
        rate = BATCH * r["steps"] / r["seconds"]
        share = r["comm_seconds"] / r["seconds"]
        print(
            f"{ranks} process(es) {LABELS.get(how, ''):>20}: {rate:8.0f} samples/s  {rate / base:4.2f}x  "
            f"allreduce {1e3 * r['comm_seconds'] / r['steps']:.2f} ms/step ({100 * share:.1f}% of the time; "
            f"{1e3 * r['allreduce_alone_s']:.2f} ms alone)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
