"""What a training run shows and leaves behind: the progress display (a tqdm bar on a terminal,
plain lines otherwise), the one-line summary, history.json / history.csv, curves.png and a
confusion matrix. Host-side: NumPy and matplotlib are fine here."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import ConfigError
from ..training import Callback

_ORDER = ("loss", "accuracy", "val_loss", "val_accuracy")


def _display_order(names) -> list[str]:
    """The metric names in _ORDER first, then anything else a history holds, sorted."""
    return [k for k in _ORDER if k in names] + sorted(k for k in names if k not in _ORDER)


def format_metrics(logs: dict[str, Any]) -> str:
    """ "loss 0.1234  accuracy 0.9650  val_loss ..." for the metrics in logs."""
    keys = _display_order(logs)
    return "  ".join(f"{k} {logs[k]:.4f}" for k in keys if isinstance(logs[k], float))


def progress_mode(quiet: bool, stream: IO = sys.stderr) -> str:
    """ "none" with --quiet, "bar" on a terminal when tqdm is installed, else "lines"."""
    if quiet:
        return "none"
    if stream.isatty():
        try:
            import tqdm  # noqa: F401
        except ImportError:
            return "lines"
        return "bar"
    return "lines"


class ProgressReporter(Callback):
    """Shows training progress once per epoch (never per batch: reading the loss would force a
    device synchronisation). mode: "bar" (tqdm), "lines" (one line per epoch, for logs and
    pipes) or "none"."""

    def __init__(self, epochs: int, mode: str = "lines", stream: IO = sys.stderr) -> None:
        if mode not in ("bar", "lines", "none"):
            raise ConfigError(f"progress mode: expected bar, lines or none, got {mode!r}")
        self.epochs, self.mode, self.stream = epochs, mode, stream
        self._bar = None

    def on_train_begin(self, trainer) -> None:
        if self.mode == "bar":
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.epochs, unit="epoch", file=self.stream, dynamic_ncols=True)

    def on_epoch_end(self, epoch: int, logs: dict) -> bool:
        if self._bar is not None:
            self._bar.set_postfix_str(format_metrics(logs), refresh=False)
            self._bar.update(1)
        elif self.mode == "lines":
            width = len(str(self.epochs))
            print(f"epoch {epoch + 1:>{width}}/{self.epochs}  {format_metrics(logs)}", file=self.stream, flush=True)
        return False

    def on_train_end(self, trainer) -> None:  # also after an error: the terminal line is finished
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def final_metrics(history, restored: bool = False) -> dict[str, float]:
    """The metrics of the epoch whose weights the model keeps: the best one when early stopping
    restored it, else the last."""
    h = history.history
    i = history.epoch.index(history.best_epoch) if restored and history.best_epoch in history.epoch else -1
    return {k: float(v[i]) for k, v in h.items() if v}


def summary_line(epochs_run: int, seconds: float, metrics: dict[str, float], out_dir: str) -> str:
    return f"trained {epochs_run} epochs in {seconds:.1f} s: {format_metrics(metrics)}; wrote {out_dir}"


def write_history(directory: Path, history) -> tuple[Path, Path]:
    """history.json (History.as_dict()) and history.csv (one row per epoch)."""
    jpath, cpath = directory / "history.json", directory / "history.csv"
    jpath.write_text(json.dumps(history.as_dict(), indent=1) + "\n")
    h = history.history
    keys = _display_order(h)
    with cpath.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", *keys])
        for i in range(len(h[keys[0]]) if keys else 0):
            w.writerow([i + 1, *(repr(float(h[k][i])) for k in keys)])
    return jpath, cpath


def plot_curves(history, path: Path, title: str = "") -> bool:
    """curves.png: loss and accuracy per epoch, train and validation. False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return False
    h = history.history
    panels = [m for m in ("loss", "accuracy") if m in h]
    if not panels:  # no epoch finished (a run that diverged in its first): nothing to draw
        return False
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], panels, strict=True):
        epochs = np.arange(1, len(h[metric]) + 1)
        ax.plot(epochs, h[metric], label="train")
        if f"val_{metric}" in h:
            ax.plot(epochs, h[f"val_{metric}"], label="validation")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """counts[i, j] = samples of class i predicted as class j."""
    idx = np.asarray(y_true, dtype=np.int64) * n_classes + np.asarray(y_pred, dtype=np.int64)
    return np.bincount(idx, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def format_confusion(counts: np.ndarray, labels: list) -> str:
    names = [str(c) for c in labels]
    width = max(len(str(int(counts.max()))) if counts.size else 1, *(len(n) for n in names))
    head = " " * width + "  " + " ".join(f"{n:>{width}}" for n in names) + "   <- predicted"
    rows = [
        f"{n:>{width}}  " + " ".join(f"{int(c):>{width}}" for c in row) for n, row in zip(names, counts, strict=True)
    ]
    return "\n".join([head, *rows])
