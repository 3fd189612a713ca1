"""Benchmark 6: growth with the work. Samples per second of xpnet's fast step, JAX's jitted step
and PyTorch eager, and the matmul floor, as the hidden width grows (784-w-w-10, w = 512, 1024,
2048) and as the batch grows (32 to 2048): ReLU, softmax cross-entropy, SGD lr 0.01, float32.

Each cell is the same contenders as mlp_cpu.py (same initial weights; xpnet and its peers are
checked to agree on the first cell of each width), interleaved in slices; the work per cell is
about GFLOP_PER_CELL floating-point operations (at least two batches), so that wide cells do not
take minutes and narrow ones are not over in milliseconds.
"""

from __future__ import annotations

from common import best_of_each_sliced, row
from mlp_cpu import check_agree, contenders, data

WIDTHS = (512, 1024, 2048)
BATCHES = (32, 128, 512, 2048)
GFLOP_PER_CELL = 40


def unavailable() -> str | None:
    import jax_peer

    return jax_peer.unavailable()


def cell(width: int, batch: int, reps: int, quick: bool, check: bool) -> list[dict]:
    sizes = [784, width, width, 10]
    flops = 6 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))  # per sample, roughly
    n = batch * (2 if quick else max(2, round(GFLOP_PER_CELL * 1e9 / flops / batch)))
    X, y = data(n, sizes[0], sizes[-1])
    if check:
        b = min(batch, 32)
        check_agree(sizes, X, y, b, steps=min(3, n // b))
    fns = contenders(sizes, batch, X, y)
    t = best_of_each_sliced(fns, n, batch, reps, slices=min(10, n // batch))
    cfg = f"784-{width}-{width}-10, batch {batch}, sgd, float32, {n} samples"
    rate = {k: n / v for k, v in t.items()}
    extra = {"width": width, "batch": batch, "rates": rate, "step_over_floor": t["fast"] / t["floor"]}
    return [
        row("growth", cfg, "samples/s", rate["fast"], rate[peer], name, None, True, path="fast step", **extra)
        for peer, name in (("jax", "JAX jax.jit CPU"), ("torch", "PyTorch eager CPU"))
    ]


def run(quick: bool, reps: int) -> list[dict]:
    rows = []
    for width in WIDTHS[:1] if quick else WIDTHS:
        for j, batch in enumerate(BATCHES[:1] if quick else BATCHES):
            rows += cell(width, batch, reps, quick, check=j == 0)
    return rows


def table(rows: list[dict]) -> str:
    """The growth rows as one table: a line per (width, batch)."""
    cells = {}
    for r in rows:
        if r["benchmark"] == "growth":
            cells[(r["width"], r["batch"])] = r
    lines = [
        "| width | batch | xpnet samples/s | JAX | PyTorch | floor | xpnet / JAX | xpnet / PyTorch | step / floor |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (w, b), r in sorted(cells.items()):
        rt = r["rates"]
        lines.append(
            f"| {w} | {b} | {rt['fast']:.0f} | {rt['jax']:.0f} | {rt['torch']:.0f} | {rt['floor']:.0f} | "
            f"{rt['fast'] / rt['jax']:.2f} | {rt['fast'] / rt['torch']:.2f} | {r['step_over_floor']:.2f} |"
        )
    return "\n".join(lines)
