"""`xpnet train`: a network trained on a data set, written to a run directory (rundir.py)."""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

from ..checks import check_fraction
from ..errors import DivergenceError
from ..io import load_dataset, save_model, train_test_split
from ..io.dataset import check_trainable
from ..io.mapped import is_mapped
from ..nn import Standardizer, get_loss, mlp
from ..nn.summary import architecture_line, parameter_count
from ..optim import optimizer_from_options
from ..training import Callback, fit
from ..training.precision import get_precision
from .device import cli_backend
from .distributed import comm_route, is_root, local_device, open_comm
from .evaluate import regression_metrics
from .heldout import mapped_split, split_record
from .options import choose_loss, parse_layers
from .outdir import claim
from .report import (
    ProgressReporter,
    epoch_numbers,
    final_metrics,
    plot_curves,
    progress_mode,
    say_skipped,
    stopping_note,
    summary_line,
    write_history,
)
from .rundir import (
    MODEL_FILE,
    RUN_KEY,
    class_labels,
    cli_checkpoints,
    copy_checkpoint,
    targets_for_loss,
)
from .schedule import cli_learning_rate
from .sizing import check_fits


def cmd_train(args) -> int:
    # Everything that can be wrong is checked before training: first DIR (checked, locked, staged:
    # outdir.py), which appears, whole, only at the end. The default DIR goes on to runs/NAME-2, ...
    comm = open_comm(args)  # --distributed: one of N processes (cli/distributed.py); None otherwise
    out = Path(args.resume or args.out or f"runs/{Path(args.dataset).stem}")
    if not is_root(comm):  # rank 0 alone claims and writes DIR; the other ranks train silently
        return _train(args, None, comm, out)
    default = args.out is None and args.resume is None
    with claim(out, args.overwrite or args.resume is not None, next_free=default) as out_dir:
        if out_dir.path != out:
            print(f"xpnet: {out} holds an earlier run; writing {out_dir.path}", file=sys.stderr)
        return _train(args, out_dir, comm, out_dir.path)


