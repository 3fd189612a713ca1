"""Benchmark 5 (issue 7): xpnet on CuPy against PyTorch eager CUDA, 784-2048-2048-10 at batch
256, 1024 and 4096, float32, data resident on the device.

Also reported: the matmul rate xpnet's step achieves (the step's matmul FLOPs over its time) as a
fraction of CuPy's own matmul rate at the same shapes (those matmuls alone, timed back to back),
i.e. how much of the step is overhead around the matrix products. Skips cleanly (an empty list and
a reason) where CuPy has no usable CUDA device; not run on the machines this was written on.
"""

from __future__ import annotations

import numpy as np

from common import best_of, row

SIZES = [784, 2048, 2048, 10]
LR = 0.01


def unavailable() -> str | None:
    """Why the GPU benchmark cannot run here, or None."""
    from xpnet.backend import cuda_device_count

    n, reason = cuda_device_count()
    if n == 0:
        return reason
    try:
        import torch

        if not torch.cuda.is_available():
            return "PyTorch has no CUDA (a CPU-only build): nothing to compare against"
    except ImportError:
        return "PyTorch is not installed"
    return None


def step_matmul_shapes(batch: int) -> list[tuple[int, int, int]]:
    """(m, k, n) of every matmul in one training step: forward, weight and input gradients."""
    shapes = []
    for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:], strict=True)):
        shapes.append((batch, a, b))  # x @ W
        shapes.append((a, batch, b))  # x.T @ dy
        if i > 0:
            shapes.append((batch, b, a))  # dy @ W.T
    return shapes


def run(quick: bool, reps: int) -> list[dict]:
    from mlp_cpu import data
    from xpnet import get_backend

    b = get_backend("cupy")
    n = 16384 if quick else 65536
    Xh, yh = data(n, SIZES[0], SIZES[-1])
    return [bench_batch(b, Xh, yh, batch, reps) for batch in (256, 1024, 4096)]


def bench_batch(b, Xh, yh, batch: int, reps: int) -> dict:
    """One row: an epoch of xpnet on CuPy against PyTorch CUDA at this batch size."""
    import cupy
    import torch

    from xpnet import mlp
    from xpnet.losses import SoftmaxCrossEntropy
    from xpnet.optim import sgd
    from xpnet.training import make_train_step

    n = Xh.shape[0]
    X, y = b.asarray(Xh), b.xp.asarray(yh, device=b.device)
    Xt, yt = torch.from_numpy(Xh).cuda(), torch.from_numpy(yh).cuda()
    model = mlp(SIZES, activation="relu", backend=b, dtype="float32", seed=0)
    loss, opt = SoftmaxCrossEntropy(), sgd(LR)
    step = make_train_step(model, loss, opt)
    state = [step.init_state()]
    layers = []
    for j, k in enumerate([k for k in model.params if k.endswith(".W")]):
        lin = torch.nn.Linear(*model.params[k].shape).cuda()
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(b.to_host(model.params[k]).T.copy()))
            lin.bias.copy_(torch.from_numpy(b.to_host(model.params[k[:-1] + "b"])))
        layers += [lin] + ([torch.nn.ReLU()] if j < len(SIZES) - 2 else [])
    net = torch.nn.Sequential(*layers)
    topt, crit = torch.optim.SGD(net.parameters(), lr=LR), torch.nn.CrossEntropyLoss()

    def xp_epoch():
        s = state[0]
        for a in range(0, n, batch):
            _, _, s = step(X[a : a + batch, ...], y[a : a + batch], s)
        state[0] = s

    def torch_epoch():
        for a in range(0, n, batch):
            topt.zero_grad(set_to_none=True)
            crit(net(Xt[a : a + batch]), yt[a : a + batch]).backward()
            topt.step()

    xp_epoch(), torch_epoch()  # warm up: kernels compiled, memory pools filled
    t_xp = best_of(xp_epoch, reps, sync=b.sync)
    t_torch = best_of(torch_epoch, reps, sync=torch.cuda.synchronize)
    # CuPy's own rate for exactly the step's matmuls, back to back
    mats = [(cupy.ones((m, k), np.float32), cupy.ones((k, q), np.float32)) for m, k, q in step_matmul_shapes(batch)]
    steps = n // batch
    t_mm = best_of(lambda: [A @ B for _ in range(steps) for A, B in mats], reps, sync=b.sync)
    flops = 2 * sum(m * k * q for m, k, q in step_matmul_shapes(batch)) * steps
    cfg = f"{'-'.join(map(str, SIZES))}, batch {batch}, float32, {n} samples on the device"
    return row(
        "GPU MLP",
        cfg,
        "samples/s",
        n / t_xp,
        n / t_torch,
        "PyTorch eager CUDA",
        None,
        True,
        path="generic step (CuPy)",
        matmul_tflops_step=flops / t_xp / 1e12,
        matmul_tflops_cupy=flops / t_mm / 1e12,
        matmul_fraction=t_mm / t_xp,
    )
