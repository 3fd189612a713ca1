"""The command line: `xpnet backends`, `xpnet example NAME`, `xpnet train`, `xpnet evaluate`,
`xpnet predict`.

Errors xpnet raises on purpose (XpnetError) print one line to stderr and exit with status 2.
Everything `train` needs is checked (data set, options, output directory) before it trains, and
its output directory appears only once complete (rundir.staged_dir). Progress goes to stderr;
results (the summary line or one JSON object with --json) go to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

from . import __version__
from .errors import XpnetError


def _add_backend_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default=None,
                   help="array library: auto, numpy, array_api_strict, torch, cupy, jax (default: $XPNET_BACKEND or auto)")
    p.add_argument("--device", default=None, help="cpu or gpu (a backend's device, e.g. cuda:1 or device1)")


def cmd_backends(args) -> int:
    from .backend import list_backends

    rows = list_backends()
    if args.json:
        print(json.dumps([r._asdict() for r in rows]))
        return 0
    width = max(len(r.name) for r in rows)
    for r in rows:
        state = "usable" if r.usable else "unusable"
        extra = f"  device={r.device}" if r.usable else f"  ({r.reason})"
        print(f"{r.name:<{width}}  {state}{extra}")
    return 0


def cmd_example(args) -> int:
    from .backend import get_backend
    from .examples import get_example

    mod = get_example(args.name)
    backend = get_backend(args.backend, device=args.device)
    kwargs = {}
    if args.name == "cross-entropy":
        kwargs["plot"] = args.plot
    result = mod.run(backend, **kwargs)
    result.pop("_model", None)
    if args.json:
        print(json.dumps(result))
    else:
        print(mod.report(result))
        if result.get("plot"):
            print(f"Loss curve saved to {result['plot']}")
    return 0


# --- train / evaluate / predict ---------------------------------------------------------------

def cmd_train(args) -> int:
    from .backend import get_backend
    from .checkpoint import save_model
    from .data import load_dataset, train_test_split
    from .errors import DivergenceError
    from .hyperparams import check_fraction
    from .losses import get_loss
    from .report import ProgressReporter, final_metrics, plot_curves, progress_mode, summary_line, write_history
    from .rundir import (MODEL_FILE, RUN_KEY, check_out_dir, class_labels, cli_checkpoints, copy_checkpoint, staged_dir,
                         targets_for_loss)
    from .train import fit
    from .workflow import Standardizer, build_network, build_optimizer, choose_loss, parse_layers

    # Everything that can be wrong is checked before training, and DIR is only created at the end.
    out = Path(args.resume or args.out or f"runs/{Path(args.dataset).stem}")
    check_out_dir(out, args.overwrite or args.resume is not None)
    checkpoints = cli_checkpoints(args, out)  # --checkpoint-every / --resume: rundir.py
    backend = get_backend(args.backend, device=args.device)
    hidden = parse_layers(args.layers)
    ds = load_dataset(args.dataset, target=args.target)
    loss_name, n_out = choose_loss(ds.task, ds.n_classes, ds.y.shape[1] if ds.y.ndim == 2 else 1, args.loss)
    val_split = args.val_split if args.val_split is not None else (0.2 if len(ds.X) >= 100 else 0.0)
    check_fraction("--val-split", val_split)
    train_ds, val_ds = train_test_split(ds, val_split, seed=args.seed) if val_split > 0 else (ds, None)
    scaler = Standardizer.fit(train_ds.X)  # training rows only: validation stays unseen
    model = build_network(ds.X.shape[1], hidden, n_out, activation=args.activation, dropout=args.dropout,
                          batchnorm=args.batchnorm, seed=args.seed, backend=backend, dtype=args.dtype)
    optimizer = build_optimizer(args.optimizer, lr=args.lr, momentum=args.momentum, l2=args.l2,
                                clip_norm=args.clip_norm)
    validation = None if val_ds is None else (scaler(val_ds.X), targets_for_loss(val_ds, loss_name))

    reporter = ProgressReporter(args.epochs, progress_mode(args.quiet))
    start = time.perf_counter()
    with warnings.catch_warnings():  # overflow warnings of a diverging run: the guard reports it in one line
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            history, diverged = fit(model, scaler(train_ds.X), targets_for_loss(train_ds, loss_name),
                                    loss=get_loss(loss_name), optimizer=optimizer, epochs=args.epochs,
                                    batch_size=args.batch_size, seed=args.seed, validation_data=validation,
                                    patience=args.patience, callbacks=[reporter, *checkpoints],
                                    device_rng=args.device_rng or (backend.is_gpu and not checkpoints)), None
        except DivergenceError as exc:  # the model holds the last finite weights: save them, then exit 2
            history, diverged = exc.history, exc
    seconds = time.perf_counter() - start

    config = {k: v for k, v in vars(args).items() if k not in ("func", "command", "json", "quiet", "overwrite")}
    run = {"task": ds.task, "loss": loss_name, "classes": class_labels(ds), "target_name": ds.target_name,
           "feature_names": list(ds.feature_names or []), "standardize": scaler.to_dict(),
           "training": config, "backend": backend.name, "epochs_run": len(history.epoch)}
    with staged_dir(out, args.overwrite or bool(checkpoints)) as tmp:  # DIR held only our checkpoint
        copy_checkpoint(out, tmp)
        save_model(tmp / MODEL_FILE, model, metadata={RUN_KEY: run})
        write_history(tmp, history)
        plotted = plot_curves(history, tmp / "curves.png", title=f"xpnet train --dataset {args.dataset}")
    if diverged is not None:
        raise DivergenceError(f"{diverged}; the last finite model is saved in {out}")
    files = {"model": out / MODEL_FILE, "history_json": out / "history.json", "history_csv": out / "history.csv"}
    if plotted:
        files["curves"] = out / "curves.png"
    metrics = final_metrics(history, restored=args.patience is not None)
    if args.json:
        print(json.dumps({"metrics": metrics, "epochs_run": len(history.epoch), "best_epoch": history.best_epoch,
                          "stopped_early": bool(history.stopped_early), "seconds": seconds,
                          "backend": backend.name, "device": str(backend.device), "out": str(out),
                          "files": {k: str(v) for k, v in files.items()}}))
    else:
        print(summary_line(len(history.epoch), seconds, metrics, str(out)))
    return 0


def cmd_evaluate(args) -> int:
    from .backend import get_backend
    from .data import load_dataset
    from .errors import DataError
    from .report import confusion_matrix, format_confusion, format_metrics
    from .rundir import labels_for_model, load_run
    from .workflow import Standardizer, check_width, evaluate_model

    model, run = load_run(args.dir, get_backend(args.backend, device=args.device))
    target = args.target
    if target is None and str(args.dataset).lower().endswith(".csv"):
        target = run.get("target_name")  # a CSV like the training one: the same column by default
    ds = load_dataset(args.dataset, target=target)
    check_width(ds.X, model.n_in, args.dataset)
    if ds.task != run["task"]:
        raise DataError(f"{args.dataset}: a {ds.task} data set, but the model was trained for {run['task']}")
    if ds.task == "classification":
        y = labels_for_model(ds, run, args.dataset)
    else:
        y = ds.y.reshape(len(ds.y), -1)
        if y.shape[1] != model.n_out:
            raise DataError(f"{args.dataset}: {y.shape[1]} target columns but the model predicts {model.n_out}")
    result = evaluate_model(model, Standardizer.from_dict(run["standardize"])(ds.X), y, run["loss"], ds.task)
    predicted = result.pop("predicted", None)
    result["samples"] = int(len(y))
    if predicted is not None:
        counts = confusion_matrix(y, predicted, len(run["classes"]))
        result.update(classes=run["classes"], confusion_matrix=counts.tolist())
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.dataset}: {result['samples']} samples  {format_metrics(result)}")
        if predicted is not None:
            print(format_confusion(counts, run["classes"]))
    return 0


def cmd_predict(args) -> int:
    import numpy as np

    from .backend import get_backend, to_numpy
    from .data import load_features
    from .errors import ConfigError
    from .npyio import atomic_write  # temp file, fsync, rename: a failed write leaves no file
    from .rundir import csv_text, load_run, prediction_table
    from .workflow import Standardizer, check_width, predict_outputs

    output = Path(args.output) if args.output else None
    if output is not None and output.suffix.lower() not in (".csv", ".npz"):
        raise ConfigError(f"--output {output}: expected a file name ending in .csv or .npz")
    model, run = load_run(args.dir, get_backend(args.backend, device=args.device))
    X = load_features(args.input)
    check_width(X, model.n_in, args.input)
    X = model.backend.asarray(Standardizer.from_dict(run["standardize"])(X), model.dtype_name)
    values = np.asarray(to_numpy(predict_outputs(model, X, run["loss"])), dtype=np.float64)
    columns, arrays = prediction_table(values, run)
    if output is not None and output.suffix.lower() == ".npz":
        atomic_write(output, lambda f: np.savez(f, **arrays), ConfigError)
    elif output is not None:
        atomic_write(output, lambda f: f.write(csv_text(columns).encode()), ConfigError)
    if args.json:  # the predictions themselves go in the JSON object when there is no --output
        result = {"rows": int(len(values)), "output": str(output) if output else None}
        if output is None:
            result["columns"] = {k: np.asarray(v).tolist() for k, v in columns.items()}
        print(json.dumps(result))
    elif output is None:
        sys.stdout.write(csv_text(columns))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xpnet", description="Train neural networks on NumPy, CuPy, PyTorch or array-api-strict.")
    parser.add_argument("--version", action="version", version=f"xpnet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("backends", help="list array backends and whether they are usable here")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_backends)

    p = sub.add_parser("example", help="run one of the seed programs")
    p.add_argument("name", help="single-neuron, two-layer, three-layer or cross-entropy")
    _add_backend_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plot", default="cross_entropy_loss.png",
                   help="cross-entropy only: where to save the loss curve (needs matplotlib)")
    p.set_defaults(func=cmd_example)

    p = sub.add_parser("train", help="train a network on a data set and write DIR/ (model, history, curves)")
    p.add_argument("--dataset", required=True, help="embedded name (xor, seed-and, seed-single, digits, iris, "
                   "wine, breast-cancer) or a .csv (with --target), .npz (X, y) or MNIST IDX path")
    p.add_argument("--target", help="CSV: the column holding the labels or values")
    p.add_argument("--layers", default="64", help="hidden layer sizes, e.g. 64,32 (default 64; '' for none)")
    p.add_argument("--activation", default="relu", help="relu, tanh, sigmoid, leaky_relu, ... (default relu)")
    p.add_argument("--loss", help="softmax_cross_entropy or bce_logits (classification), mse or half_sse "
                   "(regression); default: inferred from the data set")
    p.add_argument("--optimizer", default="adam", help="sgd, momentum, nesterov, rmsprop, adam, adamw (default adam)")
    p.add_argument("--lr", type=float, help="learning rate (default: the optimizer's)")
    p.add_argument("--momentum", type=float, help="sgd/momentum/nesterov/rmsprop momentum")
    p.add_argument("--batch-size", type=int, default=32, help="samples per step (default 32)")
    p.add_argument("--epochs", type=int, default=20, help="passes over the training data (default 20)")
    p.add_argument("--dropout", type=float, default=0.0, help="dropout rate after each hidden layer, in [0, 1)")
    p.add_argument("--batchnorm", action="store_true", help="batch normalisation after each hidden Dense")
    p.add_argument("--l2", type=float, default=0.0, help="L2 penalty rate on the weights (not biases)")
    p.add_argument("--clip-norm", type=float, help="clip gradients to this global norm")
    p.add_argument("--seed", type=int, default=0, help="initial weights, shuffling, split and dropout")
    p.add_argument("--device-rng", action="store_true", help="draw shuffles and dropout masks with the "
                   "library's own generator (torch, cupy; always on a GPU) instead of NumPy on the host")
    p.add_argument("--dtype", default="float32", help="float32 (default) or float64")
    _add_backend_args(p)
    p.add_argument("--val-split", type=float, help="fraction held out for validation (default 0.2, "
                   "0 for data sets under 100 samples)")
    p.add_argument("--patience", type=int, help="stop after this many epochs without improvement")
    p.add_argument("--out", help="output directory (default runs/DATASET)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out directory")
    p.add_argument("--checkpoint-every", type=int, metavar="N", help="save a training checkpoint in DIR every N epochs")
    p.add_argument("--resume", metavar="DIR", help="continue the interrupted run in DIR (repeat its command line)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.add_argument("--json", action="store_true", help="print one JSON object with the results")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="loss and metrics of a trained model on a data set")
    p.add_argument("dir", help="the --out directory of xpnet train")
    p.add_argument("--dataset", required=True, help="embedded name or file, as for train")
    p.add_argument("--target", help="CSV: the target column (default: the one used in training)")
    _add_backend_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="predictions of a trained model for the rows of a file")
    p.add_argument("dir", help="the --out directory of xpnet train")
    p.add_argument("--input", required=True, help=".csv (header optional), .npz with X, or .npy features")
    p.add_argument("--output", help=".csv or .npz file (default: CSV on stdout)")
    _add_backend_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (rows, output file)")
    p.set_defaults(func=cmd_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (XpnetError, OSError) as exc:  # OSError: what no check foresees (a full disk, no write permission)
        print(f"xpnet: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("xpnet: interrupted", file=sys.stderr)
        return 130
