"""Seed 001, the notebook: a 3 -> 1 sigmoid layer trained for 200 epochs with the squared-error
delta, recording the binary cross-entropy every epoch and plotting it."""

from ..nn.losses import HalfSSE
from ..optim import sgd
from ..training import make_train_step
from .common import X_SEED, float64_arrays, fmt, to_numpy, trask_network, weights

TARGETS = [[0], [0], [1], [1]]
EPOCHS = 200


def run(backend=None, plot: str | None = None):
    b, X, y = float64_arrays(backend, X_SEED, TARGETS)
    xp = b.xp
    # The notebook draws 2 * random((3, 1)).clip(0, 1) - 1; random() is already in [0, 1),
    # so the clip changes nothing and the seeds' initialiser reproduces it.
    model = trask_network([3, 1], b)
    loss_fn, opt = HalfSSE(), sgd(1.0)
    state = opt.init(model.params)
    step = make_train_step(model, loss_fn, opt)
    losses, before = [], None
    for epoch in range(EPOCHS):
        _, out, state = step(X, y, state)
        if epoch == 0:
            before = to_numpy(out).tolist()
        # the notebook's binary cross-entropy, mean(log(1 - out) * (y - 1) - log(out) * y)
        losses.append(xp.mean(xp.log(1 - out) * (y - 1) - xp.log(out) * y))
    result = {
        "backend": b.name,
        "outputs_before": before,
        "outputs": to_numpy(out).tolist(),
        "weights": weights(model),
        "loss": [float(to_numpy(v)) for v in losses],
        "_model": model,
    }
    if plot:
        result["plot"] = save_plot(result["loss"], plot)
    return result


def save_plot(loss, path):
    """Save the loss curve as a PNG; returns the path, or None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(loss)
    ax.set_title("Cross entropy (binary) loss")
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Loss")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return str(path)


def report(r):
    import numpy as np

    return "\n".join(
        [
            "Output Before Training:",
            fmt(np.asarray(r["outputs_before"])),
            "Output After Training:",
            fmt(np.asarray(r["outputs"])),
            "Weights After Training:",
            fmt(np.asarray(r["weights"][0])),
        ]
    )
