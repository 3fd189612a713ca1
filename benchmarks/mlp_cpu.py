"""Benchmarks 2 and 3: MLP training on the CPU, xpnet on NumPy against PyTorch eager and JAX's
compiled step (`jax.jit` over the whole step, benchmarks/jax_peer.py), and against the matmul
floor (the step's matrix products alone, benchmarks/floor.py).

ReLU MLP, softmax cross-entropy from logits, plain SGD (and Adam, the CLI's default), float32,
one epoch over synthetic data in order (no shuffle, so all see the same batches), timed in
interleaved slices (common.best_of_each_sliced). PyTorch and JAX start from xpnet's initial
weights; before timing, a few steps of each are checked to agree with xpnet. Reported: samples
per second of the fast xpnet step (and of the generic `train_step`) against each peer, and the
fast step's time as a multiple of the floor's.
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


def check_agree(sizes, X, y, batch, steps=5, opt_name="sgd") -> dict:
    """Same initial weights and the same updates: each peer's weights agree with xpnet's after a
    few steps. Returns {peer: largest weight difference}."""
    import jax_peer

    model, epoch = xpnet_trainer(sizes, fast=True, opt_name=opt_name)
    net, tepoch = torch_trainer(model, opt_name)
    peers = {"PyTorch": lambda: [lin.weight.detach().numpy().T for lin in net if hasattr(lin, "weight")]}
    if jax_peer.unavailable() is None:
        jweights, jepoch = jax_peer.trainer(model, X[: batch * steps], y[: batch * steps], opt_name, LR[opt_name])
        jepoch(0, batch * steps, batch)
        peers["JAX"] = lambda: [W for W, _ in jweights()]
    Xs, ys = X[: batch * steps], y[: batch * steps]
    epoch(Xs, ys, batch)
    tepoch(Xs, ys, batch)
    ours = [np.asarray(model.params[k]) for k in model.params if k.endswith(".W")]
    return {name: _agree(sizes, name, ours, ref(), steps, opt_name) for name, ref in peers.items()}


def _agree(sizes, peer: str, ours: list, theirs: list, steps: int, opt_name: str) -> float:
    diffs = [np.abs(got - ref).ravel() for got, ref in zip(ours, theirs, strict=True)]
    worst = max(float(np.max(d)) for d in diffs)
    if opt_name == "adam":
        # Adam moves every weight by ~lr whatever the gradient's size, so rounding differences
        # and a ReLU input within rounding of 0 (see below; one such unit changes the gradient of
        # every weight before it) show up as ~1e-6 everywhere after 5 steps at lr 1e-3, up to
        # ~lr here and there. A wrong Adam (no bias correction, eps elsewhere) is off by ~lr on
        # most weights: require the median within lr / 50 and the worst within 2 * steps * lr.
        median = float(np.median(np.concatenate(diffs)))
        if worst > 2 * steps * LR["adam"] or median > LR["adam"] / 50:
            raise AssertionError(
                f"MLP {sizes} (adam): xpnet and {peer} weights differ by {worst:.3g} "
                f"(median {median:.3g}) after {steps} steps"
            )
        return worst
    # Not bit-identical (different BLAS kernels), and a ReLU input within rounding of 0 can land
    # on different sides in the two libraries, which changes that unit's gradient for one
    # sample: seen as ~4e-5 after 5 steps at lr 0.01, where one step moves the weights ~6e-4.
    if worst > 1e-4:
        raise AssertionError(f"MLP {sizes}: xpnet and {peer} weights differ by {worst:.3g} after {steps} steps")
    return worst


def contenders(sizes, batch: int, X, y, opt_name: str = "sgd", generic: bool = False) -> dict:
    """{name: fn(a, b)} running samples [a, b) of X, y in batches: xpnet's fast step ("fast"),
    PyTorch ("torch"), JAX ("jax", where importable), the matmul floor ("floor") and, if asked,
    xpnet's generic step ("generic"). Each is
    warmed up (buffers, BLAS threads, torch's allocator, JAX's compilation)."""
    import floor
    import jax_peer

    _, fast = xpnet_trainer(sizes, fast=True, opt_name=opt_name)
    model, gen = xpnet_trainer(sizes, fast=False, opt_name=opt_name)
    _, tor = torch_trainer(model, opt_name)
    fns = {
        "fast": lambda a, b: fast(X[a:b], y[a:b], batch),
        "torch": lambda a, b: tor(X[a:b], y[a:b], batch),
    }
    if jax_peer.unavailable() is None:
        _, jep = jax_peer.trainer(model, X, y, opt_name, LR[opt_name])
        fns["jax"] = lambda a, b: jep(a, b, batch)
    gemms, _ = floor.gemms(sizes, batch)
    fns["floor"] = lambda a, b: gemms(-(-(b - a) // batch))  # one per batch (a last short one as a full one)
    if generic:
        fns["generic"] = lambda a, b: gen(X[a:b], y[a:b], batch)
    warm = min(batch * 4, X.shape[0])
    for fn in fns.values():
        fn(0, warm)
    return fns


def bench(
    sizes,
    batch: int,
    n: int,
    reps: int,
    targets: dict,
    name: str,
    generic: bool,
    opt_name: str = "sgd",
) -> list[dict]:
    """Rows for the fast step (and the generic one, when `generic`) against PyTorch and JAX, and
    the fast step against the matmul floor. targets: {"torch" | "jax" | "floor": ratio or None}."""
    X, y = data(n, sizes[0], sizes[-1])
    worst = check_agree(sizes, X, y, batch, opt_name=opt_name)
    fns = contenders(sizes, batch, X, y, opt_name, generic)
    # an epoch in 20 slices, interleaved, best of reps per slice (see common.best_of_each_sliced)
    t = best_of_each_sliced(fns, n, batch, reps)
    t_floor = t.pop("floor")
    cfg = f"{'-'.join(map(str, sizes))}, batch {batch}, {opt_name}, float32, {n} samples"
    extra = {f"max_weight_diff_vs_{k}": v for k, v in worst.items()}
    extra["seconds"] = dict(t, floor=t_floor)
    rows = []
    paths = [("fast", "fast step")] + ([("generic", "generic step")] if generic else [])
    for key, path in paths:
        for peer, ref_name in (("torch", "PyTorch eager CPU"), ("jax", "JAX jax.jit CPU")):
            if peer in t:
                target = targets.get(peer) if key == "fast" else None
                rows.append(
                    row(name, cfg, "samples/s", n / t[key], n / t[peer], ref_name, target, True, path=path, **extra)
                )
    steps = -(-n // batch)
    rows.append(
        row(
            name,
            cfg,
            "ms/step",
            1e3 * t["fast"] / steps,
            1e3 * t_floor / steps,
            "matmul floor (the step's GEMMs alone)",
            targets.get("floor"),
            False,
            path="fast step",
            **extra,
        )
    )
    return rows


# the targets: >= 1.0x JAX everywhere; the step within 1.15x of the floor at batch >= 128;
# the earlier ones against PyTorch eager stay as they were
FLOOR = 1 / 1.15


def run(quick: bool, reps: int) -> list[dict]:
    n = 1024 if quick else 60000
    big = [784, 512, 512, 10]
    rows = []
    for batch, torch_target in ((32, 1.0), (128, 1.15), (512, None)):
        targets = {"torch": torch_target, "jax": 1.0, "floor": FLOOR if batch >= 128 else None}
        rows += bench(big, batch, n, reps, targets, "MLP 784-512-512-10", generic=batch == 128)
        if quick:
            break
    # Adam: the optimizer users train with
    rows += bench(big, 128, n, reps, {"jax": 1.0, "floor": FLOOR}, "MLP 784-512-512-10", generic=False, opt_name="adam")
    rows += bench([64, 32, 10], 32, n, reps, {"torch": 4.0, "jax": 1.0}, "MLP 64-32-10", generic=True)
    return rows
