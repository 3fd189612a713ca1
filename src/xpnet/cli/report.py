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

_ORDER = ("loss", "accuracy", "rmse", "mae", "r2", "val_loss", "val_accuracy", "val_rmse", "val_mae", "val_r2")


def _display_order(names) -> list[str]:
    """The metric names in _ORDER first, then anything else a history holds, sorted."""
    return [k for k in _ORDER if k in names] + sorted(k for k in names if k not in _ORDER)


def format_metrics(logs: dict[str, Any]) -> str:
    """ "loss 0.1234  accuracy 0.9650  val_loss ..." for the metrics in logs."""
    keys = _display_order(logs)
    return "  ".join(f"{k} {logs[k]:.4f}" for k in keys if isinstance(logs[k], float))


def progress_mode(quiet: bool, stream: IO | None = None) -> str:
    """ "none" with --quiet, "bar" on a terminal when tqdm is installed, else "lines"."""
    if quiet:
        return "none"
    stream = sys.stderr if stream is None else stream  # the stderr of the call, not of the import
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

    def __init__(self, epochs: int, mode: str = "lines", stream: IO | None = None) -> None:
        if mode not in ("bar", "lines", "none"):
            raise ConfigError(f"progress mode: expected bar, lines or none, got {mode!r}")
        self.epochs, self.mode, self.stream = epochs, mode, sys.stderr if stream is None else stream
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


def summary_line(epochs_run: int, seconds: float, metrics: dict[str, float], out_dir: str, note: str = "") -> str:
    note = f" ({note})" if note else ""
    return f"trained {epochs_run} epochs in {seconds:.1f} s{note}: {format_metrics(metrics)}; wrote {out_dir}"


# Epochs are counted from 1 in everything the command line shows or writes (progress, summary,
# history.json, history.csv, --json), as Keras and the progress display count them; the
# library's History keeps 0-based indices (Python's, and what a checkpoint stores).


def epoch_numbers(history, restored: bool) -> dict[str, int | None]:
    """The last epoch run, the best one and the one whose weights the model keeps, from 1."""
    last = history.epoch[-1] + 1 if history.epoch else None
    best = None if history.best_epoch is None else history.best_epoch + 1
    return {
        "last_epoch": last,
        "best_epoch": best,
        "stopped_epoch": last if history.stopped_early else None,
        "restored_epoch": best if restored else last,
    }


def stopping_note(history, restored: bool) -> str:
    """ "stopped at epoch 78, best epoch 72, weights of epoch 72 restored" for a run that early
    stopping ended; "best epoch 72, weights of epoch 72 restored" for one that ran its epochs with
    --patience; "" without --patience."""
    n = epoch_numbers(history, restored)
    if not restored or n["best_epoch"] is None:
        return ""
    kept = f"best epoch {n['best_epoch']}, weights of epoch {n['best_epoch']} restored"
    return f"stopped at epoch {n['stopped_epoch']}, {kept}" if n["stopped_epoch"] else kept


def history_record(history) -> dict:
    """history.json: every metric per epoch, with the epoch numbers counted from 1."""
    record = history.as_dict()
    record["epoch"] = [e + 1 for e in history.epoch]
    record["best_epoch"] = None if history.best_epoch is None else history.best_epoch + 1
    return record


def write_history(directory: Path, history) -> tuple[Path, Path]:
    """history.json (`history_record`) and history.csv (one row per epoch, numbered from 1)."""
    jpath, cpath = directory / "history.json", directory / "history.csv"
    jpath.write_text(json.dumps(history_record(history), indent=1) + "\n")
    h = history.history
    keys = _display_order(h)
    with cpath.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", *keys])
        for i in range(len(h[keys[0]]) if keys else 0):
            w.writerow([history.epoch[i] + 1, *(repr(float(h[k][i])) for k in keys)])
    return jpath, cpath


MATPLOTLIB_MISSING = "matplotlib is not installed"


def say_skipped(reason: str | None) -> None:
    """One line on stderr when curves.png could not be drawn for want of matplotlib."""
    if reason == MATPLOTLIB_MISSING:
        print(f"xpnet: curves.png skipped: {reason} (pip install 'xpnet[plot]' to get it)", file=sys.stderr)


def check_plot_path(path: str | None, option: str = "--plot") -> None:
    """ConfigError, before anything runs, for a plot file matplotlib cannot write: an extension
    none of its formats has, or no matplotlib at all."""
    if path is None:
        return
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError(f"{option} {path}: {MATPLOTLIB_MISSING}; pip install 'xpnet[plot]'") from None
    formats = Figure().canvas.get_supported_filetypes()  # {"png": "Portable Network Graphics", ...}
    ext = Path(path).suffix.lower().lstrip(".")
    if ext not in formats:
        got = f"extension .{ext}" if ext else "no extension"
        raise ConfigError(f"{option} {path}: {got}; matplotlib writes {', '.join('.' + e for e in sorted(formats))}")


def plot_curves(history, path: Path, title: str = "") -> str | None:
    """curves.png: loss and accuracy per epoch, train and validation, the best epoch marked.
    None when written, else why not (MATPLOTLIB_MISSING, or no epoch to draw)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return MATPLOTLIB_MISSING
    fig = draw_curves(history, title)
    if fig is None:  # no epoch finished (a run that diverged in its first): nothing to draw
        return "no epoch finished"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None


def draw_curves(history, title: str = ""):
    """The figure of `plot_curves` (matplotlib imported), or None when there is nothing to draw."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    h = history.history
    panels = [m for m in ("loss", "accuracy") if m in h]
    if not panels:
        return None
    epochs = np.asarray(history.epoch) + 1
    best = None if history.best_epoch is None else history.best_epoch + 1
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], panels, strict=True):
        ax.plot(epochs, h[metric], label="train")
        if f"val_{metric}" in h:
            ax.plot(epochs, h[f"val_{metric}"], label="validation")
        if best is not None:  # the epoch early stopping monitors (val_loss, else loss) did best
            ax.axvline(best, color="0.5", linestyle="--", linewidth=1, label=f"best epoch {best}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


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
