"""The generic array-API step against plain PyTorch eager, on torch tensors (CPU here, CUDA on a
GPU machine): the step CuPy and torch-on-CUDA run, so its overhead is theirs.

    python benchmarks/generic_step.py                 784-512-512-10, SGD, batch 128 and 512
    python benchmarks/generic_step.py --quick         a smoke run (small, one repetition)
    python benchmarks/generic_step.py --device cuda   on a GPU (benchmarks/gpu_check.py runs it)

Both contenders start from the same weights and train on the same batches in order; before
timing, a few steps are checked to agree. They are timed in interleaved slices
(common.best_of_each_sliced): ratios come from one run. Besides samples per second it counts,
with torch's profiler, the allocations of at least one weight matrix's size during one step (the
full-size temporaries: PyTorch's step makes one per weight, its gradient).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from common import best_of_each_sliced, machine, row  # noqa: E402

SIZES = [784, 512, 512, 10]
LR = 0.01


def data(n: int, n_in: int, n_out: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n_in), dtype=np.float32), rng.integers(0, n_out, n, dtype=np.int64)


def contenders(sizes, device: str):
    """(xpnet step, its state box, the torch net, the torch step): same initial weights."""
    import torch

    from xpnet import get_backend, mlp
    from xpnet.losses import SoftmaxCrossEntropy
    from xpnet.optim import sgd
    from xpnet.training import make_train_step

    b = get_backend("torch", device=device)
    model = mlp(sizes, activation="relu", backend=b, dtype="float32", seed=0)
    step = make_train_step(model, SoftmaxCrossEntropy(), sgd(LR))
    box = [step.init_state()]
    layers, denses = [], [k for k in model.params if k.endswith(".W")]
    for j, k in enumerate(denses):
        W = model.params[k]
        lin = torch.nn.Linear(W.shape[0], W.shape[1]).to(device)
        with torch.no_grad():
            lin.weight.copy_(W.T)
            lin.bias.copy_(model.params[k[:-1] + "b"])
        layers += [lin] + ([torch.nn.ReLU()] if j < len(denses) - 1 else [])
    net = torch.nn.Sequential(*layers)
    opt, crit = torch.optim.SGD(net.parameters(), lr=LR), torch.nn.CrossEntropyLoss()

    def xp_run(X, y, batch, a, b_):
        s = box[0]
        for i in range(a, b_, batch):
            _, _, s = step(X[i : i + batch, ...], y[i : i + batch], s)
        box[0] = s

    def torch_run(X, y, batch, a, b_):
        for i in range(a, b_, batch):
            opt.zero_grad(set_to_none=True)
            crit(net(X[i : i + batch]), y[i : i + batch]).backward()
            opt.step()

    return model, step, xp_run, net, torch_run


def large_allocations(fn, min_bytes: int) -> int:
    """How many allocations of at least min_bytes fn() makes (torch's profiler, CPU or CUDA)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with profile(activities=acts, profile_memory=True) as prof:
        fn()
    n = 0
    for e in prof.events():
        # self memory: what the op itself allocated (positive) or freed (negative)
        alloc = max(e.self_cpu_memory_usage, getattr(e, "self_device_memory_usage", 0) or 0)
        if alloc >= min_bytes:
            n += alloc // min_bytes if alloc >= 2 * min_bytes and e.name == "[memory]" else 1
    return n


def bench(batch: int, n: int, reps: int, device: str, sizes=SIZES) -> dict:
    import torch

    Xh, yh = data(n, sizes[0], sizes[-1])
    X, y = torch.from_numpy(Xh).to(device), torch.from_numpy(yh).to(device)
    model, step, xp_run, net, torch_run = contenders(sizes, device)
    # agreement before timing: 3 steps each, then the first layer's weights
    xp_run(X, y, batch, 0, 3 * batch)
    torch_run(X, y, batch, 0, 3 * batch)
    diff = float((model.params["0.W"] - net[0].weight.detach().T).abs().max())
    if diff > 1e-4:
        raise RuntimeError(f"xpnet and PyTorch disagree after 3 steps: max |dW| = {diff}")
    sync = (lambda: torch.cuda.synchronize()) if device.startswith("cuda") else (lambda: None)

    def timed(run):
        def f(a, b_):
            run(X, y, batch, a, b_)
            sync()

        return f

    t = best_of_each_sliced({"xpnet": timed(xp_run), "torch": timed(torch_run)}, n, batch, reps)
    w_bytes = max(int(np.prod(tuple(v.shape))) for v in model.params.values()) * 4
    one = (0, batch)
    allocs = {
        "xpnet": large_allocations(lambda: xp_run(X, y, batch, *one), w_bytes),
        "torch": large_allocations(lambda: torch_run(X, y, batch, *one), w_bytes),
    }
    cfg = f"{'-'.join(map(str, sizes))}, SGD, batch {batch}, float32, torch {device} tensors"
    return row(
        "generic step",
        cfg,
        "samples/s",
        n / t["xpnet"],
        n / t["torch"],
        "PyTorch eager + torch.optim.SGD",
        1.0,
        True,
        path=step.path,
        weight_size_allocations_per_step=allocs,
        max_weight_diff_after_3_steps=diff,
    )


def run(quick: bool, reps: int, device: str = "cpu", batches=(128, 512), n: int | None = None) -> list[dict]:
    n = n or (4096 if quick else 30720)
    return [bench(b, n, reps, device) for b in batches]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--reps", type=int, default=None, help="repetitions per slice (default 3; 1 with --quick)")
    p.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    p.add_argument("--batches", default="128,512")
    p.add_argument("--samples", type=int, help="samples per epoch (default 30720; 4096 with --quick)")
    p.add_argument("--threads", type=int, help="torch.set_num_threads for both (default: torch's own)")
    p.add_argument("--json", type=Path, help="also write the rows here")
    a = p.parse_args(argv)
    reps = a.reps or (1 if a.quick else 3)
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    rows = run(a.quick, reps, a.device, tuple(int(s) for s in a.batches.split(",")), a.samples)
    for r in rows:
        print(
            f"{r['config']}: xpnet {r['xpnet']:.0f} samples/s, torch {r['reference']:.0f}, ratio {r['ratio']:.3f}; "
            f"weight-size allocations per step {r['weight_size_allocations_per_step']}"
        )
    if a.json:
        a.json.write_text(json.dumps({"machine": machine(), "argv": sys.argv[1:], "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
