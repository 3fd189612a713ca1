"""Benchmarks 2 and 3: MLP training on the CPU, xpnet on NumPy against PyTorch eager.

ReLU MLP, softmax cross-entropy from logits, plain SGD (and Adam, the CLI's default), float32,
one epoch over synthetic data in order (no shuffle, so both see the same batches), timed in
interleaved slices (common.best_of_each_sliced). PyTorch starts from xpnet's initial weights;
before timing, a few steps of both are checked to agree. Reported: samples per second of the
fast xpnet step, of the generic `train_step`, and of PyTorch.
"""

from __future__ import annotations

import numpy as np

from common import best_of_each_sliced, row, xpnet_step

LR = {"sgd": 0.01, "adam": 1e-3}


def data(n: int, n_in: int, n_out: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in), dtype=np.float32)
    y = rng.integers(0, n_out, n, dtype=np.int64)
    return X, y


def xpnet_trainer(sizes, fast: bool, opt_name: str = "sgd"):
    """(model, epoch(X, y, batch)): one epoch of xpnet training, fast or generic."""
    from xpnet import mlp
    from xpnet.losses import SoftmaxCrossEntropy
    from xpnet.optim import adam, sgd

    model = mlp(sizes, activation="relu", backend="numpy", dtype="float32", seed=0)
    loss, opt = SoftmaxCrossEntropy(), {"sgd": sgd, "adam": adam}[opt_name](LR[opt_name])
    step = xpnet_step(model, loss, opt, fast)
    state = [step.init_state()]

    def epoch(X, y, batch):
        s = state[0]
        for a in range(0, X.shape[0], batch):
            _, _, s = step(X[a : a + batch, ...], y[a : a + batch], s)
        state[0] = s

    return model, epoch


def torch_trainer(model, opt_name: str = "sgd"):
    """PyTorch eager with the xpnet model's current weights: (torch model, epoch(X, y, batch))."""
    import torch

    layers, denses = [], [k for k in model.params if k.endswith(".W")]
    for j, k in enumerate(denses):
        W = np.asarray(model.params[k])
        lin = torch.nn.Linear(W.shape[0], W.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W.T.copy()))
            lin.bias.copy_(torch.from_numpy(np.asarray(model.params[k[:-1] + "b"])))
        layers += [lin] + ([torch.nn.ReLU()] if j < len(denses) - 1 else [])
    net = torch.nn.Sequential(*layers)
    opt = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[opt_name](net.parameters(), lr=LR[opt_name])
    crit = torch.nn.CrossEntropyLoss()

    def epoch(X, y, batch):
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
        for a in range(0, X.shape[0], batch):
            opt.zero_grad(set_to_none=True)
            crit(net(Xt[a : a + batch]), yt[a : a + batch]).backward()
            opt.step()

    return net, epoch


def check_agree(sizes, X, y, batch, steps=5, opt_name="sgd"):
    """Same initial weights and the same updates: weights agree after a few steps."""
    model, epoch = xpnet_trainer(sizes, fast=True, opt_name=opt_name)
    net, tepoch = torch_trainer(model, opt_name)
    Xs, ys = X[: batch * steps], y[: batch * steps]
    epoch(Xs, ys, batch)
    tepoch(Xs, ys, batch)
    linears = [m for m in net if hasattr(m, "weight")]
    worst, diffs = 0.0, []
    for lin, k in zip(linears, [k for k in model.params if k.endswith(".W")], strict=True):
        got, ref = np.asarray(model.params[k]), lin.weight.detach().numpy().T
        worst = max(worst, float(np.max(np.abs(got - ref))))
        diffs.append(np.abs(got - ref).ravel())
    if opt_name == "adam":
        # Adam moves every weight by ~lr whatever the gradient's size, so rounding differences
        # and a ReLU input within rounding of 0 (see below; one such unit changes the gradient of
        # every weight before it) show up as ~1e-6 everywhere after 5 steps at lr 1e-3, up to
        # ~lr here and there. A wrong Adam (no bias correction, eps elsewhere) is off by ~lr on
        # most weights: require the median within lr / 50 and the worst within 2 * steps * lr.
        median = float(np.median(np.concatenate(diffs)))
        if worst > 2 * steps * LR["adam"] or median > LR["adam"] / 50:
            raise AssertionError(
                f"MLP {sizes} (adam): xpnet and PyTorch weights differ by {worst:.3g} "
                f"(median {median:.3g}) after {steps} steps"
            )
        return worst
    # Not bit-identical (different BLAS kernels), and a ReLU input within rounding of 0 can land
    # on different sides in the two libraries, which changes that unit's gradient for one
    # sample: seen as ~4e-5 after 5 steps at lr 0.01, where one step moves the weights ~6e-4.
    if worst > 1e-4:
        raise AssertionError(f"MLP {sizes}: xpnet and PyTorch weights differ by {worst:.3g} after {steps} steps")
    return worst


def bench(
    sizes, batch: int, n: int, reps: int, target: float | None, name: str, generic: bool, opt_name: str = "sgd"
) -> list[dict]:
    """Rows for the fast step (and the generic one, when `generic`) against PyTorch."""
    X, y = data(n, sizes[0], sizes[-1])
    worst = check_agree(sizes, X, y, batch, opt_name=opt_name)
    _, fast = xpnet_trainer(sizes, fast=True, opt_name=opt_name)
    model, gen = xpnet_trainer(sizes, fast=False, opt_name=opt_name)
    _, tor = torch_trainer(model, opt_name)
    fast(X[: batch * 4], y[: batch * 4], batch)  # warm up: buffers, BLAS threads, torch's allocator
    tor(X[: batch * 4], y[: batch * 4], batch)
    fns = {"fast": fast, "torch": tor}
    if generic:  # for reference only; it keeps the default run under 10 minutes to skip some
        fns["generic"] = gen
    # an epoch in 20 slices, interleaved, best of reps per slice (see common.best_of_each_sliced)
    t = best_of_each_sliced({k: (lambda a, b, f=f: f(X[a:b], y[a:b], batch)) for k, f in fns.items()}, n, batch, reps)
    cfg = f"{'-'.join(map(str, sizes))}, batch {batch}, {opt_name}, float32, {n} samples"
    extra = dict(max_weight_diff_vs_torch=worst)
    rows = [
        row(
            name,
            cfg,
            "samples/s",
            n / t["fast"],
            n / t["torch"],
            "PyTorch eager CPU",
            target,
            True,
            path="fast step",
            **extra,
        )
    ]
    if generic:
        rows.append(
            row(
                name,
                cfg,
                "samples/s",
                n / t["generic"],
                n / t["torch"],
                "PyTorch eager CPU",
                None,
                True,
                path="generic step",
                **extra,
            )
        )
    return rows


def run(quick: bool, reps: int) -> list[dict]:
    n = 1024 if quick else 60000
    rows = []
    for batch, target in ((32, 1.0), (128, 1.15), (512, None)):
        rows += bench([784, 512, 512, 10], batch, n, reps, target, "MLP 784-512-512-10", generic=batch == 128)
        if quick:
            break
    # Adam: the optimizer users train with (no target in the issue; for reference)
    rows += bench([784, 512, 512, 10], 128, n, reps, None, "MLP 784-512-512-10", generic=False, opt_name="adam")
    rows += bench([64, 32, 10], 32, n, reps, 4.0, "MLP 64-32-10", generic=True)
    return rows