def _train(args, out_dir, comm, out: Path) -> int:
    checkpoints = cli_checkpoints(args, out)  # --checkpoint-every / --resume: rundir.py
    backend = cli_backend(local_device(comm, args))  # --distributed --device gpu: this rank's GPU
    hidden = parse_layers(args.layers)
    ds = load_dataset(args.dataset, target=args.target)
    check_trainable(ds, args.dataset)  # a classifier needs two classes
    if args.target is None and Path(args.dataset).suffix.lower() == ".csv" and not args.quiet and is_root(comm):
        print(
            f"xpnet: {args.dataset}: no --target given; the target is its last column {ds.target_name!r}",
            file=sys.stderr,
        )
    loss_name, n_out = choose_loss(ds.task, ds.n_classes, ds.y.shape[1] if ds.y.ndim == 2 else 1, args.loss)
    val_split = args.val_split if args.val_split is not None else (0.2 if len(ds.X) >= 100 else 0.0)
    check_fraction("--val-split", val_split)
    if is_mapped(ds.X):  # memory-mapped (io/mapped.py): batches are gathered and standardised from the file
        train_ds, val_ds, rows = mapped_split(ds, val_split, args.seed)
        scaler = Standardizer.fit(ds.X, rows)
        fit_x, transform = ds.X, _Float64Then(scaler)
    else:
        train_ds, val_ds = (
            train_test_split(ds, val_split, seed=args.seed, name="--val-split") if val_split > 0 else (ds, None)
        )
        rows = None
        scaler = Standardizer.fit(train_ds.X)  # training rows only: validation stays unseen
        fit_x, transform = None, None
    check_fits(
        args,
        [ds.X.shape[1], *hidden, n_out],
        (_rows_held(ds, val_ds, rows, args), ds.X.shape[1], n_out),
        backend.is_gpu,
    )
    model = mlp(
        [ds.X.shape[1], *hidden, n_out],
        activation=args.activation,
        output_init="glorot_uniform",
        dropout=args.dropout,
        batchnorm=args.batchnorm,
        seed=args.seed,
        backend=backend,
        dtype=args.dtype,
    )
    lr, rate = cli_learning_rate(
        args, len(train_ds) if rows is None else len(rows)
    )  # --lr (or the default) and --lr-schedule
    precision = get_precision(getattr(args, "precision", None))
    if precision is not None:
        precision.check(model)  # bfloat16 on NumPy, or --dtype not the master's: refused before training
    optimizer = optimizer_from_options(
        args.optimizer, lr=rate, momentum=args.momentum, l2_rate=args.l2, clip_norm=args.clip_norm
    )
    validation = None if val_ds is None else (scaler(val_ds.X), targets_for_loss(val_ds, loss_name))

    reporter = ProgressReporter(args.epochs, progress_mode(args.quiet or not is_root(comm)))  # rank 0 shows it
    # the first line, what is being trained: once every check has passed (a refusal stays one line)
    first = f"model: {architecture_line(model)}"
    if comm is not None:  # every rank must run the same command line (checked when fit starts)
        comm.command_options = {k: v for k, v in vars(args).items() if k not in ("func", "quiet")}
        first += f"; {comm.size} processes, gradients summed {comm_route(comm, backend)}"
    first_line = _FirstLine(first, show=reporter.mode != "none")
    start = time.perf_counter()
    with warnings.catch_warnings():  # overflow warnings of a diverging run: the guard reports it in one line
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            history, diverged = (
                fit(
                    model,
                    scaler(train_ds.X) if fit_x is None else fit_x,
                    targets_for_loss(train_ds, loss_name),
                    loss=get_loss(loss_name),
                    optimizer=optimizer,
                    epochs=args.epochs,
                    batch_size=args.batch_size,
                    seed=args.seed,
                    validation_data=validation if transform is None or val_ds is None else (val_ds.X, validation[1]),
                    patience=args.patience,
                    callbacks=[*checkpoints, first_line, reporter],  # a resumed run's checks first
                    device_rng=args.device_rng or (backend.is_gpu and not checkpoints),
                    precision=precision,
                    comm=comm,
                    input_transform=transform,
                    rows=rows,
                ),
                None,
            )
        except DivergenceError as exc:  # the model holds the last finite weights: save them, then exit 2
            history, diverged = exc.history, exc
    seconds = time.perf_counter() - start
    if not is_root(comm):  # rank 0 writes and prints for the job
        return 2 if diverged is not None else 0

    config = {k: v for k, v in vars(args).items() if k not in ("func", "command", "json", "quiet", "overwrite")}
    config["lr"] = lr  # the rate actually used: --lr or the optimizer's default
    run = {
        "task": ds.task,
        "loss": loss_name,
        "classes": class_labels(ds),
        "target_name": ds.target_name,
        "feature_names": list(ds.feature_names or []),
        "standardize": scaler.to_dict(),
        "training": config,
        "backend": backend.name,
        "epochs_run": len(history.epoch),
        "split": split_record(ds, val_split, args.seed),  # the held-out rows evaluate scores
        "learning_rate": repr(rate),  # the rate, or the schedule over the run's steps
    }
    with out_dir.staged() as tmp:
        copy_checkpoint(out, tmp)
        save_model(tmp / MODEL_FILE, model, metadata={RUN_KEY: run})
        write_history(tmp, history)
        skipped = plot_curves(history, tmp / "curves.png", title=f"xpnet train --dataset {args.dataset}")
    if diverged is not None:
        raise DivergenceError(
            f"{diverged}; the last finite model is saved in {out}",
            epoch=diverged.epoch,
            step=diverged.step,
            batch=diverged.batch,
            history=diverged.history,
        )
    files = {"model": out / MODEL_FILE, "history_json": out / "history.json", "history_csv": out / "history.csv"}
    if skipped is None:
        files["curves"] = out / "curves.png"
    say_skipped(skipped)
    restored = args.patience is not None
    metrics = final_metrics(history, restored=restored)
    if ds.task == "regression":  # RMSE, MAE and R² of the model kept, besides the loss
        metrics.update(regression_metrics(model, loss_name, _train_pair(scaler, train_ds, rows, loss_name), validation))
    if args.json:
        print(
            json.dumps(
                {
                    "metrics": metrics,
                    "model": architecture_line(model),
                    "parameters": parameter_count(model),
                    "epochs_run": len(history.epoch),
                    **epoch_numbers(history, restored),  # counted from 1, as history.json
                    "stopped_early": bool(history.stopped_early),
                    "seconds": seconds,
                    "backend": backend.name,
                    "device": str(backend.device),
                    "processes": 1 if comm is None else comm.size,
                    "out": str(out),
                    "files": {k: str(v) for k, v in files.items()},
                }
            )
        )
    else:
        print(summary_line(len(history.epoch), seconds, metrics, str(out), stopping_note(history, restored)))
    return 0


def _rows_held(ds, val_ds, rows, args) -> int:
    """Rows of X the run holds in memory, for the --max-memory estimate: all of them, or of a
    mapped data set the held-out rows and a batch (cli/sizing.py)."""
    if not is_mapped(ds.X):
        return len(ds.X)
    n = len(ds.X) if rows is None else len(rows)
    batch = args.batch_size if isinstance(args.batch_size, int) and args.batch_size > 0 else n
    return (0 if val_ds is None else len(val_ds)) + min(batch, n)


def _train_pair(scaler, ds, rows, loss_name):
    """The standardised training rows and their targets, for the regression scores after training
    (of a memory-mapped data set: its training rows gathered, the one copy of them a run makes)."""
    y = targets_for_loss(ds, loss_name)
    return (scaler(ds.X), y) if rows is None else (scaler(ds.X[rows]), y[rows])


class _Float64Then:
    """A mapped X's gathered rows cast to float64 (as the in-memory loaders cast all of X), then
    standardised: the numbers of a loaded file whatever dtype the file stores."""

    def __init__(self, scaler) -> None:
        self.scaler = scaler

    def __call__(self, x):
        return self.scaler(x.astype("float64", copy=False))


class _FirstLine(Callback):
    """Prints `text` on stderr when training begins: after the loop's and the checkpoints' checks."""

    def __init__(self, text: str, show: bool) -> None:
        self.text, self.show = text, show

    def on_train_begin(self, trainer) -> None:
        if self.show:
            print(self.text, file=sys.stderr, flush=True)
