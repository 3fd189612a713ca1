"""This tree's training step against another revision's, side by side in one run.

    python benchmarks/compare_revisions.py --base HEAD~3 [--rounds 15]

Checks REV out into a temporary git worktree, starts one worker process per tree (each imports
its own tree's xpnet), and times the same workloads in both, alternating slice by slice so that a
burst of load on this shared machine hits both alike; each figure is the best slice time over the
rounds and over several worker processes per tree (one process alone can be 1.4x off another
running the same code: memory placement differs from process to process, so `--base HEAD` is the
way to see the noise floor). Prints time ratios this/base (below 1: this tree is faster) as a markdown table. The
workloads are the speed benchmarks' (mlp_cpu.py, seed.py): the fast step where one applies, and
the generic step at batch 128.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# name -> (sizes, batch, optimizer, fast, dtype, steps per slice)
WORKLOADS = {
    "seed 3-4-1, full batch, sgd 1.0 (fast)": ([3, 4, 1], 4, "trask", True, "float64", 3000),
    "784-512-512-10, batch 32, sgd (fast)": ([784, 512, 512, 10], 32, "sgd", True, "float32", 40),
    "784-512-512-10, batch 128, sgd (fast)": ([784, 512, 512, 10], 128, "sgd", True, "float32", 12),
    "784-512-512-10, batch 128, adam (fast)": ([784, 512, 512, 10], 128, "adam", True, "float32", 12),
    "784-512-512-10, batch 128, sgd (generic)": ([784, 512, 512, 10], 128, "sgd", False, "float32", 12),
    "64-32-10, batch 32, sgd (fast)": ([64, 32, 10], 32, "sgd", True, "float32", 400),
}

WORKER = r"""
import json, sys, time
import numpy as np
import xpnet
from xpnet.optim import adam, sgd

def make(sizes, batch, opt_name, fast, dtype):
    rng = np.random.default_rng(0)
    if opt_name == "trask":
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [xpnet.Dense(a, b, bias=False, init="uniform"), xpnet.Sigmoid(stable=False)]
        model = xpnet.Sequential(layers, seed=1, legacy_rng=True, dtype=dtype, backend="numpy")
        loss, opt = xpnet.get_loss("half_sse"), sgd(1.0)
        X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=dtype)
        Y = np.array([[0], [1], [1], [0]], dtype=dtype)
        batches = [(X, Y)]
    else:
        model = xpnet.mlp(sizes, activation="relu", backend="numpy", dtype=dtype, seed=0)
        loss, opt = xpnet.get_loss("softmax_cross_entropy"), (adam(1e-3) if opt_name == "adam" else sgd(0.01))
        batches = [(rng.standard_normal((batch, sizes[0]), dtype=np.float32).astype(dtype),
                    rng.integers(0, sizes[-1], batch)) for _ in range(8)]
    try:  # this tree's API
        from xpnet.training import make_train_step
        step = make_train_step(model, loss, opt, use_fast=fast)
        assert (step.path != "generic") == fast, step.path
        state = step.init_state()
    except ImportError:  # revisions before the step owned the fast-path choice
        from xpnet.step import make_train_step
        step = make_train_step(model, loss, opt, fast=fast)
        assert (getattr(step, "fast", None) is not None) == fast
        state = opt.init(model.params)
    return step, state, batches

cache = {}
for line in sys.stdin:
    name, sizes, batch, opt_name, fast, dtype, steps = json.loads(line)
    if name not in cache:
        cache[name] = make(sizes, batch, opt_name, fast, dtype)
        step, state, batches = cache[name]
        for x, y in batches:  # warm up: buffers, BLAS threads
            _, _, state = step(x, y, state)
        cache[name] = (step, state, batches)
    step, state, batches = cache[name]
    t0 = time.perf_counter()
    for i in range(steps):
        x, y = batches[i % len(batches)]
        _, _, state = step(x, y, state)
    dt = time.perf_counter() - t0
    cache[name] = (step, state, batches)
    print(json.dumps(dt), flush=True)
"""


def _worker(tree: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(tree / "src"))
    return subprocess.Popen(
        [sys.executable, "-c", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=tree
    )


def _ask(proc: subprocess.Popen, name: str, spec: tuple) -> float:
    proc.stdin.write(json.dumps([name, *spec]) + "\n")
    proc.stdin.flush()
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"worker in {proc.args} ended; see its stderr above")
    return float(line)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True, help="the git revision to compare with")
    p.add_argument("--rounds", type=int, default=15, help="slices per workload and worker (best kept)")
    p.add_argument("--workers", type=int, default=3, help="worker processes per tree (best kept)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="xpnet-base-") as tmp:
        base = Path(tmp) / "tree"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.base],
            check=True,
            capture_output=True,
        )
        try:
            workers = [
                (tree, _worker(path)) for _ in range(args.workers) for tree, path in (("this", ROOT), ("base", base))
            ]
            best = {w: {n: float("inf") for n in WORKLOADS} for w in ("this", "base")}
            for r in range(args.rounds):
                for name, spec in WORKLOADS.items():
                    for tree, proc in workers if r % 2 == 0 else workers[::-1]:  # the same load hits both
                        # a pause first: an idle worker's BLAS threads spin for a while after its
                        # slice and would take the cores from the next one
                        time.sleep(0.02)
                        best[tree][name] = min(best[tree][name], _ask(proc, name, spec))
            for _, proc in workers:
                proc.stdin.close()
                proc.wait(timeout=60)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], capture_output=True)
    print(f"| workload (base {args.base}) | this / base time | this ms/step | base ms/step |")
    print("| --- | --- | --- | --- |")
    for name, spec in WORKLOADS.items():
        steps = spec[-1]
        t, b = best["this"][name], best["base"][name]
        print(f"| {name} | {t / b:.3f} | {1e3 * t / steps:.3f} | {1e3 * b / steps:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
