"""`xpnet info RUN [--json]`: what a trained model is and how it was made: its summary (layers,
output shapes, parameter counts), the data set, the training options, the best epoch and the
final metrics. Reads the run directory only; nothing is computed on the data."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import CheckpointError
from ..export.predictor import MODEL_FILE, load
from ..training import History
from .report import final_metrics, format_metrics

HISTORY_FILE = "history.json"


def run_info(directory: str | Path) -> tuple[dict, object]:
    """(everything `xpnet info` shows, as JSON values; the run's Predictor)."""
    path = Path(directory)
    predictor = load(path, backend="numpy")  # the host is enough to describe it, whatever it trained on
    run = predictor.run
    training = dict(run.get("training") or {})
    info = {
        "path": str(path),
        "model": predictor.summary_dict(),
        "loss": run.get("loss"),
        "dataset": {
            "name": training.get("dataset"),
            "target": run.get("target_name"),
            "task": predictor.task,
            "features": predictor.n_in,
            "feature_names": list(run.get("feature_names") or []),
            "classes": predictor.classes,
        },
        "training": training,
        "trained_on": run.get("backend"),
        "epochs_run": run.get("epochs_run"),
        "best_epoch": None,
        "stopped_early": None,
        "metrics": None,
    }
    history_file = (path if path.is_dir() else path.parent) / HISTORY_FILE
    if history_file.is_file():
        history = _history(history_file)
        restored = training.get("patience") is not None  # early stopping restored the best weights
        info.update(
            epochs_run=len(history.epoch),
            best_epoch=history.best_epoch,
            stopped_early=bool(history.stopped_early),
            metrics=final_metrics(history, restored=restored),
        )
    return info, predictor


def _history(file: Path) -> History:
    try:
        return History.from_dict(json.loads(file.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{file}: not a history written by xpnet train ({type(exc).__name__}: {exc})") from None


def info_text(info: dict, summary: str) -> str:
    ds = info["dataset"]
    lines = [f"{info['path']}: a {ds['task']} model trained with {info['loss'] or 'an unknown loss'}", summary]
    data = f"data set: {ds['name'] or 'unknown'}, {ds['features']} features"
    if ds["classes"] is not None:
        data += f", {len(ds['classes'])} classes"
    if ds["target"]:
        data += f", target column {ds['target']!r}"
    lines.append(data)
    options = {k: v for k, v in info["training"].items() if not (v is None or v is False or v == "" or k == "dataset")}
    if options:
        lines.append("training: " + "  ".join(f"--{k.replace('_', '-')} {v}" for k, v in sorted(options.items())))
    if info["trained_on"]:
        lines.append(f"trained on: {info['trained_on']}")
    if info["metrics"] is not None:
        best = info["best_epoch"]
        best = f", best epoch {best}" if isinstance(best, int) else ""  # history.json counts from 1
        stopped = ", stopped early" if info["stopped_early"] else ""
        lines.append(f"epochs: {info['epochs_run']}{best}{stopped}")
        lines.append(f"final metrics: {format_metrics(info['metrics'])}")
    return "\n".join(lines)


def cmd_info(args) -> int:
    path = Path(args.dir)
    if not path.exists():
        raise CheckpointError(f"{path}: no such run directory or model file")
    if path.is_dir() and not (path / MODEL_FILE).is_file():
        raise CheckpointError(f"{path / MODEL_FILE}: no model file (expected the --out directory of xpnet train)")
    info, predictor = run_info(path)
    print(json.dumps(info) if args.json else info_text(info, predictor.summary()))
    return 0
