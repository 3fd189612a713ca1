"""A training run's directory: what `xpnet train` writes (model.npz with the run's metadata,
history, curves; checkpoint.npz with --checkpoint-every, read back by --resume) and
`xpnet evaluate` / `xpnet predict` read back. Where and how it is written, staged so that a
failed or interrupted run leaves nothing behind, is outdir.py.

Host-side I/O: NumPy is fine here.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import numpy as np

from ..checks import check_int
from ..errors import CheckpointError, ConfigError, DataError
from ..export.predictor import MODEL_FILE, RUN_KEY  # a run's model file and its record: xpnet.load reads them
from ..io import load_model
from ..io.checkpoint_file import checkpoint_path, read_checkpoint
from ..io.run_record import check_run_record
from ..training import CheckpointCallback


def targets_for_loss(ds, loss_name: str) -> np.ndarray:
    """Host targets in the form the loss takes: class labels, a 0/1 column for bce_logits, or
    a (samples, targets) float table for regression."""
    if ds.task == "classification":
        return ds.y.reshape(-1, 1).astype(np.float64) if loss_name == "bce_logits" else ds.y
    return ds.y.reshape(len(ds.y), -1).astype(np.float64)


def class_labels(ds) -> list | None:
    """The data set's class names (JSON values), index i naming label i; None for regression."""
    if ds.task != "classification":
        return None
    names = getattr(ds, "classes", None)
    if names is None:
        names = getattr(ds, "label_names", None)
    return [_plain(c) for c in names] if names is not None else list(range(int(ds.n_classes)))


def _plain(v):
    return v.item() if hasattr(v, "item") else v


def load_run(directory: str, backend):
    """(model, run metadata) from a directory `xpnet train` wrote, on `backend`."""
    path = Path(directory)
    if not path.is_dir():
        raise DataError(f"{directory}: no such directory (expected the --out directory of xpnet train)")
    if not (path / MODEL_FILE).exists():  # anything else there (a FIFO...) is refused by load_model
        raise CheckpointError(f"{path / MODEL_FILE}: no model file (expected the --out directory of xpnet train)")
    model, metadata = load_model(path / MODEL_FILE, backend=backend)
    run = (metadata or {}).get(RUN_KEY)
    if not isinstance(run, dict) or "standardize" not in run or "loss" not in run:
        raise CheckpointError(f"{path / MODEL_FILE}: not a model written by xpnet train (no run metadata)")
    return model, check_run_record(path / MODEL_FILE, run, model)  # every field, before any is used


def check_width(X: np.ndarray, n_in: int, source: str) -> None:
    """DataError unless the rows of X have the n_in features the model was trained on (the
    loaders already refuse non-numeric and non-finite values)."""
    if X.shape[1] != n_in:
        raise DataError(f"{source}: {X.shape[1]} feature columns but the model expects {n_in}")


def labels_for_model(ds, run: dict, source: str) -> np.ndarray:
    """The data set's labels as indices of the model's classes (matched by name, so a CSV whose
    labels come in another order still lines up); DataError for a label the model lacks."""
    classes = run["classes"]
    names = class_labels(ds)
    index = {str(c): i for i, c in enumerate(classes)}
    mapped = np.empty(len(ds.y), dtype=np.int64)
    for i, label in enumerate(np.asarray(ds.y).reshape(-1).tolist()):
        name = names[label] if 0 <= label < len(names) else label
        if str(name) not in index:
            raise DataError(
                f"{source}: label {name!r} at row {i} is beyond the model's {len(classes)} "
                f"classes ({', '.join(map(str, classes))})"
            )
        mapped[i] = index[str(name)]
    return mapped


def prediction_table(values: np.ndarray, run: dict) -> tuple[dict, dict]:
    """(CSV columns, NPZ arrays) for predicted values: the class and its probabilities for a
    classifier, one column per target for a regressor."""
    if run["task"] == "classification":
        classes = run["classes"]
        # bce_logits has one output, P(class 1): spell out both columns like softmax does
        proba = np.concatenate([1 - values, values], axis=1) if values.shape[1] == 1 else values
        predicted = np.asarray(classes)[proba.argmax(axis=1)]
        columns = {"prediction": predicted, **{f"p_{c}": proba[:, i] for i, c in enumerate(classes)}}
        return columns, {"prediction": predicted, "probabilities": proba, "classes": np.asarray(classes)}
    names = (
        [run.get("target_name") or "prediction"] if values.shape[1] == 1 else [f"y{i}" for i in range(values.shape[1])]
    )
    return {n: values[:, i] for i, n in enumerate(names)}, {"prediction": values}


def csv_text(columns: dict) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(list(columns))
    for row in zip(*columns.values(), strict=True):
        w.writerow([f"{float(v):.6g}" if isinstance(v, (float, np.floating)) else _plain(v) for v in row])
    return buf.getvalue()


# --- the command line: xpnet train --checkpoint-every N / --resume DIR --------------------------

# what does not change the numbers; and --epochs may grow: a resumed run can also go on longer
_NOT_COMPARED = ("func", "command", "quiet", "json", "overwrite", "out", "resume", "checkpoint_every", "epochs")
_NOT_COMPARED += ("max_memory",)
_NOT_COMPARED += ("distributed",)  # a run may resume on another number of processes, or in one


def cli_checkpoints(args, out: Path) -> list:
    """The train command's checkpoint callback: with --checkpoint-every N one that writes
    OUT/checkpoint.npz; with --resume DIR (the interrupted command line again) one that first loads
    it, once every option is checked to be the interrupted run's. Checked before anything is trained."""
    every, resume = args.checkpoint_every, args.resume
    if every is None and resume is None:
        return []
    options = {k: v for k, v in vars(args).items() if k not in _NOT_COMPARED}
    if resume is not None:
        if args.out is not None and Path(args.out) != Path(resume):
            raise ConfigError(f"--out {args.out}: a resumed run writes to its own directory, --resume {resume}")
        _, meta = read_checkpoint(resume)
        saved = meta["config"].get("cli_options") if isinstance(meta.get("config"), dict) else None
        if not isinstance(saved, dict):
            raise CheckpointError(f"{checkpoint_path(resume)}: not written by xpnet train (no command-line options)")
        for key in sorted(set(saved) | set(options)):
            if saved.get(key) != options.get(key):
                raise ConfigError(
                    f"--{key.replace('_', '-')}: {options.get(key)!r} is not the interrupted run's "
                    f"{saved.get(key)!r}; repeat its command line with --resume {resume}"
                )
        every = every if every is not None else meta.get("every", 1)
    every = check_int("--checkpoint-every", every, 1)
    return [CheckpointCallback(out, every, resume=resume is not None, config={"cli_options": options})]


def copy_checkpoint(src: Path, dst: Path) -> None:
    """Carry DIR's checkpoint into the directory that replaces DIR at the end of a run."""
    if checkpoint_path(src).is_file():
        shutil.copy2(checkpoint_path(src), checkpoint_path(dst))
